"""Notify: wake one waiting task, or all of them (Tokio's ``Notify``)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, final

from ._plain import WaitQueue
from ._waitqueue import Waiter, park

if TYPE_CHECKING:
    from ._stats import NotifyStatistics

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.


@final
class Notify:
    """A way for one side to wake the other, without data.

    :meth:`notify_one` wakes the longest waiter, or, when nobody waits, stores a single permit
    that the next :meth:`notified` consumes at once (so a notification sent just before the
    other side starts waiting is not lost). :meth:`notify_waiters` wakes everybody waiting now
    and stores nothing. Safe from any thread.
    """

    __slots__ = ("_lock", "_permit", "_round", "_waiters")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._permit = False
        self._waiters = WaitQueue()
        # Counts notify_waiters() calls: a wait that started before one and was not yet queued
        # when it ran (a finalizer or signal handler on the waiting thread) sees it changed.
        self._round = 0

    async def notified(self) -> None:
        """Wait for a notification (or consume the stored permit).

        Cancel safety: cancel-safe. A notification that reached this waiter just before its
        cancellation is handed to the next waiter (or stored), never lost.
        """
        self._lock.acquire()
        try:
            if self._permit:
                self._permit = False
                return
            seen = self._round
            w = Waiter.for_task()
            self._waiters.push(w)
            # Look again (see _waitqueue): a notification sent while w was being queued.
            if (self._permit or self._round != seen) and self._waiters.remove(w):
                if self._round == seen:
                    self._permit = False
                return
        finally:
            self._lock.release()
        try:
            await park(self._lock, self._waiters, w)
        except BaseException:
            if w.woken and w.value == "one":
                self.notify_one()
            raise

    def notify_one(self) -> None:
        """Wake the longest waiter, or store one permit if nobody waits."""
        self._lock.acquire()
        try:
            w = self._waiters.pop_first()
            if w is None:
                self._permit = True
                return
            w.value = "one"
        finally:
            self._lock.release()
        w.wake()

    def notify_waiters(self) -> None:
        """Wake every current waiter; store no permit."""
        self._lock.acquire()
        try:
            self._round += 1
            waiters = self._waiters.drain()
        finally:
            self._lock.release()
        for w in waiters:
            w.value = "all"
            w.wake()

    def statistics(self) -> NotifyStatistics:
        """Return a :class:`NotifyStatistics` snapshot."""
        from ._stats import NotifyStatistics

        with self._lock:
            return NotifyStatistics(len(self._waiters), self._permit)
