"""rt.Handle: a reference to a runtime that spawns onto it from any thread, and the few
scheduler calls it and ``Runtime`` share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast, final

from ._base import Scheduler
from ._current import STATE, outside_error
from ._task import JoinHandle
from ._task import JoinHandle as Task

if TYPE_CHECKING:
    from ._dump import TaskDump
    from ._metrics import RuntimeMetrics

T = TypeVar("T")


@final
class Handle:
    """A reference to a runtime that can spawn onto it from any thread.

    Get one with :meth:`Handle.current` inside the runtime (tasks and ``spawn_blocking``
    threads) or :meth:`Runtime.handle` outside it; the runtime owns the class, so calling
    ``rt.Handle()`` raises ``TypeError``.
    """

    __slots__ = ("_sched",)

    def __init__(self, *args: object, **kwargs: object) -> None:
        if len(args) != 2 or args[1] is not _OWNER or kwargs:
            raise TypeError(
                "rt.Handle is not created directly: use rt.Handle.current() inside a runtime, "
                "or runtime.handle()"
            )
        self._sched = cast("Scheduler", args[0])

    @staticmethod
    def current() -> Handle:
        """Return the handle of the runtime running the caller.

        Raises:
            RuntimeError: outside a task or blocking thread of an rt runtime.
        """
        st = STATE.get(None)
        if st is None:
            raise outside_error("rt.Handle.current()")
        return _new_handle(st._sched)

    def spawn(self, coro: Awaitable[T], *, name: str | None = None) -> JoinHandle[T]:
        """Spawn ``coro`` as a task on this runtime; safe from any thread.

        Args:
            coro: A coroutine object (``fn()``, not ``fn``).
            name: An optional name, shown in reprs, logs and ``rt.current_task().name``.

        Returns:
            A :class:`JoinHandle` to await or abort the task.

        Raises:
            TypeError: ``coro`` is not an awaitable that can be driven.
            RuntimeError: the runtime is shut down.
        """
        return self._sched.spawn(coro, name, "Handle.spawn()")

    def spawn_blocking(self, fn: Callable[..., T], *args: Any) -> JoinHandle[T]:
        """Run ``fn(*args)`` on the blocking pool; safe from any thread.

        See :func:`rt.spawn_blocking`.
        """
        return _sched_spawn_blocking(self._sched, fn, args)

    def block_on(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this runtime and return its result; call it from outside the runtime.

        If another thread is already driving the runtime, the coroutine runs there and this
        thread waits; otherwise this thread drives the runtime until the coroutine finishes.

        Raises:
            RuntimeError: called from inside a task, or the runtime is shut down.
        """
        return _sched_block_on(self._sched, coro)  # type: ignore[no-any-return]

    def metrics(self) -> RuntimeMetrics:
        """Return a snapshot of the runtime's metrics."""
        return _sched_metrics(self._sched)

    def dump(self) -> TaskDump:
        """Return a snapshot of every live task of this runtime; safe from any thread.

        Each task has its id, name, state (``running``, ``runnable``, or ``parked`` with what
        it waits on), spawn location and parent (recorded when the runtime was built with a
        task hook, ``slow_poll_threshold`` or ``console``; ``None`` otherwise), and its await
        chain as frames. ``str()`` of the result prints the task tree; ``to_dict()`` is
        JSON-ready. It works while a task blocks the runtime's thread: that task is
        ``running`` and its frames are the thread's stack.

        Returns:
            An ``rt.TaskDump``.
        """
        return _dump(self._sched)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Handle) and other._sched is self._sched

    def __hash__(self) -> int:
        return id(self._sched)

    def __repr__(self) -> str:
        return f"<rt.Handle flavor={self._sched.flavor}>"


def _sched_block_on(sched: Scheduler, coro: object) -> Any:
    return sched.block_on(coro)


def _sched_metrics(sched: Scheduler) -> RuntimeMetrics:
    return sched.metrics()


def _dump(sched: Scheduler) -> TaskDump:
    from ._dump import take_dump

    return take_dump(sched)


def _sched_spawn_blocking(sched: Scheduler, fn: Callable[..., T], args: tuple[Any, ...]) -> Task[T]:
    return sched.spawn_blocking(fn, args)


# The private factory's key: Handle.__init__ refuses any call without it. (Building the object
# without __init__ would be simpler, but the compiled build runs __init__ either way.)
_OWNER: Final = object()


def _new_handle(sched: Scheduler) -> Handle:
    return Handle(sched, _OWNER)
