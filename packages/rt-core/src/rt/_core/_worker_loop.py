"""The multi-thread flavor's worker loop: what each worker thread runs.

:func:`run_worker` steps tasks in batches from the worker's LIFO slot and local queue, looks at
the injection queue and its inbox between batches, polls the driver stack every
``event_interval`` steps (:func:`maintenance`), and searches or parks (``_idle``) when it runs
dry. Per step it does only what a step needs (measure before adding to it): the run-state
store, ``Context.run``, and, after a ``PARK``, the state transition under the lock that wakers
also take (``_state``: *end step, parked*, inlined). A task that comes from another worker is
adopted as it arrives (``_idle.adopt``), not checked for at every step. The scheduler's
queues and entry points are in ``_multi``; a task's life around the step in ``_harness``.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Final

from ._blocking import block_async_signals
from ._current import STATE
from ._exceptions import Cancelled
from ._harness import _CoroType, bad_yield_error, logger, run_waiters
from ._idle import (
    Worker,
    adopt,
    notify_parked,
    park,
    pop_global,
    run_callbacks,
    search,
    stop_searching,
)
from ._state import DONE, IDLE, NOTIFIED, RUNNING, SCHEDULED
from ._task import _WAITERS_LOCK
from ._traps import PARK, YIELD

if TYPE_CHECKING:
    from ._multi import MultiThreadScheduler
    from ._task import JoinHandle as Task

_get_ident: Final = threading.get_ident

#: Tasks run from the LIFO slot in a row before the local queue gets a turn (Tokio uses 3).
MAX_LIFO_POLLS: Final = 3


def worker_main(sched: MultiThreadScheduler, w: Worker, started: threading.Semaphore) -> None:
    block_async_signals()
    w.ident = _get_ident()
    STATE.set(w)
    started.release()
    if sched._on_thread_start is not None:
        try:
            sched._on_thread_start()
        except Exception:
            logger.exception("rt: on_thread_start raised in %s", w.name)
    w.started = time.perf_counter()
    try:
        run_worker(sched, w)
    except BaseException:  # pragma: no cover - a bug in rt itself
        logger.exception("rt: worker %s stopped on an internal error", w.name)
    finally:
        w.stopped = time.perf_counter()
        if sched._on_thread_stop is not None:
            try:
                sched._on_thread_stop()
            except Exception:
                logger.exception("rt: on_thread_stop raised in %s", w.name)


def run_worker(sched: MultiThreadScheduler, w: Worker) -> None:
    """The worker loop: batches of steps from the LIFO slot and the local queue, then a
    look at the injection queue and inbox; drivers every ``event_interval`` steps.

    Per step it does only what a step needs (measure before adding to it): the run-state
    store, ``Context.run``, and, after a ``PARK``, the state transition under the lock
    that wakers also take.
    """
    local = w.local
    popleft = local.popleft
    append = local.append
    acquire = sched._lock.acquire
    release = sched._lock.release
    inject = sched._inject
    inbox = w.inbox
    idle = sched._idle
    batch_size = sched._global_interval
    event_interval = sched._event_interval
    yield_trap = YIELD
    park_trap = PARK
    coro_type = _CoroType
    coro_send = _CoroType.send
    tasks_discard = sched._tasks.discard
    waiters_acquire = _WAITERS_LOCK.acquire
    waiters_release = _WAITERS_LOCK.release
    since_event = 0
    # The run states and the LIFO limit as locals: the loop reads them on every step.
    st_idle, st_scheduled, st_running, st_notified = IDLE, SCHEDULED, RUNNING, NOTIFIED
    max_lifo_polls = MAX_LIFO_POLLS
    while not sched._stopping:
        if local or w.lifo is not None:
            w.parked = False  # about to take a task out of our own queue
            if w.searching:
                stop_searching(sched, w)  # woken with work at hand (the driver queued it)
        # -- one batch: at most ``batch_size`` steps from the LIFO slot and the local queue
        budget = batch_size
        lifo_polls = 0
        while budget:
            task = w.lifo
            if task is not None:
                w.lifo = None
                lifo_polls += 1
                if lifo_polls > max_lifo_polls:
                    lifo_polls = 0
                    if local:  # let the queue behind it run
                        append(task)
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
                notify_parked(sched)
            task._state = st_running  # a task in our queues is ours: adopted as it came
            w._current = task
            task._abort_fn = None  # it runs: whatever it waited on is over
            exc = task._throw
            try:
                if exc is None:
                    if task._cancelled and task._is_unstarted():
                        exc = Cancelled("the task was aborted before it started")
                        trap = task._ctx.run(task._coro.throw, exc)  # type: ignore[union-attr]
                    else:
                        coro = task._coro
                        if type(coro) is coro_type:
                            # The unbound ``send``: no bound method allocated per step.
                            trap = task._ctx.run(coro_send, coro, None)
                        else:
                            trap = task._ctx.run(coro.send, None)  # type: ignore[union-attr]
                else:
                    task._throw = None
                    trap = task._ctx.run(task._coro.throw, exc)  # type: ignore[union-attr]
            except StopIteration as stop:
                w._current = None
                if w.deferred is not None:
                    sched._flush_deferred(w)
                # The common completion (a value), inlined: _finish without two calls.
                # <generated: settle_value>
                tasks_discard(task)
                task._result = stop.value
                task._exc = None
                task._coro = None
                task._ctx = None  # type: ignore[assignment]
                task._done = True
                joiner = task._joiner
                waiters = task._waiters
                if joiner is not None or waiters is not None:
                    try:
                        waiters_acquire()
                        joiner = task._joiner
                        waiters = task._waiters
                        task._joiner = task._waiters = None
                    finally:
                        waiters_release()
                # </generated: settle_value>
                task._state = DONE
                if joiner is not None:
                    if joiner._sched is sched and joiner._pinned is None:
                        # *schedule* the joiner (``_wake_from_step(w, joiner, lifo=False)``,
                        # inlined): to the back of the local queue, as on the current-thread
                        # flavor.
                        acquire()
                        state = joiner._state
                        if state == st_idle:
                            joiner._state = st_scheduled
                            release()
                            if joiner._home is not w:
                                adopt(w, joiner)
                            append(joiner)
                            if idle:
                                notify_parked(sched)
                        else:
                            if state == st_running:
                                joiner._state = st_notified  # its worker requeues it
                            release()
                    else:
                        sched._wake_joiner(w, joiner)
                if waiters is not None:
                    run_waiters(task, waiters)
                if sched._closed:
                    sched._notify_closed()
                continue
            except BaseException as err:
                w._current = None
                if w.deferred is not None:
                    sched._flush_deferred(w)
                sched._finish(task, None, err, w)
                # Let go of the task now, so that an unread failure is reported at once
                # if nobody else holds it (see _harness.UnreadFailure).
                del task
                continue
            # ``w._current`` stays set until the next step or the end of the batch (one store
            # per step less, as on the current-thread flavor). ``wake`` defers a wake-up made
            # on this thread while it is set: the cold paths below clear it before anything
            # that may wake a task, and one deferred between two steps anyway (a finalizer)
            # is applied at the end of the next step or of the batch.
            if trap is park_trap:
                # *end step, parked*, with *schedule* for the wake-up this step deferred (see
                # ``wake``), under one lock round trip. acquire/release rather than ``with``:
                # half the cost, and nothing in between can raise (worker threads get no
                # signals). The two common cases are inlined: the task was neither woken
                # during its step nor cancelled, and it deferred no wake-up or one of a
                # parked task (a ping-pong). Anything else goes to ``end_park``.
                woken = w.deferred
                acquire()
                if task._state == st_running and not task._cancelled:
                    if woken is None:
                        task._state = st_idle
                        release()
                        continue
                    if woken._state == st_idle:
                        woken._state = st_scheduled
                        task._state = st_idle
                        # Taken before the release: a finalizer run there (the collector runs
                        # at the call's end from 3.12 on) may defer a wake-up of its own.
                        w.deferred = None
                        release()
                        if woken._home is not w:
                            adopt(w, woken)
                        # into the LIFO slot, as _wake_from_step does
                        prev = w.lifo
                        w.lifo = woken
                        if prev is not None:
                            append(prev)
                            if idle:
                                notify_parked(sched)
                        continue
                release()
                w._current = None
                end_park(sched, w, task)
                continue
            if trap is not yield_trap:
                task._throw = bad_yield_error(task, trap)
            elif task._cancelled:
                task._throw = Cancelled()
            if w.deferred is not None:
                w._current = None
                sched._flush_deferred(w)
            # No lock: a task that yields registered no waiter in this step, so no waker
            # targets it (a wake-up that raced in anyway is absorbed: it runs again).
            task._state = st_scheduled
            append(task)
        w._current = None
        if w.deferred is not None:
            # A wake-up made between two steps while ``_current`` was still set (a finalizer
            # run by the collector, say) was deferred: apply it before going on.
            sched._flush_deferred(w)
        ran = batch_size - budget
        w.polls += ran
        since_event += ran
        if since_event >= event_interval:
            since_event = 0
            maintenance(sched)
        if budget and not local and w.lifo is None:
            # The local queue ran dry: search, then park if there is nothing anywhere.
            task = search(sched, w)
            if task is None:
                since_event = 0
                park(sched, w)
                continue
            if w.searching:
                stop_searching(sched, w)
            append(task)
        elif inject or inbox:
            # Fairness: injected tasks get a turn between two batches of local work.
            task = pop_global(sched, w)
            if task is not None:
                local.appendleft(task)


def end_park(sched: MultiThreadScheduler, w: Worker, task: Task[Any]) -> None:
    """*end step, parked* for ``task``, which ``w`` just stepped, in the cases the loop does
    not inline: woken or cancelled during its step, or its step deferred a wake-up of a task
    that is not parked.

    The wake-up the step deferred (see ``MultiThreadScheduler.wake``) is applied first, under
    the same lock, so a task that woke itself is NOTIFIED before its own transition.
    """
    woken = w.deferred
    w.deferred = None
    with sched._lock:
        if woken is not None:
            state = woken._state
            if state == IDLE:
                woken._state = SCHEDULED
            else:
                if state == RUNNING:
                    woken._state = NOTIFIED
                woken = None
        state = task._state
        if state == RUNNING and not task._cancelled:
            task._state = IDLE
            requeue = False
        elif state == NOTIFIED:  # woken during its own step
            task._state = SCHEDULED
            requeue = True
        elif task._abort_fn is not None:  # cancelled, with a wait to withdraw
            requeue = True  # stays RUNNING (claimed) while we abort its wait
        else:
            task._state = IDLE
            requeue = False
    local = w.local
    if woken is not None:  # into the LIFO slot, as _wake_from_step does
        if woken._home is not w:
            adopt(w, woken)
        prev = w.lifo
        w.lifo = woken
        if prev is not None:
            local.append(prev)
            if sched._idle:
                notify_parked(sched)
    if requeue:
        if task._state == SCHEDULED:
            local.append(task)
        else:
            sched._cancel_claimed(task)


def maintenance(sched: MultiThreadScheduler) -> None:
    """Every ``event_interval`` steps: poll the drivers (if free) and run callbacks."""
    if sched._driver_lock.acquire(blocking=False):
        try:
            sched._driver.park(0)
        finally:
            sched._driver_lock.release()
    if sched._callbacks:
        run_callbacks(sched)
