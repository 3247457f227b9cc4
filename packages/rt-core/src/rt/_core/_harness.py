"""A task's life around a step, one version for every scheduler flavor.

Tokio keeps this in ``runtime/task/harness.rs``; trio ends every task in one ``task_exited``.
The schedulers (``_scheduler`` for current-thread, ``_multi`` for multi-thread) keep only their
queues and loops and call into this module for everything a task goes through:

* **creation**: :func:`new_task` builds a task: :func:`coerce_coroutine` checks what
  ``spawn`` was given (a clear ``TypeError``, never a task that fails later), ``_task_ids``
  numbers tasks process-wide, the context is copied;
  :func:`refuse_new_task` closes a coroutine that a closed runtime turns away;
* **a step gone wrong**: :func:`bad_yield_error` for a task that awaited something foreign;
* **settling**: :func:`finish` (the cold path of both loops): :func:`settle` records a
  result or error and takes the joiner and waiters; :func:`run_waiters` wakes them (a
  callback that raises is logged, the others still run);
* **cancellation**: :func:`cancel_wait` withdraws a parked task's wait through
  :func:`withdraw`, which calls its abort function (one that raises is logged and counts as
  FAILED); the run-state transitions around it are named in ``_state``;
* **failures**: :func:`task_failed` (KeyboardInterrupt and SystemExit stop the runtime:
  :func:`stop_runtime`),
  :class:`UnreadFailure` and :func:`report_unhandled` (the ``unhandled_error`` policy, never
  while the interpreter finalizes);
* **blocking hand-off**: :func:`spawn_blocking` and the task that awaits the job.

The two loops inline the common completion (a value, at most one joiner) for speed: what
they inline is :func:`settle` plus waking the joiner.
"""

from __future__ import annotations

import itertools
import sys
import types
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import copy_context
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from ._blocking import BlockingJob
from ._current import STATE, RunState, current_task_or_raise
from ._exceptions import Cancelled
from ._state import DONE
from ._task import _WAITERS_LOCK, STARTED_AT_CALL, new_handle
from ._task import JoinHandle as Task
from ._traps import Abort, Withdrawable, wait_task_rescheduled

if TYPE_CHECKING:
    from ._base import Scheduler

T = TypeVar("T")


class _LazyLogger:
    """The ``rt`` logger, imported on first use: ``import rt`` must not pay for logging."""

    def __getattr__(self, name: str) -> Any:
        import logging

        return getattr(logging.getLogger("rt"), name)


logger: Final = _LazyLogger()

_task_ids = itertools.count(1)
_CoroType: Final = types.CoroutineType


def _noop() -> None:
    pass


# Task outcomes never reported as unhandled: a cancellation, and the two that stop the runtime.
_NOT_REPORTED: Final = (Cancelled, KeyboardInterrupt, SystemExit)
UNHANDLED_POLICIES: Final = ("log", "ignore", "raise")


def describe(obj: object) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    return f"{type(obj).__name__} {name!r}" if name else f"{type(obj).__name__} {obj!r:.60}"


async def _await_it(awaitable: Awaitable[T]) -> T:
    return await awaitable


def coerce_coroutine(obj: object, what: str) -> Coroutine[Any, Any, Any]:
    """Return ``obj`` as a coroutine to run, or raise a ``TypeError`` that says what to do.

    A coroutine that has already finished is not caught here (telling it from a fresh one
    means reading ``cr_frame``, which makes a frame object the task would keep for its whole
    life): it fails at its first step, with the error :func:`reused_coroutine` makes.
    """
    if isinstance(obj, _CoroType):
        if obj.cr_running or obj.cr_suspended:
            raise TypeError(
                f"{what} got the coroutine {obj.__qualname__!r}, which is already running "
                "elsewhere; a coroutine can be driven by one task only"
            )
        return obj
    if (
        isinstance(obj, Coroutine)
        or hasattr(obj, "__await__")
        or (isinstance(obj, types.GeneratorType) and obj.gi_code.co_flags & 0x100)
    ):
        return _await_it(obj)
    if callable(obj):
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", repr(obj))
        raise TypeError(
            f"{what} expects a coroutine object, got the callable {name!r}: call it, "
            f"e.g. {what.rstrip('()')}({name}())"
        )
    raise TypeError(f"{what} expects a coroutine object, got {describe(obj)}")


def checked_coroutine(obj: object, name: object, what: str) -> Coroutine[Any, Any, Any]:
    """What ``spawn(obj, name=name)`` runs: ``obj`` as a fresh coroutine, with a valid name.

    Raises:
        TypeError: ``obj`` is not awaitable, or ``name`` is not a str (``obj`` is closed).
    """
    coro = coerce_coroutine(obj, what)
    if name is not None and not isinstance(name, str):
        coro.close()
        raise TypeError(f"{what}: name must be a str or None, got {describe(name)}")
    return coro


class _BlockingState:
    """The ``STATE`` seen inside ``spawn_blocking`` threads: the runtime, but no task."""

    __slots__ = ("_current", "_sched")

    def __init__(self, sched: Scheduler) -> None:
        self._current: Task[Any] | None = None
        self._sched = sched

    def spawn_here(self, coro: object, name: str | None) -> Task[Any]:
        return self._sched.spawn(coro, name)


class UnreadFailure:
    """Reports a failed task's error when the task goes away and nobody read it.

    A failed task that is not supervised (by a JoinSet, a TaskGroup, ``block_on``) holds one
    (``Task._unread``), and nothing else does: it goes when the last reference to the task
    goes, which is when the failure is reported, unless reading the outcome disarmed it. A
    finalizer here rather than on the task class keeps that call off every task that
    succeeds.
    """

    __slots__ = ("_exc", "_sched", "_what")

    def __init__(self, sched: Scheduler, what: str, exc: BaseException) -> None:
        self._sched: Scheduler | None = sched
        self._what = what
        self._exc = exc

    def disarm(self) -> None:
        self._sched = None

    def __del__(self) -> None:
        sched = self._sched
        if sched is None:
            return
        if sys.is_finalizing():
            # The interpreter is tearing down (handles dropped with the modules holding
            # them): imports fail and the logger may be half gone. Reporting would print
            # an ImportError instead of the task's error, so report nothing.
            return
        report_unhandled(sched, self._what, self._exc)


def task_dropped(sched: Scheduler, task: Task[Any]) -> None:
    """The last reference to ``task``, finished with an exception nobody read, went away.

    (What ``UnreadFailure`` does for rt-core's own tasks, for a scheduler told directly.)
    """
    if _failure_reported_unread(task) and not sys.is_finalizing():
        report_unhandled(sched, task._describe(), task._exc)  # type: ignore[arg-type]


def watch_unread(task: Task[Any]) -> None:
    """Arm the report of ``task``'s failure (its ``_exc`` is set) in case nobody reads it."""
    if _failure_reported_unread(task) and getattr(task, "_unread", None) is None:
        task._unread = UnreadFailure(task._sched, task._describe(), task._exc)  # type: ignore[arg-type]


def _failure_reported_unread(task: Task[Any]) -> bool:
    """Whether ``task`` failed with an error that is reported if nobody reads it: it is not
    supervised (a JoinSet, a TaskGroup, ``block_on`` read their tasks' errors) and the error
    is not a cancellation, nor KeyboardInterrupt or SystemExit (they stop the runtime)."""
    exc = task._exc
    return (
        exc is not None
        and not getattr(task, "_supervised", False)
        and not isinstance(exc, _NOT_REPORTED)
    )


def not_a_function(obj: object, what: str) -> TypeError:
    """The error for ``obj`` handed where a plain function belongs; a coroutine is closed.

    A coroutine object there is a mistake for ``rt.spawn`` or ``await``: closing it spares
    the caller a "never awaited" warning on top of this error.
    """
    if isinstance(obj, types.CoroutineType):
        obj.close()
        return TypeError(
            f"{what} expects a plain function, got the coroutine {obj.__qualname__!r}: "
            "await it, or use rt.spawn() to run it as a task"
        )
    return TypeError(f"{what} expects a callable, got {describe(obj)}")


def spawn_blocking(sched: Scheduler, fn: Callable[..., T], args: tuple[Any, ...]) -> Task[T]:
    """Check ``fn`` and hand it to the blocking pool now, awaited by a new task.

    The job is queued at the call, before its task runs (see ``_blocking``): two calls from
    one task reach the pool in call order on every flavor.
    """
    if not callable(fn):
        raise not_a_function(fn, "rt.spawn_blocking()")
    if isinstance(fn, types.FunctionType) and fn.__code__.co_flags & 0x180:
        raise TypeError(
            f"rt.spawn_blocking() got the async function {fn.__qualname__!r}; it runs plain "
            "functions on a thread. Use rt.spawn() for coroutines"
        )
    ctx = copy_context()
    ctx.run(STATE.set, sched._blocking_state)
    job = BlockingJob(sched._blocking, fn, args, ctx)
    task: Task[T] = sched._spawn(_run_blocking(job), None, "rt.spawn_blocking()", None, True)
    job.task = task
    job.pool.submit(job)
    return task


def bad_yield_error(task: Task[Any], trap: object) -> TypeError:
    """The error thrown into a task that yielded something that is not one of rt's traps."""
    return TypeError(
        f"{task._describe()} awaited something that is not rt's (it yielded {trap!r}); "
        "asyncio and trio futures, tasks and primitives do not work on rt: use rt's own "
        "(rt.sleep, rt.sync, rt.net, ...)"
    )


def task_failed(sched: Scheduler, task: Task[Any], exc: BaseException) -> None:
    """A task raised ``exc`` (not a cancellation)."""
    # A failure nobody reads is reported when the task goes away (``UnreadFailure``); these
    # two stop the runtime whoever reads them.
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        stop_runtime(sched, exc)


def stop_runtime(sched: Scheduler, exc: BaseException) -> None:
    """Make the running (or next) ``block_on`` of ``sched`` raise ``exc``, a
    KeyboardInterrupt or SystemExit that a task raised (or a step hook after the task's last
    step: see ``Diagnostics.hook_raised``); any thread."""
    # Not again for the one block_on already raised: a task that awaited something holding
    # it (a bridged asyncio future, say) re-raises the same object as shutdown cancels it,
    # and that is no new request to stop.
    if sched._fatal is None and exc is not sched._raised_fatal:
        sched._fatal = exc
        sched._on_fatal()


def report_unhandled(sched: Scheduler, what: str, exc: BaseException) -> None:
    """Apply the ``unhandled_error`` policy to a failure nobody read (of the task ``what``)."""
    policy = sched._unhandled
    if policy == "ignore":
        return
    if policy == "raise":
        if sched._fatal is None:
            sched._fatal = exc
            sched._on_fatal()
        return
    logger.error(
        "rt: %s raised %s and nobody awaited it (its JoinHandle was dropped)",
        what,
        type(exc).__name__,
        exc_info=(type(exc), exc, exc.__traceback__),
    )


def refuse_new_task(task: Task[Any], what: str) -> RuntimeError:
    """Close a task's coroutine that shutdown refused; return the error to raise."""
    coro = task._coro
    task._coro = None
    if coro is not None:
        coro.close()
    diag = task._sched._diag
    if diag is not None:
        diag.ended(task._id, Cancelled())
    return RuntimeError(f"{what}: the runtime is shut down (or shutting down); no new tasks")


def run_waiters(task: Task[Any], waiters: list[Task[Any] | Callable[[Task[Any]], None]]) -> None:
    """Wake the tasks and call the callbacks that waited for ``task`` (now done).

    A callback that raises is logged and the others still run: a completion never
    fails the loop that settled it.
    """
    for waiter in waiters:
        if type(waiter) is Task:
            waiter._sched.wake(waiter)
        else:
            try:
                waiter(task)
            except Exception:
                logger.exception("rt: a completion callback of %s raised", task._describe())


def withdraw(task: Task[Any], fn: Callable[[], Abort] | Withdrawable) -> Abort:
    """Undo a parked task's wait through ``fn``, its abort slot: a function, or the awaited
    handle / fd state (a :class:`~rt._core._traps.Withdrawable`, never callable).

    An abort function that raises is logged and counts as FAILED: the wait stays, and
    the cancellation is seen at the task's next checkpoint.
    """
    try:
        return fn() if callable(fn) else fn._withdraw(task)
    except Exception:
        logger.exception("rt: the abort function of %s raised", task._describe())
        return Abort.FAILED


def cancel_wait(task: Task[Any]) -> bool:
    """Deliver a cancel to a parked task (runtime thread, or claimed on multi-thread).

    When the task is still cancelled and its abort function withdraws the wait, the task is
    set to resume with ``rt.Cancelled`` and True is returned: the caller queues it. False: no
    wait to withdraw, or a wake-up is already on its way.
    """
    fn = task._abort_fn if task._cancelled and not task._done else None
    if fn is None or withdraw(task, fn) is not Abort.SUCCEEDED:
        return False
    task._abort_fn = None
    task._throw = Cancelled()
    return True


def new_task(sched: Scheduler, obj: object, name: object, what: str, home: RunState) -> Task[Any]:
    """Build the task ``spawn(obj, name=name)`` runs on ``sched`` (checks included).

    Its context is a copy of the caller's, with ``STATE`` set to ``home`` (the scheduler, or
    the multi-thread worker it starts on) unless the caller's already is. A diagnosed runtime
    records the task (not the runtime's own shutdown sentinel) in ``_home`` (see ``Task``)
    and, on the multi-thread flavor, wraps its coroutine.
    """
    coro = checked_coroutine(obj, name, what)
    st = STATE.get(None)
    ctx = copy_context()
    if st is not home:
        ctx.run(STATE.set, home)
    task_id = next(_task_ids)
    diag = sched._diag
    if diag is None:
        return new_handle(coro, cast("str | None", name), sched, ctx, task_id)
    rec = None
    if what != "shutdown()":
        parent = st._current if st is not None else None
        coro, rec = diag.instrument(
            coro, task_id, cast("str | None", name), parent._id if parent else None
        )
    task = new_handle(coro, cast("str | None", name), sched, ctx, task_id)
    # the current-thread flavor's diagnosed loop reads it (the multi-thread flavor's
    # ``new_task`` then puts the task's worker there)
    task._home = rec
    return task


def finish(
    sched: Scheduler,
    task: Task[Any],
    result: object,
    exc: BaseException | None,
    wake_joiner: Callable[[Task[Any]], None],
) -> None:
    """Settle a finished task, wake its joiner (``wake_joiner``, the flavor's way) and its
    waiters, and apply the failure policy to an error that is not a cancellation."""
    if type(exc) is RuntimeError:
        exc = reused_coroutine(task, exc)
    diag = sched._diag
    if diag is not None:  # the terminate hook, before anyone sees the task done
        diag.ended(task._id, exc, task._ctx)
    joiner, waiters = settle(sched, task, result, exc)
    task._state = DONE
    if joiner is not None:
        wake_joiner(joiner)
    if waiters is not None:
        run_waiters(task, waiters)
    if exc is not None and not isinstance(exc, Cancelled):
        task_failed(sched, task, exc)


def reused_coroutine(task: Task[Any], exc: RuntimeError) -> BaseException:
    """The error of a task spawned with a coroutine that had already finished: Python's
    ``RuntimeError`` from its first step, as a ``TypeError`` that says what to do."""
    coro = task._coro
    if not isinstance(coro, _CoroType):
        coro = getattr(coro, "_coro", None)  # a diagnosed runtime's wrapper
    if (
        isinstance(coro, _CoroType)
        and coro.cr_frame is None  # finished: no frame to make
        and str(exc) == "cannot reuse already awaited coroutine"
        and exc.__traceback__ is not None
        and exc.__traceback__.tb_next is None  # raised by the step itself, not inside it
    ):
        err = TypeError(
            f"the task was spawned with the coroutine {coro.__qualname__!r}, which had already "
            "finished; spawn a new coroutine object (call the async function again)"
        )
        err.__suppress_context__ = True
        return err
    return exc


def settle(
    sched: Scheduler, task: Task[Any], result: object, exc: BaseException | None
) -> tuple[Task[Any] | None, list[Task[Any] | Callable[[Task[Any]], None]] | None]:
    """Record a finished task's outcome and take its joiner and waiters (to be woken)."""
    if exc is not None and isinstance(exc, Cancelled):
        # Nobody reads a cancelled task's traceback (JoinError.exception is None), and its
        # frames keep the task's locals alive: a Sender in a cancelled task would keep the
        # channel open forever. Drop them, as Tokio drops a finished task's future.
        exc.__traceback__ = None
        exc.__context__ = None
    sched._tasks.discard(task)
    task._result = result
    task._exc = exc
    if exc is not None:
        # Armed before the task is seen done: whoever reads its outcome then disarms it.
        watch_unread(task)
    task._coro = None
    task._ctx = None  # type: ignore[assignment]
    with _WAITERS_LOCK:
        task._done = True
        joiner = task._joiner
        waiters = task._waiters
        task._joiner = task._waiters = None
    return joiner, waiters


class _AnyDone:
    __slots__ = ("fired", "targets", "waiter")

    def __init__(self, waiter: Task[Any], targets: list[Task[Any]]) -> None:
        self.waiter = waiter
        self.targets = targets
        self.fired = False

    def __call__(self, _task: Task[Any]) -> None:
        if not self.fired:
            self.fired = True
            self.waiter._sched.wake(self.waiter)

    def abort(self) -> Abort:
        for t in self.targets:
            t._remove_waiter(self)
        if self.fired:
            return Abort.FAILED
        self.fired = True
        return Abort.SUCCEEDED


async def _wait_any(targets: list[Task[Any]]) -> None:
    """Wait until one of ``targets`` finishes (used by shutdown; runtime thread only)."""
    me = current_task_or_raise("shutdown")
    any_done = _AnyDone(me, targets)
    try:
        for t in targets:
            if not t._add_waiter(any_done):
                return
        await wait_task_rescheduled(any_done.abort)
    finally:
        for t in targets:
            t._remove_waiter(any_done)


async def _run_blocking(job: BlockingJob) -> Any:
    if job.pool.wait_for(job):
        await wait_task_rescheduled(job.abort)
    exc = job.exc
    if exc is not None:
        job.exc = None
        raise exc
    result = job.result
    job.result = None
    return result


# Its job is queued at the call: an abort before its first step must go through the job.
STARTED_AT_CALL.add(_run_blocking.__code__)
