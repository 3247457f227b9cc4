"""A task's run states and the transitions between them, with the lock each one needs.

Only the multi-thread flavor tracks run states (``Task._state``); on the current-thread flavor
one thread does everything, so a task is simply in the run queue, parked, or done. On the
multi-thread flavor several threads race to wake, step and cancel one task, and these states
make sure it is stepped by one thread at a time and queued at most once::

    IDLE       parked: in nobody's queue, waiting for a waker (its ``_abort_fn`` is set)
    SCHEDULED  in exactly one queue (a worker's local queue or LIFO slot, an inbox, the
               injection queue)
    RUNNING    being stepped by exactly one worker, or *claimed* by a thread that is calling
               its abort function
    NOTIFIED   RUNNING, and woken meanwhile: whoever holds it requeues it afterwards
    DONE       finished (``_done`` set before its waiters are taken: see ``_task._WAITERS_LOCK``)

The transitions, by name. "Lock" is the scheduler's lock (``MultiThreadScheduler._lock``):
every transition that races with a waker takes it.

* **spawn** (no lock): a new task is SCHEDULED from birth (``MultiThreadScheduler.new_task``,
  ``Worker.spawn_here``); its spawner queues it.
* **schedule** (a wake-up, :func:`schedule`; lock): IDLE → SCHEDULED, and the waker queues the
  task; RUNNING → NOTIFIED; otherwise nothing (already queued, or done).
* **begin step** (no lock): SCHEDULED → RUNNING, by the worker that took the task out of a
  queue: nobody else can hold a SCHEDULED task.
* **end step, parked** (lock): NOTIFIED → SCHEDULED (requeued at once); RUNNING → IDLE; or,
  when the task is cancelled with a wait to withdraw, it stays RUNNING: claimed for cancel.
* **end step, yielded** (no lock): → SCHEDULED; a task that yields registered no waiter in
  that step, so no waker targets it.
* **claim for cancel** (:func:`claim`; lock): IDLE → RUNNING, so no worker steps the task while
  another thread calls its abort function.
* **release** (:func:`release`; lock): after a claim whose abort failed, NOTIFIED → SCHEDULED
  (the caller requeues it) or RUNNING → IDLE (a wake-up is on its way).
* **finish** (no lock): → DONE, after ``_harness.settle``.

The step loop (``_worker_loop.run_worker``) inlines *begin step*, and *end step, parked*
together with *schedule* for the wake-up its step deferred, under one lock round trip, and
*schedule* for the joiner of a task that returned; the wake-up from a step
(``_multi.MultiThreadScheduler._wake_from_step``) inlines *schedule*.
The functions below are the same transitions for the cold paths.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ._task import JoinHandle as Task

IDLE: Final = 0
SCHEDULED: Final = 1
RUNNING: Final = 2
NOTIFIED: Final = 3
DONE: Final = 4


def schedule(lock: threading.RLock, task: Task[Any]) -> bool:
    """*schedule*: return True when the caller must now queue ``task`` (it was IDLE)."""
    with lock:
        state = task._state
        if state == IDLE:
            task._state = SCHEDULED
            return True
        if state == RUNNING:
            task._state = NOTIFIED
        return False


def claim(lock: threading.RLock, task: Task[Any]) -> bool:
    """*claim for cancel*: return True when ``task`` was parked and is now the caller's."""
    with lock:
        if task._state != IDLE:
            return False
        task._state = RUNNING
        return True


def release(lock: threading.RLock, task: Task[Any], *, requeue: bool = False) -> bool:
    """*release* a claimed task; return True when the caller must queue it.

    With ``requeue`` (its wait was withdrawn: it must run to see ``Cancelled``) it becomes
    SCHEDULED; otherwise it goes back to IDLE, unless a wake-up landed meanwhile (NOTIFIED).
    """
    with lock:
        if requeue or task._state == NOTIFIED:
            task._state = SCHEDULED
            return True
        task._state = IDLE
        return False
