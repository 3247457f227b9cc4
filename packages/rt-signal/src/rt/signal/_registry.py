"""The process-wide signal registry: one Python handler per signal, fanned out to listeners.

Facts this code relies on:

* **Where handlers run.** CPython runs Python signal handlers on the main thread only, between
  two bytecodes, and only the main thread may install one (``signal.signal``). Our handler
  (:func:`_on_signal`) therefore does almost nothing: it bumps the signal's *generation*
  counter and writes one byte to the self-pipe of each listener of that signal. It takes no
  lock (it may interrupt the main thread inside one of ours) and touches no scheduler: the
  byte wakes the listener's ``recv()`` through the reactor of its runtime, on whichever thread
  drives it.
* **Coalescing, never losing.** A listener remembers the generation it last saw. ``recv()``
  returns at once when the signal's generation moved since, so any number of deliveries while
  nobody waited become one ``recv()`` (Tokio's semantics), and a delivery is never missed by
  a listener that exists when it lands. Several listeners of one signal each see it.
* **Installing and restoring.** The handler for a signal is installed when its first listener
  registers and the previous handler is put back when its last listener (on any runtime) goes;
  a runtime's shutdown closes its listeners (rt-signal's driver layer, :class:`SignalDriver`,
  sees the shutdown). While our handler is installed and no listener is left (a short window),
  a delivery goes to the previous handler. Registration from a thread other than the main
  thread (a multi-thread runtime's worker, a runtime driven by another thread) asks the main
  thread to install the handler through a *doorbell*: a real-time signal whose handler,
  installed when ``rt.signal`` is imported on the main thread, runs queued requests. The
  registering thread waits until the main thread has done it, so a signal sent right after
  registration is never handled the old way, and rings again meanwhile (with backoff): a
  ring landing just before the main thread blocks in a plain wait interrupts nothing.
"""

from __future__ import annotations

import errno
import os
import signal
import threading
import time
import types
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from rt.lowlevel import READ, Driver, DriverContext, current_driver, current_io

if TYPE_CHECKING:
    from rt.lowlevel import IoDriver

Handler = Callable[[int, types.FrameType | None], Any] | int | None

UNCATCHABLE: Final = frozenset(
    getattr(signal, name) for name in ("SIGKILL", "SIGSTOP") if hasattr(signal, name)
)
# Synchronous faults: the kernel sends them for the faulting instruction, which runs again
# (and faults again) once a handler returns; a Python handler only sets a flag and returns,
# so the process would spin forever. Tokio refuses these too.
FAULTS: Final = frozenset(
    getattr(signal, name)
    for name in ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL")
    if hasattr(signal, name)
)

# Generation of each signal: bumped by the handler (main thread only), read anywhere.
_gens: list[int] = [0] * signal.NSIG
# Listeners per signal (all runtimes), and the handlers we replaced. Guarded by _lock;
# the signal handler only reads _counts (a dict lookup is atomic under the GIL).
_lock = threading.Lock()
_counts: dict[int, int] = {}
#: signal -> how many of ``_counts`` are lifelong raw listeners (never closed)
_lifelong: dict[int, int] = {}
_previous: dict[int, Handler] = {}
_installed: set[int] = set()
# The write ends of every listener's pipe per signal: a snapshot the handler reads.
_pokes: dict[int, tuple[int, ...]] = {}


def _on_signal(signum: int, frame: types.FrameType | None) -> None:
    _gens[signum] += 1
    if not _counts.get(signum):
        _chain(signum, frame)  # a listener just left: behave as if we were not here
    for fd in _pokes.get(signum, ()):
        try:
            os.write(fd, b"\0")
        except OSError:  # full (a wake-up is pending anyway) or closed meanwhile
            pass


# Signals whose default action is to do nothing: chaining to the default does not re-raise
# them (re-raising would put SIG_DFL back while we still count our handler as installed).
_DEFAULT_IGNORED: Final = frozenset(
    getattr(signal, name) for name in ("SIGCHLD", "SIGWINCH", "SIGURG") if hasattr(signal, name)
)


def _chain(signum: int, frame: types.FrameType | None) -> None:
    prev = _previous.get(signum, signal.SIG_DFL)
    if callable(prev):
        prev(signum, frame)
    elif prev == signal.SIG_IGN or signum in _DEFAULT_IGNORED:
        return
    elif signum == signal.SIGINT:
        raise KeyboardInterrupt
    else:
        # The default action (terminate, dump core, ...): let the kernel take it.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def check_signum(signum: int) -> int:
    """Validate a signal number for registration and return it."""
    if isinstance(signum, bool) or not isinstance(signum, int):
        raise TypeError(f"a signal number must be an int, got {signum!r}")
    if signum in UNCATCHABLE:
        name = signal.Signals(signum).name
        raise ValueError(f"{name} cannot be caught, blocked or ignored: no handler can see it")
    if signum in FAULTS:
        name = signal.Signals(signum).name
        raise ValueError(
            f"{name} reports a fault of this process (a bad memory access or instruction): "
            "the faulting instruction runs again once a Python-level handler returns, so "
            "listening for it would hang the process. Use the faulthandler module to report "
            "such crashes, or another signal (SIGUSR1, SIGUSR2, ...) to signal the process"
        )
    if signum == _DOORBELL:
        raise ValueError(
            f"signal {signum} (SIGRTMAX - 2) is used by rt.signal itself to reach the main "
            "thread; listen for another real-time signal (SIGRTMIN ... SIGRTMAX - 3)"
        )
    if signum not in signal.valid_signals():
        lo, hi = min(signal.valid_signals()), max(signal.valid_signals())
        raise ValueError(
            f"signal {signum} cannot be listened for: it does not exist on this platform "
            f"(signal numbers run from {lo} to {hi}; see the signal module's SIG* names)"
        )
    return signum


# -- running things on the main thread -----------------------------------------------------


class _Request:
    __slots__ = ("done", "error", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.error: BaseException | None = None


_DOORBELL: Final = signal.SIGRTMAX - 2 if hasattr(signal, "SIGRTMAX") else -1
_requests: deque[_Request] = deque()
_doorbell_ready = False


_missed = False  # a doorbell found the lock taken: whoever holds it rings again


def _on_doorbell(signum: int, frame: types.FrameType | None) -> None:
    global _missed
    # Never wait for the lock here: the main thread may have been interrupted inside one of
    # our locked sections, or a worker holds it and needs the GIL to let it go. Leave a note
    # (before trying, so a holder that releases meanwhile cannot miss it) and return; the
    # holder rings again when it releases (see _locked).
    _missed = True
    if not _lock.acquire(blocking=False):
        return
    try:
        _missed = False
        while _requests:
            req = _requests.popleft()
            try:
                req.fn()
            except BaseException as exc:  # handed to the waiting thread
                req.error = exc
            req.done.set()
    finally:
        _unlock()
    if _left:
        _close_left()


def _unlock() -> None:
    """Release ``_lock``, then ring the doorbell again if one found it taken meanwhile.

    Every release of ``_lock`` goes through here (:func:`_locked`, the doorbell handler's own
    and :func:`_close_left`'s try): a doorbell that finds the lock taken only leaves its note
    (``_missed``) and counts on the holder to ring again, whichever path took the lock.
    """
    _lock.release()
    if _missed:
        if threading.current_thread() is threading.main_thread():
            _on_doorbell(_DOORBELL, None)
        else:
            try:
                signal.pthread_kill(threading.main_thread().ident or 0, _DOORBELL)
            except OSError:
                # The main thread is gone (interpreter shutdown): nobody is left to ring, and
                # a caller closing listeners left by finalizers (_close_left) goes on.
                pass


@contextmanager
def _locked() -> Iterator[None]:
    """``with _lock``, then ring the doorbell again if one came while the lock was held
    (:func:`_unlock`), and run the closes finalizers left meanwhile
    (:func:`close_from_finalizer`)."""
    _lock.acquire()
    try:
        yield
    finally:
        _unlock()
        if _left:
            _close_left()


# Listeners whose stream was collected while ``_lock`` was taken: whoever holds it closes
# them as it releases it (``_locked``).
_left: deque[Listener | RawListener] = deque()


def close_from_finalizer(listener: Listener | RawListener) -> None:
    """Close ``listener`` for a finalizer (a stream collected without ``close()``).

    Never waits for ``_lock``: the collector runs finalizers at allocations, and the thread
    it interrupts may hold that lock itself (``_snapshot`` allocates under it), which a
    blocking wait would deadlock. A close that finds the lock taken is left to its holder,
    who runs it as it releases (the note is left before trying, so a holder that releases
    meanwhile sees it, or this try succeeds).
    """
    _left.append(listener)
    _close_left()


def _close_left() -> None:
    while _left:
        if not _lock.acquire(blocking=False):
            return  # the holder closes them as it releases
        # Free: this thread does not hold it, so close() may wait for it. Released as every
        # holder releases it: a doorbell that came meanwhile is rung again.
        _unlock()
        try:
            listener = _left.popleft()
        except IndexError:
            return
        try:
            listener.close()
        except Exception:  # a finalizer's close: as in Signal.__del__, nobody to tell
            pass


def install_doorbell() -> None:
    """Install the doorbell handler (on the main thread, at import)."""
    global _doorbell_ready
    if _DOORBELL < 0 or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(_DOORBELL) in (signal.SIG_DFL, None):
            signal.signal(_DOORBELL, _on_doorbell)
            _doorbell_ready = True
    except (ValueError, OSError):  # pragma: no cover - not the main interpreter
        pass


def _on_main_thread(
    fn: Callable[[], None], *, wait: bool, here_if_no_doorbell: bool = False
) -> None:
    """Run ``fn`` with ``_lock`` held on the main thread (here if this is it)."""
    main = threading.main_thread()
    if threading.current_thread() is main or (here_if_no_doorbell and not _doorbell_ready):
        with _locked():
            fn()
        return
    if not _doorbell_ready:
        if not wait:
            return  # a restore we cannot do: our handler chains to the previous one anyway
        raise RuntimeError(
            "rt.signal must install its handler on the main thread (Python only lets that "
            "thread set signal handlers): import rt.signal on the main thread (at the top of "
            "the program) before registering signals from other threads"
        )
    req = _Request(fn)
    _requests.append(req)
    main_id = main.ident or 0
    signal.pthread_kill(main_id, _DOORBELL)
    if not wait:
        return
    # Ring again until the main thread has run it. CPython runs the handler when the main
    # thread next checks for signals: at once if it runs bytecode, and a blocking wait (a
    # lock, Event.wait(), join(), a sleep, a select) is interrupted by the signal and checks.
    # But a ring landing just before the main thread re-enters such a wait (after its last
    # check, before it blocks) interrupts nothing: the wait goes on, the note unread. A ring
    # that finds it blocked does interrupt it, and the first rings come soon.
    deadline = time.monotonic() + _RING_BOUND
    interval = _RING_FIRST
    while not req.done.wait(interval):
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"rt.signal: the main thread did not install the signal handler within "
                f"{_RING_BOUND:.0f} s; it must run Python code (or wait in an interruptible "
                "call) for handlers to work"
            )
        try:
            signal.pthread_kill(main_id, _DOORBELL)
        except OSError:  # pragma: no cover - the main thread is gone: wait out the bound
            pass
        interval = min(interval * 2, _RING_MAX)
    if req.error is not None:
        raise req.error


# The doorbell is rung again _RING_FIRST s after the first ring, the interval doubling up to
# _RING_MAX s, until the main thread has run the request or _RING_BOUND s have passed.
_RING_FIRST: Final = 0.001
_RING_MAX: Final = 0.1
_RING_BOUND: Final = 30.0


def _install(signum: int) -> None:
    # Lock held, main thread.
    if signum in _installed or not _counts.get(signum):
        return
    _previous[signum] = signal.signal(signum, _on_signal)
    _installed.add(signum)


def handler_in_place(signum: int) -> bool:
    """Whether rt-signal's handler is the process's handler for ``signum`` right now (a
    program's own ``signal.signal`` may have replaced it); any thread."""
    return signal.getsignal(signum) is _on_signal


def _restore(signum: int) -> None:
    # Lock held, main thread.
    if signum not in _installed or _counts.get(signum):
        return
    _installed.discard(signum)
    prev = _previous.pop(signum, signal.SIG_DFL)
    if signal.getsignal(signum) is _on_signal:  # someone replaced ours meanwhile: keep theirs
        signal.signal(signum, signal.SIG_DFL if prev is None else prev)


# -- listeners and the per-runtime driver layer --------------------------------------------


class _PipeFd:
    """The read end of a listener's pipe, in the shape ``IoDriver.close`` takes."""

    __slots__ = ("__weakref__", "fd")

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


class Listener:
    """One registration of one signal on one runtime, with a pipe of its own.

    The handler writes a byte to ``wfd`` after bumping the generation; :meth:`recv` compares
    generations and waits for the pipe through the runtime's reactor when nothing is new.
    """

    __slots__ = (
        "__weakref__",
        "closed",
        "driver",
        "io",
        "reg",
        "rpipe",
        "seen",
        "signum",
        "waiting",
        "wfd",
    )

    def __init__(self, signum: int, io: IoDriver, driver: SignalDriver | None) -> None:
        self.signum = signum
        self.io = io
        self.driver = driver
        rfd, self.wfd = os.pipe()
        os.set_blocking(rfd, False)
        os.set_blocking(self.wfd, False)
        self.rpipe = _PipeFd(rfd)
        # A wait from another runtime's task raises the reactor's error, in these words.
        self.reg = io.register(
            self.rpipe,
            what="this signal stream was made",
            fix="call rt.signal.unix.signal(...) in the runtime that awaits it",
        )
        self.seen = _gens[signum]
        self.closed = False
        self.waiting = False  # a task is in recv(): one at a time, as Tokio's &mut self

    async def recv(self) -> bool:
        """Wait for a delivery since the last one seen; ``False`` once closed."""
        rpipe = self.rpipe
        if self.waiting:
            raise RuntimeError(
                "another task is already waiting on this signal stream: give each task its "
                "own rt.signal.unix.signal(...) listener (every listener sees each delivery)"
            )
        self.waiting = True
        try:
            return await self._recv(rpipe)
        finally:
            self.waiting = False

    async def _recv(self, rpipe: _PipeFd) -> bool:
        while True:
            if self.closed:
                return False
            gen = _gens[self.signum]
            if gen != self.seen:
                self.seen = gen
                return True
            try:
                await self.reg.wait(READ)
                while os.read(rpipe.fd, 512):
                    pass
            except BlockingIOError:
                pass
            except OSError as exc:
                if exc.errno == errno.EBADF and self.is_closed():
                    return False
                raise

    def is_closed(self) -> bool:
        """Whether :meth:`close` was called (a call: it changes while ``recv`` waits)."""
        return self.closed

    def close(self) -> None:
        """Unregister; idempotent, any thread."""
        global _pokes
        with _locked():
            if self.closed:
                return
            self.closed = True
            _listeners.discard(self)
            _pokes = _snapshot()
            driver = self.driver
        if driver is not None:
            driver.forget(self)
        self.io.close(self.rpipe)  # a waiting recv() wakes and returns False
        wfd = self.wfd
        # The handler writes to wfd on the main thread: close it there, after _pokes dropped
        # it, so a handler that read the old snapshot never writes to a reused fd number.
        _on_main_thread(lambda: os.close(wfd), wait=False, here_if_no_doorbell=True)
        _release(self.signum)


class RawListener:
    """A process-wide registration of one signal on no runtime, for a helper thread.

    The handler writes a byte to ``wfd`` after bumping the generation, as for a
    :class:`Listener`; the owner waits for ``rfd`` (non-blocking) itself, e.g. with
    ``select.poll`` in a thread of its own (rt-process's SIGCHLD watcher does). The
    handler stays installed while it is registered.
    """

    __slots__ = ("__weakref__", "closed", "rfd", "signum", "wfd")

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self.closed = False

    def drain(self) -> None:
        """Read every pending byte from ``rfd``."""
        try:
            while os.read(self.rfd, 512):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Unregister and close the pipe; idempotent, any thread."""
        global _pokes
        with _locked():
            if self.closed:
                return
            self.closed = True
            _listeners.discard(self)
            _pokes = _snapshot()
        os.close(self.rfd)
        wfd = self.wfd
        # As for Listener: the write end is closed on the main thread, where the handler runs.
        _on_main_thread(lambda: os.close(wfd), wait=False, here_if_no_doorbell=True)
        _release(self.signum)


def register_raw(signum: int, *, lifelong: bool = False) -> RawListener:
    """Register a runtime-less listener for ``signum``, installing the handler.

    ``lifelong``: the caller keeps the listener for the life of the process (rt-process's
    SIGCHLD watcher); it is counted in :data:`_lifelong` too, so checks that every listener
    went can leave it out.

    Raises:
        ValueError: ``signum`` cannot be caught.
        RuntimeError: called off the main thread before ``rt.signal`` was imported on it.
    """
    global _pokes
    check_signum(signum)
    listener = RawListener(signum)
    with _locked():
        _listeners.add(listener)
        _pokes = _snapshot()
        _counts[signum] = _counts.get(signum, 0) + 1
        if lifelong:
            _lifelong[signum] = _lifelong.get(signum, 0) + 1
        need_install = signum not in _installed
    if need_install:
        try:
            _on_main_thread(lambda: _install(signum), wait=True)
        except BaseException:
            listener.close()
            raise
    return listener


_listeners: set[Listener | RawListener] = set()


def _snapshot() -> dict[int, tuple[int, ...]]:
    # Lock held.
    out: dict[int, list[int]] = {}
    for listener in _listeners:
        out.setdefault(listener.signum, []).append(listener.wfd)
    return {signum: tuple(fds) for signum, fds in out.items()}


def register(signum: int) -> Listener:
    """Register a listener for ``signum`` on the current runtime, installing the handler."""
    global _pokes
    check_signum(signum)
    io = current_io()
    try:
        driver = current_driver("signal")
    except RuntimeError:  # pragma: no cover - a runtime built before rt-signal was installed
        driver = None
    assert driver is None or isinstance(driver, SignalDriver)
    listener = Listener(signum, io, driver)
    with _locked():
        _listeners.add(listener)
        _pokes = _snapshot()
        _counts[signum] = _counts.get(signum, 0) + 1
        need_install = signum not in _installed
    if driver is not None:
        driver.adopt(listener)
    if need_install:
        try:
            _on_main_thread(lambda: _install(signum), wait=True)
        except BaseException:
            listener.close()
            raise
    return listener


def _release(signum: int) -> None:
    with _locked():
        n = _counts.get(signum, 0) - 1
        if n > 0:
            _counts[signum] = n
            return
        _counts.pop(signum, None)
    _on_main_thread(lambda: _restore(signum), wait=False)


class SignalDriver:
    """rt-signal's layer of a runtime's driver stack: it only closes the runtime's listeners
    when the runtime shuts down (parking is the layer below's, with no call in between)."""

    def __init__(self, inner: Driver) -> None:
        self._inner = inner
        self.park = inner.park
        self.unpark = inner.unpark
        self._lock = threading.Lock()
        self._listeners: weakref.WeakSet[Listener] = weakref.WeakSet()

    def adopt(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.add(listener)

    def forget(self, listener: Listener) -> None:
        # Never waits: a stream collected inside ``adopt`` or ``shutdown`` (the weak set
        # allocates) is closed by its finalizer on this same thread, lock held. Skipped, the
        # weak set drops the listener once it is collected, and a shutdown that closes it
        # again does nothing.
        if self._lock.acquire(blocking=False):
            try:
                self._listeners.discard(listener)
            finally:
                self._lock.release()

    def shutdown(self) -> None:
        with self._lock:
            left = list(self._listeners)
            self._listeners.clear()
        for listener in left:
            listener.close()
        self._inner.shutdown()


class _SignalLayer:
    """The ``rt.drivers`` entry point: how rt-core finds and builds this layer."""

    name: Final = "signal"
    order: Final = 20
    extra: Final = "signal"

    def build(self, inner: Driver, ctx: DriverContext) -> Driver:
        return SignalDriver(inner)

    def __repr__(self) -> str:
        return "<rt.signal driver layer>"


LAYER: Final = _SignalLayer()
