"""Barrier: wait until ``n`` parties have arrived (Tokio's ``Barrier``)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, SupportsIndex, final

from ._plain import WaitQueue
from ._waitqueue import Waiter, park

if TYPE_CHECKING:
    from ._stats import BarrierStatistics

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.


@final
class BarrierWaitResult:
    """What :meth:`Barrier.wait` returns; exactly one party per generation is the leader."""

    __slots__ = ("_leader",)

    def __init__(self, leader: bool) -> None:
        self._leader = leader

    def is_leader(self) -> bool:
        """Return whether this party was the leader (the last to arrive)."""
        return self._leader

    def __repr__(self) -> str:
        return f"<rt.sync.BarrierWaitResult leader={self._leader}>"


@final
class Barrier:
    """Make ``n`` tasks wait for each other; then the barrier resets for the next round.

    Args:
        n: Parties per round (``>= 1``).

    Raises:
        ValueError: ``n < 1``.
    """

    __slots__ = ("_generation", "_lock", "_n", "_waiters")

    # ``n`` is typed ``SupportsIndex`` (a protocol, which mypyc does not check at the call) so that
    # the check below sees what the caller passed: compiled by mypyc, an ``int`` parameter turns
    # ``True`` into 1 and refuses a float with its own TypeError before this code runs.
    def __init__(self, n: SupportsIndex) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"Barrier needs an int >= 1 of parties, got {n!r}")
        self._n = n
        self._lock = threading.RLock()
        self._waiters = WaitQueue()
        self._generation = 0

    async def wait(self) -> BarrierWaitResult:
        """Wait until ``n`` parties are waiting; the last to arrive is the leader.

        Cancel safety: cancel-safe. A party cancelled while waiting is no longer counted.
        """
        self._lock.acquire()
        try:
            if len(self._waiters) + 1 >= self._n:
                released = self._waiters.drain()
                self._generation += 1
                w = None
            else:
                # No look again after queueing (see _waitqueue): only another task's wait()
                # releases a barrier, never a finalizer or signal handler run on this thread.
                w = Waiter.for_task()
                self._waiters.push(w)
        finally:
            self._lock.release()
        if w is None:
            for other in released:
                other.wake()
            return BarrierWaitResult(True)
        await park(self._lock, self._waiters, w)
        return BarrierWaitResult(False)

    def statistics(self) -> BarrierStatistics:
        """Return a :class:`BarrierStatistics` snapshot."""
        from ._stats import BarrierStatistics

        with self._lock:
            return BarrierStatistics(self._n, len(self._waiters), self._generation)
