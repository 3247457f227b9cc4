"""Unix stream and datagram sockets, against plain sockets and each other."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest
from nethelpers import ThreadPeer

import rt
from rt.net import UnixDatagram, UnixListener, UnixStream


async def test_unix_stream_listener_serves_a_plain_client(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    async with UnixListener.bind(path) as listener:

        def client() -> bytes:
            with socket.socket(socket.AF_UNIX) as c:
                c.settimeout(30)
                c.connect(path)
                c.sendall(b"over unix")
                c.shutdown(socket.SHUT_WR)
                return c.recv(100)

        peer = ThreadPeer(client)
        stream, _ = await listener.accept()
        async with stream:
            data = await stream.read_exact(9)
            assert await stream.read() == b""
            await stream.write_all(data.upper())
        assert await rt.spawn_blocking(peer.join) == b"OVER UNIX"
        with pytest.raises(OSError, match="binding") as info:
            UnixListener.bind(path)
        assert info.value.errno == errno.EADDRINUSE


async def test_unix_stream_connect_and_pair(tmp_path: Path) -> None:
    path = tmp_path / "c.sock"
    with pytest.raises(FileNotFoundError, match="connecting"):
        await UnixStream.connect(path)
    async with UnixListener.bind(path) as listener, await UnixStream.connect(path) as c:
        s, _ = await listener.accept()
        await c.write_all(b"hi")
        assert await s.read_exact(2) == b"hi"
        s.close()
    a, b = UnixStream.pair()
    await a.write_all(b"paired")
    await a.shutdown()
    assert await b.read_exact(6) == b"paired"
    assert await b.read() == b""
    a.close()
    b.close()


async def test_unix_datagrams(tmp_path: Path) -> None:
    server = UnixDatagram.bind(tmp_path / "d.sock")
    client = UnixDatagram.bind(tmp_path / "c.sock")
    await client.send_to(b"dgram", tmp_path / "d.sock")
    data, addr = await server.recv_from()
    assert data == b"dgram" and addr == str(tmp_path / "c.sock")
    client.connect(tmp_path / "d.sock")
    await client.send(b"again")
    assert await server.recv() == b"again"
    x, y = UnixDatagram.pair()
    await x.send(b"p")
    assert await y.recv() == b"p"
    for s in (server, client, x, y):
        s.close()
    with pytest.raises(ValueError, match="empty"):
        UnixDatagram.bind("")
