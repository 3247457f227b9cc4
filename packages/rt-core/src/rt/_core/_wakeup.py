"""Waking a parked reactor: the wake-up fd, the signal wakeup fd and the condition-variable
parker used when I/O is disabled.

* :class:`_Waker` is the reactor's cross-thread wake-up: an ``eventfd`` (a socket pair where
  there is none), registered once and drained whenever it fires.
* :class:`SignalWakeup` makes a signal end the main thread's blocking wait whenever it lands.
* :class:`ThreadParker` is the bottom driver layer without I/O.
"""

from __future__ import annotations

import math
import os
import select
import signal
import socket
import threading
from collections.abc import Callable


class _Waker:
    """A wake-up fd: an eventfd, or a socket pair where there is none (or ``socket_pair``:
    the signal wakeup fd must take one-byte writes, which an eventfd refuses)."""

    __slots__ = ("_closed", "_drain", "_lock", "_pending", "_wsock", "fd", "rsock", "wfd")

    def __init__(self, *, socket_pair: bool = False) -> None:
        self._closed = False
        # Set by a wake before it writes; cleared by a drain *after* it has read. While it is
        # set, a wake-up is on its way to the reader or not yet seen by it, so another wake
        # has nothing to add and skips the write (a system call, which also lets go of the
        # GIL mid-wake): wakes from another thread often come in pairs (a blocking job's task
        # woken, then the pool drained) or bursts. A wake that finds it set after the reader
        # has read but before it cleared it is not lost: the reader is awake and looks at its
        # queues after the drain, and the waker filled those before it woke.
        self._pending = False
        # Makes a wake's closed check and its write one step against close(): otherwise a wake
        # from another thread could pass the check, the fd be closed and its number reused by
        # a new fd (a socket, a file), and the write land there. Re-entrant: a signal handler
        # may wake on the thread that is inside wake() already.
        self._lock = threading.RLock()
        self.rsock: socket.socket | None = None
        self._wsock: socket.socket | None = None
        if hasattr(os, "eventfd") and not socket_pair:
            self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self.wfd = self.fd
            self._drain: Callable[[], object] = self._drain_eventfd
        else:
            self.rsock, self._wsock = socket.socketpair()
            self.rsock.setblocking(False)
            self._wsock.setblocking(False)
            self.fd = self.rsock.fileno()
            self.wfd = self._wsock.fileno()
            self._drain = self._drain_sock

    def wake(self) -> None:
        if self._pending:
            return
        with self._lock:
            if self._closed:
                return
            self._pending = True
            try:
                if self._wsock is None:
                    os.eventfd_write(self.wfd, 1)
                else:
                    self._wsock.send(b"\0")
            except (BlockingIOError, OSError):
                # Full: a wake is already pending.
                pass

    def drain(self) -> None:
        self._drain()

    def _drain_eventfd(self) -> None:
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:
            pass
        self._pending = False  # after the read (see __init__)

    def take(self) -> bytes:
        """Read and return what was written (a socket pair's bytes; an eventfd's are counts)."""
        if self.rsock is None:
            self._drain_eventfd()
            return b""
        chunks = []
        try:
            while chunk := self.rsock.recv(4096):
                chunks.append(chunk)
        except BlockingIOError:
            pass
        self._pending = False
        return b"".join(chunks)

    def _drain_sock(self) -> None:
        assert self.rsock is not None
        try:
            while self.rsock.recv(4096):
                pass
        except BlockingIOError:
            pass
        self._pending = False

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._wsock is None:
                os.close(self.fd)
            else:
                assert self.rsock is not None
                self.rsock.close()
                self._wsock.close()


class SignalWakeup:
    """Wakes the main thread's blocking wait when a signal arrives, whenever it arrives.

    CPython's C-level handler only flags a signal; the Python handler (Ctrl-C's, say) runs
    when the main thread next executes bytecode. A signal that lands after the thread's last
    check but before it blocks in ``epoll_wait`` or on a lock is otherwise noticed only at the
    next unrelated wake-up: with nothing else going on, never. While installed, the process's
    signal wakeup fd is the write end of this socket pair, so the C handler leaves a byte that
    any wait watching :attr:`fd` sees, even one that started after the signal.

    It doubles as a thread-safe event (:meth:`set` / :meth:`wait`) for a main thread that
    waits for worker threads. :meth:`install` returns ``None`` off the main thread, or when
    the application has a wakeup fd of its own (that one is left alone).

    Python can read the wakeup fd only by replacing it, so finding out whether the application
    has one (asyncio's loop does while it handles signals: it learns *which* signal arrived
    from the bytes) means installing ours for a moment and putting theirs back. A signal that
    lands in that moment leaves its byte with us: :meth:`install` and :meth:`uninstall` pass
    such bytes on to the application's fd once it is back, so its handler still runs.
    """

    __slots__ = ("_pair", "_poller", "fd")

    def __init__(self) -> None:
        self._pair = _Waker(socket_pair=True)
        self.fd = self._pair.fd
        self._poller = select.poll() if hasattr(select, "poll") else None
        if self._poller is not None:
            self._poller.register(self.fd, select.POLLIN)

    @classmethod
    def install(cls) -> SignalWakeup | None:
        if threading.current_thread() is not threading.main_thread():
            return None
        self = cls()
        try:
            previous = signal.set_wakeup_fd(self._pair.wfd, warn_on_full_buffer=False)
        except (ValueError, OSError):  # pragma: no cover - not the main interpreter
            self.close()
            return None
        if previous != -1:
            signal.set_wakeup_fd(previous)
            self._hand_over(previous)
            self.close()
            return None
        return self

    def uninstall(self) -> None:
        """Stop being the wakeup fd (if still it) and close the pair."""
        ours = self._pair.wfd
        # What reached us so far was ours (the application's fd, if any, got the signals since
        # it took over): only what lands in the swap below is passed on.
        self._pair.drain()
        try:
            # Swapped for ours, not for -1: a signal landing before theirs is back (when
            # someone replaced ours meanwhile) leaves its byte with us, not nowhere.
            current = signal.set_wakeup_fd(ours, warn_on_full_buffer=False)
            if current in (ours, -1):
                signal.set_wakeup_fd(-1)
            else:
                signal.set_wakeup_fd(current)  # someone replaced it meanwhile: keep theirs
                self._hand_over(current)
        except (ValueError, OSError):  # pragma: no cover - interpreter shutting down
            pass
        self.close()

    def _hand_over(self, fd: int) -> None:
        """Pass the signal bytes that reached us to ``fd``, the application's wakeup fd."""
        # A zero byte is a set() of ours, not a signal (no signal is numbered 0).
        data = self._pair.take().replace(b"\0", b"")
        if data:
            try:
                os.write(fd, data)
            except OSError:  # full (a wake-up is pending there already) or gone
                pass

    def set(self) -> None:
        """Wake :meth:`wait` (from any thread)."""
        self._pair.wake()  # a no-op once closed (never a write after it): see _Waker

    def wait(self, timeout: float | None = None) -> None:
        """Block until :meth:`set`, a signal, or ``timeout``; spurious returns are possible."""
        try:
            if self._poller is not None:
                self._poller.poll(-1 if timeout is None else math.ceil(max(timeout, 0) * 1000))
            else:  # pragma: no cover - no poll(2)
                select.select([self.fd], [], [], timeout)
        finally:
            self._pair.drain()

    def drain(self) -> None:
        self._pair.drain()

    def close(self) -> None:
        self._pair.close()


class ThreadParker:
    """The bottom layer when I/O is disabled: park on a condition variable."""

    __slots__ = ("_cond", "_notified", "_pre_block", "_signals")

    name = "park"

    def __init__(self) -> None:
        import threading

        # Re-entrant: a signal handler on the parking thread may unpark it (Ctrl-C posts the
        # main task's cancellation), possibly while that thread holds the lock in park().
        self._cond = threading.Condition(threading.RLock())
        self._notified = False
        self._signals: SignalWakeup | None = None
        # As the reactor's (IoDriver._pre_block): set by a scheduler starting to park, cleared
        # once the wait is over.
        self._pre_block = False

    def watch_signals(self, signals: SignalWakeup | None) -> None:
        """Park on ``signals`` (a signal ends the park) instead of the condition variable."""
        with self._cond:
            self._signals = signals

    def park(self, timeout: float | None) -> None:
        try:
            self._park(timeout)
        finally:
            if timeout != 0:
                self._pre_block = False

    def unpark_local(self) -> None:
        """As the reactor's (``IoDriver.unpark_local``): before the wait begins, the wait
        returns at once (an unpark: a condition variable, or a byte on the signal socket pair
        when the parker waits on that); once it is over, nothing."""
        if self._pre_block:
            self.unpark()

    def _park(self, timeout: float | None) -> None:
        with self._cond:
            signals = self._signals
            if signals is None:
                if not self._notified and timeout != 0:
                    self._cond.wait(timeout)
                self._notified = False
                return
            if self._notified or timeout == 0:
                self._notified = False
                return
        signals.wait(timeout)  # unpark() writes to it too
        with self._cond:
            self._notified = False

    def unpark(self) -> None:
        with self._cond:
            self._notified = True
            self._cond.notify()
            signals = self._signals
        if signals is not None:
            signals.set()

    def shutdown(self) -> None:
        self.unpark()
