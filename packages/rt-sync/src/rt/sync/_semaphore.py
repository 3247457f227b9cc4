"""Semaphore: a fair counting semaphore with permits as objects (Tokio's ``Semaphore``).

Invariants (under ``_lock``): ``0 <= _permits <= MAX_PERMITS``; the queue is served strictly in
order and its head waits only because there are not enough permits for it. Anything that may
change that (permits added, *the head leaving the queue* because it was cancelled) runs the
hand-out loop of :meth:`Semaphore.add_permits`, so a cancelled waiter for many permits never
strands the waiters for fewer behind it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Final, SupportsIndex, final

from rt.lowlevel import budget_spent, checkpoint

from ._errors import SemaphoreClosed, blocking_guard
from ._plain import Acquisition, WaitQueue
from ._waitqueue import Waiter, park

if TYPE_CHECKING:
    from ._stats import SemaphoreStatistics

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.

_CLOSED = "the semaphore is closed"
# Tokio's ``Semaphore::MAX_PERMITS`` (``usize::MAX >> 3`` on a 64-bit machine).
_MAX_PERMITS: Final = (2**64 - 1) >> 3


@final
class SemaphorePermit:
    """``n`` permits held from a :class:`Semaphore`; released on exit or :meth:`release`.

    Unlike a Tokio permit, dropping it does not give the permits back (Python has no
    deterministic drop): a permit neither released nor used in ``with`` stays taken, as after
    :meth:`forget`.
    """

    __slots__ = ("_n", "_released", "_sem")

    def __init__(self, sem: Semaphore, n: int) -> None:
        self._sem = sem
        self._n = n
        self._released = False

    @property
    def permits(self) -> int:
        """How many permits this object holds."""
        return 0 if self._released else self._n

    def release(self) -> None:
        """Give the permits back (a no-op the second time)."""
        if not self._released:
            self._released = True
            self._sem.add_permits(self._n)

    def forget(self) -> None:
        """Drop the permits without giving them back (the semaphore shrinks)."""
        self._released = True

    def merge(self, other: SemaphorePermit) -> None:
        """Move the permits ``other`` holds into this one (``other`` then holds none).

        Args:
            other: A permit of the same semaphore.

        Raises:
            ValueError: ``other`` belongs to another semaphore, or is this permit.
            RuntimeError: this permit was already released or forgotten.
        """
        if other._sem is not self._sem:
            raise ValueError("merge() needs a permit of the same semaphore")
        if other is self:
            raise ValueError("cannot merge a permit into itself")
        if self._released:
            raise RuntimeError("this permit was already released or forgotten")
        if not other._released:
            other._released = True
            self._n += other._n
            other._n = 0

    def split(self, n: SupportsIndex) -> SemaphorePermit | None:
        """Move ``n`` of this permit's permits into a new permit object.

        Args:
            n: How many permits to split off (``>= 1``).

        Returns:
            The new permit, or ``None`` if this one holds fewer than ``n`` (nothing moves).

        Raises:
            ValueError: ``n < 1``.
        """
        n = Semaphore._check_n(n)
        if self._released or n > self._n:
            return None
        self._n -= n
        return SemaphorePermit(self._sem, n)

    def __enter__(self) -> SemaphorePermit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    async def __aenter__(self) -> SemaphorePermit:
        """Return the permit; the block releases it on exit.

        Cancel safety: cancel-safe (does not wait).
        """
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Give the permits back.

        Cancel safety: cancel-safe (does not wait).
        """
        self.release()


@final
class Semaphore:
    """A counting semaphore, fair (FIFO) and usable from any thread.

    ``async with sem.acquire():`` holds one permit for the block; ``await sem.acquire(3)``
    returns a :class:`SemaphorePermit`. A waiter for many permits is not overtaken by later
    waiters for fewer. :meth:`close` fails every current and future ``acquire`` with
    :class:`SemaphoreClosed`.

    Args:
        permits: The initial number of permits (``0..Semaphore.MAX_PERMITS``).

    Raises:
        ValueError: ``permits`` is negative or above ``MAX_PERMITS``.
    """

    __slots__ = ("_closed", "_lock", "_permits", "_waiters")

    MAX_PERMITS: Final = _MAX_PERMITS
    """The most permits a semaphore can hold (Tokio's ``usize::MAX >> 3``)."""

    # ``permits`` is typed ``SupportsIndex`` (a protocol, which mypyc does not check at the call) so
    # that the check below sees what the caller passed: compiled by mypyc, an ``int`` parameter
    # turns ``True`` into 1 and refuses a float with its own TypeError before this code runs.
    def __init__(self, permits: SupportsIndex) -> None:
        if isinstance(permits, bool) or not isinstance(permits, int) or permits < 0:
            raise ValueError(f"Semaphore needs an int >= 0 of permits, got {permits!r}")
        if permits > _MAX_PERMITS:
            raise ValueError(
                f"Semaphore holds at most Semaphore.MAX_PERMITS ({_MAX_PERMITS}) permits, "
                f"got {permits}"
            )
        self._permits = permits
        self._lock = threading.RLock()
        self._waiters = WaitQueue()
        self._closed = False

    # The counts the methods below take are typed ``SupportsIndex`` (a protocol, which mypyc does
    # not check) so that this check sees what the caller passed: compiled by mypyc, an ``int``
    # parameter turns ``True`` into 1 and refuses a float with its own TypeError before rt's check
    # runs.
    @staticmethod
    def _check_n(n: SupportsIndex) -> int:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= _MAX_PERMITS:
            raise ValueError(
                f"the number of permits must be an int from 1 to Semaphore.MAX_PERMITS, got {n!r}"
            )
        return n

    def acquire(self, n: SupportsIndex = 1) -> Acquisition[SemaphorePermit]:
        """Wait for ``n`` permits: ``await`` it for a :class:`SemaphorePermit`, or ``async with``.

        Raises:
            SemaphoreClosed: the semaphore is (or gets) closed.
            ValueError: ``n < 1``.

        Cancel safety: cancel-safe. A cancelled wait takes no permits and leaves its place in
        the queue to the next waiter; permits handed over just before the cancellation are
        returned by ``async with`` on the way out.
        """
        count = self._check_n(n)
        return Acquisition(lambda: self._acquire(count))

    async def _acquire(self, n: int) -> SemaphorePermit:
        if budget_spent():
            await checkpoint()
        self._lock.acquire()
        try:
            if self._closed:
                raise SemaphoreClosed(_CLOSED)
            if self._permits >= n and not self._waiters:
                self._permits -= n
                w = None
            else:
                w = Waiter.for_task(n)
                self._waiters.push(w)
                if self._permits_for(w):
                    w = None
        finally:
            self._lock.release()
        if w is None:
            return SemaphorePermit(self, n)
        try:
            await park(self._lock, self._waiters, w)
        except BaseException:
            if w.woken:
                if w.value is None:
                    self.add_permits(n)
            else:
                self.add_permits(0)  # we left the queue: serve whoever waited behind us
            raise
        if w.value is not None:
            raise SemaphoreClosed(_CLOSED)
        return SemaphorePermit(self, n)

    def try_acquire(self, n: SupportsIndex = 1) -> SemaphorePermit | None:
        """Take ``n`` permits if available right now (and nobody waits); else ``None``.

        Raises:
            SemaphoreClosed: the semaphore is closed.
        """
        n = self._check_n(n)
        self._lock.acquire()
        try:
            if self._closed:
                raise SemaphoreClosed(_CLOSED)
            if self._permits >= n and not self._waiters:
                self._permits -= n
                return SemaphorePermit(self, n)
        finally:
            self._lock.release()
        return None

    def blocking_acquire(self, n: SupportsIndex = 1) -> SemaphorePermit:
        """Block the calling plain thread until ``n`` permits are taken.

        Raises:
            SemaphoreClosed: the semaphore is (or gets) closed.
            RuntimeError: called from a task.
        """
        n = self._check_n(n)
        blocking_guard("Semaphore.blocking_acquire()")
        with self._lock:
            if self._closed:
                raise SemaphoreClosed(_CLOSED)
            if self._permits >= n and not self._waiters:
                self._permits -= n
                return SemaphorePermit(self, n)
            w = Waiter.for_thread(n)
            self._waiters.push(w)
            if self._permits_for(w):
                return SemaphorePermit(self, n)
        w.block()
        if w.value is not None:
            raise SemaphoreClosed(_CLOSED)
        return SemaphorePermit(self, n)

    def _permits_for(self, w: Waiter) -> bool:
        """Look again once ``w`` is queued (lock held; see ``_waitqueue``), for what a
        finalizer or signal handler on this thread did while ``w`` was being queued, finding
        nobody to hand it to: if it returned permits and ``w`` is first in line, take them and
        withdraw ``w`` (True); if it closed the semaphore, withdraw ``w`` and raise.

        Raises:
            SemaphoreClosed: the semaphore was closed meanwhile.
        """
        if self._closed and self._waiters.remove(w):
            raise SemaphoreClosed(_CLOSED)
        # ``remove`` last, its result part of the test: a release run at its entry (a signal
        # handler, or the collector from 3.12 on) may hand w the permits first; then w is
        # gone from the queue, holds them, and parks to be resumed as usual.
        if self._permits < w.n or self._waiters.first() is not w or not self._waiters.remove(w):
            return False
        self._permits -= w.n
        return True

    def add_permits(self, n: SupportsIndex) -> None:
        """Add ``n`` permits, handing them to waiters in order.

        Raises:
            ValueError: ``n`` is negative, or the total would exceed ``MAX_PERMITS``.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"add_permits needs an int >= 0, got {n!r}")
        woken = []
        with self._lock:
            if self._permits + n > _MAX_PERMITS:
                raise ValueError(
                    f"add_permits({n}) would exceed Semaphore.MAX_PERMITS ({_MAX_PERMITS})"
                )
            self._permits += n
            while True:
                first = self._waiters.first()
                if first is None or first.n > self._permits:
                    break
                self._waiters.pop_first()
                self._permits -= first.n
                woken.append(first)
        for w in woken:
            w.wake()

    def close(self) -> None:
        """Close the semaphore: waiters and later ``acquire`` calls get SemaphoreClosed."""
        with self._lock:
            self._closed = True
            waiters = self._waiters.drain()
        for w in waiters:
            w.value = _CLOSED
            w.wake()

    def is_closed(self) -> bool:
        """Return whether :meth:`close` was called."""
        return self._closed

    def available_permits(self) -> int:
        """Return the number of permits free right now."""
        return self._permits

    def statistics(self) -> SemaphoreStatistics:
        """Return a :class:`SemaphoreStatistics` snapshot."""
        from ._stats import SemaphoreStatistics

        with self._lock:
            return SemaphoreStatistics(self._permits, len(self._waiters), self._closed)

    def __repr__(self) -> str:
        return f"<rt.sync.Semaphore permits={self._permits} waiters={len(self._waiters)}>"
