"""Datagram sockets: UdpSocket and UnixDatagram share their send/receive loop."""

from __future__ import annotations

import errno
import os
import socket
from typing import Any, Final

from rt.io._errors import chained
from rt.lowlevel import READ, WRITE, budget_spent, checkpoint, current_io

from ._addr import AddressArg, SockAddr, format_addr, resolve
from ._socket import DEFAULT_READ, SocketResource, check_size

_RECV_FIX: Final = (
    "one task at a time receives on a datagram socket. Receive in one task and hand the "
    "datagrams on through an rt.sync channel"
)


class DatagramSocket(SocketResource):
    """Send and receive whole datagrams."""

    __slots__ = ()

    # The largest datagram the socket type can carry: recv(n) allocates n bytes up front,
    # so a bigger n only costs memory (and n = 2**40 would be a MemoryError).
    _max_datagram = 1 << 24

    async def _wait_read(self, op: str) -> None:
        """Wait until a datagram can be received; errors in this socket's words.

        Cancel safety: cancel-safe: waiting consumes nothing.
        """
        try:
            await self._reg.wait(READ)
        except RuntimeError as exc:
            raise self._busy(exc, op, "receiving on", _RECV_FIX)  # noqa: B904
        except OSError:
            self._check_open(op)
            raise

    async def _send_to(self, data: bytes | bytearray | memoryview, target: Any) -> int:
        if budget_spent():
            await checkpoint()
        self._check_open("send_to()")
        sock = self._sock
        while True:
            try:
                return sock.sendto(data, target)
            except BlockingIOError:
                await self._reg.wait(WRITE)
            except OSError as exc:
                self._check_open("send_to()")
                if exc.errno == errno.EMSGSIZE:
                    raise self._too_big(data, "send_to()")  # noqa: B904 - _too_big unchains
                raise

    def _too_big(self, data: bytes | bytearray | memoryview, op: str) -> OSError:
        size = memoryview(data).nbytes
        limit = (
            "a UDP datagram carries at most 65507 bytes over IPv4 and 65527 over IPv6"
            if self._sock.family != socket.AF_UNIX
            else "a Unix datagram at most about the socket's send buffer (SO_SNDBUF)"
        )
        return chained(
            OSError(
                errno.EMSGSIZE,
                f"{op}: a datagram of {size} bytes is too long ({limit}): split the message, "
                "or send it over a stream",
            ),
            None,
        )

    async def recv_from(self, n: object = DEFAULT_READ) -> tuple[bytes, Any]:
        """Receive one datagram (truncated to ``n`` bytes) and the address it came from.

        The address is a ``(host, port)`` tuple for UDP, a path string for Unix sockets. An
        ``n`` over the largest datagram the socket can carry (64 KiB for UDP, 16 MiB for Unix
        sockets) asks for that much instead.

        Raises:
            RuntimeError: another task is already waiting to receive on this socket.

        Cancel safety: cancel-safe: a cancelled ``recv_from`` received nothing.
        """
        size = check_size(n, "recv_from")
        size = size if size <= self._max_datagram else self._max_datagram
        if budget_spent():
            await checkpoint()
        self._check_open("recv_from()")
        sock = self._sock
        while True:
            try:
                data, addr = sock.recvfrom(size)
                return data, addr
            except BlockingIOError:
                await self._wait_read("recv_from()")
            except OSError:
                self._check_open("recv_from()")
                raise

    async def send(self, data: bytes | bytearray | memoryview) -> int:
        """Send one datagram to the connected peer (see ``connect``).

        Raises:
            OSError: ``EDESTADDRREQ`` when the socket is not connected.
            ConnectionRefusedError: an earlier datagram was refused (ICMP port unreachable).

        Cancel safety: cancel-safe: a cancelled ``send`` sent nothing.
        """
        if budget_spent():
            await checkpoint()
        self._check_open("send()")
        sock = self._sock
        while True:
            try:
                return sock.send(data)
            except BlockingIOError:
                await self._reg.wait(WRITE)
            except OSError as exc:
                if exc.errno == errno.EDESTADDRREQ:
                    # mypyc ignores `raise ... from`: chained() sets the cause in both builds
                    raise chained(  # noqa: B904
                        OSError(
                            exc.errno,
                            "send() needs a connected socket: call connect() or use send_to()",
                        ),
                        None,
                    )
                self._check_open("send()")
                if exc.errno == errno.EMSGSIZE:
                    raise self._too_big(data, "send()")  # noqa: B904 - _too_big unchains
                raise

    async def recv(self, n: object = DEFAULT_READ) -> bytes:
        """Receive one datagram from the connected peer.

        Cancel safety: cancel-safe: a cancelled ``recv`` received nothing.
        """
        size = check_size(n, "recv")
        size = size if size <= self._max_datagram else self._max_datagram
        if budget_spent():
            await checkpoint()
        self._check_open("recv()")
        sock = self._sock
        while True:
            try:
                return sock.recv(size)
            except BlockingIOError:
                await self._wait_read("recv()")
            except OSError:
                self._check_open("recv()")
                raise

    def peer_addr(self) -> SockAddr:
        """The connected peer's address."""
        self._check_open("peer_addr()")
        addr: SockAddr = self._sock.getpeername()
        return addr


class UdpSocket(DatagramSocket):
    """A UDP socket: ``bind``, then ``send_to`` / ``recv_from``, or ``connect`` and ``send``."""

    __slots__ = ()

    _kind = "UdpSocket"
    _families = (socket.AF_INET, socket.AF_INET6)
    _socktype = socket.SOCK_DGRAM
    _max_datagram = 65536  # a UDP datagram carries at most 65535 - 8 bytes

    @classmethod
    async def bind(cls, addr: AddressArg) -> UdpSocket:
        """Bind a UDP socket to ``addr`` (port ``0`` picks one).

        Raises:
            ValueError: the address cannot be parsed.
            OSError: e.g. ``EADDRINUSE``; the message names the address.

        Cancel safety: cancel-safe.
        """
        last: OSError | None = None
        for family, sockaddr in await resolve(addr, socket.SOCK_DGRAM, passive=True):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind(sockaddr)
            except OSError as exc:
                sock.close()
                last = OSError(exc.errno, f"{exc.strerror} (binding {format_addr(sockaddr)})")
                continue
            return cls(sock)
        assert last is not None
        raise last

    async def connect(self, addr: AddressArg) -> None:
        """Set the default peer: ``send`` goes there, and only its datagrams are received.

        Cancel safety: cancel-safe.
        """
        self._check_open("connect()")
        fam = self._sock.family
        addrs = [sa for f, sa in await resolve(addr, socket.SOCK_DGRAM) if f == fam]
        if not addrs:
            raise OSError(errno.EAFNOSUPPORT, f"{addr!r} has no address of this socket's family")
        self._sock.connect(addrs[0])

    async def send_to(self, data: bytes | bytearray | memoryview, addr: AddressArg) -> int:
        """Send one datagram to ``addr``; returns the bytes sent.

        Cancel safety: cancel-safe: a cancelled ``send_to`` sent nothing.
        """
        # Always through resolve(): IP literals are memoized there, and a host name must not
        # reach sendto(), which would look it up on the runtime thread.
        fam = self._sock.family
        addrs = [sa for f, sa in await resolve(addr, socket.SOCK_DGRAM) if f == fam]
        if not addrs:
            raise OSError(errno.EAFNOSUPPORT, f"{addr!r} has no address of this socket's family")
        return await self._send_to(data, addrs[0])

    def set_broadcast(self, on: bool) -> None:
        """Allow sending to broadcast addresses (``SO_BROADCAST``)."""
        self._check_open("set_broadcast()")
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, int(bool(on)))


# sun_path holds 108 bytes on Linux, a file system path's closing NUL included.
_SUN_PATH_MAX: Final = 107


def _path(path: str | os.PathLike[str] | bytes) -> str | bytes:
    p = os.fspath(path)
    if not p:
        raise ValueError("a Unix socket path must not be empty")
    raw = os.fsencode(p)
    size = len(raw)
    if size > _SUN_PATH_MAX and raw[:1] != b"\0":  # an abstract name may use all 108
        raise OSError(
            errno.ENAMETOOLONG,
            f"a Unix socket path holds at most {_SUN_PATH_MAX} bytes, {p!r} has {size}: use a "
            "shorter one (a short directory, or a path relative to the working directory)",
        )
    return p


class UnixDatagram(DatagramSocket):
    """A Unix datagram socket."""

    __slots__ = ()

    _kind = "UnixDatagram"
    _families = (socket.AF_UNIX,)
    _socktype = socket.SOCK_DGRAM

    @classmethod
    def bind(cls, path: str | os.PathLike[str] | bytes) -> UnixDatagram:
        """A datagram socket bound to ``path`` (plain, like Tokio: binding needs no wait).

        Call inside a runtime.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(_path(path))
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    @classmethod
    def unbound(cls) -> UnixDatagram:
        """A datagram socket without an address (it can send, and receive replies if connected)."""
        return cls(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))

    @classmethod
    def pair(cls) -> tuple[UnixDatagram, UnixDatagram]:
        """Two connected datagram sockets."""
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        io = current_io("UnixDatagram.pair()")
        return cls(a, io), cls(b, io)

    def connect(self, path: str | os.PathLike[str] | bytes) -> None:
        """Set the default peer for ``send`` / ``recv``."""
        self._check_open("connect()")
        self._sock.connect(_path(path))

    async def send_to(
        self, data: bytes | bytearray | memoryview, path: str | os.PathLike[str] | bytes
    ) -> int:
        """Send one datagram to the socket bound at ``path``.

        Cancel safety: cancel-safe: a cancelled ``send_to`` sent nothing.
        """
        return await self._send_to(data, _path(path))
