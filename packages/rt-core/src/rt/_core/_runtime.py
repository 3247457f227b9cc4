"""The runtime and the task-level free functions (``rt.spawn`` and friends).

``_options`` checks what ``Runtime(...)`` is given and builds the scheduler; ``_handle`` holds
:class:`Handle`.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import copy_context
from types import TracebackType
from typing import TYPE_CHECKING, Any, SupportsFloat, TypeVar, final

from ._base import Scheduler
from ._current import STATE, current_task_or_raise, outside_error
from ._driver import KNOWN_LAYERS, Driver
from ._gc import GcSetting
from ._handle import Handle, _dump, _new_handle, _sched_spawn_blocking
from ._harness import _CoroType, _task_ids, coerce_coroutine, not_a_function
from ._idle import Worker, notify_parked
from ._options import FLAVORS, build_scheduler, default_flavor
from ._scheduler import CurrentThreadScheduler
from ._state import SCHEDULED
from ._task import _KEY, COMPILED, JoinHandle, new_object
from ._task import JoinHandle as Task

if TYPE_CHECKING:
    from ._diag import TaskMeta
    from ._dump import TaskDump
    from ._metrics import RuntimeMetrics
    from ._multi import MultiThreadScheduler

__all__ = [
    "FLAVORS",
    "Handle",
    "Runtime",
    "current_driver",
    "current_task",
    "default_flavor",
    "dump",
    "run",
    "spawn",
    "spawn_blocking",
]

T = TypeVar("T")


@final
class Runtime:
    """An rt runtime: a scheduler, a driver stack (I/O reactor, timers) and a blocking pool.

    Use it as a context manager, or call :meth:`shutdown` when done::

        with rt.Runtime() as runtime:
            print(runtime.block_on(main()))

    Args:
        flavor: ``"current_thread"`` runs every task on the thread calling :meth:`block_on`
            (the default with a GIL). ``"multi_thread"`` runs them on ``worker_threads``
            threads with work stealing (the default on free-threaded builds); its workers
            start at once, so spawned tasks run without a ``block_on``. ``None`` picks the
            default, which the ``RT_FLAVOR`` environment variable overrides.
        worker_threads: Number of worker threads of a ``multi_thread`` runtime (default: the
            ``RT_WORKER_THREADS`` environment variable, else one per CPU available to the
            process).
        max_blocking_threads: Bound on the threads of the blocking pool.
        enable_io: Build the I/O reactor (``None``: yes).
        enable_time: Build rt-time's timer driver (``None``: if rt-time is installed;
            ``True`` without it raises ``ImportError`` naming ``rt[time]``).
        thread_name: Prefix of the names of the runtime's threads.
        event_interval: Task steps between two non-blocking polls of the drivers.
        unhandled_error: What happens when a task nobody awaits raises: ``"log"`` (through
            the ``rt`` logger, with the traceback), ``"ignore"``, or ``"raise"`` (the
            exception is raised from the running :meth:`block_on`).
        thread_keep_alive: Seconds an idle blocking-pool thread waits for work before it exits.
        global_queue_interval: ``multi_thread`` only: steps between two looks of a worker at
            the shared injection queue when its own queue is busy (default 31, as Tokio).
        on_thread_start: ``multi_thread`` only: called with no arguments in each worker
            thread before it runs tasks.
        on_thread_stop: ``multi_thread`` only: called in each worker thread as it exits.
        gc: Opt-in tuning of Python's cyclic garbage collector for task-heavy services, from
            now until :meth:`shutdown` (which restores the previous settings; the collector is
            process-wide). ``None`` (the default) leaves it alone. ``"freeze"`` collects once,
            then freezes every object alive now (``gc.freeze()``: modules, configuration,
            caches are never examined again) and raises the youngest generation's threshold
            to 50,000, so spawn bursts run far fewer collections. A tuple of 1 to 3 ints sets
            the thresholds as ``gc.set_threshold`` does (``(0,)`` disables collection).
            Trade-off: garbage in reference cycles (tracebacks, cancelled frames) lives longer
            and peak memory grows; each collection that does run takes longer; and a frozen
            object that later becomes cyclic garbage is not reclaimed until shutdown.
        on_task_spawn: Called with a :class:`rt.TaskMeta` on the spawning thread as each
            task is spawned.
        on_task_terminate: Called with a :class:`rt.TaskMeta` whose ``outcome`` is set
            (``"ok"``, ``"error"`` or ``"cancelled"``) as each task ends, on its thread.
        on_before_task_poll: Called with the task's :class:`rt.TaskMeta` before each step,
            on the thread that runs it.
        on_after_task_poll: Called with the task's :class:`rt.TaskMeta` after each step.
            A hook that raises is logged through the ``rt`` logger and the runtime goes on. A
            ``KeyboardInterrupt`` or ``SystemExit`` from a step hook is raised in the task
            (which ends with it); after the task's last step the task keeps its own result
            or error and :meth:`block_on` raises it.
        slow_poll_threshold: Seconds one task step may hold a runtime thread before a
            watchdog logs the task and the blocking frame's stack, while it still blocks
            (``None``: the ``RT_SLOW_POLL`` environment variable, else off). Counted in
            :attr:`RuntimeMetrics.slow_polls`.
        console: A diagnostics endpoint that ``python -m rt ps|pstree|console`` attach to:
            ``True`` for a per-process Unix socket, a path for a socket there (``None``: the
            ``RT_CONSOLE`` environment variable, else off).
        poll_time_histogram: Time every task step into the per-worker
            ``poll_time_histogram`` of :meth:`metrics` from the start (Tokio's
            ``enable_metrics_poll_time_histogram``); otherwise steps are timed only once a
            console client attaches. Costs a clock read per step (two on the multi-thread
            flavor).

    Raises:
        ValueError: an option is out of range or unknown.
        TypeError: ``poll_time_histogram`` is not a bool.
        ImportError: a driver was required (``True``) but its distribution is missing.
    """

    __slots__ = ("_gc", "_sched", "_shut_down", "_shutdown_begun", "_shutdown_thread")

    def __init__(
        self,
        *,
        flavor: str | None = None,
        worker_threads: int | None = None,
        max_blocking_threads: int = 512,
        enable_io: bool | None = None,
        enable_time: bool | None = None,
        thread_name: str = "rt-worker",
        event_interval: int = 61,
        unhandled_error: str = "log",
        thread_keep_alive: float = 10.0,
        global_queue_interval: int | None = None,
        on_thread_start: Callable[[], object] | None = None,
        on_thread_stop: Callable[[], object] | None = None,
        on_task_spawn: Callable[[TaskMeta], object] | None = None,
        on_task_terminate: Callable[[TaskMeta], object] | None = None,
        on_before_task_poll: Callable[[TaskMeta], object] | None = None,
        on_after_task_poll: Callable[[TaskMeta], object] | None = None,
        # These two are typed so that mypyc does not check them at the call (a protocol; and
        # ``object``), so their own checks see what the caller passed and say what is
        # accepted: a typed parameter would refuse a value of the wrong type with mypyc's own
        # TypeError first.
        slow_poll_threshold: SupportsFloat | None = None,
        console: bool | str | os.PathLike[str] | None = None,
        gc: object = None,
        poll_time_histogram: bool = False,
    ) -> None:
        self._sched: Scheduler | None = None
        self._gc: GcSetting | None = None
        # The first shutdown() call does the work; a call from another thread meanwhile
        # waits for ``_shut_down`` (see shutdown), so it too returns with nothing left.
        self._shutdown_begun = False
        self._shutdown_thread: int | None = None  # the thread doing it
        self._shut_down = threading.Event()
        # Every option is checked (and the scheduler built) in ``_options``.
        self._sched = build_scheduler(
            {
                "flavor": flavor,
                "worker_threads": worker_threads,
                "max_blocking_threads": max_blocking_threads,
                "enable_io": enable_io,
                "enable_time": enable_time,
                "thread_name": thread_name,
                "event_interval": event_interval,
                "unhandled_error": unhandled_error,
                "thread_keep_alive": thread_keep_alive,
                "global_queue_interval": global_queue_interval,
                "on_thread_start": on_thread_start,
                "on_thread_stop": on_thread_stop,
                "on_task_spawn": on_task_spawn,
                "on_task_terminate": on_task_terminate,
                "on_before_task_poll": on_before_task_poll,
                "on_after_task_poll": on_after_task_poll,
                "slow_poll_threshold": slow_poll_threshold,
                "console": console,
                "gc": gc,
                "poll_time_histogram": poll_time_histogram,
            }
        )
        if gc is not None:  # once the scheduler is built: nothing is left to fail
            self._gc = GcSetting(gc)

    def _live(self) -> Scheduler:
        sched = self._sched
        if sched is None:  # pragma: no cover - __init__ failed
            raise RuntimeError("this Runtime was not built successfully")
        return sched

    def block_on(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on this runtime and return its result.

        Tasks it spawns keep running as long as the runtime is driven (by this or a later
        ``block_on``); :meth:`shutdown` cancels whatever is left. On the main thread, Ctrl-C
        cancels the coroutine (its ``finally`` blocks run) and then raises
        ``KeyboardInterrupt``; a second Ctrl-C interrupts at once.

        Raises:
            RuntimeError: called from inside a running task (nested ``block_on``), or after
                :meth:`shutdown`.
            rt.Cancelled: ``coro``'s task was cancelled (it aborted itself, say) and let the
                cancellation propagate.
            BaseException: whatever ``coro`` raises.
        """
        return self._live().block_on(coro)  # type: ignore[no-any-return]

    def spawn(self, coro: Awaitable[T], *, name: str | None = None) -> JoinHandle[T]:
        """Spawn ``coro`` onto this runtime; safe from any thread. See :func:`rt.spawn`."""
        return self._live().spawn(coro, name, "Runtime.spawn()")

    def spawn_blocking(self, fn: Callable[..., T], *args: Any) -> JoinHandle[T]:
        """Run ``fn(*args)`` on the blocking pool. See :func:`rt.spawn_blocking`."""
        return self._live().spawn_blocking(fn, args)

    def handle(self) -> Handle:
        """Return a :class:`Handle` to this runtime, usable from any thread."""
        return _new_handle(self._live())

    def metrics(self) -> RuntimeMetrics:
        """Return a snapshot of the runtime's metrics (:class:`rt.RuntimeMetrics`)."""
        return self._live().metrics()

    def shutdown(self, timeout: float | None = None) -> None:
        """Cancel every task, wait for them, join the blocking pool and close the drivers.

        Every task sees :class:`rt.Cancelled` and runs to its end: ``finally`` blocks run,
        async cleanup included, and shielded scopes (``CancelScope(shield=True)``) finish
        first. Afterwards the runtime holds no thread, fd or task. Calling it again does
        nothing; the same on both flavors. A call from another thread while a shutdown is
        under way waits for that one to finish (up to its own ``timeout``), so it too
        returns with nothing left.

        Other threads: once shutdown has begun, :meth:`spawn`, :meth:`Handle.spawn`,
        :meth:`Handle.spawn_blocking`, :meth:`block_on` and :meth:`Handle.block_on` raise
        ``RuntimeError`` (closing the coroutine they were given). A task or ``block_on``
        accepted before that is cancelled, run to completion and joinable; a ``block_on`` whose
        coroutine shutdown cut short raises ``RuntimeError`` (its ``__cause__`` the
        ``rt.Cancelled``). A task of the runtime that spawns during shutdown (in its cleanup)
        gets a task cancelled before it starts; its blocking jobs (``spawn_blocking``,
        ``to_thread``) still run, the pool being joined after the tasks. A plain thread blocked
        in a channel's ``blocking_*`` call gets ``rt.sync.ChannelClosed`` once the cancelled
        task holding the other end drops it.

        Args:
            timeout: Seconds to wait for tasks and blocking threads; ``None`` waits as long as
                they take. Tasks still running when it passes are named in one warning of the
                ``rt`` logger, then closed (``GeneratorExit``); blocking threads that are still
                busy are left to finish on their own (they are daemon threads).

        Raises:
            RuntimeError: called from inside this runtime.
        """
        if timeout is not None and (not isinstance(timeout, int | float) or timeout < 0):
            raise ValueError(f"timeout must be None or a number >= 0, got {timeout!r}")
        sched = self._sched
        if sched is not None:
            sched._refuse_shutdown_from_inside()
            with _SHUTDOWN_LOCK:
                begun, self._shutdown_begun = self._shutdown_begun, True
                if not begun:
                    self._shutdown_thread = threading.get_ident()
            if begun:
                # Another thread is shutting the runtime down (or has): wait for it to finish,
                # unless this is one of the runtime's own blocking threads, which that
                # shutdown may be waiting for, or the very thread doing it (a signal handler
                # or a finalizer run inside that shutdown), which would wait on itself.
                st = STATE.get(None)
                if (st is None or st._sched is not sched) and (
                    self._shutdown_thread != threading.get_ident()
                ):
                    self._shut_down.wait(timeout)
                return
        try:
            if sched is not None:
                try:
                    sched.shutdown(timeout)
                finally:
                    if sched._diag is not None:
                        sched._diag.close()
        finally:
            setting, self._gc = self._gc, None
            if setting is not None:
                setting.restore()
            self._shut_down.set()

    def dump(self) -> TaskDump:
        """Return a snapshot of every live task (see :meth:`Handle.dump`)."""
        return _dump(self._live())

    @property
    def flavor(self) -> str:
        """The scheduler flavor."""
        return self._live().flavor

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def __del__(self) -> None:
        sched = getattr(self, "_sched", None)
        if sched is not None and not sched.closed and sched._thread_id is None:
            # ``warnings`` is imported at the top: an import here fails while the
            # interpreter finalizes, which is when an abandoned runtime is often collected.
            warnings.warn(
                "rt.Runtime was garbage-collected without shutdown(); use `with rt.Runtime()` "
                "or call shutdown()",
                ResourceWarning,
                stacklevel=2,
            )
            try:
                sched.shutdown(0)
            except Exception:  # pragma: no cover - best effort at interpreter exit
                pass

    def __repr__(self) -> str:
        state = "closed" if self._sched is None or self._sched.closed else "open"
        return f"<rt.Runtime {state}>"


# Decides which shutdown() call does the work (a cold path: one lock for every runtime).
_SHUTDOWN_LOCK = threading.Lock()


def run(coro: Coroutine[Any, Any, T], *, flavor: str | None = None, **options: Any) -> T:
    """Build a runtime, run ``coro`` on it, shut it down, and return ``coro``'s result.

    The rt equivalent of ``asyncio.run``. Keyword options are those of :class:`Runtime`.

    Raises:
        RuntimeError: called from inside a running task.
        rt.Cancelled: the root task was cancelled and let it propagate, for instance after
            aborting itself (``rt.current_task().abort()``), as ``asyncio.run`` raises
            ``CancelledError`` when its main task cancels itself.
        BaseException: whatever ``coro`` raises (after the runtime is shut down).
    """
    st = STATE.get(None)
    if st is not None and st._current is not None:
        if hasattr(coro, "close"):
            coro.close()
        raise RuntimeError(
            "rt.run() cannot be called from inside a running task: await the coroutine instead"
        )
    try:
        runtime = Runtime(flavor=flavor, **options)
    except BaseException:
        if hasattr(coro, "close"):
            coro.close()  # refused before it ran: no "never awaited" warning
        raise
    with runtime:
        return runtime.block_on(coro)


def spawn(coro: Awaitable[T], *, name: str | None = None) -> JoinHandle[T]:
    """Spawn ``coro`` as a new task on the current runtime and return its :class:`JoinHandle`.

    The task starts on the next turn of the scheduler and runs concurrently with the caller.
    The runtime owns it: dropping the handle detaches it, it is never garbage-collected
    while it runs.

    Args:
        coro: A coroutine object (``fn()``, not ``fn``), or another awaitable (``rt.sleep(1)``,
            an object with ``__await__``), which the task awaits.
        name: An optional name, shown in reprs and logs.

    Raises:
        TypeError: ``coro`` is not awaitable (a function, a number, ...) or is a coroutine
            another task is running. (A coroutine that has already finished is not refused
            here: the task fails at its first step, with a ``TypeError`` that says so.)
        RuntimeError: outside a runtime, or the runtime is shutting down.
    """
    st = STATE.get(None)
    sched: CurrentThreadScheduler | MultiThreadScheduler
    task: Task[Any]
    if type(st) is CurrentThreadScheduler and st._current is not None:
        # From a task on the current-thread flavor: its scheduler's ``spawn_here``, inlined
        # (one Python call less per spawn).
        sched = st
        obj: object = coro
        # <generated: spawn_here>
        if type(obj) is _CoroType and not obj.cr_running and not obj.cr_suspended:
            coro = obj
        else:
            coro = coerce_coroutine(obj, "rt.spawn()")
        if sched._closed or name is not None or sched._diag is not None:
            return sched.spawn(coro, name)
        task_id = next(_task_ids)
        ctx = copy_context()
        if COMPILED:
            task = Task(_KEY, coro, None, sched, ctx, task_id)
        else:
            task = new_object(Task)
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
        sched._tasks.add(task)
        # </generated: spawn_here>
        sched._spawned += 1
        sched._ready.append(task)
        return task
    if type(st) is Worker and st._current is not None:
        # From a task on a multi-thread worker: ``Worker.spawn_here``, inlined likewise.
        w = st
        sched = st._mt
        obj = coro
        # <generated: spawn_here>
        if type(obj) is _CoroType and not obj.cr_running and not obj.cr_suspended:
            coro = obj
        else:
            coro = coerce_coroutine(obj, "rt.spawn()")
        if sched._closed or name is not None or sched._diag is not None:
            return sched.spawn(coro, name)
        task_id = next(_task_ids)
        ctx = copy_context()
        if COMPILED:
            task = Task(_KEY, coro, None, sched, ctx, task_id)
        else:
            task = new_object(Task)
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
        sched._tasks.add(task)
        # </generated: spawn_here>
        # <generated: worker_queue_spawned>
        task._state = SCHEDULED
        task._home = w
        w.spawned += 1
        if w.in_place:  # spawned inside rt.task.block_in_place: for the other workers
            sched._inject.append(task)
            notify_parked(sched)
            return task
        w.local.append(task)
        if sched._idle:
            notify_parked(sched)
        return task
        # </generated: worker_queue_spawned>
    if st is None:
        if hasattr(coro, "close"):
            coro.close()
        raise outside_error("rt.spawn()")
    # From a task, its runner spawns onto its own queue (the hot path); from a blocking
    # thread, through the scheduler's thread-safe spawn.
    if st._current is not None:
        return st.spawn_here(coro, name)
    return st._sched.spawn(coro, name)


def spawn_blocking(fn: Callable[..., T], *args: Any) -> JoinHandle[T]:
    """Run the plain function ``fn(*args)`` on the runtime's blocking pool.

    Use it for work that would stall the scheduler: file I/O, CPU-bound calls that release the
    GIL (hashing, compression), blocking libraries. ``fn`` runs in a copy of the caller's
    contextvars; :meth:`Handle.current` works inside it. Await the handle for the result.
    Aborting the handle cancels the job only if it has not started yet.

    Raises:
        TypeError: ``fn`` is not a plain callable (an async function is refused).
        RuntimeError: outside a runtime.
    """
    st = STATE.get(None)
    if st is None:
        if not callable(fn):
            raise not_a_function(fn, "rt.spawn_blocking()")
        raise outside_error("rt.spawn_blocking()")
    return _sched_spawn_blocking(st._sched, fn, args)


def current_task() -> Task[Any]:
    """Return the running task (its ``id`` and ``name``).

    Raises:
        RuntimeError: outside a task running on rt.
    """
    return current_task_or_raise("rt.current_task()")


def current_driver(name: str, what: str = "this call") -> Driver:
    """Return the current runtime's driver layer called ``name`` (``"io"``, ``"time"``, ...).

    ``what`` names the caller's API in the error raised outside a runtime.

    Raises:
        RuntimeError: outside a runtime, or the runtime was built without that layer.
    """
    st = STATE.get(None)
    if st is None:
        raise outside_error(f"{what} (it uses the runtime's {name} driver)")
    driver = st._sched.driver(name)
    if driver is None:
        if name in KNOWN_LAYERS:
            raise RuntimeError(
                f"this runtime has no {name} driver: build it with enable_{name}=True (or the "
                f"default None) and install rt[{KNOWN_LAYERS[name].extra}]"
            )
        if name == "io":
            raise RuntimeError("this runtime was built with enable_io=False")
        raise RuntimeError(f"this runtime has no driver layer named {name!r}")
    return driver


def dump() -> TaskDump:
    """Return a snapshot of every live task of the runtime running the caller.

    The same as ``rt.Handle.current().dump()``; from another thread, keep a
    :class:`Handle` (``runtime.handle()``) and call its :meth:`~Handle.dump`.

    Returns:
        An ``rt.TaskDump``: ``str()`` prints the task tree, ``to_dict()`` is JSON-ready.

    Raises:
        RuntimeError: outside a task or blocking thread of an rt runtime.
    """
    st = STATE.get(None)
    if st is None:
        raise outside_error("rt.dump()")
    return _dump(st._sched)
