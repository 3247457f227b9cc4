"""The multi-thread, work-stealing scheduler (Tokio's ``multi_thread`` flavor): its queues.

N worker threads run tasks. Each :class:`~._idle.Worker` has

* a **local run queue** (a ``deque``: the owner pushes at the back and pops at the front;
  thieves pop at the front too, so every operation is one atomic ``deque`` call);
* a **LIFO slot**: a task woken by the task running on this worker runs next, on the same
  worker (ping-pong pairs stay hot), a few times in a row at most; the slot is never stolen;
* an **inbox** for tasks pinned to it (:class:`rt.LocalSet`), pushed from other threads.

Tasks woken or spawned from outside the workers land on the shared **injection queue**. This
module holds the queues and the entry points that fill them (``wake``, ``spawn``, cancel
delivery, ``block_on``, ``shutdown``). Elsewhere: the loop each worker runs in
``_worker_loop``; going idle, searching and parking in ``_idle``; the run states (one poll at
a time; a wake-up during a step only sets NOTIFIED; a cancel *claims* a parked task) in
``_state``; a task's life around a step in ``_harness``.

**Context migration.** A task's context holds ``STATE`` = its worker (``Task._home``; the
worker's ``_current`` is the running task). A task that moves to another worker is *adopted*
(``_idle.adopt``: ``STATE`` re-set in its context) by that worker's thread as it arrives there,
before it is visible in the worker's queues: woken onto it, pushed to it, stolen by it, or taken
from the injection queue or its inbox. One ``Context.run`` per migration, nothing per step.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ._base import Scheduler
from ._current import STATE
from ._driver import DriverLayer
from ._exceptions import Cancelled
from ._harness import (
    _CoroType,
    cancel_wait,
    finish,
    logger,
    new_task,
    refuse_new_task,
)
from ._idle import (
    Worker,
    adopt,
    notify_parked,
    unpark_worker,
)
from ._reactor import IoDriver
from ._state import IDLE, NOTIFIED, RUNNING, SCHEDULED, claim, release, schedule
from ._task import JoinHandle as Task
from ._wakeup import SignalWakeup
from ._worker_loop import worker_main

if TYPE_CHECKING:
    from ._metrics import RuntimeMetrics

T = TypeVar("T")

_get_ident: Final = threading.get_ident

#: Tasks a worker may hold in its local queue, woken from its driver poll, before it wakes a
#: parked worker to share them (see ``_push``).
SPREAD_AT: Final = 8


def _wake_on_its_scheduler(task: Task[Any]) -> None:
    task._sched.wake(task)


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
        # Keep this class under 30 instance attributes: past that CPython stops sharing the
        # keys of its instances' dicts, and every method call on the scheduler (``wake``
        # from every ``reschedule``) takes the interpreter's slow, unspecialized path.
        self._lock = threading.RLock()
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
        # Each worker by its thread's ident, filled in once they have all started (``wake``).
        self._by_ident: dict[int, Worker] = {}
        self._workers = [Worker(self, i, f"{thread_name}-{i}") for i in range(worker_threads)]
        started = threading.Semaphore(0)
        for w in self._workers:
            t = threading.Thread(
                target=worker_main, args=(self, w, started), name=w.name, daemon=True
            )
            w.thread = t
            t.start()
        for _ in self._workers:
            started.acquire()
        self._by_ident = {w.ident: w for w in self._workers}

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
        return _get_ident() in self._by_ident

    def wake(self, task: Task[Any]) -> None:
        # The worker whose thread this is, if it is one of ours: found by the thread's ident
        # rather than through ``STATE`` (a context variable, plus checks that the worker in
        # the context is this runtime's and runs on this thread: more work per wake-up).
        # Most wake-ups come from the worker the task last ran on (a ping-pong pair, a
        # channel's two ends): its ``_home`` (never None: set at spawn), checked first,
        # saves the dict lookup.
        st: Worker = task._home
        if st.ident != _get_ident():
            found = self._by_ident.get(_get_ident())
            if found is None:  # not one of our workers
                if schedule(self._lock, task):
                    self._push(task, True)
                return
            st = found
        if st._current is not None and not st.in_place:
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
        if schedule(self._lock, task):
            self._push(task, True)

    def _wake_from_step(self, st: Worker, task: Task[Any], lifo: bool = True) -> None:
        """Apply a wake-up made on worker ``st``'s own thread, by a step (into the LIFO slot)
        or, with ``lifo=False``, by a completion (to the back of the local queue)."""
        # Worker threads get no signals, so a bare acquire/release (half the cost of
        # ``with``) cannot be left half done.
        lock = self._lock
        lock.acquire()
        state = task._state
        if state != IDLE:
            if state == RUNNING:
                task._state = NOTIFIED  # its worker requeues it after the step
            lock.release()
            return
        task._state = SCHEDULED
        lock.release()
        if task._pinned is None:
            if task._home is not st:
                adopt(st, task)
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
        w = self._by_ident.get(_get_ident())  # this thread's worker, if it is one of ours
        pinned = task._pinned
        home: Worker | None = pinned._worker if pinned is not None else None
        if w is not None:
            if home is not None and home is not w:
                self._to_inbox(home, task)
                return
            if w.in_place and home is None:  # inside block_in_place: see there
                self._inject.append(task)
                notify_parked(self)
                return
            if task._home is not w:
                adopt(w, task)
            if lifo and w._current is not None:
                prev = w.lifo
                w.lifo = task
                if prev is None:
                    return
                task = prev
            local = w.local
            local.append(task)
            # A wake-up from outside a step (the worker polling its drivers: readiness, timers)
            # stays with the worker that saw it: under the GIL another worker would only take
            # turns with this one, at the price of a hand-off. Parked workers are woken when
            # the queue shows the worker saturated (or by spawns and wakes from steps).
            if self._idle and (w._current is not None or len(local) > SPREAD_AT):
                notify_parked(self)
            if w.parked and w._current is None and (not w.in_driver or self._bottom._pre_block):
                # Queued on its own thread as it parks (not by the driver's dispatch, once
                # its wait is over): see _unpark_own.
                self._unpark_own(w)
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
        w = self._by_ident.get(_get_ident())
        if w is not None and w.parked and w._current is None:
            self._unpark_own(w)

    def _unpark_own(self, w: Worker) -> None:
        """Something was queued for ``w`` on its own thread while it parks, outside a step (a
        finalizer run by the collector, say): make sure its park ends, as a push from another
        thread would (its event set, or the driver marked so that its wait polls). The
        wake-ups the driver dispatches once its wait is over need nothing: the worker looks at
        its queues when the park returns."""
        if not w.in_driver:
            w.event.set()  # (it waits on its event, or is about to)
            return
        self._bottom.unpark_local()  # its wait polls instead of blocking (see IoDriver)

    def _post_from_signal(self, callback: Callable[[], object]) -> None:
        # When every worker is idle, one of them sleeps in the driver: the eventfd reaches it.
        # Busy workers run callbacks every event_interval steps.
        self._callbacks.append(callback)
        self._driver.unpark()

    def new_task(self, obj: object, name: object, what: str) -> Task[Any]:
        st = STATE.get(None)
        home = st if type(st) is Worker and st._sched is self else self._workers[0]
        task = new_task(self, obj, name, what, home)
        task._state = SCHEDULED
        task._home = home
        return task

    def spawn_here(self, coro: object, name: str | None) -> Task[Any]:
        return self._spawn(coro, name, "rt.spawn()", None, False)

    def spawn(
        self, coro: object, name: str | None, what: str = "rt.spawn()", pinned: Any = None
    ) -> Task[Any]:
        return self._spawn(coro, name, what, pinned, False)

    def _spawn(
        self, coro: object, name: str | None, what: str, pinned: Any, blocking: bool
    ) -> Task[Any]:
        task = self.new_task(coro, name, what)
        task._pinned = pinned
        inside = self.on_runtime_thread()
        with self._lock:
            # The shutdown contract (see Scheduler): once shutdown began, another thread is
            # refused; a task of this runtime gets a task cancelled before it starts (one
            # awaiting a blocking job runs).
            accepted = not self._stopping and (inside or not self._closed)
            if accepted:
                if self._closed and not blocking:
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
        # Running: its worker delivers when the step ends. Queued: it sees the cancellation
        # at its next checkpoint. Parked: claimed, so no worker steps it while we abort.
        if claim(self._lock, task):
            self._cancel_claimed(task)

    def deliver_cancel_from_any_thread(self, task: Task[Any]) -> None:
        self.deliver_cancel(task)  # it claims the task under the lock: any thread may

    def _cancel_claimed(self, task: Task[Any]) -> None:
        """Call the abort function of a parked task this thread has claimed (RUNNING).

        The cancel is delivered only if the task is still cancelled now that it is claimed
        (it cannot run, so its scope stack holds still): a scope cancelled on one worker
        while the task left it on another must not cancel the task's next wait.
        """
        withdrawn = cancel_wait(task)
        # Not withdrawn: a wake-up is in flight (or already landed as NOTIFIED) and
        # reschedules the task.
        if release(self._lock, task, requeue=withdrawn):
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
            # While ``fn`` runs this worker runs nothing else: what ``fn`` wakes or spawns goes
            # to the injection queue, for the other workers (``wake``, ``_push``, spawns).
            outer = w.in_place  # (a nested call leaves the outer one's hand-off on)
            w.in_place = True
            try:
                return fn(*args)
            finally:
                w.in_place = outer
        return fn(*args)

    # -- parking and waking workers ------------------------------------------------------

    def _unpark_driver(self) -> None:
        self._driver.unpark()

    # -- the worker loop ---------------------------------------------------------------------

    def _finish(
        self, task: Task[Any], result: object, exc: BaseException | None, w: Worker | None = None
    ) -> None:
        """Record ``task``'s outcome and wake whoever waits for it.

        ``w`` is the worker whose thread this is, when it is one: the joiner (a task awaiting
        the handle) then goes straight to the back of ``w``'s local queue, what ``wake`` would
        do after two ``STATE`` lookups (at the back, as on the current-thread flavor: a task
        joining many handles in turn finds the next ones done instead of parking on each).
        """
        if w is None:
            finish(self, task, result, exc, _wake_on_its_scheduler)
        else:
            finish(self, task, result, exc, partial(self._wake_joiner, w))
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

    def _wake_joiner(self, w: Worker, joiner: Task[Any]) -> None:
        if joiner._sched is self:
            self._wake_from_step(w, joiner, lifo=False)
        else:
            joiner._sched.wake(joiner)

    def _on_fatal(self) -> None:
        with self._core:
            events = list(self._block_on_events)
        for ev in events:
            ev.set()

    # -- block_on / shutdown -----------------------------------------------------------------

    def block_on(self, coro: object) -> Any:
        self._refuse_block_on_inside(coro)
        if self._closed:
            if isinstance(coro, _CoroType):
                coro.close()
            raise RuntimeError(
                "block_on(): the runtime is shut down (or shutting down); no new tasks"
            )
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
            if self._fatal is not None:
                # A task failed fatally (KeyboardInterrupt, SystemExit) while the main task
                # was finishing, before this thread looked: raise it all the same, as the
                # current-thread flavor does.
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
        # Cancel every task, then wait for all of them (those that finishing tasks spawn
        # meanwhile included: they start cancelled, see spawn, but one awaiting a blocking
        # job runs), or the timeout. Every task accepted before ``_closed`` is in ``_tasks``.
        core = self._core
        with core:
            for t in list(self._tasks):
                if not t._done and not t._abort_requested:
                    self.abort_task(t)
            while True:
                pending = [t for t in list(self._tasks) if not t._done]
                if not pending:
                    break
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
        from ._metrics import multi_thread_metrics

        return multi_thread_metrics(self)
