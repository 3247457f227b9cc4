"""rt.io.copy_bidirectional: a proxy between two streams, half-closes and errors."""

from __future__ import annotations

import os

import pytest

import rt
from rt.io import copy_bidirectional, duplex
from rt.net import TcpListener, TcpStream


async def test_copy_bidirectional_passes_half_closes_and_counts_both_ways() -> None:
    """A proxy: client <-> duplex <-> copy_bidirectional <-> TCP <-> echo server."""
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        upstream = await TcpStream.connect(listener.local_addr())
        echo_side, _ = await listener.accept()

        async def echo() -> None:
            while data := await echo_side.read():
                await echo_side.write_all(data)
            await echo_side.shutdown()

        client, proxy_side = duplex(1024)
        e = rt.spawn(echo())
        proxy = rt.spawn(copy_bidirectional(proxy_side, upstream))
        payload = os.urandom(50_000)

        async def send() -> None:
            await client.write_all(payload)
            await client.shutdown()

        s = rt.spawn(send())
        got = b""
        while chunk := await client.read():
            got += chunk
        await s
        assert got == payload
        assert await proxy == (50_000, 50_000)
        await e
        echo_side.close()
        upstream.close()


async def test_copy_bidirectional_raises_the_first_error_itself() -> None:
    a, b = duplex(8)
    c, d = duplex(8)
    d.close()  # writes to c now fail with BrokenPipeError
    await a.write_all(b"x")
    with pytest.raises(BrokenPipeError):
        await copy_bidirectional(b, c)
