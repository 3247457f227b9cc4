"""Hostile input: wrong types and out-of-range values passed to rt's public API get a clear
``TypeError`` / ``ValueError`` naming what was expected, at the call, never an
``AttributeError`` from rt's internals, a silently wrong result, or a hang.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import rt
import rt.io
import rt.net
import rt.time
from rt._core._task import COMPILED
from rt.sync import Barrier, Semaphore, broadcast, mpsc, watch

LIMIT = 10.0

Call = Callable[[], object]


def bad(value: object) -> Any:
    """``value``, typed so the type checker lets a test pass it where it does not belong."""
    return value


# (id, call, error type, words the message must contain)
PLAIN_CALLS: list[tuple[str, Call, type[Exception], str]] = [
    ("runtime-flavor", lambda: rt.Runtime(flavor="fast"), ValueError, "current_thread"),
    ("runtime-workers", lambda: rt.Runtime(worker_threads=0), ValueError, "worker_threads"),
    ("run-a-function", lambda: rt.run(bad(rt.yield_now)), TypeError, "coroutine"),
    ("run-an-int", lambda: rt.run(bad(42)), TypeError, "coroutine"),
    ("mpsc-capacity", lambda: mpsc.channel(0), ValueError, "capacity"),
    ("mpsc-capacity-str", lambda: mpsc.channel(bad("3")), ValueError, "capacity"),
    ("broadcast-capacity", lambda: broadcast.channel(0), ValueError, "capacity"),
    ("semaphore-negative", lambda: Semaphore(-1), ValueError, "permits"),
    ("semaphore-add-negative", lambda: Semaphore(1).add_permits(-1), ValueError, "add_permits"),
    ("semaphore-try-zero", lambda: Semaphore(1).try_acquire(0), ValueError, "permits"),
    ("barrier-zero", lambda: Barrier(0), ValueError, "parties"),
    ("bufreader-not-a-stream", lambda: rt.io.BufReader(bad(42)), TypeError, "read()"),
    ("bufwriter-not-a-stream", lambda: rt.io.BufWriter(bad(42)), TypeError, "write_all()"),
    ("bufreader-capacity", lambda: rt.io.BufReader(rt.io.duplex(8)[0], 0), ValueError, "capacity"),
    ("duplex-max-buf", lambda: rt.io.duplex(0), ValueError, "max_buf"),
    ("watch-send-modify", lambda: watch.channel(0)[0].send_modify(bad(42)), TypeError, "function"),
    (
        "watch-send-if-modified",
        lambda: watch.channel(0)[0].send_if_modified(bad(None)),
        TypeError,
        "function",
    ),
    ("handle-direct", rt.Handle, TypeError, "Handle.current()"),
]


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [pytest.param(c, e, w, id=i) for i, c, e, w in PLAIN_CALLS],
)
def test_a_bad_argument_is_refused_at_the_call_with_a_message_saying_what_is_expected(
    call: Call, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=None) as info:
        call()
    assert words in str(info.value), info.value


async def bounded(aw: Awaitable[Any]) -> Any:
    try:
        return await rt.time.timeout(LIMIT, aw)
    except rt.time.Elapsed:
        raise AssertionError("hung on bad input instead of refusing it") from None


async def refused(make: Callable[[], Awaitable[Any]], error: type[Exception], words: str) -> None:
    """``await make()`` raises ``error`` (at the call or once awaited) naming ``words``."""
    with pytest.raises(error) as info:
        await bounded(make())
    assert words in str(info.value), info.value


async def test_bad_durations_are_refused_by_sleep_and_timeout() -> None:
    await refused(lambda: rt.time.sleep(bad("1")), TypeError, "int or float")
    await refused(lambda: rt.time.sleep(math.nan), ValueError, "NaN")
    await refused(lambda: rt.time.timeout(math.nan, rt.yield_now()), ValueError, "NaN")
    with pytest.raises(ValueError, match="positive"):
        rt.time.interval(0)


async def test_bad_select_branches_are_refused() -> None:
    await refused(rt.select, ValueError, "at least one")
    await refused(lambda: rt.select(bad(42)), TypeError, "awaitable")


async def test_bad_addresses_are_refused_by_bind_and_connect() -> None:
    await refused(lambda: rt.net.TcpListener.bind("nope"), ValueError, "port")
    await refused(lambda: rt.net.TcpListener.bind(bad(42)), TypeError, "host:port")
    await refused(lambda: rt.net.TcpStream.connect(bad(("127.0.0.1", "x"))), ValueError, "port")


async def test_bufreader_refuses_a_negative_size_instead_of_returning_the_wrong_bytes() -> None:
    a, b = rt.io.duplex(64)
    await a.write_all(b"abcdef")
    reader = rt.io.BufReader(b)
    assert await reader.read(1) == b"a"  # the rest is buffered now
    await refused(lambda: reader.read(-1), ValueError, "size")
    await refused(lambda: reader.read_exact(-1), ValueError, "size")
    await refused(lambda: reader.read(bad("2")), ValueError, "size")
    assert await reader.read_exact(5) == b"bcdef", "a refused read consumed bytes"


async def test_bufreader_read_of_zero_returns_at_once_without_waiting_for_data() -> None:
    a, b = rt.io.duplex(64)
    assert await bounded(rt.io.BufReader(b).read(0)) == b""
    a.close()


async def test_duplex_reads_refuse_a_bad_size_as_tcp_streams_do() -> None:
    a, b = rt.io.duplex(64)
    await a.write_all(b"abc")
    await refused(lambda: b.read(-1), ValueError, "size")
    await refused(lambda: b.read(bad("x")), ValueError, "size")
    await refused(lambda: b.read_exact(-1), ValueError, "size")
    assert await b.read_exact(3) == b"abc"


async def test_watch_wait_for_refuses_a_predicate_that_is_not_callable() -> None:
    _, rx = watch.channel(0)
    await refused(lambda: rx.wait_for(bad(42)), TypeError, "function")


async def test_tcp_read_refuses_a_size_that_is_not_an_int_with_a_message_naming_the_size() -> None:
    listener = await rt.net.TcpListener.bind("127.0.0.1:0")
    client = await rt.net.TcpStream.connect(listener.local_addr())
    server, _ = await listener.accept()
    try:
        if COMPILED:  # mypyc refuses it at the call, with its own TypeError
            await refused(lambda: server.read(bad("x")), TypeError, "int")
        else:
            await refused(lambda: server.read(bad("x")), ValueError, "size")
    finally:
        client.close()
        server.close()
        listener.close()
