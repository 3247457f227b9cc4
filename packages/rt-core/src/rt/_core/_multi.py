"""The multi-thread, work-stealing scheduler (Tokio's ``multi_thread`` flavor).

N worker threads run tasks. Each :class:`Worker` has

* a **local run queue** (a ``deque``: the owner pushes at the back and pops at the front;
  thieves pop at the front too, so every operation is one atomic ``deque`` call);
* a **LIFO slot**: a task woken by the task running on this worker runs next, on the same
  worker (ping-pong pairs stay hot), at most ``MAX_LIFO_POLLS`` times in a row so the queue
  behind it is not starved; the slot is never stolen;
* an **inbox** for tasks pinned to it (:class:`rt.LocalSet`), pushed from other threads.

Tasks woken or spawned from outside the workers land on the shared **injection queue**. A
worker checks the injection queue (and its inbox) every ``global_queue_interval`` steps and
whenever its local queue is empty, polls the driver stack without blocking every
``event_interval`` steps, and when it runs dry it *searches*: injection queue, posted
callbacks, then **steals half** of another worker's local queue. Only when all of that fails
does it park: the first idle worker takes the driver lock and blocks in the reactor (so one
worker at a time drives I/O and timers), the others wait on their own event. A push wakes at
most one parked worker, and only if no worker is already searching (no thundering herd); a
searcher that finds work and was the last one searching wakes the next.

**One poll at a time.** A task's ``_state`` (see ``_task``) moves SCHEDULED → RUNNING → IDLE /
SCHEDULED / DONE. A wake-up that arrives while the task runs (after it registered as a waiter,
before its ``PARK`` reached the worker) only sets NOTIFIED, and the worker requeues the task
after the step; the transitions that race with wakers take the scheduler's lock. Cancelling a
parked task *claims* it (IDLE → RUNNING) before calling its abort function, so an abort function
never runs while the task is being stepped elsewhere; a task that is running when it is
cancelled is handled by its worker when the step ends.

**Context migration.** A task's context holds ``STATE`` = the worker running it (its
``_current`` is the running task). A task that moves to another worker gets ``STATE`` re-set in
its context before its first step there: one ``Context.run`` per migration, nothing per step.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from contextvars import copy_context
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ._base import Scheduler
from ._blocking import block_async_signals
from ._current import STATE
from ._driver import DriverLayer
from ._exceptions import Cancelled
from ._harness import (
    _CoroType,
    _task_ids,
    bad_yield_error,
    coerce_coroutine,
    describe,
    logger,
    refuse_new_task,
    run_waiters,
    settle,
    task_failed,
    withdraw,
)
from ._idle import (
    Worker,
    notify_parked,
    park,
    search,
    stop_searching,
    unpark_worker,
)
from ._reactor import IoDriver
from ._task import _WAITERS_LOCK, DONE, IDLE, NOTIFIED, RUNNING, SCHEDULED
from ._task import JoinHandle as Task
from ._traps import PARK, YIELD, Abort
from ._wakeup import SignalWakeup

if TYPE_CHECKING:
    from ._metrics import RuntimeMetrics

T = TypeVar("T")

#: Tasks run from the LIFO slot in a row before the local queue gets a turn (Tokio uses 3).
MAX_LIFO_POLLS: Final = 3

_get_ident: Final = threading.get_ident


class MultiThreadScheduler(Scheduler):
    """Runs tasks on ``worker_threads`` threads with work stealing; see the module docstring."""

    flavor = "multi_thread"

    def __init__(
        self,
        *,
        worker_threads: int,
        max_blocking_threads: int,
        enable_io: bool,
        layers: list[DriverLayer],
        thread_name: str,
        event_interval: int,
        global_queue_interval: int,
        unhandled_error: str,
        thread_keep_alive: float = 10.0,
        on_thread_start: Callable[[], object] | None = None,
        on_thread_stop: Callable[[], object] | None = None,
    ) -> None:
        self._thread_id = None  # block_on never drives this flavor: the workers do
        self._lock = threading.RLock()
        self._acquire = self._lock.acquire
        self._release = self._lock.release
        self._core = threading.Condition(threading.Lock())
        self._inject: deque[Task[Any]] = deque()
        self._callbacks: deque[Callable[[], object]] = deque()
        self._idle: list[Worker] = []
        self._searching = 0
        self._stopping = False
        self._block_on_events: set[threading.Event | SignalWakeup] = set()
        self._event_interval = event_interval
        self._global_interval = global_queue_interval
        self._spawned_outside = 0
        self._on_thread_start = on_thread_start
        self._on_thread_stop = on_thread_stop
        self._driver_lock = threading.Lock()
        self._init_common(
            max_blocking_threads=max_blocking_threads,
            thread_name=thread_name,
            thread_keep_alive=thread_keep_alive,
            unhandled_error=unhandled_error,
            on_drained=self._unpark_driver,  # the driver is built below
        )
        # The reactor locks its own state, so closing an fd can run on any thread (no post).
        self._build_driver_stack(IoDriver(self.wake) if enable_io else None, layers)
        self._workers = [Worker(self, i, f"{thread_name}-{i}") for i in range(worker_threads)]
        started = threading.Semaphore(0)
        for w in self._workers:
            t = threading.Thread(
                target=self._worker_main, args=(w, started), name=w.name, daemon=True
            )
            w.thread = t
            t.start()
        for _ in self._workers:
            started.acquire()
        self._idents = frozenset(w.ident for w in self._workers)

    # -- DriverContext -----------------------------------------------------------------

    def has_runnable_tasks(self) -> bool:
        """Whether anything may still run without the clock moving: queued tasks, or another
        worker that is not idle (it runs a task, or holds one it just took from a queue)."""
        if self._inject or self._callbacks:
            return True
        me = _get_ident()
        return any(
            w.local or w.lifo is not None or w.inbox or (w.ident != me and not w.parked)
            for w in self._workers
        )

    # -- thread-safe entry points -------------------------------------------------------

    def on_runtime_thread(self) -> bool:
        return _get_ident() in self._idents

    def wake(self, task: Task[Any]) -> None:
        st = STATE.get(None)
        if (
            type(st) is Worker
            and st._current is not None
            and st._sched is self
            and st.ident == _get_ident()
        ):
            # The common case: woken by the step running on this worker. The first such
            # wake-up of a step is deferred to the end of the step, where the worker applies
            # it under the lock it takes anyway for the step's own park: one lock round trip
            # instead of two (the lock is most of the multi-thread flavor's cost per switch).
            # Deferring changes nothing a task can see: the woken task would run from this
            # worker's LIFO slot after this step in either case. A second wake-up in the same
            # step applies the first one at once (it then lands in the local queue, where idle
            # workers can steal it, exactly as before).
            if task._pinned is None:
                prev = st.deferred
                st.deferred = task
                if prev is None:
                    return
                task = prev
            self._wake_from_step(st, task)
            return
        with self._lock:
            state = task._state
            if state != IDLE:
                if state == RUNNING:
                    task._state = NOTIFIED
                return
            task._state = SCHEDULED
        self._push(task, True)

    def _wake_from_step(self, st: Worker, task: Task[Any], lifo: bool = True) -> None:
        """Apply a wake-up made on worker ``st``'s own thread, by a step (into the LIFO slot)
        or, with ``lifo=False``, by a completion (to the back of the local queue)."""
        # Worker threads get no signals, so a bare acquire/release (half the cost of
        # ``with``) cannot be left half done.
        self._acquire()
        state = task._state
        if state != IDLE:
            if state == RUNNING:
                task._state = NOTIFIED  # its worker requeues it after the step
            self._release()
            return
        task._state = SCHEDULED
        self._release()
        if task._pinned is None:
            if lifo:
                prev = st.lifo
                st.lifo = task
                if prev is None:
                    return
                task = prev
            st.local.append(task)
            if self._idle:
                notify_parked(self)
            return
        self._push(task, lifo)

    def _flush_deferred(self, w: Worker) -> None:
        """Apply the wake-up deferred by the step that just ended on ``w`` (see ``wake``)."""
        task = w.deferred
        if task is not None:
            w.deferred = None
            self._wake_from_step(w, task)

    def _push(self, task: Task[Any], lifo: bool) -> None:
        """Queue a SCHEDULED task where it will run soonest."""
        st = STATE.get(None)
        pinned = task._pinned
        home: Worker | None = pinned._worker if pinned is not None else None
        if type(st) is Worker and st._sched is self and st.ident == _get_ident():
            w = st
            if home is not None and home is not w:
                self._to_inbox(home, task)
                return
            if lifo and w._current is not None:
                prev = w.lifo
                w.lifo = task
                if prev is None:
                    return
                task = prev
            w.local.append(task)
            if self._idle:
                notify_parked(self)
            return
        if home is not None:
            self._to_inbox(home, task)
            return
        self._inject.append(task)
        notify_parked(self)

    def _to_inbox(self, home: Worker, task: Task[Any]) -> None:
        home.inbox.append(task)
        unpark_worker(self, home)

    def post(self, callback: Callable[[], object]) -> None:
        self._callbacks.append(callback)
        notify_parked(self)

    def _post_from_signal(self, callback: Callable[[], object]) -> None:
        # When every worker is idle, one of them sleeps in the driver: the eventfd reaches it.
        # Busy workers run callbacks every event_interval steps.
        self._callbacks.append(callback)
        self._driver.unpark()

    def new_task(self, obj: object, name: object, what: str) -> Task[Any]:
        coro = coerce_coroutine(obj, what)
        if name is not None and not isinstance(name, str):
            coro.close()
            raise TypeError(f"{what}: name must be a str or None, got {describe(name)}")
        ctx = copy_context()
        st = STATE.get(None)
        if type(st) is Worker and st._sched is self:
            home = st
        else:
            home = self._workers[0]
            ctx.run(STATE.set, home)
        task: Task[Any] = Task(coro, name, self, ctx, next(_task_ids))
        task._home = home
        return task

    def spawn_here(self, coro: object, name: str | None) -> Task[Any]:
        return self.spawn(coro, name)

    def spawn(
        self, coro: object, name: str | None, what: str = "rt.spawn()", pinned: Any = None
    ) -> Task[Any]:
        task = self.new_task(coro, name, what)
        task._pinned = pinned
        inside = self.on_runtime_thread()
        with self._lock:
            # The shutdown contract (see Scheduler): once shutdown began, another thread is
            # refused; a task of this runtime gets a task cancelled before it starts.
            accepted = not self._stopping and (inside or not self._closed)
            if accepted:
                if self._closed:
                    task._abort_requested = True
                    task._cancelled = True
                self._tasks.add(task)
                self._spawned_outside += 1
        if not accepted:
            raise refuse_new_task(task, what)
        self._push(task, False)
        return task

    def abort_task(self, task: Task[Any]) -> None:
        with self._lock:
            if task._done or task._abort_requested:
                return
            task._abort_requested = True
        if task._recompute_cancelled():
            self.deliver_cancel(task)

    def deliver_cancel(self, task: Task[Any]) -> None:
        with self._lock:
            if task._state != IDLE:
                # Running: its worker delivers when the step ends. Queued: it sees the
                # cancellation at its next checkpoint.
                return
            task._state = RUNNING  # claimed: no worker steps it while we abort its wait
        self._cancel_claimed(task)

    def _cancel_claimed(self, task: Task[Any]) -> None:
        """Call the abort function of a parked task this thread has claimed (RUNNING).

        The cancel is delivered only if the task is still cancelled now that it is claimed
        (it cannot run, so its scope stack holds still): a scope cancelled on one worker
        while the task left it on another must not cancel the task's next wait.
        """
        fn = task._abort_fn if task._cancelled else None
        if fn is not None and withdraw(task, fn) is Abort.SUCCEEDED:
            task._abort_fn = None
            task._throw = Cancelled()
            with self._lock:
                task._state = SCHEDULED
            self._push(task, False)
            return
        # A wake-up is in flight (or already landed as NOTIFIED): let it reschedule the task.
        with self._lock:
            if task._state == NOTIFIED:
                task._state = SCHEDULED
                requeue = True
            else:
                task._state = IDLE
                requeue = False
        if requeue:
            self._push(task, False)

    def block_in_place(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Hand this worker's queued tasks to the others, then run ``fn`` here.

        The task calling it stays on this worker (its step simply lasts as long as ``fn``);
        what was queued behind it moves to the injection queue and a parked worker is woken
        to take it. Tasks pinned to this thread (a ``LocalSet``) wait, as in Tokio.
        """
        st = STATE.get(None)
        if type(st) is Worker and st._sched is self and st.ident == _get_ident():
            w = st
            self._flush_deferred(w)
            moved: list[Task[Any]] = []
            lifo = w.lifo
            if lifo is not None:
                w.lifo = None
                moved.append(lifo)
            local = w.local
            keep: list[Task[Any]] = []
            while local:
                try:
                    t = local.popleft()
                except IndexError:
                    break
                (keep if t._pinned is not None else moved).append(t)
            local.extend(keep)
            if moved:
                self._inject.extend(moved)
                notify_parked(self)
        return fn(*args)

    # -- parking and waking workers ------------------------------------------------------

    def _unpark_driver(self) -> None:
        self._driver.unpark()

    # -- the worker loop ---------------------------------------------------------------------

    def _worker_main(self, w: Worker, started: threading.Semaphore) -> None:
        block_async_signals()
        w.ident = _get_ident()
        STATE.set(w)
        started.release()
        if self._on_thread_start is not None:
            try:
                self._on_thread_start()
            except Exception:
                logger.exception("rt: on_thread_start raised in %s", w.name)
        w.started = time.perf_counter()
        try:
            self._run_worker(w)
        except BaseException:  # pragma: no cover - a bug in rt itself
            logger.exception("rt: worker %s stopped on an internal error", w.name)
        finally:
            w.stopped = time.perf_counter()
            if self._on_thread_stop is not None:
                try:
                    self._on_thread_stop()
                except Exception:
                    logger.exception("rt: on_thread_stop raised in %s", w.name)

    def _pop_global(self, w: Worker) -> Task[Any] | None:
        if w.inbox:
            try:
                return w.inbox.popleft()
            except IndexError:
                pass
        if self._inject:
            try:
                return self._inject.popleft()
            except IndexError:
                pass
        return None

    def _run_callbacks(self) -> None:
        callbacks = self._callbacks
        while callbacks:
            try:
                cb = callbacks.popleft()
            except IndexError:
                return
            self._run_callback(cb)

    def _maintenance(self) -> None:
        """Every ``event_interval`` steps: poll the drivers (if free) and run callbacks."""
        if self._driver_lock.acquire(blocking=False):
            try:
                self._driver.park(0)
            finally:
                self._driver_lock.release()
        if self._callbacks:
            self._run_callbacks()

    def _run_worker(self, w: Worker) -> None:
        """The worker loop: batches of steps from the LIFO slot and the local queue, then a
        look at the injection queue and inbox; drivers every ``event_interval`` steps.

        Per step it does only what a step needs (measure before adding to it): the run-state
        store, the migration check, ``Context.run``, and, after a ``PARK``, the state
        transition under the lock that wakers also take.
        """
        local = w.local
        popleft = local.popleft
        append = local.append
        acquire = self._lock.acquire
        release = self._lock.release
        inject = self._inject
        inbox = w.inbox
        idle = self._idle
        batch_size = self._global_interval
        event_interval = self._event_interval
        yield_trap = YIELD
        park_trap = PARK
        tasks_discard = self._tasks.discard
        waiters_lock = _WAITERS_LOCK
        since_event = 0
        while not self._stopping:
            if local or w.lifo is not None:
                w.parked = False  # about to take a task out of our own queue
                if w.searching:
                    stop_searching(self, w)  # woken with work at hand (the driver queued it)
            # -- one batch: at most ``batch_size`` steps from the LIFO slot and the local queue
            budget = batch_size
            lifo_polls = 0
            while budget:
                task = w.lifo
                if task is not None:
                    w.lifo = None
                    lifo_polls += 1
                    if local and lifo_polls > MAX_LIFO_POLLS:  # let the queue behind it run
                        append(task)
                        lifo_polls = 0
                        continue
                else:
                    lifo_polls = 0
                    try:
                        task = popleft()
                    except IndexError:
                        break
                budget -= 1
                if idle and local:
                    # Work is queued behind this step and a worker is idle: wake it to steal,
                    # in case this step runs long (Tokio's "notify others before polling").
                    notify_parked(self)
                task._state = RUNNING
                if task._home is not w:
                    task._ctx.run(STATE.set, w)
                    task._home = w
                w._current = task
                exc = task._throw
                try:
                    if exc is None:
                        if task._cancelled and task._is_unstarted():
                            exc = Cancelled("the task was aborted before it started")
                            trap = task._ctx.run(task._coro.throw, exc)  # type: ignore[union-attr]
                        else:
                            trap = task._ctx.run(task._coro.send, None)  # type: ignore[union-attr]
                    else:
                        task._throw = None
                        trap = task._ctx.run(task._coro.throw, exc)  # type: ignore[union-attr]
                except StopIteration as stop:
                    w._current = None
                    if w.deferred is not None:
                        self._flush_deferred(w)
                    # The common completion (a value), inlined: _finish without two calls.
                    tasks_discard(task)
                    task._result = stop.value
                    task._exc = None
                    task._coro = None
                    task._ctx = None  # type: ignore[assignment]
                    with waiters_lock:
                        task._done = True
                        joiner = task._joiner
                        waiters = task._waiters
                        task._joiner = task._waiters = None
                    task._state = DONE
                    if joiner is not None or waiters is not None:
                        self._wake_joiners(task, joiner, waiters, w)
                    if self._closed:
                        self._notify_closed()
                    continue
                except BaseException as err:
                    w._current = None
                    if w.deferred is not None:
                        self._flush_deferred(w)
                    self._finish(task, None, err, w)
                    # Let go of the task now, so that an unread failure is reported at once
                    # if nobody else holds it (see JoinHandle.__del__).
                    del task
                    continue
                w._current = None
                if trap is park_trap:
                    # acquire/release rather than ``with``: half the cost, and nothing in
                    # between can raise (worker threads get no signals). The wake-up this
                    # step deferred (see ``wake``) is applied under the same lock, first, so
                    # a task that woke itself is NOTIFIED before its own transition.
                    woken = w.deferred
                    acquire()
                    if woken is not None:
                        w.deferred = None
                        state = woken._state
                        if state == IDLE:
                            woken._state = SCHEDULED
                        else:
                            if state == RUNNING:
                                woken._state = NOTIFIED
                            woken = None
                    if task._state == NOTIFIED:  # woken during its own step
                        task._state = SCHEDULED
                        action = 1
                    elif task._cancelled and task._abort_fn is not None:
                        action = 2  # stays RUNNING (claimed) while we abort its wait
                    else:
                        task._state = IDLE
                        action = 0
                    release()
                    if woken is not None:  # into the LIFO slot, as _wake_from_step does
                        prev = w.lifo
                        w.lifo = woken
                        if prev is not None:
                            append(prev)
                            if idle:
                                notify_parked(self)
                    if action == 1:
                        append(task)
                    elif action == 2:
                        self._cancel_claimed(task)
                    continue
                if trap is not yield_trap:
                    task._throw = bad_yield_error(task, trap)
                elif task._cancelled:
                    task._throw = Cancelled()
                if w.deferred is not None:
                    self._flush_deferred(w)
                # No lock: a task that yields registered no waiter in this step, so no waker
                # targets it (a wake-up that raced in anyway is absorbed: it runs again).
                task._state = SCHEDULED
                append(task)
            ran = batch_size - budget
            w.polls += ran
            since_event += ran
            if since_event >= event_interval:
                since_event = 0
                self._maintenance()
            if budget and not local and w.lifo is None:
                # The local queue ran dry: search, then park if there is nothing anywhere.
                task = search(self, w)
                if task is None:
                    since_event = 0
                    park(self, w)
                    continue
                if w.searching:
                    stop_searching(self, w)
                append(task)
            elif inject or inbox:
                # Fairness: injected tasks get a turn between two batches of local work.
                task = self._pop_global(w)
                if task is not None:
                    local.appendleft(task)

    def _finish(
        self, task: Task[Any], result: object, exc: BaseException | None, w: Worker | None = None
    ) -> None:
        """Record ``task``'s outcome and wake whoever waits for it.

        ``w`` is the worker whose thread this is, when it is one: the joiner (a task awaiting
        the handle) then goes straight to the back of ``w``'s local queue, what ``wake`` would
        do after two ``STATE`` lookups (at the back, as on the current-thread flavor: a task
        joining many handles in turn finds the next ones done instead of parking on each).
        """
        joiner, waiters = settle(self, task, result, exc)
        task._state = DONE
        self._wake_joiners(task, joiner, waiters, w)
        if exc is not None and not isinstance(exc, Cancelled):
            task_failed(self, task, exc)
        if self._closed:
            self._notify_closed()

    def _closable(self, task: Task[Any]) -> bool:
        return task._state != RUNNING

    def _finish_leftover(self, task: Task[Any]) -> None:
        self._finish(task, None, Cancelled("the runtime shut down"))

    def _notify_closed(self) -> None:
        """A task finished while shutdown waits for the last ones: let it look again."""
        with self._core:
            self._core.notify_all()

    def _wake_joiners(
        self,
        task: Task[Any],
        joiner: Task[Any] | None,
        waiters: list[Task[Any] | Callable[[Task[Any]], None]] | None,
        w: Worker | None,
    ) -> None:
        """The second half of ``_finish``: wake what waited for ``task`` (now done)."""
        if joiner is not None:
            if w is not None and joiner._sched is self:
                self._wake_from_step(w, joiner, lifo=False)
            else:
                joiner._sched.wake(joiner)
        if waiters is not None:
            run_waiters(task, waiters)

    def _on_fatal(self) -> None:
        with self._core:
            events = list(self._block_on_events)
        for ev in events:
            ev.set()

    # -- block_on / shutdown -----------------------------------------------------------------

    def block_on(self, coro: object) -> Any:
        st = STATE.get(None)
        if (st is not None and st._current is not None) or self.on_runtime_thread():
            if isinstance(coro, _CoroType):
                coro.close()
            raise RuntimeError(
                "block_on() cannot be called from inside a running task: it would block a "
                "worker thread of the runtime. Use `await` (or rt.spawn) instead"
            )
        if self._closed:
            if isinstance(coro, _CoroType):
                coro.close()
            raise RuntimeError("block_on(): the runtime is shut down")
        task = self.new_task(coro, None, "block_on()")
        task._supervised = True
        # On the main thread, wait on a socket pair that is also the signal wakeup fd: a Ctrl-C
        # landing just before this thread blocks must still wake it (see SignalWakeup).
        signals = SignalWakeup.install()
        done: threading.Event | SignalWakeup = threading.Event() if signals is None else signals
        task._add_waiter(lambda _t: done.set())
        with self._core:
            self._block_on_events.add(done)
        restore = self._install_sigint(task)
        try:
            with self._lock:
                closed: bool = self._closed  # shutdown may have started meanwhile
                if not closed:
                    self._tasks.add(task)
                    self._spawned_outside += 1
            if closed:
                raise refuse_new_task(task, "block_on()")
            self._push(task, False)
            while not task._done:
                done.wait()
                if self._fatal is not None:
                    self._raise_fatal()
        finally:
            if restore is not None:
                import signal

                signal.signal(signal.SIGINT, restore)
            with self._core:
                self._block_on_events.discard(done)
            if signals is not None:
                signals.uninstall()
        if task._exc is not None and isinstance(task._exc, Cancelled) and self._sigint_main is task:
            self._sigint_main = None
            raise KeyboardInterrupt
        return self._block_on_outcome(task)

    def shutdown(self, timeout: float | None) -> None:
        self._refuse_shutdown_from_inside()
        with self._lock:
            if self._closed:
                return
            self._closed = True
        deadline = None if timeout is None else time.monotonic() + timeout
        # Cancel every task (tasks spawned meanwhile by finishing tasks included) and wait for
        # all of them, or the timeout.
        core = self._core
        with core:
            while True:
                pending = [t for t in list(self._tasks) if not t._done]
                if not pending:
                    break
                for t in pending:
                    if not t._abort_requested:
                        self.abort_task(t)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                core.wait(remaining)
        with self._lock:
            self._stopping = True
        for w in self._workers:
            unpark_worker(self, w)
        for w in self._workers:
            # An idle worker exits at once; even shutdown(0) gives each a moment to do so.
            remaining = None if deadline is None else max(0.5, deadline - time.monotonic())
            assert w.thread is not None
            w.thread.join(remaining)
            if w.thread.is_alive():
                logger.warning("rt: worker thread %s is still running a task step", w.name)
        self._release_resources(deadline)
        self._inject.clear()
        for w in self._workers:
            w.local.clear()
            w.inbox.clear()
            w.lifo = None
        self._callbacks.clear()

    # -- observing ---------------------------------------------------------------------------

    def metrics(self) -> RuntimeMetrics:
        from ._metrics import RuntimeMetrics, WorkerMetrics

        threads, idle, queued = self._blocking.stats()
        now = time.perf_counter()
        per_worker = []
        for w in self._workers:
            start = w.started
            if start is None:
                busy = 0.0
            else:
                end = w.stopped if w.stopped is not None else now
                busy = max(0.0, end - start - w.parked_time)
            per_worker.append(
                WorkerMetrics(
                    index=w.index,
                    thread_name=w.name,
                    polls=w.polls,
                    steals=w.steals,
                    park_count=w.park_count,
                    local_queue_depth=len(w.local) + (w.lifo is not None),
                    busy_time=busy,
                )
            )
        return RuntimeMetrics(
            flavor=self.flavor,
            workers=len(self._workers),
            alive_tasks=len(self._tasks),
            spawned_tasks=self._spawned_outside + sum(w.spawned for w in self._workers),
            polls=sum(m.polls for m in per_worker),
            local_queue_depth=sum(m.local_queue_depth for m in per_worker),
            injection_queue_depth=len(self._inject) + len(self._callbacks),
            park_count=sum(m.park_count for m in per_worker),
            busy_time=sum(m.busy_time for m in per_worker),
            blocking_threads=threads,
            idle_blocking_threads=idle,
            blocking_queue_depth=queued,
            io_registered_fds=self._io.registered_fds() if self._io is not None else 0,
            worker_metrics=tuple(per_worker),
        )
