"""Who is running: the ``STATE`` context variable, the running task, its cooperative budget.

Split from :mod:`._traps` (which re-exports all of it) so that the optional mypyc build compiles
these small functions: every channel operation, read and wake-up calls them, and they touch the
task's attributes, which compiled classes serve fastest to compiled code. ``_traps`` itself
must stay Python: its traps are ``@types.coroutine`` generators.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, Protocol

from ._exceptions import Cancelled

if TYPE_CHECKING:
    from ._base import Scheduler
    from ._task import JoinHandle as Task

#: Operations a task may complete without suspending before it is made to yield (Tokio's
#: ``coop`` budget is 128 as well).
COOP_BUDGET: Final = 128


class RunState(Protocol):
    """What the ``_STATE`` context variable holds: who runs the code and which task it is."""

    _current: Task[Any] | None
    _sched: Scheduler

    def spawn_here(self, coro: object, name: str | None) -> Task[Any]:
        """Spawn from the task running on this thread (``_current`` is not None)."""
        ...


#: Set in every task's context to the scheduler running it (and in blocking-pool threads to a
#: stand-in with no current task). Children inherit it with the copied context, so spawning
#: costs nothing extra; the scheduler updates ``_current`` as it steps tasks.
STATE: Final[ContextVar[RunState]] = ContextVar("rt.runtime_state")

_OUTSIDE = (
    "{what} must be called from a task running on an rt runtime{found}: start one with "
    "rt.run(main()), Runtime.block_on(...), or use a Handle (rt.Handle.current() inside the "
    "runtime, runtime.handle() outside it)"
)


def _found_instead() -> str:
    """Name the other event loop running this code, if any (only on the error path).

    rt is a runtime of its own, not a layer over asyncio or trio: an rt coroutine awaited by
    one of theirs lands here, and saying which one it found turns a puzzle into a fix.
    """
    import sys

    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            kind = f"{type(loop).__module__}.{type(loop).__qualname__}"
            return (
                f", but it is running under asyncio (event loop {kind}); rt has its own "
                "scheduler and does not run on asyncio's"
            )
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            return (
                ", but it is running under trio; rt has its own scheduler and does not run on "
                "trio's"
            )
    return ""


def outside_error(what: str) -> RuntimeError:
    """Build the error raised when a task-only API is used outside a runtime."""
    return RuntimeError(_OUTSIDE.format(what=what, found=_found_instead()))


def current_task_or_raise(what: str) -> Task[Any]:
    """Return the running task, or raise ``RuntimeError`` naming ``what``."""
    st = STATE.get(None)
    if st is not None:
        task = st._current
        if task is not None:
            return task
    raise outside_error(what)


def checkpoint_if_cancelled() -> None:
    """Raise :class:`rt.Cancelled` if the running task is cancelled, without yielding.

    Raises:
        rt.Cancelled: when the task has been cancelled.
        RuntimeError: when called outside a task running on rt.
    """
    if current_task_or_raise("checkpoint_if_cancelled()")._cancelled:
        raise Cancelled()


def current_task() -> Task[Any]:
    """Return the running task.

    Raises:
        RuntimeError: outside a task running on rt.
    """
    st = STATE.get(None)
    if st is not None:
        task = st._current
        if task is not None:
            return task
    # Libraries call it on behalf of their users (every rt.sync wait does), so say so.
    raise outside_error("an rt operation that waits (rt.lowlevel.current_task())")


def budget_spent(cost: int = 1) -> bool:
    """Count ``cost`` operations against the running task's cooperative budget, without yielding.

    Returns True when the budget is spent: the caller must then ``await checkpoint()``. This is
    the allocation-free form of :func:`consume_budget` for hot paths. A primitive may count its
    operations itself and charge them in batches (``budget_spent(32)`` every 32nd operation):
    finding the running task is most of the cost of a call.

    Call it **before** the operation takes effect (``if budget_spent(): await checkpoint()``,
    then take the value or the lock): the yield is a checkpoint, and a cancellation landing on
    it must find nothing taken. Spending the budget after taking a value loses it.
    """
    st = STATE.get(None)
    if st is not None:
        task = st._current
        if task is not None:
            task._coop += cost
            if task._coop >= COOP_BUDGET:
                task._coop = 0
                return True
    return False
