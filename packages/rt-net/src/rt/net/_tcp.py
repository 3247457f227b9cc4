"""TCP: TcpListener, TcpStream, TcpSocket."""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

from rt.lowlevel import IoDriver, current_io

from ._addr import AddressArg, SockAddr, format_addr, parse_addr, resolve
from ._socket import Incoming, SocketListener, SocketStream, connect_socket

if TYPE_CHECKING:
    import ssl

    from ._tls import TlsStream


class TcpStream(SocketStream):
    """A TCP connection.

    Made by :meth:`connect` or :meth:`TcpListener.accept`. ``TCP_NODELAY`` is on by default
    (as in asyncio): small writes go out at once. Use ``async with`` or :meth:`close`.
    """

    __slots__ = ()

    _kind = "TcpStream"
    _families = (socket.AF_INET, socket.AF_INET6)
    _socktype = socket.SOCK_STREAM

    @classmethod
    async def connect(cls, addr: AddressArg) -> TcpStream:
        """Connect to ``addr``, trying every address it resolves to in order (as Tokio does).

        Raises:
            ValueError: the address cannot be parsed.
            ConnectionRefusedError: nothing listens there (the last address's error is raised
                when all fail; the message names the address).
            socket.gaierror: the host name does not resolve.

        Cancel safety: cancel-safe: a cancelled connect closes its half-open socket.
        """
        addrs = await resolve(addr)
        io = current_io("TcpStream.connect()")
        last: OSError | None = None
        for family, sockaddr in addrs:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                await _connect(io, sock, sockaddr)
            except OSError as exc:
                io.close(sock)
                last = exc
                continue
            except BaseException:
                io.close(sock)
                raise
            stream = cls(sock, io)
            _nodelay(sock)
            return stream
        assert last is not None
        raise last

    @classmethod
    async def connect_tls(
        cls,
        addr: AddressArg,
        *,
        server_hostname: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> TlsStream[TcpStream]:
        """Connect to ``addr`` and complete a TLS handshake as the client.

        Args:
            addr: As for :meth:`connect`.
            server_hostname: The name for SNI and the certificate check; defaults to the host
                part of ``addr`` (an IP literal is checked against the certificate's IPs).
            ssl_context: Defaults to ``ssl.create_default_context()``: the certificate must
                verify against the system CA store and match the host name.

        Returns:
            A :class:`rt.net.tls.TlsStream` over the new connection.

        Raises:
            ConnectionRefusedError: nothing listens there.
            ssl.SSLCertVerificationError: the certificate is untrusted, expired or for another
                host (``verify_message`` says which).
            ssl.SSLError: the handshake failed otherwise.

        Cancel safety: cancel-safe: a cancelled call closes its connection.
        """
        from ._tls import TlsConnector

        connector = TlsConnector(ssl_context)  # checks the context before connecting
        if server_hostname is None:
            server_hostname = parse_addr(addr)[0]
        stream = await cls.connect(addr)
        return await connector.connect(server_hostname, stream)

    def set_nodelay(self, nodelay: bool) -> None:
        """Turn ``TCP_NODELAY`` on or off (on by default)."""
        self._check_open("set_nodelay()")
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(bool(nodelay)))

    def nodelay(self) -> bool:
        """Whether ``TCP_NODELAY`` is on."""
        self._check_open("nodelay()")
        return bool(self._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def _nodelay(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # pragma: no cover - e.g. a Unix socket passed by mistake
        pass


async def _connect(io: IoDriver, sock: socket.socket, sockaddr: SockAddr) -> None:
    await connect_socket(io, sock, sockaddr, format_addr(sockaddr))


class TcpListener(SocketListener):
    """A listening TCP socket. ``async for stream in listener.incoming()`` serves connections."""

    __slots__ = ()

    _kind = "TcpListener"
    _families = (socket.AF_INET, socket.AF_INET6)
    _socktype = socket.SOCK_STREAM
    _listening = True

    @classmethod
    async def bind(
        cls, addr: AddressArg, *, backlog: int = 1024, reuse_address: bool = True
    ) -> TcpListener:
        """Bind to ``addr`` (``"host:port"``, ``"[::1]:0"``, ``(host, port)``) and listen.

        Port ``0`` picks a free port: read it back with :meth:`local_addr`. ``SO_REUSEADDR``
        is set (unless ``reuse_address=False``) so a restarted server can bind at once.

        Raises:
            ValueError: the address cannot be parsed.
            OSError: e.g. ``EADDRINUSE``; the message names the address.

        Cancel safety: cancel-safe (only a host name lookup can wait).
        """
        addrs = await resolve(addr, passive=True)
        last: OSError | None = None
        for family, sockaddr in addrs:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                if reuse_address:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(sockaddr)
                sock.listen(backlog)
            except OSError as exc:
                sock.close()
                last = OSError(exc.errno, f"{exc.strerror} (binding {format_addr(sockaddr)})")
                continue
            return cls(sock)
        assert last is not None
        raise last

    async def accept(self) -> tuple[TcpStream, SockAddr]:
        """Wait for a connection and return ``(stream, peer_address)``.

        Raises:
            OSError: ``EMFILE`` / ``ENFILE`` when the process is out of file descriptors. The
                connection stays queued and the listener stays usable: free some fds (or raise
                ``RLIMIT_NOFILE``) and call ``accept`` again.
            OSError: ``EBADF`` when the listener is (or gets) closed.

        Cancel safety: cancel-safe: a cancelled ``accept`` took no connection from the queue.
        """
        conn, peer = await self._accept_socket()
        _nodelay(conn)
        return TcpStream(conn, self._io), peer

    def incoming(self) -> Incoming[TcpStream]:
        """An async iterator of accepted streams: ``async for stream in listener.incoming()``.

        Errors from :meth:`accept` propagate out of the loop; the listener stays usable.
        """
        return Incoming(self.accept)

    def __aiter__(self) -> Incoming[TcpStream]:
        return Incoming(self.accept)


class TcpSocket:
    """A TCP socket not yet connected or listening, to set options first (Tokio's ``TcpSocket``).

    ``TcpSocket.new_v4()`` / ``new_v6()``, then options, then :meth:`bind` and :meth:`listen`,
    or :meth:`connect`.
    """

    __slots__ = ("_sock",)

    def __init__(self, family: int) -> None:
        self._sock: socket.socket | None = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setblocking(False)

    @classmethod
    def new_v4(cls) -> TcpSocket:
        """An IPv4 TCP socket."""
        return cls(socket.AF_INET)

    @classmethod
    def new_v6(cls) -> TcpSocket:
        """An IPv6 TCP socket."""
        return cls(socket.AF_INET6)

    def _get(self, op: str) -> socket.socket:
        if self._sock is None:
            raise OSError(errno.EBADF, f"{op} on a TcpSocket that was used or closed")
        return self._sock

    def set_reuseaddr(self, on: bool) -> None:
        """Set ``SO_REUSEADDR``."""
        self._get("set_reuseaddr()").setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, int(on))

    def set_reuseport(self, on: bool) -> None:
        """Set ``SO_REUSEPORT`` (several listeners share a port; Linux and BSD)."""
        opt = getattr(socket, "SO_REUSEPORT", None)
        if opt is None:  # pragma: no cover
            raise OSError(errno.ENOPROTOOPT, "SO_REUSEPORT is not available on this platform")
        self._get("set_reuseport()").setsockopt(socket.SOL_SOCKET, opt, int(on))

    def set_send_buffer_size(self, size: int) -> None:
        """Set ``SO_SNDBUF``."""
        self._get("set_send_buffer_size()").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)

    def set_recv_buffer_size(self, size: int) -> None:
        """Set ``SO_RCVBUF``."""
        self._get("set_recv_buffer_size()").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)

    def set_nodelay(self, on: bool) -> None:
        """Set ``TCP_NODELAY`` (streams from :meth:`connect` have it on anyway)."""
        self._get("set_nodelay()").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(on))

    def bind(self, addr: tuple[str, int] | str) -> None:
        """Bind to an IP literal address (no name lookup; use :func:`lookup_host` first)."""
        from ._addr import numeric_sockaddr

        sock = self._get("bind()")
        _family, sockaddr = numeric_sockaddr(addr, socket.SOCK_STREAM, "TcpSocket.bind()")
        sock.bind(sockaddr)

    def local_addr(self) -> SockAddr:
        """The bound address."""
        addr: SockAddr = self._get("local_addr()").getsockname()
        return addr

    def listen(self, backlog: int = 1024) -> TcpListener:
        """Start listening; the ``TcpSocket`` is used up. Call inside a runtime."""
        sock = self._get("listen()")
        sock.listen(backlog)
        self._sock = None
        return TcpListener(sock)

    async def connect(self, addr: AddressArg) -> TcpStream:
        """Connect to one address (an IP literal or a name resolving to this family).

        Cancel safety: cancel-safe: a cancelled connect closes the socket.
        """
        sock = self._get("connect()")
        self._sock = None
        io = current_io("TcpSocket.connect()")
        try:
            addrs = [sa for fam, sa in await resolve(addr) if fam == sock.family]
            if not addrs:
                raise OSError(
                    errno.EAFNOSUPPORT, f"{addr!r} has no address of this socket's family"
                )
            await _connect(io, sock, addrs[0])
        except BaseException:
            io.close(sock)
            raise
        _nodelay(sock)
        return TcpStream(sock, io)

    def close(self) -> None:
        """Close the socket if it was not used. Idempotent."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
