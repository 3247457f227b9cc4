"""RwLock: many readers or one writer, fair (Tokio's ``RwLock<T>``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, final

from rt.lowlevel import budget_spent, checkpoint

from ._errors import blocking_guard
from ._waitqueue import Acquisition, Waiter, WaitQueue, park

T = TypeVar("T")
_READ = 1
_WRITE = 0


@dataclass(frozen=True, slots=True)
class RwLockStatistics:
    """A snapshot of an :class:`RwLock`."""

    readers: int
    writer: bool
    waiters: int


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
    """Shared access: ``.value`` is readable."""


@final
class RwLockWriteGuard(_Guard[T]):
    """Exclusive access: ``.value`` is readable and assignable."""

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


@final
class RwLock(Generic[T]):
    """A reader-writer lock around a value, fair and usable from any thread.

    ``async with rw.read() as g: g.value`` for shared access, ``async with rw.write() as g:
    g.value = ...`` for exclusive access. Requests are served in arrival order: a waiting
    writer holds back readers that arrive after it, so writers cannot starve.
    """

    __slots__ = ("_lock", "_readers", "_value", "_waiters", "_writer")

    def __init__(self, value: T) -> None:
        self._value = value
        self._lock = threading.RLock()
        self._readers = 0
        self._writer = False
        self._waiters = WaitQueue()

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
        return not self._writer

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
        with self._lock:
            if not self._waiters and self._grantable(write):
                self._take(write)
                w = None
            else:
                w = Waiter.for_task(_WRITE if write else _READ)
                self._waiters.push(w)
        if w is None:
            return self._make(write)
        try:
            await park(self._lock, self._waiters, w)
        except BaseException:
            if w.woken:
                self._release(write)
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

    def _release(self, write: bool) -> None:
        woken = []
        with self._lock:
            if write:
                self._writer = False
            else:
                self._readers -= 1
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
        with self._lock:
            return RwLockStatistics(self._readers, self._writer, len(self._waiters))
