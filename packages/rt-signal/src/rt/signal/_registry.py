"""rt-signal's driver layer and its main-thread doorbell: the part every runtime loads.

Building a runtime imports this module (the ``rt.drivers`` entry point names it), so it holds
only what must exist before a signal is used, and imports nothing that rt-core has not loaded
already:

* **The driver layer** (:class:`SignalDriver`): it closes a runtime's listeners when the
  runtime shuts down, so that their handlers are put back. It finds them through its
  ``WeakSet``; a runtime on which no signal was ever registered has none.
* **The doorbell.** Only the main thread may install a signal handler, so a thread that
  registers a signal (a multi-thread runtime's worker) asks the main thread to do it: it
  queues the request and sends the *doorbell*, a real-time signal (``SIGRTMAX - 2``) whose
  handler runs queued requests. That handler must already be installed, from the main thread:
  here, when ``rt.signal`` is first imported on it, which building a runtime there does.

The handlers, the listeners and the bookkeeping of who listens for what live in
:mod:`rt.signal._handlers`, imported on first use of a signal API (``rt.signal.ctrl_c``,
:mod:`rt.signal.unix`) or of rt-process's ``SIGCHLD`` watcher: without cached bytecode, loading
them costs a few milliseconds that a program which never uses a signal should not pay at
every runtime start. The module keeps the name its entry point has always had, so that
installed metadata (an editable install made before the split) stays valid.
"""

from __future__ import annotations

import signal
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import types

    from rt.lowlevel import Driver, DriverContext

    from ._handlers import Listener

#: Guards every piece of shared state of rt.signal (here and in ``_handlers``).
_lock = threading.Lock()


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
        _lock.release()


@contextmanager
def _locked() -> Iterator[None]:
    """``with _lock``, then ring the doorbell again if one came while the lock was held."""
    _lock.acquire()
    try:
        yield
    finally:
        _lock.release()
        if _missed:
            if threading.current_thread() is threading.main_thread():
                _on_doorbell(_DOORBELL, None)
            else:
                signal.pthread_kill(threading.main_thread().ident or 0, _DOORBELL)


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
    if not _doorbell_ready or not main.is_alive():
        if not wait:
            return  # a restore we cannot do: our handler chains to the previous one anyway
        raise RuntimeError(
            "rt.signal must install its handler on the main thread (Python only lets that "
            "thread set signal handlers): import rt.signal on the main thread (at the top of "
            "the program) before registering signals from other threads"
        )
    req = _Request(fn)
    _requests.append(req)
    signal.pthread_kill(main.ident or 0, _DOORBELL)
    if not wait:
        return
    if not req.done.wait(30):
        raise RuntimeError(
            "rt.signal: the main thread did not install the signal handler within 30 s; it "
            "must run Python code (or wait in an interruptible call) for handlers to work"
        )
    if req.error is not None:
        raise req.error


# -- the per-runtime driver layer ------------------------------------------------------------


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
        with self._lock:
            self._listeners.discard(listener)

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
