"""Unix domain stream sockets: UnixListener and UnixStream."""

from __future__ import annotations

import os
import socket

from rt.lowlevel import READ, WRITE, budget_spent, checkpoint, current_io

from ._dgram import _path
from ._socket import SocketResource, SocketStream
from ._tcp import _OUT_OF_RESOURCES


class UnixStream(SocketStream):
    """A connected Unix domain stream socket; the same methods as :class:`rt.net.TcpStream`."""

    __slots__ = ()

    _kind = "UnixStream"

    @classmethod
    async def connect(cls, path: str | os.PathLike[str] | bytes) -> UnixStream:
        """Connect to the Unix listener at ``path``.

        Raises:
            FileNotFoundError: nothing is bound at ``path``.
            ConnectionRefusedError: the socket file exists but nobody listens.

        Cancel safety: cancel-safe: a cancelled connect closes its socket.
        """
        io = current_io()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            try:
                sock.connect(_path(path))
            except BlockingIOError:
                await io.wait(sock, WRITE)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, f"{os.strerror(err)} (connecting to {path!r})") from None
            except OSError as exc:
                raise OSError(exc.errno, f"{exc.strerror} (connecting to {path!r})") from None
        except BaseException:
            io.close(sock)
            raise
        return cls(sock, io)

    @classmethod
    def pair(cls) -> tuple[UnixStream, UnixStream]:
        """Two connected streams (``socketpair``). Call inside a runtime."""
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        io = current_io()
        return cls(a, io), cls(b, io)


class UnixListener(SocketResource):
    """A listening Unix domain socket."""

    __slots__ = ()

    _kind = "UnixListener"

    @classmethod
    def bind(cls, path: str | os.PathLike[str] | bytes, *, backlog: int = 1024) -> UnixListener:
        """Bind to ``path`` and listen. Call inside a runtime.

        Raises:
            OSError: ``EADDRINUSE`` when ``path`` exists (remove a stale socket file first).
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(_path(path))
            sock.listen(backlog)
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"{exc.strerror} (binding {path!r})") from None
        return cls(sock)

    async def accept(self) -> tuple[UnixStream, object]:
        """Wait for a connection; returns ``(stream, peer_address)``.

        Raises:
            OSError: ``EMFILE`` / ``ENFILE``: out of fds; the listener stays usable.

        Cancel safety: cancel-safe: a cancelled ``accept`` took no connection.
        """
        if budget_spent():
            await checkpoint()
        sock = self._sock
        while True:
            try:
                conn, peer = sock.accept()
            except BlockingIOError:
                await self._io.wait(sock, READ)
                continue
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                self._check_open("accept()")
                if exc.errno in _OUT_OF_RESOURCES:
                    raise OSError(
                        exc.errno,
                        f"{exc.strerror}: cannot accept a connection now; the listener stays "
                        "usable once fds are free",
                    ) from None
                raise
            return UnixStream(conn, self._io), peer

    def __aiter__(self) -> UnixIncoming:
        return UnixIncoming(self)

    def incoming(self) -> UnixIncoming:
        """``async for stream in listener.incoming()``."""
        return UnixIncoming(self)


class UnixIncoming:
    """``async for`` over a Unix listener's connections."""

    __slots__ = ("_listener",)

    def __init__(self, listener: UnixListener) -> None:
        self._listener = listener

    def __aiter__(self) -> UnixIncoming:
        return self

    async def __anext__(self) -> UnixStream:
        """Accept the next connection.

        Cancel safety: cancel-safe.
        """
        stream, _peer = await self._listener.accept()
        return stream
