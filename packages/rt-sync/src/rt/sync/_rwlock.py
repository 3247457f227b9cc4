"""RwLock: many readers or one writer, fair (Tokio's ``RwLock<T>``).

Invariants (under ``_lock``): ``_writer`` and ``_readers > 0`` never hold together;
``_readers <= _max_readers``; the queue is served strictly in order, and its head is waiting
only because it cannot be granted now. Any change that may make the head grantable (a release,
a downgrade, a *waiter leaving the queue* because it was cancelled) runs :meth:`RwLock._grant`,
so readers queued behind a cancelled writer are not left waiting on a lock nobody holds
exclusively.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final, Generic, SupportsIndex, TypeVar, final

from rt.lowlevel import budget_spent, checkpoint

from ._errors import blocking_guard
from ._plain import Acquisition, WaitQueue
from ._waitqueue import Waiter, park

if TYPE_CHECKING:
    from ._stats import RwLockStatistics

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.

T = TypeVar("T")
_READ = 1
_WRITE = 0
# Tokio's default (``u32::MAX >> 3``): effectively unlimited, still a finite bound.
_MAX_READERS = 0xFFFFFFFF >> 3


class _Guard(Generic[T]):
    __slots__ = ("_lock", "_released", "_write")

    def __init__(self, lock: RwLock[T], write: bool) -> None:
        self._lock = lock
        self._write = write
        self._released = False

    @property
    def value(self) -> T:
        """The protected value."""
        if self._released:
            raise RuntimeError("this guard was released")
        return self._lock._value

    def release(self) -> None:
        """Release the lock (a no-op the second time)."""
        if not self._released:
            self._released = True
            self._lock._release(self._write)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()


@final
class RwLockReadGuard(_Guard[T]):
    """Shared access: ``.value`` is readable.

    Release it by leaving its ``with`` block or with ``release()``; dropping it does not
    (Python has no deterministic drop), so the lock stays read-locked until then.
    """


@final
class RwLockWriteGuard(_Guard[T]):
    """Exclusive access: ``.value`` is readable and assignable.

    Release it by leaving its ``with`` block or with ``release()``; dropping it does not
    (Python has no deterministic drop), so the lock stays write-locked until then.
    """

    @property
    def value(self) -> T:
        """The protected value (assignable)."""
        if self._released:
            raise RuntimeError("this guard was released")
        return self._lock._value

    @value.setter
    def value(self, new: T) -> None:
        if self._released:
            raise RuntimeError("this guard was released")
        self._lock._value = new

    def downgrade(self) -> RwLockReadGuard[T]:
        """Turn exclusive access into shared access atomically (no writer can get in between).

        Readers waiting at the head of the queue are let in at once; this guard is released.

        Returns:
            A read guard for the same lock.

        Raises:
            RuntimeError: this guard was already released.
        """
        if self._released:
            raise RuntimeError("this guard was released")
        self._released = True
        return self._lock._downgrade()


@final
class RwLock(Generic[T]):
    """A reader-writer lock around a value, fair and usable from any thread.

    ``async with rw.read() as g: g.value`` for shared access, ``async with rw.write() as g:
    g.value = ...`` for exclusive access. Requests are served in arrival order: a waiting
    writer holds back readers that arrive after it, so writers cannot starve.

    Args:
        value: The protected value.
        max_readers: How many readers may hold the lock at once (Tokio's
            ``with_max_readers``); further readers wait. Defaults to ``RwLock.MAX_READERS``.

    Raises:
        ValueError: ``max_readers`` is not an int in ``1..RwLock.MAX_READERS``.
    """

    __slots__ = ("_lock", "_max_readers", "_readers", "_value", "_waiters", "_writer")

    MAX_READERS: Final = _MAX_READERS
    """The largest (and default) ``max_readers``: Tokio's ``u32::MAX >> 3``."""

    # ``max_readers`` is typed ``SupportsIndex`` (a protocol, which mypyc does not check at the
    # call) so that the check below sees what the caller passed: compiled by mypyc, an ``int``
    # parameter turns ``True`` into 1 and refuses a float with its own TypeError before this code
    # runs.
    def __init__(self, value: T, *, max_readers: SupportsIndex = _MAX_READERS) -> None:
        if (
            isinstance(max_readers, bool)
            or not isinstance(max_readers, int)
            or not 1 <= max_readers <= _MAX_READERS
        ):
            raise ValueError(
                f"RwLock max_readers must be an int from 1 to {_MAX_READERS}, got {max_readers!r}"
            )
        self._value = value
        self._lock = threading.RLock()
        self._readers = 0
        self._max_readers = max_readers
        self._writer = False
        self._waiters = WaitQueue()

    @classmethod
    def with_max_readers(cls, value: T, max_readers: SupportsIndex) -> RwLock[T]:
        """Create a lock that lets at most ``max_readers`` readers in at once.

        Args:
            value: The protected value.
            max_readers: The reader limit, ``1..RwLock.MAX_READERS``.

        Returns:
            The new lock.

        Raises:
            ValueError: ``max_readers`` is out of range.
        """
        return cls(value, max_readers=max_readers)

    def max_readers(self) -> int:
        """Return how many readers may hold the lock at once."""
        return self._max_readers

    def read(self) -> Acquisition[RwLockReadGuard[T]]:
        """Wait for shared access; ``await`` for a :class:`RwLockReadGuard` or ``async with``.

        Cancel safety: cancel-safe (as :meth:`rt.sync.Mutex.lock`).
        """
        return Acquisition(self._read)

    def write(self) -> Acquisition[RwLockWriteGuard[T]]:
        """Wait for exclusive access; ``await`` for a :class:`RwLockWriteGuard` or ``async with``.

        Cancel safety: cancel-safe (as :meth:`rt.sync.Mutex.lock`).
        """
        return Acquisition(self._write)

    def try_read(self) -> RwLockReadGuard[T] | None:
        """Take shared access if it is free right now (and nobody waits); else ``None``.

        Returns:
            A read guard, or ``None``.
        """
        self._lock.acquire()
        try:
            if self._waiters or not self._grantable(False):
                return None
            self._readers += 1
        finally:
            self._lock.release()
        return RwLockReadGuard(self, False)

    def try_write(self) -> RwLockWriteGuard[T] | None:
        """Take exclusive access if it is free right now (and nobody waits); else ``None``.

        Returns:
            A write guard, or ``None``.
        """
        self._lock.acquire()
        try:
            if self._waiters or not self._grantable(True):
                return None
            self._writer = True
        finally:
            self._lock.release()
        return RwLockWriteGuard(self, True)

    async def _read(self) -> RwLockReadGuard[T]:
        guard = await self._acquire(False)
        assert isinstance(guard, RwLockReadGuard)
        return guard

    async def _write(self) -> RwLockWriteGuard[T]:
        guard = await self._acquire(True)
        assert isinstance(guard, RwLockWriteGuard)
        return guard

    def _grantable(self, write: bool) -> bool:
        if write:
            return not self._writer and self._readers == 0
        return not self._writer and self._readers < self._max_readers

    def _take(self, write: bool) -> None:
        if write:
            self._writer = True
        else:
            self._readers += 1

    def _make(self, write: bool) -> _Guard[T]:
        return RwLockWriteGuard(self, True) if write else RwLockReadGuard(self, False)

    async def _acquire(self, write: bool) -> _Guard[T]:
        if budget_spent():
            await checkpoint()
        self._lock.acquire()
        try:
            if not self._waiters and self._grantable(write):
                self._take(write)
                w = None
            else:
                w = Waiter.for_task(_WRITE if write else _READ)
                self._waiters.push(w)
                if self._granted_to(w):
                    w = None
        finally:
            self._lock.release()
        if w is None:
            return self._make(write)
        try:
            await park(self._lock, self._waiters, w)
        except BaseException:
            if w.woken:
                self._release(write)
            else:
                # We left the queue: whoever queued behind us may be grantable now (readers
                # behind a cancelled writer, while only readers hold the lock).
                self._grant()
            raise
        return self._make(write)

    def _blocking(self, write: bool) -> _Guard[T]:
        blocking_guard("RwLock.blocking_read() / blocking_write()")
        with self._lock:
            if not self._waiters and self._grantable(write):
                self._take(write)
                return self._make(write)
            w = Waiter.for_thread(_WRITE if write else _READ)
            self._waiters.push(w)
            if self._granted_to(w):
                return self._make(write)
        w.block()
        return self._make(write)

    def blocking_read(self) -> RwLockReadGuard[T]:
        """Block the calling plain thread for shared access."""
        g = self._blocking(False)
        assert isinstance(g, RwLockReadGuard)
        return g

    def blocking_write(self) -> RwLockWriteGuard[T]:
        """Block the calling plain thread for exclusive access."""
        g = self._blocking(True)
        assert isinstance(g, RwLockWriteGuard)
        return g

    def _granted_to(self, w: Waiter) -> bool:
        """Look again once ``w`` is queued (lock held; see ``_waitqueue``): if the lock was
        released while ``w`` was being queued (a finalizer or signal handler on this thread,
        which found nobody to grant it to) and ``w`` is first in line, take it and withdraw
        ``w``."""
        write = w.n == _WRITE
        # ``remove`` last and tested, as in Semaphore._permits_for: a release at its entry may
        # grant w the lock first.
        if (
            not self._grantable(write)
            or self._waiters.first() is not w
            or not self._waiters.remove(w)
        ):
            return False
        self._take(write)
        return True

    def _release(self, write: bool) -> None:
        self._lock.acquire()
        try:
            if write:
                self._writer = False
            else:
                self._readers -= 1
        finally:
            self._lock.release()
        self._grant()

    def _downgrade(self) -> RwLockReadGuard[T]:
        with self._lock:
            self._writer = False
            self._readers += 1
        self._grant()
        return RwLockReadGuard(self, False)

    def _grant(self) -> None:
        """Let in the waiters at the head of the queue that can be granted now, in order."""
        woken = []
        with self._lock:
            while True:
                first = self._waiters.first()
                if first is None or not self._grantable(first.n == _WRITE):
                    break
                self._waiters.pop_first()
                self._take(first.n == _WRITE)
                woken.append(first)
                if first.n == _WRITE:
                    break
        for w in woken:
            w.wake()

    def statistics(self) -> RwLockStatistics:
        """Return a :class:`RwLockStatistics` snapshot."""
        from ._stats import RwLockStatistics

        with self._lock:
            return RwLockStatistics(
                self._readers, self._writer, len(self._waiters), self._max_readers
            )
