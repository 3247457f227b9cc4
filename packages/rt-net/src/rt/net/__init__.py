"""rt.net: TCP, UDP and Unix sockets on rt's reactor (Tokio's ``net`` feature).

Everything that may wait is ``async``: ``TcpListener.bind``, ``TcpStream.connect``,
``UdpSocket.bind`` / ``connect``, ``UnixStream.connect``, ``lookup_host``, every ``read*`` /
``write*``, ``shutdown`` and ``accept``. ``close()``, ``local_addr()``, ``peer_addr()``,
``set_nodelay()`` and ``into_split()`` are plain. Addresses are ``"host:port"``, ``"[v6]:port"``
or ``(host, port)``; returned addresses are the tuples the ``socket`` module uses. OS errors
surface as the matching ``OSError`` subclass (``ConnectionRefusedError``,
``ConnectionResetError``, ``BrokenPipeError``, ...) with the address in the message.
"""

from __future__ import annotations

from rt._exports import public

from ._addr import Address, lookup_host
from ._dgram import UdpSocket, UnixDatagram
from ._socket import Incoming, ReadHalf, WriteHalf
from ._tcp import TcpListener, TcpSocket, TcpStream
from ._unix import UnixIncoming, UnixListener, UnixStream

__all__ = [
    "Address",
    "Incoming",
    "ReadHalf",
    "TcpListener",
    "TcpSocket",
    "TcpStream",
    "UdpSocket",
    "UnixDatagram",
    "UnixIncoming",
    "UnixListener",
    "UnixStream",
    "WriteHalf",
    "lookup_host",
]

public(globals())
