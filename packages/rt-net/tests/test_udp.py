"""UDP sockets, against plain sockets and each other."""

from __future__ import annotations

import socket

import pytest

import rt
from rt.net import UdpSocket


async def test_udp_send_to_and_recv_from_a_plain_socket() -> None:
    plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    plain.bind(("127.0.0.1", 0))
    plain.settimeout(30)
    async with await UdpSocket.bind("127.0.0.1:0") as udp:
        assert await udp.send_to(b"ping", plain.getsockname()) == 4
        data, addr = await rt.spawn_blocking(plain.recvfrom, 100)
        assert data == b"ping" and addr == udp.local_addr()
        plain.sendto(b"pong", addr)
        assert await udp.recv_from() == (b"pong", plain.getsockname())
    plain.close()


async def test_udp_connect_send_recv_and_refused_peer() -> None:
    async with await UdpSocket.bind("127.0.0.1:0") as a, await UdpSocket.bind("127.0.0.1:0") as b:
        await a.connect(b.local_addr())
        assert a.peer_addr() == b.local_addr()
        await a.send(b"one")
        assert await b.recv_from() == (b"one", a.local_addr())
        await b.send_to(b"two", a.local_addr())
        assert await a.recv() == b"two"
    async with await UdpSocket.bind("127.0.0.1:0") as lonely:
        with pytest.raises(OSError, match="connect"):
            await lonely.send(b"nowhere")


async def test_cancelled_udp_recv_loses_no_datagram() -> None:
    async with await UdpSocket.bind("127.0.0.1:0") as a, await UdpSocket.bind("127.0.0.1:0") as b:
        h = rt.spawn(a.recv_from())
        await rt.yield_now()
        h.abort()
        with pytest.raises(rt.JoinError):
            await h
        await b.send_to(b"kept", a.local_addr())
        assert (await a.recv_from())[0] == b"kept"


async def test_udp_send_to_a_host_name_resolves_off_the_runtime_thread() -> None:
    async with await UdpSocket.bind("127.0.0.1:0") as a, await UdpSocket.bind("127.0.0.1:0") as b:
        port = b.local_addr()[1]
        assert await a.send_to(b"named", ("localhost", port)) == 5
        assert (await b.recv_from())[0] == b"named"
