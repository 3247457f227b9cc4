"""Unix domain stream sockets: UnixListener and UnixStream."""

from __future__ import annotations

import errno
import os
import socket

from rt.lowlevel import current_io

from ._dgram import _path
from ._socket import Incoming, SocketListener, SocketStream, connect_socket, located


class UnixStream(SocketStream):
    """A connected Unix domain stream socket; the same methods as :class:`rt.net.TcpStream`."""

    __slots__ = ()

    _kind = "UnixStream"
    _families = (socket.AF_UNIX,)
    _socktype = socket.SOCK_STREAM

    @classmethod
    async def connect(cls, path: str | os.PathLike[str] | bytes) -> UnixStream:
        """Connect to the Unix listener at ``path``.

        Raises:
            FileNotFoundError: nothing is bound at ``path``.
            ConnectionRefusedError: the socket file exists but nobody listens.

        Cancel safety: cancel-safe: a cancelled connect closes its socket.
        """
        io = current_io("UnixStream.connect()")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await connect_socket(io, sock, _path(path), repr(path))
        except BaseException:
            io.close(sock)
            raise
        return cls(sock, io)

    @classmethod
    def pair(cls) -> tuple[UnixStream, UnixStream]:
        """Two connected streams (``socketpair``). Call inside a runtime."""
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        io = current_io("UnixStream.pair()")
        return cls(a, io), cls(b, io)


class UnixListener(SocketListener):
    """A listening Unix domain socket."""

    __slots__ = ()

    _kind = "UnixListener"
    _families = (socket.AF_UNIX,)
    _socktype = socket.SOCK_STREAM
    _listening = True

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
            err = located(exc, f"binding {path!r}")
            if exc.errno == errno.EADDRINUSE:
                err.add_note(
                    "A file exists at that path. If it is the socket of a server that exited, "
                    "remove it (os.unlink) before binding; Unix sockets are not removed on close"
                )
            raise err  # noqa: B904 - located() unchains
        return cls(sock)

    async def accept(self) -> tuple[UnixStream, object]:
        """Wait for a connection; returns ``(stream, peer_address)``.

        Raises:
            OSError: ``EMFILE`` / ``ENFILE``: out of fds; the listener stays usable.

        Cancel safety: cancel-safe: a cancelled ``accept`` took no connection.
        """
        conn, peer = await self._accept_socket()
        return UnixStream(conn, self._io), peer

    def __aiter__(self) -> Incoming[UnixStream]:
        return Incoming(self.accept)

    def incoming(self) -> Incoming[UnixStream]:
        """``async for stream in listener.incoming()``."""
        return Incoming(self.accept)


UnixIncoming = Incoming
"""``async for`` over a Unix listener's connections (the same class as :class:`Incoming`)."""
