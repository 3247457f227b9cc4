"""Multi-thread workers: who they are, and how they go idle, search for work and park.

A :class:`Worker` is one worker thread of a multi-thread runtime and also the ``STATE`` of the
tasks it runs. When its local queue runs dry it *searches* (:func:`search`: its inbox, the
injection queue, posted callbacks, then half of another worker's local queue) and, finding
nothing, *parks* (:func:`park`): the first idle worker takes the driver lock and blocks in the
reactor, the others wait on their own event. A push wakes at most one parked worker, and only
if no worker is already searching (:func:`notify_parked`: no thundering herd); a searcher that
finds work and was the last one searching wakes the next (:func:`stop_searching`).

The queues are in ``_multi``, the step loop in ``_worker_loop``; the run-state transitions
in ``_state``.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Coroutine
from contextvars import copy_context
from typing import TYPE_CHECKING, Any, Final

from ._current import STATE
from ._harness import _CoroType, _task_ids, coerce_coroutine
from ._state import SCHEDULED
from ._task import _KEY, COMPILED, new_object
from ._task import JoinHandle as Task

if TYPE_CHECKING:
    from ._base import Scheduler
    from ._multi import MultiThreadScheduler

_get_ident: Final = threading.get_ident


def default_worker_threads() -> int:
    """One worker per CPU the process may run on, or ``RT_WORKER_THREADS`` when it is set
    (as ``TOKIO_WORKER_THREADS`` works for Tokio)."""
    forced = os.environ.get("RT_WORKER_THREADS")
    if forced:
        try:
            n = int(forced)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(
                f"the RT_WORKER_THREADS environment variable must be an int >= 1, got {forced!r}"
            )
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Worker:
    """One worker thread of a multi-thread runtime; also the ``STATE`` of the tasks it runs."""

    __slots__ = (
        "_current",
        "_mt",
        "_sched",
        "deferred",
        "event",
        "ident",
        "in_driver",
        "in_place",
        "inbox",
        "index",
        "lifo",
        "lifo_polls",
        "local",
        "name",
        "park_count",
        "parked",
        "parked_time",
        "polls",
        "searching",
        "spawned",
        "started",
        "steals",
        "stopped",
        "thread",
    )

    def __init__(self, sched: MultiThreadScheduler, index: int, name: str) -> None:
        self._sched: Scheduler = sched
        self._mt = sched
        self._current: Task[Any] | None = None
        self.index = index
        self.name = name
        self.local: deque[Task[Any]] = deque()
        self.lifo: Task[Any] | None = None
        # A task woken by the running step, whose wake-up is applied when the step ends,
        # under the same lock as the step's own park (see MultiThreadScheduler.wake).
        self.deferred: Task[Any] | None = None
        self.lifo_polls = 0
        self.inbox: deque[Task[Any]] = deque()
        self.event = threading.Event()
        self.in_driver = False
        # True while rt.task.block_in_place runs its function on this worker's thread.
        self.in_place = False
        # True while the worker holds no task and takes none out of a queue (it is parking,
        # parked, or between parks): paused time may then auto-advance. Read by other threads.
        self.parked = False
        self.searching = False
        self.ident = 0
        self.thread: threading.Thread | None = None
        # counters, written by this worker's thread only
        self.polls = 0
        self.steals = 0
        self.park_count = 0
        self.parked_time = 0.0
        self.spawned = 0
        self.started: float | None = None
        self.stopped: float | None = None

    def spawn_here(self, obj: object, name: str | None) -> Task[Any]:
        """``rt.spawn`` from a task running on this worker: straight onto the local queue."""
        sched = self._mt
        w = self
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

    def __repr__(self) -> str:
        return f"<rt worker {self.name}>"


def adopt(w: Worker, task: Task[Any]) -> None:
    """Make ``w`` the home of ``task``, which arrives on it from another worker.

    Called by ``w``'s thread before it makes the task visible in its queues (a thief could
    take it from there), with the task SCHEDULED: its context is entered nowhere. Every path
    that brings a task to a worker calls it (``_multi`` wake-ups and pushes, :func:`search`,
    :func:`pop_global`, the step loop's inlined wake-ups), so the loop needs no check per step.
    """
    task._ctx.run(STATE.set, w)
    task._home = w


# -- idle, searching, parking ------------------------------------------------------------


def notify_parked(sched: MultiThreadScheduler) -> None:
    """Wake one parked worker, unless one is already searching for work."""
    # A look without the lock first: the common answer (a worker is searching already, or
    # none is idle) costs no lock round trip. Reading it unlocked loses no wake-up: work is
    # queued before this is called, and a searcher that stops before taking it re-checks the
    # queues after it stops (``park``) or wakes the next one (``stop_searching``).
    if sched._searching or not sched._idle:
        return
    with sched._lock:
        idle = sched._idle
        if sched._searching or not idle:
            return
        me = _get_ident()
        for i in range(len(idle) - 1, -1, -1):
            if idle[i].ident != me:
                w = idle.pop(i)
                break
        else:
            return  # only ourselves (waking up from the driver) is listed
        w.searching = True
        sched._searching += 1
    unpark_worker(sched, w)


def unpark_worker(sched: MultiThreadScheduler, w: Worker) -> None:
    w.event.set()
    if w.in_driver:
        sched._driver.unpark()


def stop_searching(sched: MultiThreadScheduler, w: Worker) -> None:
    with sched._lock:
        w.searching = False
        sched._searching -= 1
        last = sched._searching == 0
    if last and (sched._inject or sched._callbacks):
        notify_parked(sched)


def park(sched: MultiThreadScheduler, w: Worker) -> None:
    # From here until it takes a task out of a queue (see _search and the loop top), this
    # worker counts as idle for paused time: it holds no task, and every task it could
    # pick up is still visible in some queue.
    w.parked = True
    # Cleared before we are listed as idle: nobody notifies us in between, except for a
    # pinned task's inbox, which the re-check below looks at.
    w.event.clear()
    last_searcher = False
    with sched._lock:
        if w.searching:
            w.searching = False
            sched._searching -= 1
            last_searcher = sched._searching == 0
        if sched._stopping:
            return
        sched._idle.append(w)
    # Re-check after advertising ourselves as idle: a push that saw no idle worker must
    # have queued its task where we look now. The last searcher to give up looks at the
    # other workers' queues too: a push there that found a worker searching woke nobody
    # (``notify_parked``), counting on that searcher, which may have looked before it.
    if (
        sched._inject
        or sched._callbacks
        or w.inbox
        or w.local
        or w.lifo is not None
        or sched._stopping
        or (last_searcher and any(v.local for v in sched._workers if v is not w))
    ):
        unidle(sched, w)
        return
    w.park_count += 1
    t0 = time.perf_counter()
    if sched._driver_lock.acquire(blocking=False):
        bottom = sched._bottom
        try:
            # Before in_driver: a push on this thread sets our event until then, and marks the
            # driver from then on until the wait is over, so that the wait polls instead
            # (``MultiThreadScheduler._unpark_own``).
            bottom._pre_block = True
            w.in_driver = True
            if not w.event.is_set():
                sched._driver.park(None)
        finally:
            w.in_driver = False
            bottom._pre_block = False
            sched._driver_lock.release()
    else:
        w.event.wait()
    w.parked_time += time.perf_counter() - t0
    unidle(sched, w)


def unidle(sched: MultiThreadScheduler, w: Worker) -> None:
    with sched._lock:
        # Still listed: it woke by itself (I/O, a timer), not as a searcher. Otherwise a
        # notifier took it off the list and made it a searcher.
        if w in sched._idle:
            sched._idle.remove(w)


def search(sched: MultiThreadScheduler, w: Worker) -> Task[Any] | None:
    """Find work for an idle worker: inbox, injection queue, callbacks, then steal.

    The worker stops counting as idle (``parked``) before it takes anything out of a
    queue, so a task is always either visible in a queue or held by an active worker.
    """
    workers = sched._workers
    if not (
        w.inbox or sched._inject or sched._callbacks or any(v.local for v in workers if v is not w)
    ):
        return None  # nothing anywhere: stay idle without touching a queue
    w.parked = False
    task = pop_global(sched, w)
    if task is not None:
        return task
    callbacks = sched._callbacks
    if callbacks:
        run_callbacks(sched)
        if w.local:
            return w.local.popleft()
        task = pop_global(sched, w)
        if task is not None:
            return task
    n = len(workers)
    for k in range(1, n):
        victim = workers[(w.index + k) % n]
        queue = victim.local
        size = len(queue)
        if not size:
            continue
        stolen: list[Task[Any]] = []
        for _ in range(size - size // 2):
            try:
                t = queue.popleft()
            except IndexError:
                break
            pinned = t._pinned
            if pinned is not None and pinned._worker is not w:
                sched._to_inbox(pinned._worker, t)
                continue
            if t._home is not w:
                adopt(w, t)
            stolen.append(t)
        if stolen:
            w.steals += len(stolen)
            w.local.extend(stolen[1:])
            return stolen[0]
    return None


def pop_global(sched: MultiThreadScheduler, w: Worker) -> Task[Any] | None:
    """Take a task from ``w``'s inbox or the injection queue, adopted by ``w``."""
    task = None
    if w.inbox:
        try:
            task = w.inbox.popleft()
        except IndexError:
            pass
    if task is None and sched._inject:
        try:
            task = sched._inject.popleft()
        except IndexError:
            pass
    if task is not None and task._home is not w:
        adopt(w, task)
    return task


def run_callbacks(sched: MultiThreadScheduler) -> None:
    callbacks = sched._callbacks
    while callbacks:
        try:
            cb = callbacks.popleft()
        except IndexError:
            return
        sched._run_callback(cb)
