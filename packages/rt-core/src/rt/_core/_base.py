"""The scheduler interface and what both flavors share.

:class:`Scheduler` is the interface every flavor implements; task code, wakers and primitives
only talk to it through ``wake``, ``post``, ``abort_task``, ``deliver_cancel``, ``spawn`` and
``on_runtime_thread``. Beside the interface it owns what the flavors share: the common state
(the task set, the blocking pool, the ``unhandled_error`` policy and the fatal error), the
construction of the driver stack, the shutdown contract and its outline, Ctrl-C handling.
A task's own life around a step (settling, waking, cancelling, failure reports) is in
``_harness``; the flavors keep their queues and loops (``_scheduler``, ``_multi``).
"""

from __future__ import annotations

import signal
import threading
import time
import types
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from ._blocking import BlockingPool
from ._current import STATE
from ._driver import Driver, DriverLayer
from ._exceptions import Cancelled, chained
from ._harness import _BlockingState, logger, spawn_blocking, task_dropped
from ._reactor import IoDriver
from ._task import JoinHandle as Task
from ._wakeup import ThreadParker

if TYPE_CHECKING:
    from ._diagnostics import Diagnostics
    from ._metrics import RuntimeMetrics

T = TypeVar("T")


class StopDriving(Exception):
    """Raised by a callback that shutdown posts to a current-thread runtime's ``block_on``
    driving on another thread, once the shutdown timeout passed: that thread stops driving and
    shutdown closes what is left (the coroutine of that ``block_on`` included)."""


class Scheduler(ABC):
    """The interface between a scheduler flavor and everything else in rt."""

    _current: Task[Any] | None
    _sched: Scheduler
    flavor: str
    #: Hooks, dumps' side table, the slow-poll detector and the console, when the runtime was
    #: built with any of them (``_diagnostics``); None keeps every path as it is without them.
    _diag: Diagnostics | None = None

    @abstractmethod
    def wake(self, task: Task[Any]) -> None:
        """Make ``task`` runnable; safe from any thread."""

    @abstractmethod
    def post(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the runtime thread soon; safe from any thread."""

    @abstractmethod
    def has_runnable_tasks(self) -> bool:
        """``DriverContext``: whether anything may still run without the clock moving."""

    @abstractmethod
    def on_runtime_thread(self) -> bool:
        """Whether the caller is the thread currently running this scheduler."""

    def park_idle(self) -> bool | None:
        """The idle park of ``rt.lowlevel.idle_parker`` (see there); None: it did not wait."""
        return None

    @abstractmethod
    def spawn(
        self, coro: object, name: str | None, what: str = "rt.spawn()", pinned: Any = None
    ) -> Task[Any]:
        """Create a task for ``coro`` and make it runnable; safe from any thread.

        ``what`` names the API the user called, for error messages; ``pinned`` is the
        :class:`rt.LocalSet` the task must stay in (its thread), if any.
        """

    @abstractmethod
    def _spawn(
        self, coro: object, name: str | None, what: str, pinned: Any, blocking: bool
    ) -> Task[Any]:
        """:meth:`spawn`; ``blocking`` marks the task awaiting a ``spawn_blocking`` job:
        spawned by a task while shutdown runs, it runs (a shielded cleanup may still use the
        blocking pool, which shutdown joins last) instead of being cancelled before it starts.
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

    def deliver_cancel_from_any_thread(self, task: Task[Any]) -> None:
        """:meth:`deliver_cancel`, callable from any thread: at once on the runtime thread,
        else posted to it (a flavor whose delivery is thread-safe runs it at once)."""
        if self.on_runtime_thread():
            self.deliver_cancel(task)
        else:
            self.post(partial(self.deliver_cancel, task))

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

    @property
    def closed(self) -> bool:
        return self._closed

    @abstractmethod
    def _on_fatal(self) -> None:
        """``_fatal`` was just set: make the running ``block_on`` raise it."""

    # -- the state and driver stack every flavor builds -------------------------------------

    _io: IoDriver | None
    _bottom: IoDriver | ThreadParker
    _driver: Driver
    _drivers: dict[str, Driver]

    def _init_common(
        self,
        *,
        max_blocking_threads: int,
        thread_name: str,
        thread_keep_alive: float,
        unhandled_error: str,
        on_drained: Callable[[], object],
    ) -> None:
        """Set up the state both flavors share (call first in ``__init__``)."""
        self._sched = self
        self._current = None
        self._tasks = set()
        self._closed = False
        self._fatal = None
        self._unhandled = unhandled_error
        self._blocking_state = _BlockingState(self)
        self._blocking = BlockingPool(
            max_blocking_threads, thread_name, self.wake, thread_keep_alive, on_drained=on_drained
        )

    def _build_driver_stack(
        self, io: IoDriver | None, layers: list[DriverLayer]
    ) -> IoDriver | ThreadParker:
        """Stack the driver layers on the reactor (or a plain thread parker); return the
        bottom layer. ``_driver`` is the top, the one the loops park in."""
        self._io = io
        bottom: IoDriver | ThreadParker = io if io is not None else ThreadParker()
        # Its ``_pre_block``: a thread of this runtime is on its way to block in the drivers
        # (see the loops' park and ``wake``).
        self._bottom = bottom
        driver: Driver = bottom
        self._drivers = {}
        for layer in sorted(layers, key=lambda lay: lay.order):
            driver = layer.build(driver, self)
            self._drivers[layer.name] = driver
        self._driver = driver
        return bottom

    def driver(self, name: str) -> Driver | None:
        """The driver layer called ``name``, or None."""
        if name == "io":
            return self._io
        return self._drivers.get(name)

    def blocking_in_flight(self) -> int:
        """``DriverContext``: blocking jobs queued or running."""
        return self._blocking.in_flight()

    def _release_resources(self, deadline: float | None) -> None:
        """The end of every shutdown, once the tasks ran down (or the timeout passed): close
        what is left, join the blocking pool, shut the driver stack down."""
        self._close_leftovers([t for t in self._tasks if not t._done])
        self._tasks.clear()
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        for thread in self._blocking.shutdown(remaining):
            logger.warning("rt: blocking thread %s still running after shutdown", thread.name)
        self._driver.shutdown()
        # No task runs any more, so the fatal error block_on raised cannot surface again: let
        # it go. Its traceback's frames (a protocol callback's, say) would keep what they
        # refer to, sockets included, alive as long as the runtime object.
        self._raised_fatal = None
        fatal = self._fatal
        if fatal is not None:
            # A KeyboardInterrupt or SystemExit raised by a task as shutdown cancelled it (in
            # a ``finally`` block, say), after the last block_on: no block_on is left to raise
            # it in. Reported as the current-thread loop reports one it raises while shutting
            # down, and let go for the same reason as the one above.
            self._fatal = None
            logger.error(
                "rt: error while shutting down the runtime",
                exc_info=(type(fatal), fatal, fatal.__traceback__),
            )
            del fatal

    def task_dropped(self, task: Task[Any]) -> None:
        """The last reference to ``task``, finished with an exception nobody read, went away."""
        task_dropped(self, task)

    # -- blocking pool ---------------------------------------------------------------------

    def spawn_blocking(self, fn: Callable[..., T], args: tuple[Any, ...]) -> Task[T]:
        """Run ``fn(*args)`` on the blocking pool; the returned task awaits it."""
        return spawn_blocking(self, fn, args)

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
        except StopDriving:
            raise
        except Exception:
            logger.exception("rt: a callback posted to the runtime raised")

    _tasks: set[Task[Any]]

    # -- the shutdown contract, shared by the flavors ---------------------------------------
    #
    # Once ``shutdown()`` has begun (``_closed``), other threads get a RuntimeError from
    # ``spawn`` and ``block_on``; a task of the runtime that spawns (in its cleanup, say) gets
    # a task that is cancelled before it starts (but a ``spawn_blocking`` job runs, so async
    # cleanup may use the blocking pool). Every task accepted before is cancelled, run
    # to completion (shields are honoured, async cleanup runs) and joinable. Without a timeout
    # shutdown waits as long as that takes; with one, the tasks still alive when it passes are
    # named in one warning, then closed.

    def _block_on_outcome(self, task: Task[Any]) -> Any:
        """The value ``block_on`` returns for its finished ``task``, or the error it raises."""
        exc = task._exc
        task._mark_read()
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

    def _refuse_block_on_inside(self, coro: object) -> None:
        """``block_on`` from a task (or a thread) of this runtime would block the thread it
        runs on: close ``coro`` and raise ``RuntimeError`` saying what to do instead."""
        st = STATE.get(None)
        if (st is not None and st._current is not None) or self.on_runtime_thread():
            if isinstance(coro, types.CoroutineType):
                coro.close()
            raise RuntimeError(
                "block_on() cannot be called from inside a running task: it would block the "
                "thread it runs on, which runs the runtime's tasks. Use `await` (or rt.spawn) "
                "instead"
            )

    def _refuse_shutdown_from_inside(self) -> None:
        if self.on_runtime_thread() or (
            (st := STATE.get(None)) is not None and st._sched is self and st._current is not None
        ):
            raise RuntimeError(
                "Runtime.shutdown() cannot be called from inside the runtime it shuts down"
            )

    @abstractmethod
    def _post_from_signal(self, callback: Callable[[], object]) -> None:
        """``post`` for a signal handler: no locks, always wakes the driver."""

    #: The last fatal error ``block_on`` raised: the same exception surfacing again in another
    #: task (one that awaited a future holding it) does not stop the runtime twice.
    _raised_fatal: BaseException | None = None

    def _raise_fatal(self) -> None:
        exc = self._fatal
        self._fatal = None
        assert exc is not None
        self._raised_fatal = exc
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
