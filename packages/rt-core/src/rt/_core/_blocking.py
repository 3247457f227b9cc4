"""The blocking pool: threads for work that would stall the runtime (Tokio's ``spawn_blocking``).

Threads are started on demand up to ``max_threads``; beyond that jobs queue. A thread that has
been idle for ``keep_alive`` seconds retires, so an idle runtime holds no blocking threads.
A job that has not started when its task is aborted is removed and never runs; a running job
cannot be interrupted (Python has no safe way to), so aborting its task has no effect, as in
Tokio. ``shutdown`` stops accepting jobs, fails the queued ones, and joins the threads.

A job is queued when ``spawn_blocking`` is called, as Tokio does, not when its task first runs:
the calls of one task reach the pool in call order, whichever worker steps their tasks. So a
job may finish before its task has run at all, and the two meet in a handshake under the
pool's lock: the task parks on the job only if the job is not done yet (:meth:`BlockingPool.
wait_for` marks it ``waiting``), and the thread that finishes a job wakes its task only if it
is waiting. A job still counts as in flight until its task is either woken or runnable, so
paused time never jumps while a result is on its way. A task aborted before its first step
never waits for its job: a thread that takes such a job drops it unrun, as Tokio's pool drops
a cancelled task that has not started. If the abort comes just after a thread took the job,
the job runs and its result stands: the task is never cancelled before its first step
(``_task.STARTED_AT_CALL``), so the abort reaches it in its wait, where withdrawing a running
job fails.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ._exceptions import Cancelled
from ._traps import Abort

if TYPE_CHECKING:
    from ._task import JoinHandle as Task

_TIMEOUT_MAX: Final = threading.TIMEOUT_MAX

QUEUED: Final = 0
RUNNING: Final = 1
DONE: Final = 2


class BlockingJob:
    __slots__ = ("args", "ctx", "exc", "fn", "pool", "result", "state", "task", "waiting")

    def __init__(
        self,
        pool: BlockingPool,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        ctx: contextvars.Context,
    ) -> None:
        self.pool = pool
        self.fn = fn
        self.args = args
        self.ctx = ctx
        self.state = QUEUED
        self.result: Any = None
        self.exc: BaseException | None = None
        # The task that awaits the job (set before the job is queued), and whether it is
        # parked on it (set under the pool's lock by ``BlockingPool.wait_for``).
        self.task: Task[Any] | None = None
        self.waiting = False

    def abort(self) -> Abort:
        return Abort.SUCCEEDED if self.pool._cancel(self) else Abort.FAILED


def block_async_signals() -> None:
    """Keep process-directed signals away from the calling (non-main) thread.

    Python runs signal handlers on the main thread only, and the main thread's blocking
    wait (``block_on`` waiting for a multi-thread runtime, ``epoll_wait`` of a current-thread
    one) is interrupted only if the kernel delivers the signal to *that* thread. rt's worker
    and blocking-pool threads therefore block the asynchronous signals, so Ctrl-C reaches the
    main thread at once.
    """
    import signal

    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        return
    names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD")
    wanted = {getattr(signal, n) for n in names if hasattr(signal, n)}
    signal.pthread_sigmask(signal.SIG_BLOCK, wanted)


class BlockingPool:
    """A bounded, self-shrinking pool of daemon threads."""

    def __init__(
        self,
        max_threads: int,
        thread_name: str,
        wake: Callable[[Task[Any]], None],
        keep_alive: float = 10.0,
        on_drained: Callable[[], object] | None = None,
    ) -> None:
        self._max = max_threads
        # Called when the last job in flight finishes: a driver waiting for blocking jobs
        # before it auto-advances paused time may sleep on another thread than the one the
        # job's task is woken on, and must re-check.
        self._on_drained = on_drained
        self._name = thread_name
        self._wake = wake
        self._keep_alive = keep_alive
        # Re-entrant: a finalizer run by the collector inside a locked section (making a
        # thread allocates a lot; so does failing a job) may spawn a blocking job or abort
        # one on the same thread, which takes it again. A plain lock deadlocked that thread.
        self._lock = threading.RLock()
        self._queue: deque[BlockingJob] = deque()
        self._threads: set[threading.Thread] = set()
        # Threads being made under the lock: they count against ``max_threads`` before they
        # join ``_threads``, so a job submitted meanwhile (by such a finalizer) cannot start
        # one more than the bound.
        self._starting = 0
        # The idle threads' wake-up locks, the most recently idle last: a thread waits by
        # acquiring its own lock (held while it works), and ``submit`` wakes the last one by
        # releasing it under ``_lock`` (see ``_worker``). Rather than a ``Condition``, whose
        # ``wait`` and ``notify`` are Python code that runs on every round trip (a wait
        # allocates a lock, a notify slices the waiters), most of it after the job's task was
        # woken, holding the GIL its runtime thread needs next. Waking the most recently idle
        # thread first also lets the others reach their keep-alive and retire.
        self._idle: list[Any] = []
        self._running = 0
        self._counter = 0
        self._shutdown = False

    # -- submitting --------------------------------------------------------------------

    def submit(self, job: BlockingJob) -> None:
        """Queue ``job`` (its ``task`` set); a pool that is shut down fails it instead."""
        with self._lock:
            if job.state != QUEUED:
                return  # its task was aborted while waiting for it to be queued
            if self._shutdown:
                job.state = DONE
                job.exc = RuntimeError(
                    "the runtime is shut down: its blocking pool takes no new work"
                )
                # On a multi-thread runtime its task may have parked on it already.
                wake = job.waiting
            else:
                wake = False
                self._queue.append(job)
                # An idle thread takes it; without one, start a thread if the bound allows
                # (else a busy thread takes it when its job ends). A woken thread leaves
                # ``_idle`` here, so a second job submitted before it runs starts another.
                if self._idle:
                    self._idle.pop().release()
                elif len(self._threads) + self._starting < self._max:
                    self._counter += 1
                    self._starting += 1
                    try:
                        t = threading.Thread(
                            target=self._worker,
                            name=f"{self._name}-blocking-{self._counter}",
                            daemon=True,
                        )
                    finally:
                        self._starting -= 1
                    self._threads.add(t)
                    try:
                        t.start()
                    except RuntimeError as exc:  # "can't start new thread": the OS's limit
                        self._threads.discard(t)  # (kept, it counted as a thread for ever)
                        if not self._threads:
                            # No thread will ever take the job: fail it as a shut-down pool
                            # does (its task raises this), rather than leave it queued.
                            self._queue.remove(job)
                            job.state = DONE
                            why = (
                                "the interpreter is shutting down (its main thread returned), "
                                "when Python starts no new thread: keep the main thread "
                                "alive, joining the thread that runs rt, until rt's work ends"
                                if "shutdown" in str(exc)
                                else "the process is at its thread limit. Lower "
                                "max_blocking_threads, run fewer threads, or raise the limit "
                                "(ulimit -u)"
                            )
                            job.exc = RuntimeError(
                                f"the blocking pool could not start a thread ({exc}): {why}"
                            )
                            job.exc.__cause__ = exc
                            wake = job.waiting
                        # else one of the pool's busy threads takes it when its job ends
        if wake and job.task is not None:
            self._wake(job.task)

    def wait_for(self, job: BlockingJob) -> bool:
        """The task side of the handshake: True when the caller (``job.task``) must park until
        the job's thread wakes it, False when the job is done already."""
        with self._lock:
            if job.state == DONE:
                return False
            job.waiting = True
            return True

    def _cancel(self, job: BlockingJob) -> bool:
        with self._lock:
            if job.state == QUEUED:
                job.state = DONE
                try:
                    self._queue.remove(job)
                except ValueError:
                    pass
                return True
            return False

    # -- the threads ------------------------------------------------------------------------

    def _worker(self) -> None:
        block_async_signals()
        me = threading.current_thread()
        # Held while this thread works; it waits by acquiring it again, ``submit`` (or
        # ``shutdown``) wakes it by releasing it. Worker threads get no signals (above), so
        # the pool's lock is taken with bare acquire/release: nothing can interrupt in between.
        wake = threading.Lock()
        wake.acquire()
        lock = self._lock
        queue = self._queue
        idle = self._idle
        monotonic = time.monotonic
        lock.acquire()
        while True:
            # ``lock`` is held here.
            if not queue:
                deadline = monotonic() + self._keep_alive
                while not queue:
                    if self._shutdown:
                        break
                    remaining = deadline - monotonic()
                    if remaining <= 0:
                        break
                    idle.append(wake)
                    lock.release()
                    # (A lock wait longer than TIMEOUT_MAX overflows: an infinite keep-alive
                    # waits that long at a time.)
                    woken = wake.acquire(True, min(remaining, _TIMEOUT_MAX))
                    lock.acquire()
                    if not woken:
                        try:
                            idle.remove(wake)  # timed out: no longer idle
                        except ValueError:
                            # ``submit`` took it off the list just now and released it,
                            # under the lock we now hold: take that wake-up back.
                            wake.acquire()
                if not queue:  # shut down, or idle for ``keep_alive``: retire
                    self._threads.discard(me)
                    lock.release()
                    return
            job = queue.popleft()
            task = job.task
            if not job.waiting and task is not None and task._cancelled:
                # Aborted before its first step: the task never waits for this job (a
                # task aborted *in* that step finds the job done and raises this).
                job.state = DONE
                job.exc = Cancelled("the task was aborted before its blocking job started")
                job.fn = job.args = None  # type: ignore[assignment]
                drained = not self._running and not queue
            else:
                job.state = RUNNING
                self._running += 1
                lock.release()
                try:
                    job.result = job.ctx.run(job.fn, *job.args)
                except BaseException as exc:  # delivered to the awaiting task
                    job.exc = exc
                job.fn = job.args = None  # type: ignore[assignment]
                lock.acquire()
                job.state = DONE
                if job.waiting and task is not None:
                    # Wake before the job stops counting as in flight: paused time
                    # auto-advances only when no task is runnable *and* no job is in flight,
                    # so in between it could jump the clock while the result is on its way.
                    lock.release()
                    self._wake(task)
                    lock.acquire()
                # Else its task has not asked yet: it is runnable (queued or in its first
                # step) and finds the job done, so the job stops counting at once.
                self._running -= 1
                drained = not self._running and not queue
            if drained and self._on_drained is not None:
                lock.release()
                self._on_drained()
                lock.acquire()

    # -- observing and stopping -------------------------------------------------------------

    def in_flight(self) -> int:
        return len(self._queue) + self._running

    def stats(self) -> tuple[int, int, int]:
        """Return (threads, idle threads, queued jobs)."""
        with self._lock:
            return len(self._threads), len(self._idle), len(self._queue)

    def shutdown(self, timeout: float | None) -> list[threading.Thread]:
        """Stop the pool; return the threads still running after ``timeout``."""
        with self._lock:
            self._shutdown = True
            dropped = list(self._queue)
            self._queue.clear()
            err = RuntimeError("the runtime shut down before this blocking job started")
            for job in dropped:
                job.state = DONE
                job.exc = err
            threads = list(self._threads)
            while self._idle:  # every idle thread wakes, finds the pool shut down, retires
                self._idle.pop().release()
        for job in dropped:
            # A task not parked on its job finds it done (and the error) when it asks.
            if job.waiting and job.task is not None:
                self._wake(job.task)
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in threads:
            if t is threading.current_thread():
                continue
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return [t for t in threads if t.is_alive()]
