"""rt.io.BufReader and BufWriter: lines, delimiters, cancel safety, batching and flushing."""

from __future__ import annotations

import pytest

import rt
import rt.io
from rt.io import BufReader, BufWriter, copy, duplex


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
