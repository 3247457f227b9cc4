"""rt.io.duplex: the in-memory pipe pair, its backpressure and how its ends close."""

from __future__ import annotations

import errno
from typing import Any

import pytest

import rt
import rt.time as rtt
from rt.io import _duplex, duplex


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


async def test_closing_a_duplex_end_wakes_its_own_waiting_read_and_write_with_a_closed_error() -> (
    None
):
    a, b = duplex(4)
    assert await a.write(b"full") == 4
    reader = rt.spawn(a.read())
    writer = rt.spawn(a.write_all(b"more"))  # waits for room nobody makes (b never reads)
    while a._rx.reader is None or a._tx.writer is None:  # both parked
        await rt.yield_now()
    a.close()
    for task, op in ((reader, "read()"), (writer, "write()")):
        with pytest.raises(rt.JoinError) as info:
            await rtt.timeout(10, task)
        err = info.value.__cause__
        assert isinstance(err, OSError) and err.errno == errno.EBADF
        assert f"{op} on a closed DuplexStream" in str(err)
    assert await b.read() == b"full"  # what was written before the close still arrives
    assert await b.read() == b""


async def test_shutting_down_a_duplex_end_breaks_the_pipe_of_its_own_waiting_write() -> None:
    a, b = duplex(4)
    assert await a.write(b"full") == 4
    writer = rt.spawn(a.write_all(b"more"))
    while a._tx.writer is None:
        await rt.yield_now()
    await a.shutdown()
    with pytest.raises(rt.JoinError) as info:
        await rtt.timeout(10, writer)
    assert isinstance(info.value.__cause__, BrokenPipeError)
    assert await b.read() == b"full"
    assert await b.read() == b""


async def test_duplex_try_write_takes_what_fits_without_waiting_and_wakes_the_reader() -> None:
    a, b = duplex(8)
    reader = rt.spawn(b.read())
    await rt.yield_now()  # (the reader may or may not be parked: either way it gets the bytes)
    assert a.try_write(b"") == 0
    assert a.try_write(b"hello") == 5
    assert await rtt.timeout(10, reader) == b"hello"
    assert a.try_write(memoryview(b"0123456789")) == 8  # what fits
    with pytest.raises(BlockingIOError):
        a.try_write(b"x")  # full: never a wait
    assert await b.read() == b"01234567"
    await a.shutdown()
    with pytest.raises(BrokenPipeError, match="after shutdown"):
        a.try_write(b"x")
    c, d = duplex(8)
    d.close()
    with pytest.raises(BrokenPipeError, match="other end"):
        c.try_write(b"x")
    a.close()
    with pytest.raises(OSError, match="closed DuplexStream") as info:
        a.try_write(b"x")
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


# A close or shutdown made on the waiting task's own thread while it registers (what the other
# end's ``__del__``, run by the cyclic collector there, or a signal handler does) re-enters the
# pipe's lock and finds no waiter yet: the waiter must see it and not park for ever.


def _on_registering(monkeypatch: pytest.MonkeyPatch, fn: Any) -> list[None]:
    """Run ``fn()`` inside the next ``current_task()`` the duplex calls (under its lock)."""
    calls: list[None] = []

    def current_task() -> Any:
        task = rt.current_task()
        if not calls:
            calls.append(None)
            fn()
        return task

    monkeypatch.setattr(_duplex, "current_task", current_task)
    return calls


async def test_a_duplex_end_closed_on_the_readers_thread_as_it_registers_gives_it_eof(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = duplex(8)
    calls = _on_registering(monkeypatch, a.close)
    assert await rtt.timeout(10, b.read()) == b""
    assert calls


async def test_a_duplex_end_shut_down_on_the_readers_thread_as_it_registers_gives_it_eof(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = duplex(8)
    calls = _on_registering(monkeypatch, a._tx.shut_write)
    assert await rtt.timeout(10, b.read()) == b""
    assert calls


async def test_a_duplex_reader_closed_on_the_writers_thread_as_it_registers_breaks_its_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = duplex(4)
    assert await a.write(b"full") == 4
    calls = _on_registering(monkeypatch, b.close)
    with pytest.raises(BrokenPipeError):
        await rtt.timeout(10, a.write(b"more"))
    assert calls
