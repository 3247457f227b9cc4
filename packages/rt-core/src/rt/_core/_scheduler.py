"""Schedulers: who runs the tasks, and how.

:class:`Scheduler` is the interface every flavor implements; task code, wakers and primitives
only talk to it through ``wake``, ``post``, ``abort_task``, ``deliver_cancel``, ``spawn`` and
``on_runtime_thread``, so a second flavor slots in without touching them.

:class:`CurrentThreadScheduler` runs every task on the thread that calls ``block_on``.

The step loop is the product; keep it lean (measure before adding anything to it):

* The run queue is a ``deque`` of tasks. One step is ``ctx.run(task._send, None)`` (or
  ``throw``) and a look at what the coroutine yielded: ``YIELD`` requeues it, ``PARK`` leaves it
  with whoever will wake it (see ``_traps``).
* Tasks run in batches of at most ``event_interval`` steps; between batches the driver stack
  is polled without blocking (Tokio polls I/O every 61 ticks too), and posted callbacks run.
  When the queue is empty the driver parks, blocking.
* Cancellation is checked only where a task suspends: ``task._cancelled`` is kept up to date
  by cancel scopes and aborts, so the loop reads one attribute per suspension.
* ``wake`` is safe from any thread: ``deque.append`` is atomic, and a sleeping scheduler is
  woken through the driver. The ``_parked`` flag is set *before* the last emptiness check and
  read by wakers *after* their append, so a wake-up is never lost.
"""

from __future__ import annotations

import itertools
import signal
import sys
import threading
import time
import types
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import copy_context
from functools import partial
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ._blocking import BlockingJob, BlockingPool
from ._current import STATE, current_task_or_raise
from ._driver import Driver, DriverLayer
from ._exceptions import Cancelled, chained
from ._reactor import IoDriver
from ._task import _WAITERS_LOCK
from ._task import JoinHandle as Task
from ._traps import PARK, YIELD, Abort, wait_task_rescheduled
from ._wakeup import SignalWakeup, ThreadParker

if TYPE_CHECKING:
    from ._metrics import RuntimeMetrics

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
    """Return ``obj`` as a fresh coroutine, or raise a ``TypeError`` that says what to do."""
    if isinstance(obj, _CoroType):
        if obj.cr_frame is None:
            raise TypeError(
                f"{what} got the coroutine {obj.__qualname__!r}, which has already finished; "
                "pass a new coroutine object (call the async function again)"
            )
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


class _BlockingState:
    """The ``STATE`` seen inside ``spawn_blocking`` threads: the runtime, but no task."""

    __slots__ = ("_current", "_sched")

    def __init__(self, sched: Scheduler) -> None:
        self._current: Task[Any] | None = None
        self._sched = sched

    def spawn_here(self, coro: object, name: str | None) -> Task[Any]:
        return self._sched.spawn(coro, name)


class Scheduler(ABC):
    """The interface between a scheduler flavor and everything else in rt."""

    _current: Task[Any] | None
    _sched: Scheduler
    flavor: str

    @abstractmethod
    def wake(self, task: Task[Any]) -> None:
        """Make ``task`` runnable; safe from any thread."""

    @abstractmethod
    def post(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the runtime thread soon; safe from any thread."""

    @abstractmethod
    def on_runtime_thread(self) -> bool:
        """Whether the caller is the thread currently running this scheduler."""

    @abstractmethod
    def spawn(
        self, coro: object, name: str | None, what: str = "rt.spawn()", pinned: Any = None
    ) -> Task[Any]:
        """Create a task for ``coro`` and make it runnable; safe from any thread.

        ``what`` names the API the user called, for error messages; ``pinned`` is the
        :class:`rt.LocalSet` the task must stay in (its thread), if any.
        """

    @abstractmethod
    def spawn_here(self, coro: object, name: str | None) -> Task[Any]:
        """Like :meth:`spawn`, called from a task running on this scheduler's thread."""

    @abstractmethod
    def abort_task(self, task: Task[Any]) -> None:
        """Request cancellation of ``task``; safe from any thread."""

    @abstractmethod
    def deliver_cancel(self, task: Task[Any]) -> None:
        """Cancel ``task``'s current wait if it is parked (runtime thread only)."""

    # -- shared by the flavors -----------------------------------------------------------

    _unhandled: str
    _thread_id: int | None
    _fatal: BaseException | None
    _blocking: BlockingPool
    _blocking_state: _BlockingState
    _closed: bool

    @abstractmethod
    def block_on(self, coro: object) -> Any:
        """Run ``coro`` to completion and return its result (from outside the runtime)."""

    @abstractmethod
    def shutdown(self, timeout: float | None) -> None:
        """Cancel every task, wait for them, and release every thread and fd."""

    @abstractmethod
    def metrics(self) -> RuntimeMetrics:
        """A snapshot of the runtime's counters."""

    @abstractmethod
    def driver(self, name: str) -> Driver | None:
        """The driver layer called ``name``, or None."""

    @property
    def closed(self) -> bool:
        return self._closed

    @abstractmethod
    def _on_fatal(self) -> None:
        """``_fatal`` was just set: make the running ``block_on`` raise it."""

    def task_dropped(self, task: Task[Any]) -> None:
        """The last reference to ``task``, finished with an exception nobody read, went away."""
        exc = task._exc
        if exc is not None and not task._supervised and not isinstance(exc, _NOT_REPORTED):
            if sys.is_finalizing():
                # The interpreter is tearing down (handles dropped with the modules holding
                # them): imports fail and the logger may be half gone. Reporting would print
                # an ImportError instead of the task's error, so report nothing.
                return
            self._report_unhandled(task, exc)

    # -- blocking pool ---------------------------------------------------------------------

    def spawn_blocking(self, fn: Callable[..., T], args: tuple[Any, ...]) -> Task[T]:
        if not callable(fn):
            raise TypeError(f"rt.spawn_blocking() expects a callable, got {describe(fn)}")
        if isinstance(fn, types.FunctionType) and fn.__code__.co_flags & 0x180:
            raise TypeError(
                f"rt.spawn_blocking() got the async function {fn.__qualname__!r}; it runs plain "
                "functions on a thread. Use rt.spawn() for coroutines"
            )
        ctx = copy_context()
        ctx.run(STATE.set, self._blocking_state)
        job = BlockingJob(self._blocking, fn, args, ctx)
        return self.spawn(_run_blocking(job), None, "rt.spawn_blocking()")

    def block_in_place(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Run ``fn(*args)`` on this thread, from a task, letting other tasks run elsewhere.

        The current-thread flavor has no other thread to run them on: refused, as in Tokio.
        """
        raise RuntimeError(
            "rt.task.block_in_place() needs a multi-thread runtime: a current-thread runtime "
            "has no other thread to run its tasks while this one blocks. Use "
            "`await rt.spawn_blocking(fn)` instead"
        )

    def _run_callback(self, callback: Callable[[], object]) -> None:
        try:
            callback()
        except Exception:
            logger.exception("rt: a callback posted to the runtime raised")

    @staticmethod
    def _bad_yield_error(task: Task[Any], trap: object) -> TypeError:
        return TypeError(
            f"{task._describe()} awaited something that is not rt's (it yielded {trap!r}); "
            "asyncio and trio futures, tasks and primitives do not work on rt: use rt's own "
            "(rt.sleep, rt.sync, rt.net, ...)"
        )

    def _task_failed(self, task: Task[Any], exc: BaseException) -> None:
        # A failure nobody reads is reported when the task goes away (``task_dropped``); these
        # two stop the runtime whoever reads them.
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            if self._fatal is None:
                self._fatal = exc
                self._on_fatal()
            return

    def _report_unhandled(self, task: Task[Any], exc: BaseException) -> None:
        policy = self._unhandled
        if policy == "ignore":
            return
        if policy == "raise":
            if self._fatal is None:
                self._fatal = exc
                self._on_fatal()
            return
        logger.error(
            "rt: %s raised %s and nobody awaited it (its JoinHandle was dropped)",
            task._describe(),
            type(exc).__name__,
            exc_info=(type(exc), exc, exc.__traceback__),
        )

    _tasks: set[Task[Any]]

    # -- the shutdown contract, shared by the flavors ---------------------------------------
    #
    # Once ``shutdown()`` has begun (``_closed``), other threads get a RuntimeError from
    # ``spawn`` and ``block_on``; a task of the runtime that spawns (in its cleanup, say) gets
    # a task that is cancelled before it starts. Every task accepted before is cancelled, run
    # to completion (shields are honoured, async cleanup runs) and joinable. Without a timeout
    # shutdown waits as long as that takes; with one, the tasks still alive when it passes are
    # named in one warning, then closed.

    @staticmethod
    def _refuse_new_task(task: Task[Any], what: str) -> RuntimeError:
        """Close a task's coroutine that shutdown refused; return the error to raise."""
        coro = task._coro
        task._coro = None
        if coro is not None:
            coro.close()
        return RuntimeError(f"{what}: the runtime is shut down (or shutting down); no new tasks")

    def _block_on_outcome(self, task: Task[Any]) -> Any:
        """The value ``block_on`` returns for its finished ``task``, or the error it raises."""
        exc = task._exc
        task._retrieved = True
        if exc is None:
            return task._result
        if isinstance(exc, Cancelled) and self._closed and self._sigint_main is not task:
            # ``chained``, not ``raise ... from``: the mypyc build drops a ``from`` cause here.
            raise chained(
                RuntimeError("block_on(): the runtime was shut down before the coroutine finished"),
                exc,
            )
        raise exc

    def _close_leftovers(self, leftovers: list[Task[Any]]) -> None:
        """The shutdown timeout passed: name the tasks still alive, then close them."""
        if not leftovers:
            return
        logger.warning(
            "rt: %d task(s) did not finish within the shutdown timeout and are closed: %s",
            len(leftovers),
            ", ".join(t._describe() for t in leftovers),
        )
        for task in leftovers:
            coro = task._coro
            if coro is not None and self._closable(task):
                try:
                    coro.close()
                except BaseException:
                    logger.exception("rt: closing %s raised", task._describe())
            self._finish_leftover(task)

    def _closable(self, task: Task[Any]) -> bool:
        """Whether no thread is stepping ``task`` right now (its coroutine may be closed)."""
        return True

    @abstractmethod
    def _finish_leftover(self, task: Task[Any]) -> None:
        """Settle a task closed at shutdown as cancelled, waking its joiners."""

    # -- a task's life around a step, one version for every flavor ---------------------------

    @staticmethod
    def _run_waiters(
        task: Task[Any], waiters: list[Task[Any] | Callable[[Task[Any]], None]]
    ) -> None:
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

    @staticmethod
    def _withdraw(task: Task[Any], fn: Any) -> Abort:
        """Undo a parked task's wait through its abort function ``fn`` (``task._abort_fn``).

        An abort function that raises is logged and counts as FAILED: the wait stays, and
        the cancellation is seen at the task's next checkpoint.
        """
        try:
            return task._call_abort(fn)
        except Exception:
            logger.exception("rt: the abort function of %s raised", task._describe())
            return Abort.FAILED

    def _refuse_shutdown_from_inside(self) -> None:
        if self.on_runtime_thread() or (
            (st := STATE.get(None)) is not None and st._sched is self and st._current is not None
        ):
            raise RuntimeError(
                "Runtime.shutdown() cannot be called from inside the runtime it shuts down"
            )

    def _settle(
        self, task: Task[Any], result: object, exc: BaseException | None
    ) -> tuple[Task[Any] | None, list[Task[Any] | Callable[[Task[Any]], None]] | None]:
        """Record a finished task's outcome and take its joiner and waiters (to be woken)."""
        if exc is not None and isinstance(exc, Cancelled):
            # Nobody reads a cancelled task's traceback (JoinError.exception is None), and its
            # frames keep the task's locals alive: a Sender in a cancelled task would keep the
            # channel open forever. Drop them, as Tokio drops a finished task's future.
            exc.__traceback__ = None
            exc.__context__ = None
        self._tasks.discard(task)
        task._result = result
        task._exc = exc
        task._coro = None
        task._ctx = None  # type: ignore[assignment]
        with _WAITERS_LOCK:
            task._done = True
            joiner = task._joiner
            waiters = task._waiters
            task._joiner = task._waiters = None
        return joiner, waiters

    @abstractmethod
    def _post_from_signal(self, callback: Callable[[], object]) -> None:
        """``post`` for a signal handler: no locks, always wakes the driver."""

    def _raise_fatal(self) -> None:
        exc = self._fatal
        self._fatal = None
        assert exc is not None
        raise exc

    _sigint_main: Task[Any] | None = None

    def _install_sigint(self, main: Task[Any]) -> Any:
        """Turn Ctrl-C into cancellation of the main task (its ``finally`` blocks run)."""
        if threading.current_thread() is not threading.main_thread():
            return None
        try:
            if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
                return None
        except ValueError:  # pragma: no cover - not the main interpreter
            return None

        def on_sigint(signum: int, frame: types.FrameType | None) -> None:
            if self._sigint_main is main or main._done:
                raise KeyboardInterrupt  # second Ctrl-C: stop waiting
            self._sigint_main = main
            # A signal handler runs between any two bytecodes of the main thread, possibly
            # inside one of rt's locked sections: queue the abort with one atomic append and
            # wake the driver through its eventfd; take no lock here.
            self._post_from_signal(lambda: self.abort_task(main))

        previous = signal.signal(signal.SIGINT, on_sigint)
        return previous


class CurrentThreadScheduler(Scheduler):
    """Runs every task on the thread that calls :meth:`block_on`."""

    flavor = "current_thread"

    def __init__(
        self,
        *,
        max_blocking_threads: int,
        enable_io: bool,
        layers: list[DriverLayer],
        thread_name: str,
        event_interval: int,
        unhandled_error: str,
        thread_keep_alive: float = 10.0,
    ) -> None:
        self._sched = self
        self._current = None
        self._ready: deque[Task[Any]] = deque()
        self._inject: deque[Callable[[], object]] = deque()
        self._tasks: set[Task[Any]] = set()
        self._parked = False
        self._closed = False
        self._fatal: BaseException | None = None
        self._event_interval = event_interval
        self._unhandled = unhandled_error
        self._thread_id: int | None = None
        self._core = threading.Condition(threading.Lock())
        # Held by the thread driving the runtime (block_on, shutdown) for as long as it does,
        # and by _run_exclusive while it runs a callback on some other thread.
        self._driving = threading.RLock()
        # counters
        self._spawned = 0
        self._polls = 0
        self._park_count = 0
        self._parked_time = 0.0
        self._driven_time = 0.0
        self._drive_start: float | None = None
        self._blocking_state = _BlockingState(self)
        self._blocking = BlockingPool(
            max_blocking_threads,
            thread_name,
            self.wake,
            thread_keep_alive,
            on_drained=self._blocking_drained,
        )
        self._io: IoDriver | None = (
            # Only the thread driving the runtime touches the reactor (closes from other
            # threads go through _run_exclusive), so it needs no lock and its wake-ups go
            # straight onto the run queue.
            IoDriver(self._ready.append, run_exclusive=self._run_exclusive) if enable_io else None
        )
        self._bottom: IoDriver | ThreadParker = self._io if self._io is not None else ThreadParker()
        driver: Driver = self._bottom
        self._drivers: dict[str, Driver] = {}
        for layer in sorted(layers, key=lambda lay: lay.order):
            driver = layer.build(driver, self)
            self._drivers[layer.name] = driver
        self._driver = driver

    def _on_fatal(self) -> None:
        # The run loop checks ``_fatal`` after every batch and before every park. A failure
        # reported on another thread (the last reference to a task dropped there) posts a
        # no-op, which ends a park in progress.
        if not self.on_runtime_thread():
            self.post(_noop)

    # -- DriverContext -----------------------------------------------------------------

    def blocking_in_flight(self) -> int:
        return self._blocking.in_flight()

    def has_runnable_tasks(self) -> bool:
        return bool(self._ready) or bool(self._inject)

    def driver(self, name: str) -> Driver | None:
        if name == "io":
            return self._io
        return self._drivers.get(name)

    # -- thread-safe entry points -------------------------------------------------------

    def wake(self, task: Task[Any]) -> None:
        self._ready.append(task)
        # Drivers dispatch (timers fire, fds become ready) on the runtime thread while it is
        # still flagged as parked: only another thread needs to interrupt the park.
        if self._parked and self._thread_id != threading.get_ident():
            self._driver.unpark()

    def post(self, callback: Callable[[], object]) -> None:
        self._inject.append(callback)
        if self._parked and self._thread_id != threading.get_ident():
            self._driver.unpark()

    def _blocking_drained(self) -> None:
        # The last blocking job finished (after waking its task): a driver that parked
        # because a job was in flight (paused time waits for it) must look again. The pool
        # lowers its count before this reads ``_parked``, which the park sets before the
        # driver reads the count: one of the two sees the other.
        if self._parked and self._thread_id != threading.get_ident():
            self._driver.unpark()

    def _post_from_signal(self, callback: Callable[[], object]) -> None:
        self._inject.append(callback)
        self._driver.unpark()  # even from the runtime's own thread: it may be in epoll_wait

    def _run_exclusive(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` where no other thread touches the runtime's drivers: here if this thread
        drives the runtime or none does (holding ``_driving``, so none starts meanwhile), else
        on the driving thread, posted."""
        if self.on_runtime_thread():
            fn()
        elif self._driving.acquire(blocking=False):
            try:
                fn()
            finally:
                self._driving.release()
        else:
            self.post(fn)

    def on_runtime_thread(self) -> bool:
        return self._thread_id == threading.get_ident()

    def new_task(self, obj: object, name: object, what: str) -> Task[Any]:
        coro = coerce_coroutine(obj, what)
        if name is not None and not isinstance(name, str):
            coro.close()
            raise TypeError(f"{what}: name must be a str or None, got {describe(name)}")
        st = STATE.get(None)
        ctx = copy_context()
        if st is not self:
            ctx.run(STATE.set, self)
        return Task(coro, name, self, ctx, next(_task_ids))

    def spawn_here(self, obj: object, name: str | None) -> Task[Any]:
        """Spawn from a task running on this scheduler (so on its thread): the hot path."""
        if type(obj) is _CoroType and obj.cr_frame is not None and not obj.cr_suspended:
            coro: Coroutine[Any, Any, Any] = obj
        else:
            coro = coerce_coroutine(obj, "rt.spawn()")
        if self._closed or name is not None:
            return self.spawn(coro, name)
        task: Task[Any] = Task(coro, None, self, copy_context(), next(_task_ids))
        self._tasks.add(task)
        self._spawned += 1
        self._ready.append(task)
        return task

    def spawn(
        self, coro: object, name: str | None, what: str = "rt.spawn()", pinned: Any = None
    ) -> Task[Any]:
        task = self.new_task(coro, name, what)
        task._pinned = pinned
        if self.on_runtime_thread():
            # A task (or shutdown itself) spawning: accepted, cancelled from the start once
            # shutdown has begun (``_adopt``).
            self._adopt(task)
            return task
        # Another thread: accepted only before shutdown begins. The check and the post are
        # one step under ``_core``, which shutdown takes to begin, so every accepted task is
        # in ``_inject`` when shutdown drains it.
        with self._core:
            if not self._closed:
                self.post(partial(self._adopt, task))
                return task
        raise self._refuse_new_task(task, what)

    def _adopt(self, task: Task[Any]) -> None:
        if self._closed and task._coro is not None and not task._abort_requested:
            # Spawned while shutdown runs: it is cancelled before it starts.
            task._abort_requested = True
            task._cancelled = True
            task._throw = Cancelled("the runtime shut down before the task started")
        self._tasks.add(task)
        self._spawned += 1
        self._ready.append(task)

    def abort_task(self, task: Task[Any]) -> None:
        if not self.on_runtime_thread():
            self.post(lambda: self.abort_task(task))
            return
        if task._done or task._abort_requested:
            return
        task._abort_requested = True
        if task._recompute_cancelled():
            if task._throw is None and task._is_unstarted():
                task._throw = Cancelled("the task was aborted before it started")
            else:
                self.deliver_cancel(task)

    def deliver_cancel(self, task: Task[Any]) -> None:
        fn = task._abort_fn
        if fn is None or task._done or not task._cancelled:
            return
        if self._withdraw(task, fn) is Abort.SUCCEEDED:
            task._abort_fn = None
            task._throw = Cancelled()
            self._ready.append(task)

    # -- running -----------------------------------------------------------------------------

    def _run_until(self, main: Task[Any], deadline: float | None = None) -> None:
        ready = self._ready
        inject = self._inject
        popleft = ready.popleft
        append = ready.append
        interval = self._event_interval
        tasks_discard = self._tasks.discard
        waiters_lock = _WAITERS_LOCK
        since_poll = 0
        yield_trap = YIELD
        park_trap = PARK
        while not main._done:
            n = len(ready)
            if n:
                if n > interval:  # noqa: PLR1730 - min() is a call on the hot path
                    n = interval
                for _ in range(n):
                    task = popleft()
                    self._current = task
                    exc = task._throw
                    try:
                        if exc is None:
                            trap = task._ctx.run(task._coro.send, None)  # type: ignore[union-attr]
                        else:
                            task._throw = None
                            trap = task._ctx.run(task._coro.throw, exc)  # type: ignore[union-attr]
                    except StopIteration as stop:
                        # The common completion, inlined: a value, at most one joiner.
                        tasks_discard(task)
                        task._result = stop.value
                        task._exc = None
                        task._coro = None
                        task._ctx = None  # type: ignore[assignment]
                        with waiters_lock:
                            task._done = True
                            joiner = task._joiner
                            waiters = task._waiters
                            if joiner is not None:
                                task._joiner = None
                        if joiner is not None:
                            if joiner._sched is self:
                                append(joiner)
                            else:
                                joiner._sched.wake(joiner)
                        if waiters is not None:
                            task._waiters = None
                            self._current = None
                            self._run_waiters(task, waiters)
                        continue
                    except BaseException as err:
                        self._current = None
                        self._finish(task, None, err)
                        # Let go of the task now: if nobody else holds it, it is dropped here
                        # and an unread failure reported before this batch ends.
                        del task
                        continue
                    if trap is yield_trap:
                        if task._cancelled:
                            task._throw = Cancelled()
                        append(task)
                    elif trap is not park_trap:
                        self._bad_yield(task, trap)
                    elif task._cancelled:
                        self.deliver_cancel(task)
                self._current = None
                self._polls += n
                if self._fatal is not None:
                    self._raise_fatal()
                if deadline is not None and time.monotonic() >= deadline:
                    return
                if ready:
                    since_poll += n
                    if since_poll < interval:
                        continue
                else:
                    # The queue ran dry: the idle path below parks in the driver right away,
                    # which polls I/O and timers anyway. A poll here first would be a second
                    # epoll_wait per idle turn (one per request on a lightly loaded server).
                    since_poll = 0
                    continue
                since_poll = 0
                self._driver.park(0)
                while inject:
                    self._run_callback(inject.popleft())
                continue
            # Nothing runnable: run posted callbacks, then sleep in the driver.
            while inject:
                self._run_callback(inject.popleft())
            if self._fatal is not None:
                self._raise_fatal()
            if ready or main._done:
                continue
            self._parked = True
            if ready or inject:
                self._parked = False
                continue
            timeout = None
            if deadline is not None:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    self._parked = False
                    return
            t0 = time.perf_counter()
            try:
                self._driver.park(timeout)
            finally:
                self._parked = False
                self._park_count += 1
                self._parked_time += time.perf_counter() - t0
            while inject:
                self._run_callback(inject.popleft())

    def _bad_yield(self, task: Task[Any], trap: object) -> None:
        task._throw = self._bad_yield_error(task, trap)
        self._ready.append(task)

    def _finish(self, task: Task[Any], result: object, exc: BaseException | None) -> None:
        joiner, waiters = self._settle(task, result, exc)
        if joiner is not None:
            if joiner._sched is self:
                self._ready.append(joiner)
            else:
                joiner._sched.wake(joiner)
        if waiters is not None:
            self._run_waiters(task, waiters)
        if exc is not None and not isinstance(exc, Cancelled):
            self._task_failed(task, exc)

    # -- block_on / shutdown -----------------------------------------------------------------

    def block_on(self, coro: object) -> Any:
        st = STATE.get(None)
        if (st is not None and st._current is not None) or self.on_runtime_thread():
            if isinstance(coro, _CoroType):
                coro.close()
            raise RuntimeError(
                "block_on() cannot be called from inside a running task: it would block the "
                "thread the runtime runs on. Use `await` (or rt.spawn) instead"
            )
        task = self.new_task(coro, None, "block_on()")
        task._supervised = True
        core = self._core

        def notify(_task: Task[Any]) -> None:
            with core:
                core.notify_all()

        task._add_waiter(notify)
        with core:
            # Accepted only before shutdown begins (see ``spawn``); then whoever drives the
            # runtime (another block_on, or shutdown, which cancels it) runs it.
            if self._closed:
                raise self._refuse_new_task(task, "block_on()")
            self.post(partial(self._adopt, task))
            while not task._done and (self._thread_id is not None or self._closed):
                core.wait()
            drive = not task._done
            if drive:
                self._thread_id = threading.get_ident()
        if drive:
            try:
                with self._driving:
                    self._drive(task)
            finally:
                with core:
                    self._thread_id = None
                    core.notify_all()
        return self._block_on_outcome(task)

    def _drive(self, main: Task[Any]) -> None:
        self._drive_start = t0 = time.perf_counter()
        restore = self._install_sigint(main)
        signals = SignalWakeup.install()
        if signals is not None:
            self._bottom.watch_signals(signals)
        try:
            self._run_until(main)
        finally:
            if signals is not None:
                self._bottom.watch_signals(None)
                signals.uninstall()
            if restore is not None:
                signal.signal(signal.SIGINT, restore)
            self._drive_start = None
            self._driven_time += time.perf_counter() - t0
        if main._exc is not None and isinstance(main._exc, Cancelled) and self._sigint_main is main:
            self._sigint_main = None
            raise KeyboardInterrupt

    def shutdown(self, timeout: float | None) -> None:
        self._refuse_shutdown_from_inside()
        core = self._core
        with core:
            if self._closed:
                return
            self._closed = True  # from here on, other threads' spawn and block_on are refused
            # A block_on on another thread drives the runtime: shutdown takes over after it.
            while self._thread_id is not None:
                core.wait()
            self._thread_id = threading.get_ident()
        deadline = None if timeout is None else time.monotonic() + timeout
        self._driving.acquire()
        try:
            # Adopt what other threads spawned before shutdown began (it is cancelled before
            # it starts), then cancel every task and run the loop until all have finished
            # (their cleanup runs, shields are honoured) or the timeout passes.
            inject = self._inject
            while inject:
                self._run_callback(inject.popleft())
            for task in list(self._tasks):
                self.abort_task(task)
            sentinel = self.new_task(self._wait_all(), "rt-shutdown", "shutdown()")
            sentinel._supervised = True
            self._tasks.add(sentinel)
            self._ready.append(sentinel)
            try:
                self._run_until(sentinel, deadline)
            except BaseException:
                logger.exception("rt: error while shutting down the runtime")
            self._tasks.discard(sentinel)
            self._close_leftovers([t for t in self._tasks if not t._done])
            self._tasks.clear()
            self._ready.clear()
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            stuck = self._blocking.shutdown(remaining)
            for t in stuck:
                logger.warning("rt: blocking thread %s still running after shutdown", t.name)
            self._driver.shutdown()
            self._inject.clear()
            self._ready.clear()
        finally:
            self._driving.release()
            with core:
                self._thread_id = None
                core.notify_all()

    def _finish_leftover(self, task: Task[Any]) -> None:
        self._finish(task, None, Cancelled("the runtime shut down"))

    async def _wait_all(self) -> None:
        # One waiter at a time (a task spawned meanwhile is found on the next pass): waiting
        # on all of them at once would register on every task again after each finishes.
        me = current_task_or_raise("shutdown")
        while True:
            others = [t for t in self._tasks if t is not me and not t._done]
            if not others:
                return
            for t in others:
                if not t._done:
                    await _wait_any([t])

    # -- observing ---------------------------------------------------------------------------

    def metrics(self) -> RuntimeMetrics:
        from ._metrics import RuntimeMetrics, WorkerMetrics

        threads, idle, queued = self._blocking.stats()
        busy = self._driven_time - self._parked_time
        start = self._drive_start
        if start is not None:
            busy += time.perf_counter() - start
        busy = max(0.0, busy)
        return RuntimeMetrics(
            flavor=self.flavor,
            workers=1,
            alive_tasks=len(self._tasks),
            spawned_tasks=self._spawned,
            polls=self._polls,
            local_queue_depth=len(self._ready),
            injection_queue_depth=len(self._inject),
            park_count=self._park_count,
            busy_time=busy,
            blocking_threads=threads,
            idle_blocking_threads=idle,
            blocking_queue_depth=queued,
            io_registered_fds=self._io.registered_fds() if self._io is not None else 0,
            worker_metrics=(
                WorkerMetrics(
                    index=0,
                    thread_name="block_on",
                    polls=self._polls,
                    steals=0,
                    park_count=self._park_count,
                    local_queue_depth=len(self._ready),
                    busy_time=busy,
                ),
            ),
        )


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
    job.task = current_task_or_raise("spawn_blocking")
    job.pool.submit(job)
    await wait_task_rescheduled(job.abort)
    exc = job.exc
    if exc is not None:
        job.exc = None
        raise exc
    result = job.result
    job.result = None
    return result
