"""The I/O reactor: the bottom layer of the driver stack.

Facts this code relies on:

* **Level-triggered with lazy interest.** An fd is registered (``EPOLLIN``/``EPOLLOUT``) when a
  task first waits on it, and its interest is *not* dropped when that task is woken: a reader
  looping "read until ``EAGAIN``, wait, read" costs no ``epoll_ctl`` per wait. Only when the fd
  reports readiness in a direction nobody is waiting for is the interest narrowed (one
  ``epoll_ctl``), so an idle readable fd cannot make the loop spin. Level triggering keeps
  :func:`wait_readable` honest for any caller: it returns whenever the fd *is* readable, not
  only on a new edge, so a caller that did not drain the fd cannot hang.
* **One waiter per direction.** At most one task waits to read and one to write each fd (the
  two halves of a split stream are two tasks in two directions). A second waiter in the same
  direction is a bug in the caller and gets a ``RuntimeError`` naming the fd.
* **Closing.** :func:`notify_closing` wakes both waiters with ``OSError(EBADF)`` and forgets the
  fd; call it before closing an fd that tasks may be waiting on. :meth:`IoDriver.close` does
  both, from any thread. The kernel drops a closed fd from epoll by itself, without telling
  us: if an object was closed behind our back (say, a socket garbage-collected without
  ``close``) and the OS hands its fd number to a new object, our lazy interest would believe
  the new fd is already registered and its first wait would never wake. So the state of an fd
  remembers (weakly) the object that registered it; a wait through a *different* object on the
  same fd number drops the stale state and registers afresh. Callers passing bare ints get no
  such check and must call :func:`notify_closing` themselves.
* **Wake-ups from other threads** go through an ``eventfd`` (a self-pipe where that does not
  exist), registered once and drained whenever it fires. **Signals** reach a reactor parked on
  the main thread through :class:`SignalWakeup` (the process's signal wakeup fd while rt drives
  that thread), so a Ctrl-C that lands just before ``epoll_wait`` still ends the wait.
* **Threads.** Under the multi-thread scheduler the fd table is guarded by one lock, held for
  table updates and ``epoll_ctl`` calls but never across the blocking ``epoll_wait``: tasks on
  any worker register waits while another worker is parked in the reactor (the kernel picks
  up an ``epoll_ctl`` made during an ``epoll_wait``). The current-thread scheduler passes
  ``run_exclusive`` instead and the reactor takes no lock at all (one lock round trip less per
  wait and per park): only the thread driving the runtime touches the table, and
  :meth:`IoDriver.close` / :meth:`IoDriver.notify_closing` from any other thread go through
  ``run_exclusive``, which runs them at once when no thread drives the runtime (holding the
  runtime's own lock, so none can start meanwhile) and otherwise posts them to the driving
  thread. Posting keeps the fd open until its waiters have been told.
* Where ``select.epoll`` does not exist (macOS, BSD, Windows), the same logic runs over the
  ``selectors`` module's best selector (kqueue on BSD/macOS).
"""

from __future__ import annotations

import errno
import math
import os
import select
import selectors
import signal
import socket
import threading
import types
import weakref
from collections.abc import Awaitable, Callable, Generator
from contextlib import nullcontext
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Protocol

from ._current import STATE, outside_error
from ._traps import PARK, Abort

if TYPE_CHECKING:
    from ._task import JoinHandle as Task

READ: Final = 1
WRITE: Final = 2


class _Backend(Protocol):
    # ``poll`` returns (fd, mask) pairs in the backend's own bits: ``mask & rbits`` means
    # readable (or hung up / failed: a read will say which), ``mask & wbits`` writable.
    rbits: int
    wbits: int

    def register(self, fd: int, mask: int) -> None: ...
    def modify(self, fd: int, mask: int) -> None: ...
    def unregister(self, fd: int) -> None: ...
    def poll(self, timeout: float | None) -> list[tuple[int, int]]: ...
    def close(self) -> None: ...


_EP_IN: Final = select.EPOLLIN if hasattr(select, "EPOLLIN") else 0
_EP_OUT: Final = select.EPOLLOUT if hasattr(select, "EPOLLOUT") else 0
_EP_R: Final = _EP_IN | (
    (select.EPOLLHUP | select.EPOLLERR | select.EPOLLRDHUP) if hasattr(select, "EPOLLHUP") else 0
)
_EP_W: Final = _EP_OUT | ((select.EPOLLHUP | select.EPOLLERR) if hasattr(select, "EPOLLHUP") else 0)


class _EpollBackend:
    __slots__ = ("_ep", "_poll")

    rbits = _EP_R
    wbits = _EP_W

    def __init__(self) -> None:
        self._ep = select.epoll()
        self._poll = self._ep.poll

    @staticmethod
    def _mask(mask: int) -> int:
        return (_EP_IN if mask & READ else 0) | (_EP_OUT if mask & WRITE else 0)

    def register(self, fd: int, mask: int) -> None:
        self._ep.register(fd, self._mask(mask))

    def modify(self, fd: int, mask: int) -> None:
        self._ep.modify(fd, self._mask(mask))

    def unregister(self, fd: int) -> None:
        self._ep.unregister(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        if timeout is None:
            events = self._poll(-1)
        elif timeout <= 0:
            events = self._poll(0)
        elif timeout < 0.001:
            # epoll_wait counts whole milliseconds (rounded up): a timer due in 300 µs would
            # fire up to 700 µs late. select() takes microseconds; use it for the last stretch.
            select.select([self._ep.fileno()], [], [], timeout)
            events = self._poll(0)
        else:
            # Wake a little early rather than late; the scheduler parks again for the rest.
            events = self._poll(math.floor(timeout * 1000) / 1000)
        return events  # raw epoll masks: the dispatcher reads them with rbits / wbits

    def close(self) -> None:
        self._ep.close()


class _SelectorBackend:
    __slots__ = ("_sel",)

    rbits = READ
    wbits = WRITE

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()

    @staticmethod
    def _mask(mask: int) -> int:
        return (selectors.EVENT_READ if mask & READ else 0) | (
            selectors.EVENT_WRITE if mask & WRITE else 0
        )

    def register(self, fd: int, mask: int) -> None:
        self._sel.register(fd, self._mask(mask))

    def modify(self, fd: int, mask: int) -> None:
        try:
            self._sel.modify(fd, self._mask(mask))
        except KeyError:
            raise FileNotFoundError(errno.ENOENT, "fd not registered") from None

    def unregister(self, fd: int) -> None:
        try:
            self._sel.unregister(fd)
        except KeyError:
            raise FileNotFoundError(errno.ENOENT, "fd not registered") from None

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        out = []
        for key, ev in self._sel.select(timeout):
            mask = (READ if ev & selectors.EVENT_READ else 0) | (
                WRITE if ev & selectors.EVENT_WRITE else 0
            )
            out.append((key.fd, mask))
        return out

    def close(self) -> None:
        self._sel.close()


class _FdState:
    """What the reactor knows about one fd: its waiters and the interest it registered.

    ``fd`` is ``-1`` once the state has left the fd table (the fd was closed, forgotten, or its
    interest dropped): a :class:`Registration` holding it then looks the fd up again.
    A parked task's ``_abort_fn`` is the state itself (no object per wait): cancelling the
    task calls :meth:`withdraw`.
    """

    __slots__ = ("fd", "lock", "mask", "owner", "reader", "writer")

    def __init__(
        self, fd: int, owner: weakref.ref[Any] | None, lock: threading.RLock | None
    ) -> None:
        self.reader: Task[Any] | None = None
        self.writer: Task[Any] | None = None
        self.mask = 0
        self.fd = fd
        self.owner = owner
        self.lock = lock

    def withdraw(self, task: Task[Any]) -> Abort:
        """Abort ``task``'s wait on this fd, unless it was woken meanwhile."""
        lock = self.lock
        if lock is None:
            return _withdraw(self, task)
        with lock:
            return _withdraw(self, task)


def _owner_ref(fd_like: object) -> weakref.ref[Any] | None:
    if isinstance(fd_like, int):
        return None
    try:
        return weakref.ref(fd_like)
    except TypeError:
        return None


class _Waker:
    """A wake-up fd: an eventfd, or a socket pair where there is none (or ``socket_pair``:
    the signal wakeup fd must take one-byte writes, which an eventfd refuses)."""

    __slots__ = ("_closed", "_drain", "_wsock", "fd", "rsock", "wfd")

    def __init__(self, *, socket_pair: bool = False) -> None:
        self._closed = False
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
        if self._closed:
            return
        try:
            if self._wsock is None:
                os.eventfd_write(self.wfd, 1)
            else:
                self._wsock.send(b"\0")
        except (BlockingIOError, OSError):
            # Full (a wake is already pending) or closed during shutdown: nothing to do.
            pass

    def drain(self) -> None:
        self._drain()

    def _drain_eventfd(self) -> None:
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:
            pass

    def _drain_sock(self) -> None:
        assert self.rsock is not None
        try:
            while self.rsock.recv(4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
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
    """

    __slots__ = ("_lock", "_pair", "_poller", "fd")

    def __init__(self) -> None:
        self._pair = _Waker(socket_pair=True)
        self.fd = self._pair.fd
        self._poller = select.poll() if hasattr(select, "poll") else None
        if self._poller is not None:
            self._poller.register(self.fd, select.POLLIN)
        # Guards set() against close(); re-entrant because set() may run in a signal handler
        # on a thread that is inside set() already.
        self._lock = threading.RLock()

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
            self.close()
            return None
        return self

    def uninstall(self) -> None:
        """Stop being the wakeup fd (if still it) and close the pair."""
        try:
            current = signal.set_wakeup_fd(-1)
            if current != self._pair.wfd:
                signal.set_wakeup_fd(current)  # someone replaced it meanwhile: keep theirs
        except (ValueError, OSError):  # pragma: no cover - interpreter shutting down
            pass
        self.close()

    def set(self) -> None:
        """Wake :meth:`wait` (from any thread)."""
        with self._lock:
            self._pair.wake()  # a no-op once closed; a full buffer means a wake-up is pending

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
        with self._lock:
            self._pair.close()


def _withdraw(st: _FdState, task: Task[Any]) -> Abort:
    # A task waits in one direction at a time, so whichever slot holds it is its wait.
    if st.reader is task:
        st.reader = None
        return Abort.SUCCEEDED
    if st.writer is task:
        st.writer = None
        return Abort.SUCCEEDED
    return Abort.FAILED


# What the cold paths of a lock-free (current-thread) reactor hold instead of its lock.
_NO_LOCK: Final = nullcontext()


def _fileno(fd: int | Any) -> int:
    if isinstance(fd, int):
        if fd < 0:
            raise ValueError(f"invalid file descriptor {fd}")
        return fd
    fileno = getattr(fd, "fileno", None)
    if fileno is None:
        raise TypeError(f"expected a file descriptor or an object with fileno(), got {fd!r}")
    n = fileno()
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"{fd!r} has no valid file descriptor (fileno() returned {n!r})")
    return n


class IoDriver:
    """The reactor: waits for fds and for cross-thread wake-ups. See the module docstring."""

    __slots__ = (
        "_backend",
        "_closed",
        "_epoll_wait",
        "_fds",
        "_lock",
        "_run_exclusive",
        "_signals",
        "_wake",
        "_waker",
    )

    name = "io"

    def __init__(
        self,
        wake: Callable[[Task[Any]], None],
        *,
        use_epoll: bool | None = None,
        run_exclusive: Callable[[Callable[[], object]], None] | None = None,
    ) -> None:
        """``wake(task)`` makes a task whose fd is ready runnable.

        ``run_exclusive(fn)``, given by a scheduler that drives the reactor from one thread at
        a time, must run ``fn`` where no other thread touches the reactor (see the module
        notes); the reactor then takes no lock. Without it the reactor locks its fd table and
        is safe to wait on from any number of threads.
        """
        if use_epoll is None:
            use_epoll = hasattr(select, "epoll")
        backend = _EpollBackend() if use_epoll else _SelectorBackend()
        self._backend: _Backend = backend
        # epoll's own poll, for the blocking wait (same masks as the backend's poll returns).
        self._epoll_wait: Callable[[float], list[tuple[int, int]]] | None = (
            backend._poll if isinstance(backend, _EpollBackend) else None
        )
        self._waker = _Waker()
        self._backend.register(self._waker.fd, READ)
        self._fds: dict[int, _FdState] = {}
        self._wake = wake
        self._run_exclusive = run_exclusive
        self._closed = False
        self._lock: threading.RLock | None = threading.RLock() if run_exclusive is None else None
        self._signals: SignalWakeup | None = None

    def watch_signals(self, signals: SignalWakeup | None) -> None:
        """Let a signal's byte on ``signals.fd`` end a park (``None`` stops watching)."""
        with self._lock or _NO_LOCK:
            if self._closed:
                return
            old = self._signals
            if old is not None:
                self._backend.unregister(old.fd)
            self._signals = signals
            if signals is not None:
                self._backend.register(signals.fd, READ)

    # -- Driver ----------------------------------------------------------------------------

    def park(self, timeout: float | None) -> None:
        if timeout == 0 and not self._fds:
            return
        raw = self._epoll_wait
        # The idle wait of every server calls epoll directly, skipping the backend's wrapper.
        events = raw(-1) if timeout is None and raw is not None else self._backend.poll(timeout)
        if not events:
            return
        lock = self._lock
        if lock is None:
            self._dispatch(events)
        else:
            with lock:
                self._dispatch(events)

    def _dispatch(self, events: list[tuple[int, int]]) -> None:
        wfd = self._waker.fd
        fds = self._fds
        wake = self._wake
        backend = self._backend
        rbits = backend.rbits
        wbits = backend.wbits
        for fd, mask in events:
            if fd == wfd:
                self._waker.drain()
                continue
            st = fds.get(fd)
            if st is None:
                if self._signals is not None and fd == self._signals.fd:
                    self._signals.drain()  # the Python handler runs once we are back in bytecode
                continue
            # Keep interest in a direction whose waiter we wake (it usually waits again soon);
            # drop it for a direction that fired with nobody waiting, so it cannot spin.
            idle = 0
            if mask & rbits:
                task = st.reader
                if task is not None:
                    st.reader = None
                    wake(task)
                else:
                    idle = READ
            if mask & wbits:
                task = st.writer
                if task is not None:
                    st.writer = None
                    wake(task)
                else:
                    idle |= WRITE
            if idle:
                self._narrow(fd, st, st.mask & ~idle)

    def unpark(self) -> None:
        self._waker.wake()

    def shutdown(self) -> None:
        with self._lock or _NO_LOCK:
            if self._closed:
                return
            self._closed = True
            err = OSError(errno.EBADF, "the runtime shut down while this task waited for I/O")
            for st in self._fds.values():
                st.fd = -1
                for task in (st.reader, st.writer):
                    if task is not None:
                        task._throw = err
                        self._wake(task)
            self._fds.clear()
            self._backend.close()
            self._waker.close()

    # -- registration ----------------------------------------------------------------------

    def _narrow(self, fd: int, st: _FdState, wanted: int) -> None:
        try:
            if wanted:
                self._backend.modify(fd, wanted)
            else:
                self._backend.unregister(fd)
        except OSError:
            pass  # closed behind our back: the kernel already forgot it
        if wanted:
            st.mask = wanted
        else:
            self._drop(fd)

    def _register(self, fd: int, st: _FdState, want: int) -> None:
        new = st.mask | want
        if new == st.mask:
            return
        backend = self._backend
        try:
            if st.mask:
                try:
                    backend.modify(fd, new)
                except FileNotFoundError:
                    backend.register(fd, new)
            else:
                try:
                    backend.register(fd, new)
                except FileExistsError:
                    backend.modify(fd, new)
        except OSError as exc:
            if exc.errno == errno.EPERM:
                raise OSError(
                    errno.EPERM,
                    f"fd {fd} cannot be waited on (regular files are always ready; use "
                    "spawn_blocking for file I/O)",
                ) from None
            raise
        st.mask = new

    def wait(self, fd_like: int | Any, direction: int) -> Awaitable[None]:
        """Park until ``fd_like`` is ready in ``direction`` (``READ`` or ``WRITE``).

        ``fd_like`` is an int or an object with ``fileno()``. An object that waits again and
        again (a socket) is better served by a :class:`Registration` of its own, which skips
        the fd table lookup on every wait.

        Raises:
            OSError: ``EBADF`` when the fd is closed through :meth:`notify_closing` /
                :meth:`close` meanwhile, or the runtime shuts down.
            RuntimeError: another task already waits on this fd in this direction.

        Cancel safety: cancel-safe; waiting consumes nothing.
        """
        return Registration(self, fd_like).wait(direction)

    def register(self, fd_like: int | Any) -> Registration:
        """A standing registration of ``fd_like`` (an int or an object with ``fileno()``).

        Its ``await reg.wait(READ)`` / ``await reg.wait(WRITE)`` waits like :meth:`wait`
        without looking the fd up each time: an I/O object makes one and keeps it. Nothing
        is registered with the OS until the first wait; closing goes through :meth:`close`
        as usual.
        """
        return Registration(self, fd_like)

    def _state_for(self, fd: int, fd_like: object) -> _FdState:
        """The state of ``fd`` in the table, created if need be (lock held)."""
        if self._closed:
            raise RuntimeError("the runtime's I/O driver is shut down")
        st = self._fds.get(fd)
        if st is None:
            st = self._fds[fd] = _FdState(fd, _owner_ref(fd_like), self._lock)
        elif st.owner is not None and type(fd_like) is not int and st.owner() is not fd_like:
            # The object that registered this fd number is gone or closed; see the notes.
            self._forget(fd)
            st = self._fds[fd] = _FdState(fd, _owner_ref(fd_like), self._lock)
        return st

    def _drop(self, fd: int) -> _FdState | None:
        """Take ``fd``'s state out of the table (lock held); its registrations notice."""
        st = self._fds.pop(fd, None)
        if st is not None:
            st.fd = -1
        return st

    def notify_closing(self, fd_like: int | Any) -> None:
        """Wake the fd's waiters with ``EBADF`` and forget it; safe from any thread."""
        self._on_runtime_thread(lambda: self._notify_closing(fd_like))

    def _on_runtime_thread(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` where it may touch the fd table: through ``run_exclusive`` on a lock-free
        reactor, else here (``fn`` takes the lock). A shut-down reactor has no waiters: run at
        once.
        """
        run_exclusive = self._run_exclusive
        if self._closed or run_exclusive is None:
            fn()
        else:
            run_exclusive(fn)

    def _notify_closing(self, fd_like: int | Any) -> None:
        fd = _fileno(fd_like)
        with self._lock or _NO_LOCK:
            self._forget(fd)

    def _forget(self, fd: int) -> None:
        """Drop ``fd`` from the table and wake its waiters with ``EBADF`` (lock held)."""
        st = self._drop(fd)
        if st is None:
            return
        if st.mask:
            try:
                self._backend.unregister(fd)
            except OSError:
                pass
        for task in (st.reader, st.writer):
            if task is not None:
                reschedule_err = OSError(
                    errno.EBADF, f"fd {fd} was closed while a task was waiting on it"
                )
                task._throw = reschedule_err
                self._wake(task)
        st.reader = st.writer = None

    def close(self, fileobj: Any) -> None:
        """Stop watching ``fileobj``'s fd, wake its waiters with ``EBADF``, and close it.

        Safe from any thread: when another thread is running the runtime, the work is posted
        to it (the fd stays open until then, so its number cannot be reused under a waiter).
        Idempotent as long as ``fileobj.close()`` is.
        """
        self._on_runtime_thread(lambda: self._close_now(fileobj))

    def _close_now(self, fileobj: Any) -> None:
        try:
            fd = fileobj.fileno()
        except (OSError, ValueError):
            fd = -1
        if isinstance(fd, int) and fd >= 0 and not self._closed:
            self._notify_closing(fd)
        fileobj.close()

    def registered_fds(self) -> int:
        """Number of fds the reactor watches."""
        return len(self._fds)


class Registration:
    """One object's standing registration with a reactor (:meth:`IoDriver.register`), as
    Tokio's I/O resources hold one.

    Made once per socket (rt.net does), it remembers the fd's state in the reactor, so a wait
    skips the fd table lookup and the ownership check that :meth:`IoDriver.wait` does each
    time; it looks the fd up again only after the state left the table (the fd was closed,
    forgotten, or its interest dropped). ``fd_like`` is an int or an object with ``fileno()``;
    a ``socket.socket`` that gets closed makes the next wait raise ``EBADF``.
    """

    __slots__ = ("_fileno", "_io", "_obj", "_st")

    def __init__(self, io: IoDriver, fd_like: int | Any) -> None:
        self._io = io
        self._obj = fd_like
        self._st: _FdState | None = None
        if type(fd_like) is socket.socket:
            self._fileno: Callable[[], int] = fd_like.fileno
        elif type(fd_like) is int:
            self._fileno = _fileno(fd_like).__index__  # validated once: it cannot change
        else:
            self._fileno = partial(_fileno, fd_like)

    @types.coroutine
    def wait(self, direction: int) -> Generator[Any, None, None]:
        """Park until the fd is ready in ``direction`` (``READ`` or ``WRITE``).

        Raises:
            OSError: ``EBADF`` when the fd is closed through :meth:`IoDriver.notify_closing` /
                :meth:`IoDriver.close` meanwhile, or the runtime shuts down.
            RuntimeError: another task already waits on this fd in this direction.

        Cancel safety: cancel-safe; waiting consumes nothing.
        """
        # The hottest path of every socket wait: the trap is inlined here (see _traps).
        fd = self._fileno()
        if fd < 0:
            # Closed, possibly by another thread between the caller's I/O and this wait.
            raise OSError(errno.EBADF, f"{self._obj!r} was closed (it has no file descriptor)")
        io = self._io
        state = STATE.get(None)
        task = state._current if state is not None else None
        if task is None:
            raise outside_error("wait_readable() / wait_writable()")
        lock = io._lock  # None on the current-thread flavor: see the module notes
        if lock is not None:
            lock.acquire()
        try:
            st = self._st
            if st is None or st.fd != fd:
                # Not in the table (any more): look it up. A shut-down reactor let go of every
                # state, so this is also where a wait after shutdown is refused.
                st = self._st = io._state_for(fd, self._obj)
            if direction == READ:
                if st.reader is not None:
                    raise RuntimeError(
                        f"another task is already waiting for fd {fd} to be readable"
                    )
                st.reader = task
            elif direction == WRITE:
                if st.writer is not None:
                    raise RuntimeError(
                        f"another task is already waiting for fd {fd} to be writable"
                    )
                st.writer = task
            else:
                raise ValueError(f"direction must be READ or WRITE, got {direction!r}")
            if not st.mask & direction:
                try:
                    io._register(fd, st, direction)
                except BaseException:
                    if direction == READ:
                        st.reader = None
                    else:
                        st.writer = None
                    if not st.mask:
                        io._drop(fd)
                    raise
        finally:
            if lock is not None:
                lock.release()
        task._abort_fn = st  # cancelling the task calls st.withdraw(task)
        task._coop = 0
        try:
            yield PARK
        finally:
            task._abort_fn = None


class ThreadParker:
    """The bottom layer when I/O is disabled: park on a condition variable."""

    __slots__ = ("_cond", "_notified", "_signals")

    name = "park"

    def __init__(self) -> None:
        import threading

        # Re-entrant: a signal handler on the parking thread may unpark it (Ctrl-C posts the
        # main task's cancellation), possibly while that thread holds the lock in park().
        self._cond = threading.Condition(threading.RLock())
        self._notified = False
        self._signals: SignalWakeup | None = None

    def watch_signals(self, signals: SignalWakeup | None) -> None:
        """Park on ``signals`` (a signal ends the park) instead of the condition variable."""
        with self._cond:
            self._signals = signals

    def park(self, timeout: float | None) -> None:
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
