"""rt.io: BufReader, BufWriter, copy, copy_bidirectional, duplex, AsyncFd."""

from __future__ import annotations

import errno
import os
import threading

import pytest

import rt
import rt.io
from rt.io import AsyncFd, BufReader, BufWriter, copy, copy_bidirectional, duplex
from rt.net import TcpListener, TcpStream


async def test_buf_reader_lines_and_read_line_keep_endings_as_documented() -> None:
    a, b = duplex(64)
    await a.write_all(b"one\ntwo\r\nthree")
    await a.shutdown()
    r = BufReader(b, capacity=4)
    assert await r.read_line() == b"one\n"
    assert [line async for line in r.lines()] == [b"two", b"three"]
    assert await r.read_line() == b""


async def test_buf_reader_read_until_limit_and_read_exact() -> None:
    a, b = duplex(1024)
    await a.write_all(b"abc|defgh")
    await a.shutdown()
    r = BufReader(b)
    with pytest.raises(ValueError, match="within 2 bytes"):
        await r.read_until(b"|", limit=2)
    assert await r.read_until(b"|") == b"abc|"
    assert await r.read_exact(2) == b"de"
    with pytest.raises(rt.io.IncompleteReadError) as info:
        await r.read_exact(10)
    assert info.value.partial == b"fgh"


async def test_cancelled_read_line_keeps_the_partial_line_for_the_next_call() -> None:
    a, b = duplex(1024)
    r = BufReader(b)
    await a.write_all(b"partial ")
    h = rt.spawn(r.read_line())
    await rt.yield_now()
    h.abort()
    with pytest.raises(rt.JoinError):
        await h
    await a.write_all(b"line\n")
    assert await r.read_line() == b"partial line\n"


async def test_buf_writer_batches_until_flush_and_shutdown_flushes() -> None:
    a, b = duplex(1 << 20)
    w = BufWriter(a, capacity=16)
    await w.write(b"12345")
    await w.write_all(b"678")
    assert w.buffer() == b"12345678"
    assert b._rx.buf == bytearray()  # nothing sent yet
    await w.write_all(b"x" * 20)  # bigger than the buffer: flush, then straight through
    assert w.buffer() == b""
    await w.write(b"tail")
    await w.shutdown()
    assert await copy(b, _Sink()) == 8 + 20 + 4


class _Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        self.data += data
        return len(data)

    async def write_all(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data

    async def shutdown(self) -> None:
        pass


async def test_duplex_backpressure_blocks_the_writer_until_the_reader_drains() -> None:
    a, b = duplex(4)
    writer = rt.spawn(a.write_all(b"0123456789"))
    await rt.yield_now()
    assert not writer.is_finished()
    got = b""
    while len(got) < 10:
        got += await b.read(3)
    await writer
    assert got == b"0123456789"


async def test_duplex_close_gives_eof_to_the_reader_and_broken_pipe_to_the_writer() -> None:
    a, b = duplex(8)
    reader = rt.spawn(b.read())
    await rt.yield_now()
    a.close()
    assert await reader == b""
    with pytest.raises(BrokenPipeError):
        await b.write(b"x")
    with pytest.raises(OSError, match="closed") as info:
        await a.read()
    assert info.value.errno == errno.EBADF


async def test_dropping_one_duplex_end_gives_the_other_eof() -> None:
    a, b = duplex(8)
    del a
    assert await b.read() == b""


async def test_duplex_between_a_task_and_a_plain_thread_in_another_runtime(
    flavor: str | None,
) -> None:
    a, b = duplex(16)

    def other_runtime() -> bytes:
        async def main() -> bytes:
            await b.write_all(b"y" * 10_000)
            await b.shutdown()
            return b"done"

        return rt.run(main(), flavor=flavor)

    t = rt.spawn_blocking(other_runtime)
    total = 0
    while chunk := await a.read():
        total += len(chunk)
    assert total == 10_000
    assert await t == b"done"


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


async def test_async_fd_reads_a_pipe_written_by_a_plain_thread() -> None:
    r, w = os.pipe()
    os.set_blocking(r, False)
    afd = AsyncFd(r)
    t = threading.Thread(target=os.write, args=(w, b"through a pipe"))
    t.start()
    data = await afd.read_with(lambda: os.read(r, 100))
    t.join()
    assert data == b"through a pipe"
    reader = rt.spawn(afd.readable())
    await rt.yield_now()
    afd.close()  # closes r, wakes the waiter
    with pytest.raises(rt.JoinError) as info:
        await reader
    assert isinstance(info.value.exception, OSError)
    with pytest.raises(OSError, match="closed"):
        await afd.readable()
    os.close(w)
    with pytest.raises(TypeError, match="fileno"):
        AsyncFd(object())
