"""Event: a flag that tasks and threads can wait for."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, final

from rt.lowlevel import checkpoint

from ._errors import blocking_guard
from ._plain import WaitQueue
from ._waitqueue import Waiter, park

if TYPE_CHECKING:
    from ._stats import EventStatistics

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.


@final
class Event:
    """A one-way flag: once :meth:`set`, every current and future :meth:`wait` returns.

    Why not a condition variable: an event cannot miss a wake-up, because the state is the
    flag itself, not a signal sent at one moment. Safe from any thread.
    """

    __slots__ = ("_flag", "_lock", "_waiters")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._flag = False
        self._waiters = WaitQueue()

    def is_set(self) -> bool:
        """Return whether :meth:`set` has been called."""
        return self._flag

    def set(self) -> None:
        """Set the flag and wake every waiter (idempotent)."""
        with self._lock:
            self._flag = True
            waiters = self._waiters.drain()
        for w in waiters:
            w.wake()

    async def wait(self) -> None:
        """Wait until the flag is set; a checkpoint even if it already is.

        Cancel safety: cancel-safe; waiting consumes nothing.
        """
        self._lock.acquire()
        try:
            if self._flag:
                w = None
            else:
                w = Waiter.for_task()
                self._waiters.push(w)
                if self.is_set() and self._waiters.remove(w):  # look again (see _waitqueue)
                    w = None
        finally:
            self._lock.release()
        if w is None:
            await checkpoint()
        else:
            await park(self._lock, self._waiters, w)

    def blocking_wait(self) -> None:
        """Block the calling plain thread until the flag is set.

        Raises:
            RuntimeError: called from a task.
        """
        blocking_guard("Event.blocking_wait()")
        with self._lock:
            if self._flag:
                return
            w = Waiter.for_thread()
            self._waiters.push(w)
            if self.is_set() and self._waiters.remove(w):  # look again (see _waitqueue)
                return
        w.block()

    def statistics(self) -> EventStatistics:
        """Return an :class:`EventStatistics` snapshot."""
        from ._stats import EventStatistics

        with self._lock:
            return EventStatistics(self._flag, len(self._waiters))
