"""Mutex: an async lock that owns its value (Tokio's ``Mutex<T>``), FIFO-fair."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Generic, TypeVar, final

from rt.lowlevel import budget_spent, checkpoint

from ._errors import blocking_guard
from ._plain import Acquisition, WaitQueue
from ._waitqueue import Waiter, park

if TYPE_CHECKING:
    from ._stats import MutexStatistics

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.

T = TypeVar("T")


@final
class MutexGuard(Generic[T]):
    """Proof of holding a :class:`Mutex`: read and write the protected value as ``.value``.

    Release it by leaving its ``with`` / ``async with`` block, or with :meth:`release`.
    Unlike a Tokio guard, dropping it does not unlock (Python has no deterministic drop): the
    mutex stays locked until :meth:`release`.
    """

    __slots__ = ("_mutex", "_released")

    def __init__(self, mutex: Mutex[T]) -> None:
        self._mutex = mutex
        self._released = False

    @property
    def value(self) -> T:
        """The protected value."""
        if self._released:
            raise RuntimeError("this MutexGuard was released; lock the mutex again")
        return self._mutex._value

    @value.setter
    def value(self, new: T) -> None:
        if self._released:
            raise RuntimeError("this MutexGuard was released; lock the mutex again")
        self._mutex._value = new

    def release(self) -> None:
        """Unlock the mutex (handing it to the longest waiter); a no-op the second time."""
        if not self._released:
            self._released = True
            self._mutex._unlock()

    def __enter__(self) -> MutexGuard[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    async def __aenter__(self) -> MutexGuard[T]:
        """Return the guard; the block releases the lock on exit.

        Cancel safety: cancel-safe (does not wait).
        """
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Release the lock.

        Cancel safety: cancel-safe (does not wait).
        """
        self.release()


@final
class Mutex(Generic[T]):
    """An async mutual-exclusion lock around a value, usable from any thread.

    ``async with m.lock() as guard: guard.value += 1`` in tasks; ``with m.blocking_lock() as
    guard:`` in plain threads. Waiters get the lock in the order they asked for it (FIFO): the
    unlocking side hands it straight to the longest waiter, so nobody can barge in.
    """

    __slots__ = ("_lock", "_locked", "_value", "_waiters")

    def __init__(self, value: T) -> None:
        self._value = value
        self._lock = threading.RLock()
        self._locked = False
        self._waiters = WaitQueue()

    def lock(self) -> Acquisition[MutexGuard[T]]:
        """Wait for the lock; ``await`` it for a :class:`MutexGuard`, or ``async with`` it.

        Cancel safety: cancel-safe. A cancelled wait leaves the queue without a trace; if the
        lock was handed over just before the cancellation, the caller owns it and ``async
        with`` releases it on the way out.
        """
        return Acquisition(self._acquire)

    async def _acquire(self) -> MutexGuard[T]:
        if budget_spent():
            await checkpoint()
        self._lock.acquire()
        try:
            if not self._locked and not self._waiters:
                self._locked = True
                fast = True
            else:
                w = Waiter.for_task()
                self._waiters.push(w)
                fast = self._unlocked_for(w)
        finally:
            self._lock.release()
        if fast:
            return MutexGuard(self)
        try:
            await park(self._lock, self._waiters, w)
        except BaseException:
            if w.woken:  # handed the lock while being cancelled: pass it on
                self._unlock()
            raise
        return MutexGuard(self)

    def try_lock(self) -> MutexGuard[T] | None:
        """Take the lock if it is free right now; return ``None`` otherwise."""
        self._lock.acquire()
        try:
            if self._locked or self._waiters:
                return None
            self._locked = True
        finally:
            self._lock.release()
        return MutexGuard(self)

    def blocking_lock(self) -> MutexGuard[T]:
        """Block the calling plain thread until the lock is taken; use the guard in ``with``.

        Raises:
            RuntimeError: called from a task (it would block the runtime).
        """
        blocking_guard("Mutex.blocking_lock()")
        with self._lock:
            if not self._locked and not self._waiters:
                self._locked = True
                return MutexGuard(self)
            w = Waiter.for_thread()
            self._waiters.push(w)
            if self._unlocked_for(w):
                return MutexGuard(self)
        w.block()
        return MutexGuard(self)

    def _unlocked_for(self, w: Waiter) -> bool:
        """Look again once ``w`` is queued (lock held; see ``_waitqueue``): if the mutex was
        unlocked while ``w`` was being queued (by a finalizer or signal handler on this thread,
        which found nobody to hand it to), take it for ``w`` and withdraw ``w``."""
        # ``remove`` last and tested, as in Semaphore._permits_for: an unlock at its entry may
        # hand w the mutex first.
        if self._locked or self._waiters.first() is not w or not self._waiters.remove(w):
            return False
        self._locked = True
        return True

    def _unlock(self) -> None:
        self._lock.acquire()
        try:
            w = self._waiters.pop_first()
            if w is None:
                self._locked = False
        finally:
            self._lock.release()
        if w is not None:
            w.wake()  # ownership passes to w: _locked stays True

    def is_locked(self) -> bool:
        """Return whether the mutex is held."""
        return self._locked

    def statistics(self) -> MutexStatistics:
        """Return a :class:`MutexStatistics` snapshot."""
        from ._stats import MutexStatistics

        with self._lock:
            return MutexStatistics(locked=self._locked, waiters=len(self._waiters))

    def __repr__(self) -> str:
        return f"<rt.sync.Mutex {'locked' if self._locked else 'unlocked'}>"
