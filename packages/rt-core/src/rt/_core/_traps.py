"""The one place where a task suspends.

Every wait in rt — a lock, a channel, a timer, a socket — ends in one of the two traps below, the
way curio's kernel and trio's ``wait_task_rescheduled`` work. A task is a coroutine driven by
``send``/``throw``; what it yields to its scheduler is one of two sentinels:

``YIELD``
    "I can go on; put me at the back of the run queue." Used by :func:`yield_now` and by the
    cooperative budget. The task stays runnable.

``PARK``
    "Do not run me until somebody calls :func:`reschedule` on me." Before yielding ``PARK`` the
    trap stores an *abort function* on the task, right beside the wait it belongs to. If the
    task is cancelled while parked, the scheduler calls that function on the runtime's thread:
    it returns :attr:`Abort.SUCCEEDED` when it has undone the registration (the task is then
    resumed with :class:`rt.Cancelled` and the operation had no effect) or
    :attr:`Abort.FAILED` when a wake-up is already on its way (the operation completed; the
    cancellation is seen at the next checkpoint, since it is level-triggered).

Invariants the rest of rt relies on:

* A parked task is woken exactly once, by whoever wins the race between the waker and the abort
  function. Primitives guarantee this with their own lock: the waker removes the waiter under
  the lock before calling :func:`reschedule`; the abort function checks, under the same lock,
  that the waiter is still registered.
* :func:`reschedule` is safe from any thread. It appends the task to its scheduler's run queue
  and unparks the driver if the scheduler is asleep.
* Values are never passed through the trap: a waker stores the result in the waiter object
  before rescheduling. Only an exception (usually ``Cancelled``) is thrown in.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Callable, Generator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, Protocol

from ._exceptions import Cancelled

if TYPE_CHECKING:
    from ._scheduler import Scheduler
    from ._task import Task


class Abort(enum.Enum):
    """What an abort function reports back to the scheduler."""

    SUCCEEDED = "succeeded"
    """The wait was undone; resume the task with ``Cancelled``."""
    FAILED = "failed"
    """A wake-up is already in flight; the task will be rescheduled by its waker."""


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"<rt trap {self._name}>"


YIELD: Final = _Sentinel("YIELD")
PARK: Final = _Sentinel("PARK")

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
    "{what} must be called from a task running on an rt runtime: start one with "
    "rt.run(main()), Runtime.block_on(...), or use a Handle (rt.Handle.current() inside the "
    "runtime, runtime.handle() outside it)"
)


def outside_error(what: str) -> RuntimeError:
    """Build the error raised when a task-only API is used outside a runtime."""
    return RuntimeError(_OUTSIDE.format(what=what))


def current_task_or_raise(what: str) -> Task[Any]:
    """Return the running task, or raise ``RuntimeError`` naming ``what``."""
    st = STATE.get(None)
    if st is not None:
        task = st._current
        if task is not None:
            return task
    raise outside_error(what)


@types.coroutine
def wait_task_rescheduled(abort_fn: Callable[[], Abort]) -> Generator[Any, None, None]:
    """Park the running task until :func:`reschedule` is called on it.

    The caller must have registered the task somewhere a waker will find it *before* awaiting
    this; ``abort_fn`` undoes that registration when the task is cancelled meanwhile.

    Cancel safety: this is the primitive that defines it. Cancellation reaches a parked task
    only through ``abort_fn``; if that returns ``Abort.SUCCEEDED`` the wait had no effect and
    ``rt.Cancelled`` is raised here.
    """
    task = current_task_or_raise("wait_task_rescheduled()")
    task._abort_fn = abort_fn
    task._coop = 0
    try:
        yield PARK
    finally:
        task._abort_fn = None


def reschedule(task: Task[Any], exc: BaseException | None = None) -> None:
    """Make a parked task runnable again; safe from any thread.

    Args:
        task: A task parked in :func:`wait_task_rescheduled`.
        exc: An exception to raise in the task instead of resuming it normally.
    """
    if exc is not None:
        task._throw = exc
    task._sched.wake(task)


@types.coroutine
def yield_now() -> Generator[Any, None, None]:
    """Let every other runnable task run once before this one continues.

    This is a checkpoint: in a cancelled task it raises :class:`rt.Cancelled`.

    Raises:
        RuntimeError: when called outside a task running on rt.
        rt.Cancelled: when the task has been cancelled.

    Cancel safety: cancel-safe; it has no effect to lose.
    """
    current_task_or_raise("rt.yield_now()")._coop = 0
    yield YIELD


@types.coroutine
def checkpoint() -> Generator[Any, None, None]:
    """Yield to the scheduler and raise :class:`rt.Cancelled` if the task is cancelled.

    A plain generator-based awaitable (no coroutine frame in between): every budgeted
    operation in rt awaits it.

    Cancel safety: cancel-safe; it has no effect to lose.
    """
    current_task_or_raise("a checkpoint (rt.yield_now(), rt.sleep(0), ...)")._coop = 0
    yield YIELD


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
    raise outside_error("rt.lowlevel.current_task()")


def budget_spent() -> bool:
    """Count one operation against the running task's cooperative budget, without yielding.

    Returns True when the budget is spent: the caller must then ``await checkpoint()``. This is
    the allocation-free form of :func:`consume_budget` for hot paths.

    Call it **before** the operation takes effect (``if budget_spent(): await checkpoint()``,
    then take the value or the lock): the yield is a checkpoint, and a cancellation landing on
    it must find nothing taken. Spending the budget after taking a value loses it.
    """
    st = STATE.get(None)
    if st is not None:
        task = st._current
        if task is not None:
            task._coop += 1
            if task._coop >= COOP_BUDGET:
                task._coop = 0
                return True
    return False


@types.coroutine
def consume_budget() -> Generator[Any, None, None]:
    """Count one operation against the task's cooperative budget; yield when it is spent.

    Operations that can complete without waiting (a channel receive with a value ready, a read
    with bytes buffered) await this so a task looping over them still yields every
    ``COOP_BUDGET`` operations and cannot starve timers, I/O and other tasks. Await it
    **before** the operation takes effect (see :func:`budget_spent`).

    Cancel safety: cancel-safe. When the budget is spent it yields, which is a checkpoint.
    """
    if budget_spent():
        yield YIELD
