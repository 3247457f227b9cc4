"""The current-thread scheduler: every task runs on the thread that calls ``block_on``.

Only its queues and its loop live here; a task's life around a step is ``_harness``, the
interface and the shared state and shutdown contract are ``_base``.

The step loop is the product; keep it lean (measure before adding anything to it):

* The run queue is a ``deque`` of tasks. One step is ``ctx.run(CoroutineType.send, coro,
  None)`` (the unbound method: no bound method allocated per step; ``coro.send`` for a task
  whose coroutine is some other type, or ``throw``) and a look at what the coroutine yielded:
  ``YIELD`` requeues it, ``PARK`` leaves it with whoever will wake it (see ``_traps``).
* A runtime whose steps are observed (task hooks, the console) runs ``_run_until_diagnosed``
  instead, a copy of the loop with the hooks and the step's timing around the raw coroutine's
  step; ``tools/gen_hot_paths.py`` writes both from one template, and the choice is made once
  per ``_run_until``, so the plain loop has no test for it.
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

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from contextvars import copy_context
from functools import partial
from typing import TYPE_CHECKING, Any

from ._base import Scheduler, StopDriving
from ._current import current_task_or_raise
from ._driver import DriverLayer
from ._exceptions import Cancelled
from ._harness import (
    _CoroType,
    _noop,
    _task_ids,
    _wait_any,
    bad_yield_error,
    cancel_wait,
    coerce_coroutine,
    finish,
    logger,
    new_task,
    refuse_new_task,
    run_waiters,
)
from ._reactor import IoDriver
from ._task import _KEY, _WAITERS_LOCK, COMPILED, new_object
from ._task import JoinHandle as Task
from ._traps import PARK, YIELD
from ._wakeup import SignalWakeup

if TYPE_CHECKING:
    from ._diagnostics import Diagnostics, TaskRecord
    from ._metrics import RuntimeMetrics


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
        self._ready: deque[Task[Any]] = deque()
        self._inject: deque[Callable[[], object]] = deque()
        self._parked = False
        self._init_common(
            max_blocking_threads=max_blocking_threads,
            thread_name=thread_name,
            thread_keep_alive=thread_keep_alive,
            unhandled_error=unhandled_error,
            on_drained=self._blocking_drained,
        )
        self._event_interval = event_interval
        self._thread_id: int | None = None
        # Re-entrant: a finalizer run by the collector inside block_on's or shutdown's locked
        # lines (block_on allocates there) may spawn on this runtime from that same thread (a
        # handle it kept), which takes it again to post the task. A plain lock deadlocked.
        self._core = threading.Condition(threading.RLock())
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
        # Only the thread driving the runtime touches the reactor (closes from other threads go
        # through _run_exclusive), so it needs no lock and its wake-ups go straight onto the
        # run queue.
        self._bottom = self._build_driver_stack(
            IoDriver(self._ready.append, run_exclusive=self._run_exclusive) if enable_io else None,
            layers,
        )

    def _on_fatal(self) -> None:
        # The run loop checks ``_fatal`` after every batch and before every park. A failure
        # reported on another thread (the last reference to a task dropped there) posts a
        # no-op, which ends a park in progress.
        if not self.on_runtime_thread():
            self.post(_noop)

    # -- DriverContext -----------------------------------------------------------------

    def has_runnable_tasks(self) -> bool:
        return bool(self._ready) or bool(self._inject)

    # -- thread-safe entry points -------------------------------------------------------

    def wake(self, task: Task[Any]) -> None:
        self._ready.append(task)
        if self._parked:
            self._end_park()

    def post(self, callback: Callable[[], object]) -> None:
        self._inject.append(callback)
        if self._parked:
            self._end_park()

    def _end_park(self) -> None:
        """Something was queued while the runtime thread parks: end the park if it must.

        Drivers dispatch (fds become ready, timers fire) on the runtime thread while it is
        still flagged as parked, once the wait is over (``_pre_block`` clear): that needs
        nothing. Another thread must unpark; this one, before the wait begins (a finalizer run
        by the collector after the loop's last look at its queues, a driver layer's code),
        marks the bottom driver, whose wait then polls instead of blocking.
        """
        if self._thread_id != threading.get_ident():
            self._driver.unpark()
            return
        self._bottom.unpark_local()

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
        return new_task(self, obj, name, what, self)

    def spawn_here(self, obj: object, name: str | None) -> Task[Any]:
        """Spawn from a task running on this scheduler (so on its thread): the hot path."""
        sched = self
        coro: Coroutine[Any, Any, Any]
        task: Task[Any]
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
        self._spawned += 1
        self._ready.append(task)
        return task

    def spawn(
        self, coro: object, name: str | None, what: str = "rt.spawn()", pinned: Any = None
    ) -> Task[Any]:
        return self._spawn(coro, name, what, pinned, False)

    def _spawn(
        self, coro: object, name: str | None, what: str, pinned: Any, blocking: bool
    ) -> Task[Any]:
        task = self.new_task(coro, name, what)
        task._pinned = pinned
        if self.on_runtime_thread():
            # A task (or shutdown itself) spawning: accepted, cancelled from the start once
            # shutdown has begun (``_adopt``), unless it awaits a blocking job.
            self._adopt(task, blocking)
            return task
        # Another thread: accepted only before shutdown begins. The check and the post are
        # one step under ``_core``, which shutdown takes to begin, so every accepted task is
        # in ``_inject`` when shutdown drains it.
        with self._core:
            if not self._closed:
                self.post(partial(self._adopt, task))
                return task
        raise refuse_new_task(task, what)

    def _adopt(self, task: Task[Any], blocking: bool = False) -> None:
        if self._closed and task._coro is not None and not task._abort_requested and not blocking:
            # Spawned while shutdown runs: it is cancelled before it starts.
            task._abort_requested = True
            task._cancelled = True
            task._throw = Cancelled("the runtime shut down before the task started")
        self._tasks.add(task)
        self._spawned += 1
        self._ready.append(task)
        if self._parked:  # (on the runtime thread: a spawn as it parks, see _end_park)
            self._end_park()

    def abort_task(self, task: Task[Any]) -> None:
        # From any thread, the task is marked cancelled at once (the lock of
        # ``_recompute_cancelled`` orders it with the task's own scope changes): once
        # ``abort()`` has returned, the task's next checkpoint raises, even if something
        # else wakes it first. Only withdrawing its current wait is the runtime thread's.
        if task._done or task._abort_requested:
            return
        task._abort_requested = True
        # A task not started yet has no wait to withdraw: the loop finds it cancelled and
        # unstarted at its first step and throws into it there.
        if task._recompute_cancelled():
            if self.on_runtime_thread():
                self.deliver_cancel(task)
            else:
                self.post(partial(self.deliver_cancel, task))

    def deliver_cancel(self, task: Task[Any]) -> None:
        if cancel_wait(task):
            self._ready.append(task)

    # -- running -----------------------------------------------------------------------------

    def _run_until(self, main: Task[Any], deadline: float | None = None) -> None:
        diag = self._diag
        if diag is not None and diag.observe_steps:
            # Hooks or the console observe every step: the diagnosed copy of this loop,
            # chosen once here, so this one has no test for it.
            self._run_until_diagnosed(main, deadline, diag)
            return
        # <generated: ct_run_until>
        ready = self._ready
        inject = self._inject
        popleft = ready.popleft
        append = ready.append
        interval = self._event_interval
        tasks_discard = self._tasks.discard
        waiters_acquire = _WAITERS_LOCK.acquire
        waiters_release = _WAITERS_LOCK.release
        since_poll = 0
        yield_trap = YIELD
        park_trap = PARK
        coro_type = _CoroType
        coro_send = _CoroType.send
        while not main._done:
            n = len(ready)
            if n:
                if n > interval:  # noqa: PLR1730 - min() is a call on the hot path
                    n = interval
                left = n
                while True:
                    while left:  # not ``range(n)``: a segment is often one step (chain, ping-pong)
                        left -= 1
                        task = popleft()
                        self._current = task
                        task._abort_fn = None  # it runs: whatever it waited on is over
                        exc = task._throw
                        try:
                            if exc is None:
                                if task._cancelled and task._is_unstarted():
                                    # Aborted from another thread before its first step (the
                                    # posted delivery may come later): it never runs.
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
                            # The common completion, inlined: a value, at most one joiner.
                            tasks_discard(task)
                            task._result = stop.value
                            task._exc = None
                            task._coro = None
                            task._ctx = None  # type: ignore[assignment]
                            task._done = True
                            joiner = task._joiner
                            waiters = task._waiters
                            if waiters is not None or (
                                joiner is not None and joiner._sched is not self
                            ):
                                try:
                                    waiters_acquire()
                                    joiner = task._joiner
                                    waiters = task._waiters
                                    task._joiner = task._waiters = None
                                finally:
                                    waiters_release()
                            elif joiner is not None:
                                # A joiner of this runtime needs no lock either: only this thread
                                # registers or withdraws it (a cancel from another thread is posted
                                # here), and a waiter from another thread that registers meanwhile
                                # goes to ``_waiters``, sees the task done and withdraws.
                                task._joiner = None
                            if joiner is not None:
                                if joiner._sched is self:
                                    append(joiner)
                                else:
                                    joiner._sched.wake(joiner)
                            if waiters is not None:
                                self._current = None
                                run_waiters(task, waiters)
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
                    # The segment ran out: the tasks queued while it ran (in a chain or a
                    # ping-pong, one at a time) run next, in the same batch while the budget
                    # between two driver polls lasts. Polls are counted per segment: the
                    # slow-poll detector relies on a segment running each task at most once.
                    self._polls += n
                    since_poll += n
                    if (
                        not ready
                        or since_poll >= interval
                        or main._done
                        or deadline is not None
                        or self._fatal is not None
                    ):
                        break
                    n = len(ready)
                    if n > interval:  # noqa: PLR1730 - min() is a call on the hot path
                        n = interval
                    left = n
                self._current = None
                if self._fatal is not None:
                    self._raise_fatal()
                if deadline is not None and time.monotonic() >= deadline:
                    return
                if ready:
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
            self._bottom._pre_block = True  # until the wait is over: see ``wake``
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

        # </generated: ct_run_until>

    def _run_until_diagnosed(
        self, main: Task[Any], deadline: float | None, diag: Diagnostics
    ) -> None:
        """``_run_until`` with each step observed (``tools/gen_hot_paths.py`` writes both):
        the before-poll hook, the raw coroutine's step, the step timed when the console or
        the poll-time histogram asks for it, the after-poll hook, and when the task ends the
        terminate hook, for every task but the runtime's own shutdown sentinel."""
        from ._diag import OK
        from ._diagnostics import _LAST, _clock

        # <generated: ct_run_until_diagnosed>
        ready = self._ready
        inject = self._inject
        popleft = ready.popleft
        append = ready.append
        interval = self._event_interval
        tasks_discard = self._tasks.discard
        waiters_acquire = _WAITERS_LOCK.acquire
        waiters_release = _WAITERS_LOCK.release
        since_poll = 0
        yield_trap = YIELD
        park_trap = PARK
        coro_type = _CoroType
        coro_send = _CoroType.send
        on_before = diag.on_before
        on_after = diag.on_after
        clock = _clock
        # the thread's poll-time histogram, taken at the first timed step
        hist: list[int] = []
        mark = 0.0
        # the segment's steps that bucket 0 (under 1 µs) does not count: the longer ones and the
        # unobserved; bucket 0 gets the rest when the segment ends, not a count per step
        other = 0
        rec: TaskRecord | None
        while not main._done:
            n = len(ready)
            if n:
                if n > interval:  # noqa: PLR1730 - min() is a call on the hot path
                    n = interval
                left = n
                # Whether steps are timed is read per batch and, until they are, per segment (a
                # console client may attach meanwhile). A timed step reads the clock once, where it
                # ends: its time runs from the end of the step before it in the batch (or from the
                # batch's start).
                timed = diag.timed
                if timed:
                    if not hist:
                        hist = diag.new_histogram()
                    mark = clock()
                while True:
                    while left:  # not ``range(n)``: a segment is often one step (chain, ping-pong)
                        left -= 1
                        task = popleft()
                        self._current = task
                        task._abort_fn = None  # it runs: whatever it waited on is over
                        rec = task._home  # (a diagnosed runtime's tasks: see ``Task._home``)
                        if rec is None:  # the runtime's own shutdown sentinel is not observed
                            other += 1
                        elif on_before is not None:
                            try:
                                # in the task's context, as the wrapped steps of the multi-thread
                                # flavor: a hook may call rt.dump(), rt.spawn(), Handle.current()
                                task._ctx.run(on_before, rec.meta)
                            except Exception:
                                diag.hook_failed("on_before_task_poll", rec.meta)
                            # KeyboardInterrupt...: see hook_raised
                            except BaseException as raised:
                                diag.hook_raised(task, raised, rec.meta)
                        exc = task._throw
                        try:
                            if exc is None:
                                if task._cancelled and task._is_unstarted():
                                    # Aborted from another thread before its first step (the
                                    # posted delivery may come later): it never runs.
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
                            if rec is not None:
                                if timed:
                                    now = clock()
                                    took = now - mark
                                    mark = now
                                    rec.polls += 1
                                    rec.busy += took
                                    rec.last_end = now
                                    if took >= 1e-06:  # (bucket 0 is counted per segment)
                                        other += 1
                                        if took < 4e-06:  # (buckets 1 and 2 without int())
                                            hist[1 if took < 2e-06 else 2] += 1
                                        else:
                                            bucket = int(took * 1e6).bit_length()
                                            hist[bucket if bucket < _LAST else _LAST] += 1
                                if on_after is not None:
                                    try:
                                        task._ctx.run(on_after, rec.meta)
                                    except Exception:
                                        diag.hook_failed("on_after_task_poll", rec.meta)
                                    # KeyboardInterrupt...: see hook_raised
                                    except BaseException as raised:
                                        diag.hook_raised(task, raised, rec.meta)
                                task._ctx.run(diag.terminated, rec, OK)
                                task._home = None  # it lets go of its record
                            # The common completion, inlined: a value, at most one joiner.
                            tasks_discard(task)
                            task._result = stop.value
                            task._exc = None
                            task._coro = None
                            task._ctx = None  # type: ignore[assignment]
                            task._done = True
                            joiner = task._joiner
                            waiters = task._waiters
                            if waiters is not None or (
                                joiner is not None and joiner._sched is not self
                            ):
                                try:
                                    waiters_acquire()
                                    joiner = task._joiner
                                    waiters = task._waiters
                                    task._joiner = task._waiters = None
                                finally:
                                    waiters_release()
                            elif joiner is not None:
                                # A joiner of this runtime needs no lock either: only this thread
                                # registers or withdraws it (a cancel from another thread is posted
                                # here), and a waiter from another thread that registers meanwhile
                                # goes to ``_waiters``, sees the task done and withdraws.
                                task._joiner = None
                            if joiner is not None:
                                if joiner._sched is self:
                                    append(joiner)
                                else:
                                    joiner._sched.wake(joiner)
                            if waiters is not None:
                                self._current = None
                                run_waiters(task, waiters)
                            continue
                        except BaseException as err:
                            if rec is not None:
                                if timed:
                                    now = clock()
                                    took = now - mark
                                    mark = now
                                    rec.polls += 1
                                    rec.busy += took
                                    rec.last_end = now
                                    if took >= 1e-06:  # (bucket 0 is counted per segment)
                                        other += 1
                                        if took < 4e-06:  # (buckets 1 and 2 without int())
                                            hist[1 if took < 2e-06 else 2] += 1
                                        else:
                                            bucket = int(took * 1e6).bit_length()
                                            hist[bucket if bucket < _LAST else _LAST] += 1
                                if on_after is not None:
                                    try:
                                        task._ctx.run(on_after, rec.meta)
                                    except Exception:
                                        diag.hook_failed("on_after_task_poll", rec.meta)
                                    # KeyboardInterrupt...: see hook_raised
                                    except BaseException as raised:
                                        diag.hook_raised(task, raised, rec.meta)
                            # (``finish`` runs the terminate hook, with the outcome ``err`` makes)
                            task._home = None
                            self._current = None
                            self._finish(task, None, err)
                            # Let go of the task now: if nobody else holds it, it is dropped here
                            # and an unread failure reported before this batch ends.
                            del task
                            continue
                        if rec is not None:
                            if timed:
                                now = clock()
                                took = now - mark
                                mark = now
                                rec.polls += 1
                                rec.busy += took
                                rec.last_end = now
                                if took >= 1e-06:  # (bucket 0 is counted per segment)
                                    other += 1
                                    if took < 4e-06:  # (buckets 1 and 2 without int())
                                        hist[1 if took < 2e-06 else 2] += 1
                                    else:
                                        bucket = int(took * 1e6).bit_length()
                                        hist[bucket if bucket < _LAST else _LAST] += 1
                            if on_after is not None:
                                try:
                                    task._ctx.run(on_after, rec.meta)
                                except Exception:
                                    diag.hook_failed("on_after_task_poll", rec.meta)
                                # KeyboardInterrupt...: see hook_raised
                                except BaseException as raised:
                                    diag.hook_raised(task, raised, rec.meta)
                        if trap is yield_trap:
                            if task._cancelled:
                                task._throw = Cancelled()
                            append(task)
                        elif trap is not park_trap:
                            self._bad_yield(task, trap)
                        elif task._cancelled:
                            self.deliver_cancel(task)
                    # The segment ran out: the tasks queued while it ran (in a chain or a
                    # ping-pong, one at a time) run next, in the same batch while the budget
                    # between two driver polls lasts. Polls are counted per segment: the
                    # slow-poll detector relies on a segment running each task at most once.
                    self._polls += n
                    if timed:
                        hist[0] += n - other
                    other = 0
                    since_poll += n
                    if (
                        not ready
                        or since_poll >= interval
                        or main._done
                        or deadline is not None
                        or self._fatal is not None
                    ):
                        break
                    if not timed:
                        timed = diag.timed
                        if timed:
                            hist = diag.new_histogram()
                            mark = clock()
                    n = len(ready)
                    if n > interval:  # noqa: PLR1730 - min() is a call on the hot path
                        n = interval
                    left = n
                self._current = None
                if self._fatal is not None:
                    self._raise_fatal()
                if deadline is not None and time.monotonic() >= deadline:
                    return
                if ready:
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
            self._bottom._pre_block = True  # until the wait is over: see ``wake``
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

        # </generated: ct_run_until_diagnosed>

    def park_idle(self) -> bool | None:
        """Park the drivers from the running task, as the idle turn of ``_run_until`` does
        (``rt.lowlevel.idle_parker``).

        Only when nothing else could run meanwhile (no other task runnable, no callback
        posted), the runtime is not shutting down and keeps no diagnostics (the slow-poll
        detector would count the park as the task's own time). Flagged as parked like the idle
        turn, so that wake-ups and posts from other threads end it.

        Returns:
            None when it did not park; else whether a task or a posted callback became
            runnable meanwhile (the caller must then yield to them).
        """
        if self._closed or self._diag is not None or self._fatal is not None:
            return None
        self._parked = True  # before the look, as in the idle turn: a waker then unparks
        self._bottom._pre_block = True
        ready = self._ready
        inject = self._inject
        if ready or inject:
            self._parked = False
            return None
        t0 = time.perf_counter()
        try:
            self._driver.park(None)
        finally:
            self._parked = False
            self._park_count += 1
            self._parked_time += time.perf_counter() - t0
        return bool(ready or inject) or self._fatal is not None

    def _bad_yield(self, task: Task[Any], trap: object) -> None:
        task._throw = bad_yield_error(task, trap)
        self._ready.append(task)

    def _finish(self, task: Task[Any], result: object, exc: BaseException | None) -> None:
        finish(self, task, result, exc, self._wake_joiner)

    def _wake_joiner(self, joiner: Task[Any]) -> None:
        if joiner._sched is self:
            self._ready.append(joiner)
        else:
            joiner._sched.wake(joiner)

    # -- block_on / shutdown -----------------------------------------------------------------

    def block_on(self, coro: object) -> Any:
        self._refuse_block_on_inside(coro)
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
                raise refuse_new_task(task, "block_on()")
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
            except StopDriving:
                pass  # shutdown's timeout passed: shutdown finishes the task (see below)
            finally:
                with core:
                    self._thread_id = None
                    core.notify_all()
            if not task._done:
                with core:
                    while not task._done:
                        core.wait()
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
            deadline = None if timeout is None else time.monotonic() + timeout
            driver = self._thread_id
            if driver is not None:
                # A block_on on another thread drives the runtime: it cancels every task (the
                # post ends its park), its coroutine ends, and shutdown takes over after it.
                # Once the timeout passes, that thread is told to stop driving instead.
                self.post(self._cancel_all)
            told = False
            while self._thread_id is not None:
                remaining = None if deadline is None or told else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    self.post(partial(self._stop_driving, driver))
                    told, remaining = True, None
                core.wait(remaining)
            self._thread_id = threading.get_ident()
        self._driving.acquire()
        try:
            # Adopt what other threads spawned before shutdown began (it is cancelled before
            # it starts), then cancel every task and run the loop until all have finished
            # (their cleanup runs, shields are honoured) or the timeout passes.
            inject = self._inject
            while inject:
                self._run_callback(inject.popleft())
            self._cancel_all()
            sentinel = self.new_task(self._wait_all(), "rt-shutdown", "shutdown()")
            sentinel._supervised = True
            self._tasks.add(sentinel)
            self._ready.append(sentinel)
            try:
                self._run_until(sentinel, deadline)
            except BaseException:
                logger.exception("rt: error while shutting down the runtime")
            self._tasks.discard(sentinel)
            self._release_resources(deadline)
            self._ready.clear()
            self._inject.clear()
        finally:
            self._driving.release()
            with core:
                self._thread_id = None
                core.notify_all()

    @staticmethod
    def _stop_driving(driver: int | None) -> None:
        # Posted by shutdown once its timeout passed; a no-op if shutdown runs it itself.
        if threading.get_ident() == driver:
            raise StopDriving

    def _cancel_all(self) -> None:
        # Runtime thread only: shutdown's own, or a block_on's that drives when it begins.
        for task in list(self._tasks):
            self.abort_task(task)

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
        from ._metrics import current_thread_metrics

        return current_thread_metrics(self)
