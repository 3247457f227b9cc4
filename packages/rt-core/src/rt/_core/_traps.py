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

The abort slot (``Task._abort_fn``) holds what withdraws the wait, called at most once per
wait through ``_harness.withdraw``: a function of no arguments returning :class:`Abort` (what
:func:`wait_task_rescheduled` is given), or, for the two inlined fast paths below, the object
waited on itself, a :class:`Withdrawable` whose ``_withdraw(task)`` undoes the task's wait
(the awaited ``JoinHandle``, the fd's state), so that they make no object per wait: a function
per join made the spawn-and-join chain 5-11% slower (one more tracked object per parked task
for the collector). The scheduler clears the slot when it steps the task again, so a trap
needs no ``finally`` (and no generator frame).

Inlined fast paths. Two waits are so hot that they store their abort object and yield
``PARK`` themselves instead of awaiting :func:`wait_task_rescheduled` (each generator layer
costs); they follow it line for line. They are the only other places that yield ``PARK`` (the
test suite checks this list against the sources):

* ``_task.py`` ``JoinHandle.__await__``: awaiting a task's handle, the spawn-and-join path;
  its abort object is the awaited task (``JoinHandle._withdraw``).
* ``_reactor.py`` ``Registration.wait``: every socket wait; its abort object is the fd's
  state (``_FdState._withdraw``).
"""

from __future__ import annotations

import enum
import types
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, Final, Protocol

from ._current import budget_spent, current_task_or_raise

if TYPE_CHECKING:
    from ._task import JoinHandle as Task


class Abort(enum.Enum):
    """What an abort function reports back to the scheduler."""

    SUCCEEDED = "succeeded"
    """The wait was undone; resume the task with ``Cancelled``."""
    FAILED = "failed"
    """A wake-up is already in flight; the task will be rescheduled by its waker."""


class Withdrawable(Protocol):
    """A wait that undoes itself: what the two inlined fast paths park a task with, instead
    of a function made for each wait. Cancelling the task calls ``_withdraw(task)``; it is
    never callable, which is how ``_harness.withdraw`` tells it from a function."""

    def _withdraw(self, task: Any) -> Abort: ...


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"<rt trap {self._name}>"


YIELD: Final = _Sentinel("YIELD")
PARK: Final = _Sentinel("PARK")


def reschedule(task: Task[Any], exc: BaseException | None = None) -> None:
    """Make a parked task runnable again; safe from any thread.

    Args:
        task: A task parked in :func:`wait_task_rescheduled`.
        exc: An exception to raise in the task instead of resuming it normally.
    """
    if exc is not None:
        task._throw = exc
    task._sched.wake(task)


class Trap(Protocol):
    """What :func:`wait_task_rescheduled` returns: ``await`` it (or ``yield from`` it)."""

    def __await__(self) -> Generator[Any, None, None]: ...

    def __iter__(self) -> Generator[Any, None, None]: ...


def wait_task_rescheduled(abort_fn: Callable[[], Abort], task: Task[Any] | None = None) -> Trap:
    """Park the running task until :func:`reschedule` is called on it.

    ``await wait_task_rescheduled(abort_fn)``. The caller must have registered the task
    somewhere a waker will find it *before* calling this; ``abort_fn`` undoes that
    registration when the task is cancelled meanwhile. It returns the shared one-shot park
    awaitable (no generator per wait; ``yield from`` works too).

    Args:
        abort_fn: Called if the task is cancelled while parked; see ``Abort``.
        task: The running task, when the caller already holds it (what
            :func:`current_task` returned in this same step, e.g. the task it registered):
            it saves looking it up again on a hot path. Passing any other task is a bug.

    Raises:
        RuntimeError: when called outside a task running on rt.

    Cancel safety: this is the primitive that defines it. Cancellation reaches a parked task
    only through ``abort_fn``; if that returns ``Abort.SUCCEEDED`` the wait had no effect and
    ``rt.Cancelled`` is raised here.
    """
    if task is None:
        task = current_task_or_raise("wait_task_rescheduled()")
    task._abort_fn = abort_fn
    task._coop = 0
    return PARK_ONCE


# ``await YIELD_ONCE`` yields the YIELD trap once and resumes with None: its ``__await__`` is
# the ``__iter__`` of a one-item tuple, so each await costs one small C iterator instead of a
# generator and its frame (and a Python call). A cancellation thrown in while it is suspended
# is raised at the ``await`` (the iterator has no ``throw``), as from a generator. It is also
# iterable, so ``yield from checkpoint()`` in a generator-based awaitable keeps working.
_once = (YIELD,).__iter__
_YieldOnce: Final[type] = type(
    "YieldOnce", (), {"__slots__": (), "__await__": _once, "__iter__": _once}
)
YIELD_ONCE: Final[Awaitable[None]] = _YieldOnce()

# ``await PARK_ONCE`` is the park trap: it yields PARK once and resumes with None (or raises
# what the scheduler throws in), built the same way as YIELD_ONCE.
_park_once = (PARK,).__iter__
_ParkOnce: Final[type] = type(
    "ParkOnce", (), {"__slots__": (), "__await__": _park_once, "__iter__": _park_once}
)
PARK_ONCE: Final[Trap] = _ParkOnce()


def yield_now() -> Awaitable[None]:
    """Let every other runnable task run once before this one continues.

    ``await rt.yield_now()``. This is a checkpoint: in a cancelled task it raises
    :class:`rt.Cancelled`. Like :func:`checkpoint` it returns the shared one-shot awaitable
    (no generator per call).

    Raises:
        RuntimeError: when called outside a task running on rt.
        rt.Cancelled: when the task has been cancelled.

    Cancel safety: cancel-safe; it has no effect to lose.
    """
    current_task_or_raise("rt.yield_now()")._coop = 0
    return YIELD_ONCE


def checkpoint() -> Awaitable[None]:
    """Yield to the scheduler and raise :class:`rt.Cancelled` if the task is cancelled.

    ``await checkpoint()``: the call resets the task's cooperative budget and returns a
    shared awaitable that yields once (no coroutine or generator frame: every budgeted
    operation in rt awaits it, and so does ``rt.time.sleep(0)``).

    Raises:
        RuntimeError: when called outside a task running on rt.

    Cancel safety: cancel-safe; it has no effect to lose.
    """
    current_task_or_raise("a checkpoint (rt.yield_now(), rt.sleep(0), ...)")._coop = 0
    return YIELD_ONCE


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
