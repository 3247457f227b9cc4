"""Unix signals as rt streams (Tokio's ``tokio::signal::unix``).

::

    from rt.signal.unix import SignalKind, signal

    terminate = signal(SignalKind.terminate())
    async for _ in terminate:        # one iteration per delivery (coalesced, see below)
        await shutdown_gracefully()

Each :func:`signal` call is a listener of its own: every listener of a signal sees each
delivery. Deliveries that land while a listener is not waiting are coalesced into one
``recv()``, never lost. While a signal has listeners, its previous handler (the default
action, Python's ``KeyboardInterrupt`` for SIGINT, ``rt.run``'s Ctrl-C handling) does not run;
it is put back when the last listener is closed, garbage-collected, or its runtime shuts down.
"""

from __future__ import annotations

import signal as _signal
from types import TracebackType
from typing import Self, final

from rt._exports import public

from ._registry import Listener, check_signum, close_from_finalizer, register

__all__ = ["Signal", "SignalKind", "signal"]


@final
class SignalKind:
    """Which signal to listen for: ``SignalKind.terminate()``, ``SignalKind.from_raw(n)``, ...

    Attributes:
        signum: The signal number.
    """

    __slots__ = ("signum",)

    def __init__(self, signum: int) -> None:
        self.signum = signum

    @staticmethod
    def from_raw(signum: int) -> SignalKind:
        """Wrap any signal number.

        Raises:
            TypeError: ``signum`` is not an int.
        """
        if isinstance(signum, bool) or not isinstance(signum, int):
            raise TypeError(f"a signal number must be an int, got {signum!r}")
        return SignalKind(signum)

    @staticmethod
    def hangup() -> SignalKind:
        """``SIGHUP``: the terminal went away; daemons read it as "reload the configuration"."""
        return SignalKind(_signal.SIGHUP)

    @staticmethod
    def interrupt() -> SignalKind:
        """``SIGINT``: Ctrl-C."""
        return SignalKind(_signal.SIGINT)

    @staticmethod
    def quit() -> SignalKind:
        """``SIGQUIT``: Ctrl-\\\\."""
        return SignalKind(_signal.SIGQUIT)

    @staticmethod
    def terminate() -> SignalKind:
        """``SIGTERM``: the polite request to exit (``kill``, service managers, containers)."""
        return SignalKind(_signal.SIGTERM)

    @staticmethod
    def user_defined1() -> SignalKind:
        """``SIGUSR1``."""
        return SignalKind(_signal.SIGUSR1)

    @staticmethod
    def user_defined2() -> SignalKind:
        """``SIGUSR2``."""
        return SignalKind(_signal.SIGUSR2)

    @staticmethod
    def child() -> SignalKind:
        """``SIGCHLD``: a child process changed state."""
        return SignalKind(_signal.SIGCHLD)

    @staticmethod
    def window_change() -> SignalKind:
        """``SIGWINCH``: the terminal was resized."""
        return SignalKind(_signal.SIGWINCH)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SignalKind) and other.signum == self.signum

    def __hash__(self) -> int:
        return hash(self.signum)

    def __repr__(self) -> str:
        try:
            name = _signal.Signals(self.signum).name
        except ValueError:
            name = str(self.signum)
        return f"SignalKind({name})"


@final
class Signal:
    """A stream of deliveries of one signal, made by :func:`signal`.

    ``await recv()`` waits for the next delivery; ``async for _ in stream`` loops over them.
    Close it (or use ``async with``) to stop listening; dropping it does too.
    """

    __slots__ = ("__weakref__", "_kind", "_listener")

    _kind: SignalKind
    _listener: Listener

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError("use rt.signal.unix.signal(SignalKind...) to listen for a signal")

    @classmethod
    def _new(cls, kind: SignalKind, listener: Listener) -> Signal:
        self = object.__new__(cls)
        self._kind = kind
        self._listener = listener
        return self

    @property
    def kind(self) -> SignalKind:
        """The signal this stream listens for."""
        return self._kind

    async def recv(self) -> bool:
        """Wait for the signal to be delivered.

        Deliveries since the previous ``recv()`` (or since :func:`signal` was called) that
        nobody waited for are coalesced: ``recv()`` then returns at once, once.

        Returns:
            ``True`` for a delivery; ``False`` once the stream is closed (by :meth:`close`
            from another task or thread, or because its runtime shut down).

        Raises:
            RuntimeError: another task is already waiting on this stream (give each task a
                :func:`signal` of its own: each sees every delivery), or the stream was made
                on another runtime (make it on the runtime that awaits it).

        Cancel safety: cancel-safe: a cancelled ``recv`` consumed no delivery.
        """
        return await self._listener.recv()

    def close(self) -> None:
        """Stop listening (a pending ``recv`` returns ``False``); idempotent, any thread.

        When this was the signal's last listener, its previous handler is put back.
        """
        self._listener.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> None:
        """Wait for the next delivery; the loop ends when the stream is closed.

        Cancel safety: cancel-safe, as :meth:`recv`.
        """
        if not await self._listener.recv():
            raise StopAsyncIteration

    async def __aenter__(self) -> Self:
        """Return ``self``; the ``async with`` block closes it on exit.

        Cancel safety: cancel-safe (nothing to wait for).
        """
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the stream.

        Cancel safety: cancel-safe (closing does not wait).
        """
        self.close()

    def __del__(self) -> None:
        listener = getattr(self, "_listener", None)
        if listener is not None and not listener.closed:
            try:
                close_from_finalizer(listener)
            except Exception:  # pragma: no cover - interpreter shutdown
                pass

    def __repr__(self) -> str:
        state = " closed" if self._listener.closed else ""
        return f"<rt.signal.unix.Signal {self._kind!r}{state}>"


def signal(kind: SignalKind) -> Signal:
    """Listen for a Unix signal on the current runtime; call inside a task.

    Args:
        kind: Which signal (``SignalKind.terminate()``, ``SignalKind.from_raw(n)``, ...).

    Returns:
        A :class:`Signal` stream. Its first ``recv()`` sees deliveries from now on.

    Raises:
        ValueError: the signal cannot be caught (``SIGKILL``, ``SIGSTOP``), reports a fault
            of this process (``SIGSEGV``, ``SIGBUS``, ``SIGFPE``, ``SIGILL``: the faulting
            instruction would run again and again), is the one rt.signal uses itself
            (``SIGRTMAX - 2``), or does not exist.
        TypeError: ``kind`` is not a :class:`SignalKind`.
        RuntimeError: outside a runtime; or from a thread other than the main thread when
            ``rt.signal`` was first imported off the main thread (see the package notes).
    """
    if not isinstance(kind, SignalKind):
        raise TypeError(f"signal() takes a SignalKind (e.g. SignalKind.terminate()), got {kind!r}")
    check_signum(kind.signum)
    return Signal._new(kind, register(kind.signum))


public(globals())
