"""``LocalSet`` and ``spawn_local``: tasks that stay on one thread (Tokio's ``LocalSet``).

Some objects must only be used from the thread that made them (an ``sqlite3`` connection, a GUI
toolkit, a C library with thread-local state). On a multi-thread runtime a task may move
between workers between two steps, so such code needs a guarantee: every task of a
:class:`LocalSet` runs on the worker thread of the task that entered it, and so does that task
until it leaves the block. The scheduler never steals a pinned task; a wake-up from another
thread goes to its worker's inbox.

On a current-thread runtime every task already runs on one thread; a ``LocalSet`` there only
groups its tasks, so the same code runs on both flavors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine
from types import TracebackType
from typing import Any, TypeVar, final

from ._current import STATE, current_task_or_raise
from ._groups import _Waiters, inactive_error
from ._task import JoinHandle
from ._task import JoinHandle as Task

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.

T = TypeVar("T")


@final
class LocalSet:
    """A set of tasks pinned to the thread of the task that enters it.

    Example::

        async with rt.LocalSet() as local:
            conn = sqlite3.connect("app.db")       # thread-bound object
            local.spawn_local(serve(conn))         # runs on this thread, always
            rt.spawn_local(report(conn))           # the same, from inside the set

    Leaving the block waits for every task of the set (as a ``TaskGroup`` does); if the block
    raises or is cancelled, the set's tasks are aborted first. Task errors are not collected:
    await the :class:`JoinHandle` for them (an unawaited failure is reported like any detached
    task's).
    """

    __slots__ = ("_entered", "_owner", "_prev", "_tasks", "_waiters", "_worker")

    def __init__(self) -> None:
        self._worker: Any = None
        # The waiters' ``aborting`` is set once the set's tasks are aborted: a task spawned
        # after that (from a local task's cleanup, say) is aborted at once, or leaving the
        # block would wait for it. Their ``closed`` is set when the block has ended.
        self._tasks: dict[Task[Any], None] = {}
        self._waiters = _Waiters()
        self._entered = False
        self._owner: Task[Any] | None = None
        self._prev: LocalSet | None = None

    def spawn_local(self, coro: Awaitable[T], *, name: str | None = None) -> JoinHandle[T]:
        """Spawn ``coro`` as a task that always runs on this set's thread.

        Once the set is aborting its tasks (its block raised or was cancelled), the new task
        is cancelled before it runs.

        Raises:
            RuntimeError: the set is not active (outside its ``async with`` block).
            TypeError: ``coro`` is not a coroutine.
        """
        waiters = self._waiters
        if not self._entered or not waiters.reserve():
            raise inactive_error(
                coro, "LocalSet", self._entered, "spawn_local inside `async with rt.LocalSet()`"
            )
        owner = self._owner
        assert owner is not None
        try:
            task: Task[T] = owner._sched.spawn(coro, name, "LocalSet.spawn_local()", pinned=self)
        except BaseException:
            waiters.unreserve(self._tasks)
            raise
        waiters.admit(self._tasks, task, self._on_done, True)
        return task

    def _on_done(self, task: Task[Any]) -> None:
        waiters = self._waiters
        waiters.lock.acquire()
        try:
            self._tasks.pop(task, None)
            woken = waiters.take_all() if not self._tasks and not waiters.pending else []
        finally:
            waiters.lock.release()
        waiters.wake(woken)

    def _abort_all(self) -> None:
        self._waiters.abort_members(self._tasks)

    async def __aenter__(self) -> LocalSet:
        """Pin the calling task to its current thread and open the set (once per instance).

        Cancel safety: cancel-safe (entering does not wait).
        """
        if self._entered:
            raise RuntimeError("a LocalSet can be entered only once; create a new one")
        me = current_task_or_raise("entering a LocalSet")
        st = STATE.get()
        # Under the multi-thread scheduler STATE is the worker running us; under the
        # current-thread one it is the scheduler itself, and there is nothing to pin to.
        self._worker = st if st is not st._sched else None
        self._owner = me
        self._prev = me._pinned
        me._pinned = self
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Wait for every task of the set (aborting them first if the block failed).

        Cancel safety: a cancellation of the waiting task aborts the set's tasks and still
        waits for them, so none outlives the block.
        """
        if exc is not None:
            self._abort_all()
        try:
            outer = await self._waiters.drain(self._tasks, self._abort_all, exc is not None)
        finally:
            with self._waiters.lock:
                self._waiters.closed = True  # (drain did, unless it raised)
            owner = self._owner
            assert owner is not None
            owner._pinned = self._prev
        if outer is not None and exc is None:
            raise outer

    def __len__(self) -> int:
        return len(self._tasks)

    def __repr__(self) -> str:
        state = "active" if self._entered and not self._waiters.closed else "idle"
        return f"<rt.LocalSet {state} tasks={len(self._tasks)}>"


def spawn_local(coro: Awaitable[T], *, name: str | None = None) -> JoinHandle[T]:
    """Spawn ``coro`` into the :class:`LocalSet` the calling task runs in.

    The task runs on that set's thread only (see :class:`LocalSet`).

    Raises:
        RuntimeError: outside a task, or the task is not inside a ``LocalSet`` (enter one
            with ``async with rt.LocalSet():``, or use ``rt.spawn`` for tasks that may run on
            any worker).
    """
    try:
        me = current_task_or_raise("rt.spawn_local()")
    except RuntimeError:
        if isinstance(coro, Coroutine):
            coro.close()
        raise
    local = me._pinned
    if local is None:
        if isinstance(coro, Coroutine):
            coro.close()
        raise RuntimeError(
            "rt.spawn_local() must be called from a task inside a LocalSet: wrap the code in "
            "`async with rt.LocalSet() as local:` (or use rt.spawn() for tasks that may run "
            "on any worker thread)"
        )
    assert isinstance(local, LocalSet)
    return local.spawn_local(coro, name=name)
