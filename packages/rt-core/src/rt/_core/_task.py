"""Tasks, which are also their own join handles.

A :class:`JoinHandle` is a coroutine plus the state its scheduler needs to drive it, and it is
what :func:`rt.spawn` returns (``rt.Task`` names the same class): one object per task, not a
task and a separate handle, because every object a spawn allocates is one more for the cyclic
garbage collector to walk, and on spawn-heavy programs those walks are most of the cost.

The runtime owns a task (a strong reference in the scheduler's task set) from spawn until it
finishes, so dropping the handle only *detaches* the task; nothing is ever garbage-collected
while it runs. When the last reference to a finished task goes away and nobody read its
outcome, a failure is reported through the runtime's ``unhandled_error`` policy.

State of a task, in order: runnable (in a run queue) ⇄ parked (``_abort_fn`` set until it is
stepped again, waiting for :func:`~rt._core._traps.reschedule`) → done (``_done``; ``_result``
or ``_exc`` set, waiters called once). Cancellation state is kept *effective*: ``_cancelled``
is recomputed whenever a cancel scope is entered, left or cancelled, or the task is aborted,
so a checkpoint only reads one attribute.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable, Coroutine, Generator
from contextvars import Context
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, final

from ._current import COOP_BUDGET, STATE, outside_error
from ._exceptions import Cancelled, JoinError, chained
from ._traps import PARK, YIELD, Abort, Withdrawable

if TYPE_CHECKING:
    from ._base import Scheduler
    from ._cancel import CancelScope
    from ._harness import UnreadFailure

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


def _probe() -> None:
    """Never called: its type says whether this module runs compiled (mypyc) or as Python."""


# True in the optional mypyc build, where a few pure-Python speed tricks (building objects
# without ``__init__``, bound-method caches) do not apply or are not allowed.
COMPILED: Final = type(_probe) is not types.FunctionType


# Guards the effective cancellation flag against a scope being cancelled from one thread while
# the task enters or leaves a scope on another: both recompute under it.
_CANCEL_LOCK = threading.RLock()

# Guards a task's joiner and waiters (``_joiner``, ``_waiters``) against a waiter registering
# from one thread while the task completes on another. Held for a few loads and stores only,
# and by a completion only when it has a joiner or waiters to take: a completion marks the
# task done *before* it reads them, and a waiter registers under the lock, then reads
# ``_done`` again and withdraws if it is set. Either the completion saw the waiter (and wakes
# it), or the waiter saw the task done (and does not park): no wake-up is lost.
_WAITERS_LOCK = threading.RLock()
_WAITERS_ACQUIRE: Final = _WAITERS_LOCK.acquire
_WAITERS_RELEASE: Final = _WAITERS_LOCK.release


# The key rt-core passes when it builds a JoinHandle or an AbortHandle: users get theirs from
# rt.spawn (and friends) and JoinHandle.abort_handle(), never by calling the class.
_KEY: Final = object()
_NOT_BUILT_BY_USERS: Final = (
    "rt.{} cannot be created directly: rt.spawn() (or Handle.spawn, JoinSet.spawn, "
    "rt.spawn_blocking) returns a JoinHandle for the task it starts, and "
    "JoinHandle.abort_handle() returns an AbortHandle"
)


#: Code of the coroutines whose work starts at the spawn call, not at their task's first step:
#: the task that awaits a ``spawn_blocking`` job (queued at the call). A cancel never stops
#: such a task before its first step; it reaches it in its wait, which withdraws the job only
#: if no thread has taken it (a job that started runs to its end and its result stands).
STARTED_AT_CALL: Final[set[types.CodeType]] = set()


@final
class JoinHandle(Generic[T_co]):
    """A task on an rt runtime, and the owned permission to await its result.

    :func:`rt.spawn` returns it; :func:`rt.current_task` returns the running one (``rt.Task``
    is another name for this class). ``await handle`` returns the task's value or raises
    :class:`rt.JoinError`. Dropping every reference to it *detaches* the task: it keeps
    running, owned by the runtime, and if it fails and nobody read its outcome, the failure
    is reported through the runtime's ``unhandled_error`` policy when the last reference
    goes (at once, unless a reference cycle keeps the task alive until the garbage
    collector breaks it).

    Tasks are created by :func:`rt.spawn` and friends, never directly: calling the class
    raises ``TypeError``.
    """

    __slots__ = (
        "_abort_fn",
        "_abort_requested",
        "_cancelled",
        "_coop",
        "_coro",
        "_ctx",
        "_done",
        "_exc",
        "_home",
        "_id",
        "_joiner",
        "_name",
        "_pinned",
        "_result",
        "_sched",
        "_scopes",
        "_state",
        "_supervised",
        "_throw",
        "_unread",
        "_waiters",
    )

    # What each field holds (they are set where a task is built: ``__init__`` and
    # ``new_handle`` here, and the schedulers' ``spawn_here``, from one generated block).
    _coro: Coroutine[Any, Any, T_co] | None
    _ctx: Context
    _sched: Scheduler
    _id: int
    _name: str | None
    _throw: BaseException | None
    # How to withdraw the current wait when the task is cancelled: a function of no arguments,
    # or the awaited handle / fd state (see ``_traps``); the scheduler clears it when it steps
    # the task again.
    _abort_fn: Callable[[], Abort] | Withdrawable | None
    _cancelled: bool
    _abort_requested: bool
    _scopes: list[CancelScope] | None
    _done: bool
    # _result and _exc are first written when the task finishes, and read only after; leaving
    # them unset saves two stores on every spawn.
    _result: Any
    _exc: BaseException | None
    # The task awaiting this one's handle (the common case, kept out of a list), then further
    # tasks to wake or callbacks to call once this task is done.
    _joiner: JoinHandle[Any] | None
    _waiters: list[JoinHandle[Any] | Callable[[JoinHandle[Any]], None]] | None
    _coop: int
    # Set (True) on a task that a JoinSet, a TaskGroup or ``block_on`` owns, and set (before
    # ``_done``) on a task that failed with an error reported if nobody reads it (the report
    # is made when this object goes, with the task; see ``_harness.UnreadFailure``). Both stay
    # unset on every other task (read with ``getattr``), which saves two stores per spawn.
    _supervised: bool
    _unread: UnreadFailure | None
    # Multi-thread flavor only, set by it when it makes the task (never read on the
    # current-thread flavor, where they stay unset): the run state (``SCHEDULED`` when
    # created) and the worker whose ``STATE`` the task's context holds. The current-thread
    # flavor has no homes: on a diagnosed runtime (only), ``_harness.new_task`` keeps the
    # task's ``TaskRecord`` in ``_home`` instead (None for the runtime's own shutdown sentinel,
    # and once the task ended through the loop), so that the diagnosed loop reaches it from
    # the task, with no table lookup per step and no slot that every other task would carry.
    _state: int
    _home: Any
    # The LocalSet pinning the task to a thread.
    _pinned: Any

    def __init__(  # noqa: PLR0917 - the internal callers pass positions
        self,
        key: object = None,
        coro: Any = None,
        name: str | None = None,
        sched: Any = None,
        ctx: Any = None,
        task_id: int = 0,
    ) -> None:
        # rt-core passes ``_KEY`` first (the compiled build, where calling the class is how a
        # task is made; see ``new_handle``); any other caller is told where handles come from.
        if key is not _KEY:
            raise TypeError(_NOT_BUILT_BY_USERS.format("JoinHandle"))
        task = self
        # <generated: task_fields>
        task._coro = coro
        task._ctx = ctx
        task._sched = sched
        task._id = task_id
        task._name = name
        task._throw = None
        task._abort_fn = None
        task._cancelled = False
        task._abort_requested = False
        task._scopes = None
        task._done = False
        task._joiner = None
        task._waiters = None
        task._coop = 0
        task._pinned = None
        # </generated: task_fields>

    @property
    def id(self) -> int:
        """A number unique among the tasks of this process."""
        return self._id

    @property
    def name(self) -> str | None:
        """The name given at spawn, or ``None``."""
        return self._name

    def __repr__(self) -> str:
        state = "done" if self._done else ("parked" if self._abort_fn else "runnable")
        label = f" {self._name!r}" if self._name else ""
        return f"<rt.JoinHandle #{self._id}{label} {state}>"

    def abort(self) -> None:
        """Request cancellation of the task; safe from any thread, a no-op once it finished.

        The task sees :class:`rt.Cancelled` at its next checkpoint (at once if it is parked, and
        before it runs at all if it has not started); awaiting the handle then raises a
        :class:`rt.JoinError` whose ``is_cancelled()`` is true, unless the task finished first.
        """
        self._sched.abort_task(self)

    def abort_handle(self) -> AbortHandle:
        """Return an :class:`AbortHandle` for this task."""
        return AbortHandle(_KEY, self)

    def is_finished(self) -> bool:
        """Return whether the task has finished (returned, raised or was cancelled)."""
        return self._done

    def _describe_wait(self) -> str:
        """What a task parked on this handle waits for (task dumps)."""
        return f"join #{self._id}" + (f" ({self._name})" if self._name else "")

    def __await__(self) -> Generator[Any, None, T_co]:
        """Wait for the task and return its value.

        Raises:
            rt.JoinError: the task raised (``is_panic()``) or was cancelled (``is_cancelled()``).

        Cancel safety: cancel-safe. Cancelling the waiter leaves the task running; the handle
        can be awaited again.
        """
        task = self
        # The park is inlined (rather than ``yield from wait_task_rescheduled``): awaiting a
        # handle is on the spawn-and-join hot path, and every generator layer costs.
        st = STATE.get(None)
        me = st._current if st is not None else None
        if me is None:
            raise outside_error("awaiting a JoinHandle")
        if not task._done:
            if me is task:
                raise RuntimeError(f"{task._describe()} cannot await its own JoinHandle")
            # The lock through its bound methods, not ``with`` (half the cost on 3.11; see
            # ``settle_value`` in tools/gen_hot_paths.py, which explains the ``try``).
            try:
                _WAITERS_ACQUIRE()
                parked = not task._done
                if parked:
                    if task._joiner is None:
                        task._joiner = me
                    elif task._waiters is None:
                        task._waiters = [me]
                    else:
                        task._waiters.append(me)
                    if task.is_finished():  # ``_done`` again (a call: mypy narrowed it)
                        # It finished meanwhile, and its completion may have read no waiter
                        # (it takes the lock only to take one): withdraw, do not park.
                        self._remove_waiter(me)
                        parked = False
            finally:
                _WAITERS_RELEASE()
            if parked:
                me._abort_fn = task  # cancelling ``me`` calls task._withdraw(me)
                me._coop = 0
                yield PARK
        else:
            me._coop += 1
            if me._coop >= COOP_BUDGET:
                me._coop = 0
                yield YIELD
        if task._exc is None:
            return task._result  # type: ignore[no-any-return]
        return task._outcome()

    def _mark_read(self) -> None:
        """The task's outcome was read: its failure is no longer reported when it goes."""
        unread = getattr(self, "_unread", None)
        if unread is not None:
            unread.disarm()
            self._unread = None

    # -- cancellation -------------------------------------------------------------------

    def _recompute_cancelled(self) -> bool:
        """Recompute the effective cancellation state from the scope stack; return it."""
        with _CANCEL_LOCK:
            cancelled = self._abort_requested
            scopes = self._scopes
            if scopes:
                for scope in reversed(scopes):
                    if scope._cancel_called:
                        cancelled = True
                        break
                    if scope._shield:
                        cancelled = False
                        break
            self._cancelled = cancelled
            return cancelled

    def _is_unstarted(self) -> bool:
        coro = self._coro
        if coro is not None and not isinstance(coro, types.CoroutineType):
            coro = getattr(coro, "_coro", None)  # a diagnosed runtime's Instrumented wrapper
        return (
            coro is not None
            and isinstance(coro, types.CoroutineType)
            and coro.cr_frame is not None
            and not coro.cr_running
            and not coro.cr_suspended
            and coro.cr_code not in STARTED_AT_CALL
        )

    # -- completion ----------------------------------------------------------------------

    def _add_waiter(self, callback: JoinHandle[Any] | Callable[[JoinHandle[Any]], None]) -> bool:
        """Register ``callback`` to run when the task finishes; False if it already has."""
        with _WAITERS_LOCK:
            if self._done:
                return False
            if self._waiters is None:
                self._waiters = [callback]
            else:
                self._waiters.append(callback)
            if self.is_finished():  # ``_done`` again (a call: mypy narrowed it)
                # Finished meanwhile: its completion may have read no waiter (see
                # ``_WAITERS_LOCK``), so withdraw and report it finished.
                self._remove_waiter(callback)
                return False
            return True

    def _remove_waiter(self, callback: JoinHandle[Any] | Callable[[JoinHandle[Any]], None]) -> bool:
        """Unregister ``callback``; False if it was already called (or never registered)."""
        with _WAITERS_LOCK:
            if self._joiner is callback:
                self._joiner = None
                return True
            waiters = self._waiters
            if waiters is None:
                return False
            try:
                waiters.remove(callback)
            except ValueError:
                return False
            return True

    def _withdraw(self, waiter: JoinHandle[Any]) -> Abort:
        """The abort of ``await handle`` by ``waiter`` (its abort slot holds this handle)."""
        if self._remove_waiter(waiter):
            return Abort.SUCCEEDED
        return Abort.FAILED

    def _outcome(self) -> T_co:
        """Return the result or raise :class:`JoinError`; marks the outcome as read."""
        self._mark_read()
        exc = self._exc
        if exc is None:
            return self._result  # type: ignore[no-any-return]
        if isinstance(exc, Cancelled):
            raise JoinError(
                f"{self._describe()} was cancelled",
                exception=None,
                cancelled=True,
                task_id=self._id,
            )
        raise chained(
            JoinError(
                f"{self._describe()} raised {type(exc).__name__}: {exc}",
                exception=exc,
                cancelled=False,
                task_id=self._id,
            ),
            exc,
        )

    def _describe(self) -> str:
        return f"task #{self._id}" + (f" {self._name!r}" if self._name else "")


#: Makes an object of a class without calling it (so without ``__init__``).
new_object: Final = object.__new__


def new_handle(
    coro: Coroutine[Any, Any, T], name: str | None, sched: Scheduler, ctx: Context, task_id: int
) -> JoinHandle[T]:
    """Build the task for ``coro``: how rt-core makes a ``JoinHandle``.

    As Python, the object is made without calling the class and its fields are set here:
    calling it runs ``__init__`` from C, which costs about as much again as setting the
    fields, once per spawn. The compiled build calls the class, which is cheap there and the
    only way to make one of its objects. (The spawn hot paths inline this.)
    """
    if COMPILED:
        return JoinHandle(_KEY, coro, name, sched, ctx, task_id)
    task: JoinHandle[T] = new_object(JoinHandle)
    # <generated: task_fields>
    task._coro = coro
    task._ctx = ctx
    task._sched = sched
    task._id = task_id
    task._name = name
    task._throw = None
    task._abort_fn = None
    task._cancelled = False
    task._abort_requested = False
    task._scopes = None
    task._done = False
    task._joiner = None
    task._waiters = None
    task._coop = 0
    task._pinned = None
    # </generated: task_fields>
    return task


@final
class AbortHandle:
    """A handle that can only abort a task, not await it (Tokio's ``AbortHandle``).

    It references the task, so a failure nobody read is reported once the abort handles are
    gone too (see :class:`JoinHandle`).
    """

    __slots__ = ("_task",)

    def __init__(self, key: object = None, task: Any = None) -> None:
        if key is not _KEY:
            raise TypeError(_NOT_BUILT_BY_USERS.format("AbortHandle"))
        self._task: JoinHandle[Any] = task

    @property
    def id(self) -> int:
        """The task's id."""
        return self._task._id

    def abort(self) -> None:
        """Request cancellation of the task; safe from any thread, a no-op once it finished."""
        task = self._task
        task._sched.abort_task(task)

    def is_finished(self) -> bool:
        """Return whether the task has finished (returned, raised or was cancelled)."""
        return self._task._done

    def __repr__(self) -> str:
        return f"<rt.AbortHandle for {self._task!r}>"


#: The running task, as :func:`rt.current_task` returns it: the same class as ``JoinHandle``.
Task = JoinHandle
