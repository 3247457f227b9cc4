"""Groups of tasks: :class:`JoinSet` (Tokio) and :class:`TaskGroup` (structured, trio/asyncio).

Both attach a completion callback to each task they spawn and mark the task *supervised*: its
exception is reported by the group, not logged as unhandled. The callback runs on whichever
thread finished the task (another worker of a multi-thread runtime), so a group's bookkeeping
and its waiting list share one lock, and a waiter re-checks its condition under that lock
before it parks: a completion can never slip between the check and the park.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, TypeVar, final

from ._cancel import CancelScope
from ._current import STATE, current_task_or_raise, outside_error
from ._exceptions import Cancelled, chained
from ._harness import not_a_function, watch_unread
from ._task import _KEY, AbortHandle, JoinHandle
from ._task import JoinHandle as Task
from ._traps import Abort, wait_task_rescheduled

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.

T = TypeVar("T")


def _spawn_supervised(coro: object, name: str | None, what: str) -> Task[Any]:
    st = STATE.get(None)
    if st is None:
        if isinstance(coro, Coroutine):
            coro.close()
        raise outside_error(what)
    task = st._sched.spawn(coro, name, what)
    task._supervised = True
    return task


class _Waiters:
    """A group's lock, membership rules and waiting list (shared by JoinSet, TaskGroup and
    LocalSet).

    ``lock`` also guards the group's own state: mutate it and call :meth:`take_all` under the
    lock, then wake what it returned after releasing it. Waiting tasks are woken all at once
    and each re-checks its condition.

    Besides the waiting tasks it holds the state every group's spawn reads under the lock:
    ``aborting`` (nonzero: a task added now is aborted at once, as the group is cancelling its
    tasks), ``closed`` (a structured block has ended: no task may join any more) and
    ``pending`` (spawns under way that :meth:`reserve` let in, which keep the block open).
    """

    __slots__ = ("_tasks", "aborting", "closed", "lock", "pending")

    def __init__(self) -> None:
        self._tasks: deque[Task[Any]] = deque()
        self.lock = threading.RLock()
        # A TaskGroup or LocalSet sets it once, for good; a JoinSet counts its shutdown()
        # calls under way (it is usable again afterwards).
        self.aborting = 0
        self.closed = False
        self.pending = 0

    def reserve(self) -> bool:
        """Let one spawn in, unless the block has ended; it keeps the block open until
        :meth:`admit` (or :meth:`unreserve`). False: the group is closed.

        Read under the lock that :meth:`drain` closes the group under, so a spawn from
        another worker either is waited for or is refused: it never outlives the block.
        """
        self.lock.acquire()
        try:
            if self.closed:
                return False
            self.pending += 1
            return True
        finally:
            self.lock.release()

    def unreserve(self, members: dict[Task[Any], None]) -> None:
        """Give back a reservation whose spawn failed (waking the block if it waits on it)."""
        self.lock.acquire()
        try:
            self.pending -= 1
            woken = self.take_all() if not members and not self.pending else []
        finally:
            self.lock.release()
        self.wake(woken)

    def admit(
        self,
        members: dict[Task[Any], None],
        task: Task[Any],
        on_done: Callable[[Task[Any]], None],
        reserved: bool,
    ) -> None:
        """Add the spawned ``task`` to ``members`` (ending its reservation, if ``reserved``),
        abort it if the group is aborting, and have ``on_done(task)`` called when it finishes.
        """
        self.lock.acquire()
        try:
            members[task] = None
            if reserved:
                self.pending -= 1
            aborting = self.aborting
        finally:
            self.lock.release()
        if aborting:
            task._sched.abort_task(task)
        if not task._add_waiter(on_done):
            on_done(task)  # it finished on another worker already

    def abort_members(self, members: dict[Task[Any], None]) -> None:
        """Abort every task in ``members``, and from now on each task added (a structured
        block that failed or was cancelled)."""
        self.lock.acquire()
        try:
            self.aborting = 1
            tasks = list(members)
        finally:
            self.lock.release()
        for t in tasks:
            t._sched.abort_task(t)

    def take_all(self) -> list[Task[Any]]:
        """Remove and return every waiter (lock held)."""
        tasks = list(self._tasks)
        self._tasks.clear()
        return tasks

    @staticmethod
    def wake(tasks: list[Task[Any]]) -> None:
        for t in tasks:
            t._sched.wake(t)

    async def wait(self, ready: Callable[[], bool]) -> None:
        """Park until woken, unless ``ready()`` (checked under the lock) is already true."""
        me = current_task_or_raise("waiting on a task group")
        self.lock.acquire()
        try:
            if ready():
                return
            self._tasks.append(me)
        finally:
            self.lock.release()

        def abort() -> Abort:
            self.lock.acquire()
            try:
                try:
                    self._tasks.remove(me)
                except ValueError:
                    return Abort.FAILED
                return Abort.SUCCEEDED
            finally:
                self.lock.release()

        await wait_task_rescheduled(abort)

    async def drain(
        self, members: dict[Task[Any], None], abort_children: Callable[[], None], aborted: bool
    ) -> Cancelled | None:
        """Wait until the children of a structured block have all finished (no ``members``,
        no spawn under way), then close the group in the same section of the lock; return
        the outer cancellation if one arrived meanwhile.

        Once ``aborted`` (the block failed, or the waiting task was cancelled, which aborts
        the children) the wait is shielded, so no child outlives the block.
        """

        def all_done() -> bool:
            return not members and not self.pending

        outer: Cancelled | None = None
        while True:
            self.lock.acquire()
            try:
                if all_done():
                    self.closed = True
                    return outer
            finally:
                self.lock.release()
            try:
                if aborted:
                    with CancelScope(shield=True):
                        await self.wait(all_done)
                else:
                    await self.wait(all_done)
            except Cancelled as cancelled:
                outer = cancelled
                aborted = True
                abort_children()


def inactive_error(coro: object, group: str, entered: bool, hint: str) -> RuntimeError:
    """Close ``coro`` and return the error for a spawn into a group outside its block."""
    if isinstance(coro, Coroutine):
        coro.close()
    state = "has not been entered" if not entered else "has already finished"
    return RuntimeError(f"this {group} {state}: {hint}")


@final
class _JoinSetDone:
    """A JoinSet task's completion callback: queues the task as done and wakes the joiners.

    It holds the set's containers rather than the set, so a set nobody holds any more is
    freed (and aborts its tasks) while its tasks still run.
    """

    __slots__ = ("_done", "_tasks", "_waiters")

    def __init__(
        self, tasks: dict[Task[Any], None], done: deque[Task[Any]], waiters: _Waiters
    ) -> None:
        self._tasks = tasks
        self._done = done
        self._waiters = waiters

    def __call__(self, t: Task[Any]) -> None:
        waiters = self._waiters
        waiters.lock.acquire()
        try:
            if t not in self._tasks:
                return  # detached (detach_all) while it ran: not the set's any more
            self._done.append(t)
            woken = waiters.take_all()
        finally:
            waiters.lock.release()
        waiters.wake(woken)


@final
class JoinSet(Generic[T]):
    """A set of tasks whose results are collected in completion order (Tokio's ``JoinSet``).

    ``len()`` counts the tasks not joined yet. Leaving ``async with`` — or the set being
    garbage-collected — aborts the tasks still running; ``async with`` also waits for them.

    Example::

        async with rt.JoinSet[int]() as js:
            for i in range(10):
                js.spawn(work(i))
            while (value := await js.join_next()) is not None:
                print(value)
    """

    __slots__ = ("_done", "_tasks", "_waiters")

    def __init__(self) -> None:
        # Never rebound: the completion callbacks (_JoinSetDone) hold these three, not the
        # set, so dropping the set runs __del__ (which aborts what still runs). The waiters'
        # ``aborting`` counts the shutdown() calls under way: a task spawned meanwhile (from
        # an aborted task's cleanup, say) is aborted at once, or shutdown would wait for it.
        self._tasks: dict[Task[T], None] = {}
        self._done: deque[Task[T]] = deque()
        self._waiters = _Waiters()

    def spawn(self, coro: Awaitable[T], *, name: str | None = None) -> AbortHandle:
        """Spawn ``coro`` into the set; return an :class:`AbortHandle` for it.

        Raises:
            TypeError: ``coro`` is not a coroutine.
            RuntimeError: outside a runtime.
        """
        task: Task[T] = _spawn_supervised(coro, name, "JoinSet.spawn()")
        return self._adopt(task)

    def spawn_blocking(self, fn: Callable[..., T], *args: Any) -> AbortHandle:
        """Run the plain function ``fn(*args)`` on the blocking pool, as a task of the set.

        Its result is joined like any other task's; aborting it cancels the job only if it
        has not started (see :func:`rt.spawn_blocking`).

        Raises:
            TypeError: ``fn`` is not a plain callable (an async function is refused).
            RuntimeError: outside a runtime, or the runtime is shutting down.
        """
        st = STATE.get(None)
        if st is None:
            if not callable(fn):
                raise not_a_function(fn, "JoinSet.spawn_blocking()")
            raise outside_error("JoinSet.spawn_blocking()")
        task: Task[T] = st._sched.spawn_blocking(fn, args)
        task._supervised = True
        return self._adopt(task)

    def _adopt(self, task: Task[T]) -> AbortHandle:
        waiters = self._waiters
        on_done = _JoinSetDone(self._tasks, self._done, waiters)
        waiters.admit(self._tasks, task, on_done, False)
        return AbortHandle(_KEY, task)

    def __len__(self) -> int:
        return len(self._tasks)

    def is_empty(self) -> bool:
        """Return whether every spawned task has been joined."""
        return not self._tasks

    async def join_next(self) -> T | None:
        """Wait for the next task to finish and return its value; ``None`` if the set is empty.

        Raises:
            rt.JoinError: the task that finished raised or was aborted (it is removed from the
                set all the same).

        Cancel safety: cancel-safe. A cancelled ``join_next`` takes no task out of the set.
        """
        waiters = self._waiters
        task: Task[T] | None = None
        while task is None:
            waiters.lock.acquire()
            try:
                if self._done:
                    task = self._done.popleft()
                    del self._tasks[task]
                elif not self._tasks:
                    return None
            finally:
                waiters.lock.release()
            if task is None:
                await waiters.wait(self._has_news)
        return task._outcome()

    async def join_next_with_id(self) -> tuple[int, T] | None:
        """Like :meth:`join_next`, with the finished task's id: ``(id, value)``.

        Returns:
            ``(task id, value)``, or ``None`` when the set is empty.

        Raises:
            rt.JoinError: the task that finished raised or was aborted; its ``id`` says which.

        Cancel safety: cancel-safe. A cancelled ``join_next_with_id`` takes no task out of
        the set.
        """
        waiters = self._waiters
        task: Task[T] | None = None
        while task is None:
            task = self._take_done()
            if task is None:
                if not self._tasks:
                    return None
                await waiters.wait(self._has_news)
        return task._id, task._outcome()

    def try_join_next(self) -> T | None:
        """Return the value of a task that has finished, without waiting.

        Returns:
            The value of one finished task (removed from the set), or ``None`` when no task
            has finished yet or the set is empty (Tokio's ``try_join_next``; use
            :meth:`is_empty` or ``len()`` to tell them apart from a task that returned None).

        Raises:
            rt.JoinError: the finished task raised or was aborted (it is removed all the same).
        """
        task = self._take_done()
        return None if task is None else task._outcome()

    def _take_done(self) -> Task[T] | None:
        self._waiters.lock.acquire()
        try:
            if not self._done:
                return None
            task = self._done.popleft()
            del self._tasks[task]
            return task
        finally:
            self._waiters.lock.release()

    def _has_news(self) -> bool:
        return bool(self._done) or not self._tasks

    async def join_all(self) -> list[T]:
        """Wait for every task and return their values in completion order.

        Raises:
            rt.JoinError: the first task (in completion order) that failed or was aborted; the
                others are aborted and awaited first.

        Cancel safety: not cancel-safe: values collected before the cancellation are lost
        (the tasks themselves stay in the set only if they had not finished).
        """
        results: list[T] = []
        try:
            while True:
                self._waiters.lock.acquire()
                try:
                    if not self._done and not self._tasks:
                        return results
                finally:
                    self._waiters.lock.release()
                value = await self.join_next()
                results.append(value)  # type: ignore[arg-type]
        except BaseException:
            await self.shutdown()
            raise

    def abort_all(self) -> None:
        """Abort every task in the set (they stay in it until joined)."""
        with self._waiters.lock:
            tasks = list(self._tasks)
        for task in tasks:
            task._sched.abort_task(task)

    def detach_all(self) -> None:
        """Remove every task from the set and let them run on, detached."""
        with self._waiters.lock:
            tasks = list(self._tasks)
            self._tasks.clear()
            self._done.clear()
        for task in tasks:
            task._supervised = False
            if task._done:
                watch_unread(task)  # finished, never joined: reported if dropped unread

    async def shutdown(self) -> None:
        """Abort every task and wait until all have finished; the set is empty afterwards.

        A task spawned into the set while ``shutdown`` waits is aborted at once too.

        Cancel safety: the waiting is shielded: once called, it completes before a
        cancellation of the caller is seen (at the next checkpoint).
        """
        waiters = self._waiters
        with waiters.lock:
            waiters.aborting += 1
        try:
            self.abort_all()
            with CancelScope(shield=True):
                while True:
                    with waiters.lock:
                        while self._done:
                            task = self._done.popleft()
                            del self._tasks[task]
                            task._mark_read()
                        if not self._tasks:
                            return
                    await waiters.wait(self._has_news)
        finally:
            with waiters.lock:
                waiters.aborting -= 1

    async def __aenter__(self) -> JoinSet[T]:
        """Return the set; leaving the block aborts and awaits every task still in it.

        Cancel safety: cancel-safe (entering does not wait).
        """
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Abort every task still in the set and wait for them all (``shutdown``).

        Cancel safety: the wait for the aborted tasks is shielded, so no task outlives the block.
        """
        await self.shutdown()

    def __del__(self) -> None:
        for task in list(self._tasks):  # nobody else holds the set any more
            if not task._done:
                task._sched.abort_task(task)

    def __repr__(self) -> str:
        return f"<rt.JoinSet tasks={len(self._tasks)} finished={len(self._done)}>"


@final
class TaskGroup:
    """Structured concurrency: tasks that cannot outlive the block that spawned them.

    ``async with rt.TaskGroup() as tg:`` — tasks spawned with ``tg.spawn`` run concurrently
    with the block, and leaving the block waits for all of them. When a task (or the block)
    raises, the block and all other tasks are cancelled, and once everything has stopped the
    errors are raised together in an :class:`ExceptionGroup` (``except*`` friendly). The
    ``rt.Cancelled`` of the tasks it cancelled never appear in it. If the block is cancelled
    from outside, the tasks are cancelled too and the cancellation propagates.
    """

    __slots__ = ("_entered", "_errors", "_scope", "_tasks", "_waiters")

    def __init__(self) -> None:
        self._scope = CancelScope()
        # The waiters' ``aborting`` is set once the children are aborted (an error, or the
        # block cancelled): a task spawned after that (from a child's cleanup, say) is
        # aborted at once, as trio cancels a task started in a cancelled nursery; else the
        # block waits for it. Their ``closed`` is set when the block has ended.
        self._tasks: dict[Task[Any], None] = {}
        self._errors: list[BaseException] = []
        self._waiters = _Waiters()
        self._entered = False

    def spawn(self, coro: Awaitable[T], *, name: str | None = None) -> JoinHandle[T]:
        """Spawn ``coro`` into the group and return its :class:`JoinHandle`.

        Once the group is shutting down (a task or the block failed, or the block was
        cancelled), the new task is cancelled before it runs: awaiting its handle raises a
        cancelled :class:`rt.JoinError`.

        Raises:
            RuntimeError: the group is not active (before ``async with`` or after it ended).
            TypeError: ``coro`` is not a coroutine.
        """
        waiters = self._waiters
        if not self._entered or not waiters.reserve():
            raise inactive_error(
                coro, "TaskGroup", self._entered, "spawn inside `async with rt.TaskGroup()`"
            )
        try:
            task: Task[T] = _spawn_supervised(coro, name, "TaskGroup.spawn()")
        except BaseException:
            waiters.unreserve(self._tasks)
            raise
        waiters.admit(self._tasks, task, self._on_done, True)
        return task

    def _on_done(self, task: Task[Any]) -> None:
        exc = task._exc
        failed = exc is not None and not isinstance(exc, Cancelled)
        waiters = self._waiters
        waiters.lock.acquire()
        try:
            self._tasks.pop(task, None)
            if failed:
                task._mark_read()
                self._errors.append(exc)  # type: ignore[arg-type]
            woken = waiters.take_all() if not self._tasks and not waiters.pending else []
        finally:
            waiters.lock.release()
        if failed:
            self._abort_children()
            self._scope.cancel()
        waiters.wake(woken)

    def _abort_children(self) -> None:
        self._waiters.abort_members(self._tasks)

    async def __aenter__(self) -> TaskGroup:
        """Open the group (once per instance).

        Cancel safety: cancel-safe (entering does not wait).
        """
        if self._entered:
            raise RuntimeError("a TaskGroup can be entered only once; create a new one")
        self._scope.__enter__()
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Wait for every task in the group; on an error, cancel the rest and raise the group.

        Cancel safety: a cancellation of the enclosing task cancels the children and still
        waits for them, so no child outlives the block.
        """
        body_error = exc if exc is not None and not isinstance(exc, Cancelled) else None
        if exc is not None:
            self._abort_children()
        try:
            outer_cancel = await self._waiters.drain(
                self._tasks, self._abort_children, aborted=exc is not None
            )
        finally:
            with self._waiters.lock:
                self._waiters.closed = True  # (drain did, unless it raised)
                errors = list(self._errors)
        if body_error is not None:
            errors.insert(0, body_error)
        if errors:
            self._scope.__exit__(None, None, None)
            raise chained(BaseExceptionGroup("errors in rt.TaskGroup", errors), None)
        if outer_cancel is not None and not isinstance(exc, Cancelled):
            if self._scope.__exit__(type(outer_cancel), outer_cancel, outer_cancel.__traceback__):
                return False
            raise outer_cancel
        return self._scope.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        state = "active" if self._entered and not self._waiters.closed else "idle"
        return f"<rt.TaskGroup {state} tasks={len(self._tasks)}>"
