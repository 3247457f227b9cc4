"""mini-redis: requests that arrive in many reads, the request size limit, and the commands
and transactions that redis-py's defaults send (issue 26, item 9)."""

from __future__ import annotations

import random

import pytest
from mini_redis import Client, Server, resp
from mini_redis.commands import Commands, Session
from mini_redis.db import Db
from mini_redis.resp import ProtocolError, RequestReader, RespError

import rt
from rt.net import TcpListener, TcpStream

_REQUESTS = [
    resp.command("SET", "k", "v" * 100),
    resp.command("GET", "key:000000000042"),
    resp.command("SET", "big", b"x\r\n" * 50_000),  # 150 kB with CRLFs inside
    resp.command("SET", "huge", "y" * 300_000),
    resp.command("MSET", *[f"k{i}" for i in range(40_000)]),  # many small arguments
    b"PING\r\n",
    b"*0\r\n",
]


def _feed_in_pieces(reader: RequestReader, data: bytes, rng: random.Random) -> list[resp.Frame]:
    got: list[resp.Frame] = []
    i = 0
    while i < len(data):
        step = rng.choice([1, 7, 100, 4096, 65536, 200_000])
        reader.feed(data[i : i + step])
        i += step
        got += reader.take()
    return got


def test_request_reader_gives_every_request_however_the_bytes_are_split() -> None:
    rng = random.Random(26)
    for _ in range(40):
        requests = [rng.choice(_REQUESTS) for _ in range(rng.randrange(1, 6))]
        data = b"".join(requests)
        expected = [resp.parse(r)[0] for r in requests]  # type: ignore[index]
        reader = RequestReader()
        assert _feed_in_pieces(reader, data, rng) == expected
        assert not reader.pending


def test_request_reader_holds_a_partial_request_until_it_is_whole() -> None:
    reader = RequestReader()
    data = resp.command("SET", "k", "z" * 1_000_000) + resp.command("GET", "k")
    reader.feed(data[:500_000])
    assert reader.take() == [] and reader.pending
    reader.feed(data[500_000:-3])
    assert reader.take() == [[b"SET", b"k", b"z" * 1_000_000]] and reader.pending
    reader.feed(data[-3:])
    assert reader.take() == [[b"GET", b"k"]] and not reader.pending


def test_a_request_declaring_more_than_the_maximum_is_refused_before_it_arrives() -> None:
    reader = RequestReader(max_request=1 << 20)
    reader.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n" + b"v" * 100_000)
    with pytest.raises(ProtocolError, match=r"larger than the server's maximum \(1048576"):
        reader.take()


def test_a_request_of_many_small_arguments_beyond_the_maximum_is_refused() -> None:
    reader = RequestReader(max_request=1 << 20)
    data = resp.command("MSET", *["kv"] * 400_000)  # about 3 MB in arguments of 2 bytes
    with pytest.raises(ProtocolError, match="maximum"):
        _feed_in_pieces(reader, data, random.Random(1))


def test_malformed_input_in_a_big_request_is_still_refused() -> None:
    reader = RequestReader()
    reader.feed(b"*2\r\n$3\r\nSET\r\n$70000\r\n" + b"v" * 70_000 + b"XX")
    with pytest.raises(ProtocolError, match="not terminated by CRLF"):
        reader.take()


def test_transactions_queue_then_run_or_discard_or_abort() -> None:
    s = Session(Commands(Db(clock=lambda: 0.0)))

    def run(*args: str) -> bytes:
        return s.execute([a.encode() for a in args])

    assert run("EXEC") == resp.error("ERR EXEC without MULTI")
    assert run("DISCARD") == resp.error("ERR DISCARD without MULTI")
    assert run("MULTI") == resp.OK
    assert run("MULTI") == resp.error("ERR MULTI calls can not be nested")
    assert run("SET", "a", "1") == b"+QUEUED\r\n"
    assert run("INCRBY", "a", "41") == b"+QUEUED\r\n"
    assert run("GET", "a") == b"+QUEUED\r\n"
    assert run("EXEC") == resp.array([resp.OK, resp.integer(42), resp.bulk(b"42")])
    assert run("MULTI") == resp.OK
    assert run("SET", "a", "2") == b"+QUEUED\r\n"
    assert run("DISCARD") == resp.OK
    assert run("GET", "a") == resp.bulk(b"42")
    assert run("MULTI") == resp.OK
    assert run("NOSUCH").startswith(b"-ERR unknown command")
    assert run("GET") == resp.error("ERR wrong number of arguments for 'get' command")
    assert run("SET", "a", "3") == b"+QUEUED\r\n"
    assert run("EXEC").startswith(b"-EXECABORT")
    assert run("GET", "a") == resp.bulk(b"42")  # nothing of the aborted one ran


class Running:
    def __init__(self, server: Server, task: rt.JoinHandle[None]) -> None:
        self.server = server
        self.task = task
        self.addr = server.listener.local_addr()

    @classmethod
    async def start(cls, max_request: int = resp.MAX_REQUEST) -> Running:
        server = Server(await TcpListener.bind("127.0.0.1:0"), max_request=max_request)
        return cls(server, rt.spawn(server.run()))

    async def stop(self) -> None:
        self.server.shutdown()
        await self.task


async def test_a_request_over_the_maximum_size_gets_an_error_and_a_close() -> None:
    srv = await Running.start(max_request=1 << 20)
    async with await TcpStream.connect(srv.addr) as s:
        await s.write_all(resp.command("SET", "ok", "v" * 500_000))
        try:
            await s.write_all(resp.command("SET", "k", "v" * (2 << 20)))
        except OSError:
            pass  # the server may close before it has read all of it
        reply = b""
        try:
            while chunk := await s.read():
                reply += chunk
        except ConnectionResetError:
            pass
    assert reply.startswith(b"+OK\r\n-ERR Protocol error: request larger than")
    async with await Client.connect(srv.addr) as c:
        assert await c.get("ok") == b"v" * 500_000  # the server is fine
        assert await c.get("k") is None
    await srv.stop()


async def test_a_big_value_written_in_many_small_writes_is_stored_whole() -> None:
    srv = await Running.start()
    value = bytes(range(256)) * (16 * 1024)  # 4 MiB
    data = resp.command("SET", "big", value) + resp.command("GET", "big")
    async with await TcpStream.connect(srv.addr) as s:
        for i in range(0, len(data), 65536):
            await s.write_all(data[i : i + 65536])
        expected = resp.OK + resp.bulk(value)
        reply = await s.read_exact(len(expected))
    assert reply == expected
    await srv.stop()


async def test_counter_multi_key_and_transaction_commands_over_the_wire() -> None:
    srv = await Running.start()
    async with await Client.connect(srv.addr) as c:
        assert await c.call("INCRBY", "n", 10) == 10
        assert await c.call("DECRBY", "n", 3) == 7
        assert await c.call("DECR", "n") == 6
        assert await c.call("INCR", "n") == 7
        with pytest.raises(RespError, match="not an integer"):
            await c.call("INCRBY", "n", "x")
        await c.set("big", str(2**63 - 1))
        with pytest.raises(RespError, match="overflow"):
            await c.call("INCR", "big")
        assert await c.call("MSET", "a", "1", "b", "2") == b"OK"
        with pytest.raises(RespError, match="wrong number of arguments for 'mset'"):
            await c.call("MSET", "a", "1", "b")
        assert await c.call("MGET", "a", "nope", "b") == [b"1", None, b"2"]
        replies = await c.pipeline([("MULTI",), ("INCR", "a"), ("MGET", "a", "b"), ("EXEC",)])
        assert replies == [b"OK", b"QUEUED", b"QUEUED", [2, [b"2", b"2"]]]
    await srv.stop()


def test_the_asyncio_comparison_server_shares_buffering_transactions_and_commands() -> None:
    import asyncio
    import time

    from mini_redis.asyncio_server import connection_handler

    value = b"w" * (3 << 20)

    async def talk() -> bytes:
        handle = connection_handler(Commands(Db(clock=time.monotonic)))
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            request = (
                resp.command("SET", "big", value)
                + resp.command("MULTI")
                + resp.command("INCRBY", "n", 5)
                + resp.command("MGET", "n", "nope")
                + resp.command("EXEC")
                + resp.command("STRLEN", "big")
                + resp.command("QUIT")
            )
            for i in range(0, len(request), 65536):
                writer.write(request[i : i + 65536])
                await writer.drain()
            got = await reader.read()  # until the server closes the connection
            writer.close()
            return got

    assert asyncio.run(talk()) == (
        resp.OK
        + resp.OK
        + b"+QUEUED\r\n" * 2
        + resp.array([resp.integer(5), resp.array([resp.bulk(b"5"), resp.NULL])])
        + resp.error("ERR unknown command 'STRLEN', with args beginning with: 'big'")
        + resp.OK
    )
