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

Files, by concern: this one holds the fd table, registration and its withdraw side by side
(:class:`_FdState`, :class:`Registration`, :class:`IoDriver`); ``_backends`` the epoll and
selectors backends; ``_wakeup`` the wake-up fd, the signal wakeup fd and the thread parker.
"""

from __future__ import annotations

import errno
import select
import socket
import threading
import types
import weakref
from collections.abc import Awaitable, Callable, Generator
from contextlib import nullcontext
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from ._backends import READ, WRITE, _Backend, _EpollBackend, _SelectorBackend
from ._current import STATE, outside_error
from ._traps import PARK, Abort
from ._wakeup import SignalWakeup, _Waker

if TYPE_CHECKING:
    from ._task import JoinHandle as Task

__all__ = ["READ", "WRITE", "IoDriver", "Registration"]


class _FdState:
    """What the reactor knows about one fd: its waiters and the interest it registered.

    ``fd`` is ``-1`` once the state has left the fd table (the fd was closed, forgotten, or its
    interest dropped): a :class:`Registration` holding it then looks the fd up again.
    A parked task's ``_abort_fn`` is the state itself (no object per wait): cancelling the
    task calls :meth:`_withdraw`.
    """

    __slots__ = ("fd", "lock", "mask", "on_read", "on_write", "owner", "reader", "writer")

    def __init__(
        self, fd: int, owner: weakref.ref[Any] | None, lock: threading.RLock | None
    ) -> None:
        self.reader: Task[Any] | None = None
        self.writer: Task[Any] | None = None
        # Readiness callbacks (IoDriver.on_ready): looked at only when no task waits in that
        # direction, so the task path pays nothing for them.
        self.on_read: Callable[[], object] | None = None
        self.on_write: Callable[[], object] | None = None
        self.mask = 0
        self.fd = fd
        self.owner = owner
        self.lock = lock

    def _describe_wait(self) -> str:
        """What a task parked on this fd waits for (task dumps)."""
        ways = [w for w, t in (("readable", self.reader), ("writable", self.writer)) if t]
        return f"fd {self.fd} {' or '.join(ways) or '(woken)'}"

    def _withdraw(self, task: Task[Any]) -> Abort:
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
        "_pre_block",
        "_run_exclusive",
        "_signals",
        "_wake",
        "_waker",
        "_woken",
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
        # Set by a scheduler as a thread starts to park (before its last look at its queues),
        # cleared here once a wait that could block is over. While it is set, a wake-up made
        # on that thread (a finalizer run by the collector, a driver layer's code above) calls
        # _mark_woken, and the wait about to begin polls instead of blocking; once it is
        # clear, the wake-ups this park dispatches need nothing (the loop looks at its queues
        # when the park returns). On epoll no system call either way (an unpark writes the
        # eventfd); the selectors backend needs one (see _mark_woken).
        self._pre_block = False
        self._woken = False
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
        if timeout is not None and timeout == 0:  # None first: no rich compare
            # A poll: what woke a task before it is runnable now (the caller looks), and a
            # wait that may follow in the same park is still covered (_pre_block stays).
            self._woken = False
            if not self._fds:
                return
            events = self._backend.poll(0)
        else:
            if self._woken:  # woken on this thread as it came to park (see __init__)
                events = self._backend.poll(0)
            else:
                raw = self._epoll_wait
                # The idle wait of every server calls epoll directly, skipping the backend's
                # wrapper. On epoll nothing between the look at _woken and the system call
                # makes an object the collector tracks (a timed wait makes floats only), so no
                # finalizer runs there; the selectors backend's does (see _mark_woken).
                if timeout is None and raw is not None:
                    events = raw(-1)
                else:
                    events = self._backend.poll(timeout)
            self._pre_block = self._woken = False
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
                    callback = st.on_read
                    if callback is not None:
                        if callback() is not True:  # True: it stays armed (see on_ready)
                            st.on_read = None
                    else:
                        idle = READ
            if mask & wbits:
                task = st.writer
                if task is not None:
                    st.writer = None
                    wake(task)
                else:
                    callback = st.on_write
                    if callback is not None:
                        if callback() is not True:
                            st.on_write = None
                    else:
                        idle |= WRITE
            if idle:
                self._narrow(fd, st, st.mask & ~idle)

    def unpark(self) -> None:
        self._waker.wake()

    def about_to_park(self) -> None:
        """Flag this driver as about to be parked by the calling thread, before the caller's
        last look at its own queues (as the schedulers flag it when they start to park): from
        then on until the wait is over, :meth:`unpark_local` on this thread makes the wait a
        poll. For code that parks the runtime's drivers itself
        (``rt.lowlevel.idle_parker``)."""
        self._pre_block = True

    def unpark_local(self) -> None:
        """:meth:`unpark` for code running on the thread that parks this driver, inside its
        park (a timer's callback, a readiness callback): a wait not begun yet polls instead
        of blocking, with no write to the wake-up fd; a wait already over needs nothing, the
        park is returning to a caller that looks at its queues. From any other thread, call
        :meth:`unpark`."""
        if self._pre_block:
            self._mark_woken()

    def _mark_woken(self) -> None:
        """A task became runnable on the parking thread before its wait (see ``_pre_block``):
        the wait polls instead. Without epoll the wait's Python wrapper (``selectors``) makes
        lists before its system call, where a finalizer may run after the look at the mark:
        there the wake-up fd is written too."""
        self._woken = True
        if self._epoll_wait is None:
            self.unpark()

    def shutdown(self) -> None:
        with self._lock or _NO_LOCK:
            if self._closed:
                return
            self._closed = True
            err = OSError(errno.EBADF, "the runtime shut down while this task waited for I/O")
            for st in self._fds.values():
                st.fd = -1
                st.on_read = st.on_write = None
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
                    self._refuse_own(fd)
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

    def _refuse_own(self, fd: int) -> None:
        """Refuse ``fd`` if it is one of the reactor's own (its wake-up fd, or the signal
        wake-up fd it watches while driven): a caller holding that number holds a stale fd
        (closed, its number reused by the runtime), and taking it over would lose the
        runtime's wake-ups and fail its shutdown."""
        signals = self._signals
        if fd == self._waker.fd or (signals is not None and fd == signals.fd):
            raise OSError(
                errno.EBADF,
                f"fd {fd} is the runtime's own wake-up fd: the fd given was closed and its "
                "number reused; stop watching an fd before closing it",
            )

    def wait(self, fd_like: int | Any, direction: int) -> Awaitable[None]:
        """Park until ``fd_like`` is ready in ``direction`` (``READ`` or ``WRITE``).

        ``fd_like`` is an int or an object with ``fileno()``. An object that waits again and
        again (a socket) is better served by a :class:`Registration` of its own, which skips
        the fd table lookup on every wait.

        Raises:
            OSError: ``EBADF`` when the fd is closed through :meth:`notify_closing` /
                :meth:`close` meanwhile, or the runtime shuts down.
            RuntimeError: another task already waits on this fd in this direction, or the
                waiting task belongs to another runtime than this reactor's.

        Cancel safety: cancel-safe; waiting consumes nothing.
        """
        return Registration(self, fd_like).wait(direction)

    def register(
        self, fd_like: int | Any, *, what: str | None = None, fix: str | None = None
    ) -> Registration:
        """A standing registration of ``fd_like`` (an int or an object with ``fileno()``).

        Its ``await reg.wait(READ)`` / ``await reg.wait(WRITE)`` waits like :meth:`wait`
        without looking the fd up each time: an I/O object makes one and keeps it. Nothing
        is registered with the OS until the first wait; closing goes through :meth:`close`
        as usual.

        A wait from another runtime's task raises ``RuntimeError`` (it would wait for ever),
        worded for the user's object by ``what``, the start of a sentence ("this rt.io.Stdin
        was made"), and ``fix``, what to do ("call rt.io.stdin() again in the runtime that
        uses it"); without them it names ``fd_like``.
        """
        if what is None and fix is None:
            return Registration(self, fd_like)  # a socket's: no words, no room for them
        return _WordedRegistration(self, fd_like, what, fix)

    def on_ready(self, fd: int, direction: int, callback: Callable[[], object]) -> None:
        """Call ``callback()`` once, the next time ``fd`` is ready in ``direction``.

        The readiness counterpart of a task's wait, for an event loop of another kind that
        queues its own work (rt-asyncio's loop queues the fd's asyncio handle): no task is
        parked and none is woken. ``callback`` is called by the thread that polls the reactor,
        while it dispatches (holding the reactor's lock on the multi-thread flavor), so it
        must be quick, must not block or raise, and must not call back into the reactor: hand
        the event over (append to a queue, :func:`reschedule` the task that drains it). One
        call per arming: call ``on_ready`` again to hear about the next readiness (the
        interest stays registered with the OS meanwhile, as after a task's wait); a callback
        that returns ``True`` (exactly) stays armed instead and is called at every readiness
        until it returns something else (the fd is level-triggered: an owner that is not done
        with an event must return ``True`` without queuing it twice). A task
        waiting in the same direction takes precedence: it is woken and the callback stays
        armed. :meth:`notify_closing` and :meth:`close` drop an armed callback uncalled.

        Call it on the runtime: from a task or a callback of one of its threads (the
        current-thread reactor takes no lock: only the thread driving the runtime may touch
        it).

        Args:
            fd: The file descriptor (an int: this path keeps no ownership check; call
                :meth:`notify_closing` before the fd is closed).
            direction: ``READ`` or ``WRITE``.
            callback: Called with no arguments.

        Raises:
            RuntimeError: a callback is already armed for ``fd`` in ``direction``, or the
                reactor is shut down.
            ValueError: ``direction`` is neither ``READ`` nor ``WRITE``.
            OSError: the OS refused to watch ``fd`` (``EBADF`` for a closed fd, ``EPERM``
                for a regular file).
        """
        if direction not in (READ, WRITE):  # before the fd gets a state in the table
            raise ValueError(f"direction must be READ or WRITE, got {direction!r}")
        lock = self._lock
        if lock is not None:
            lock.acquire()
        try:
            st = self._fds.get(fd)
            if st is None:
                st = self._state_for(fd, fd)
            if direction == READ:
                if st.on_read is not None:
                    raise RuntimeError(f"a readiness callback is already armed for fd {fd}")
                st.on_read = callback
            else:
                if st.on_write is not None:
                    raise RuntimeError(f"a readiness callback is already armed for fd {fd}")
                st.on_write = callback
            if not st.mask & direction:
                try:
                    self._register(fd, st, direction)
                except BaseException:
                    if direction == READ:
                        st.on_read = None
                    else:
                        st.on_write = None
                    if not st.mask:
                        self._drop(fd)
                    raise
        finally:
            if lock is not None:
                lock.release()

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
        st.on_read = st.on_write = None  # dropped uncalled: their owner let the fd go

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


def _foreign_reactor_error(reg: Registration, fd: int) -> RuntimeError:
    """The error for a wait on a reactor that is not the waiting task's runtime's."""
    obj = reg._obj
    what, fix = (reg._what, reg._fix) if isinstance(reg, _WordedRegistration) else (None, None)
    what = what or (f"fd {fd}" if isinstance(obj, int) else repr(obj)) + " was registered"
    fix = fix or (
        "use it from tasks of the runtime that made it (Handle.spawn reaches that runtime from "
        "anywhere), or make it again on this one"
    )
    return RuntimeError(
        f"{what} on another rt runtime (or one that has shut down), whose reactor is the only "
        f"one that watches it, so a task of this runtime would wait for ever: {fix}"
    )


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
            RuntimeError: another task already waits on this fd in this direction, or the
                waiting task belongs to another runtime than this reactor's.

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
        if task._sched._io is not io:
            raise _foreign_reactor_error(self, fd)
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
        task._abort_fn = st  # cancelling the task calls st._withdraw(task)
        task._coop = 0
        yield PARK


class _WordedRegistration(Registration):
    """A registration whose maker worded the error of a wait from another runtime."""

    __slots__ = ("_fix", "_what")

    def __init__(self, io: IoDriver, fd_like: int | Any, what: str | None, fix: str | None) -> None:
        super().__init__(io, fd_like)
        self._what = what
        self._fix = fix
