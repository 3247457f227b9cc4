"""mini-redis: the RESP codec, the Db on paused time, and the server through rt's client."""

from __future__ import annotations

import asyncio
import random
import re
import socket
import time

import pytest
from mini_redis import Client, Db, Server, resp
from mini_redis.asyncio_server import NO_PUBSUB, connection_handler
from mini_redis.commands import Commands
from mini_redis.resp import ProtocolError, RespError

import rt
import rt.time
from rt.net import TcpListener, TcpStream


def test_resp_parses_arrays_inline_commands_and_waits_for_incomplete_frames() -> None:
    frame = resp.command("SET", "k", "v")
    assert resp.parse(frame) == ([b"SET", b"k", b"v"], len(frame))
    for cut in range(1, len(frame)):
        assert resp.parse(frame[:cut]) is None
    assert resp.parse(b"PING\r\nrest") == ([b"PING"], 6)
    assert resp.parse(b"*0\r\n") == ([], 4)


@pytest.mark.parametrize(
    "bad", [b"*x\r\n", b"*1\r\n+no\r\n", b"*1\r\n$-5\r\n", b"*1\r\n$2\r\nabc\r\n"]
)
def test_resp_rejects_malformed_frames(bad: bytes) -> None:
    with pytest.raises(ProtocolError, match="Protocol error"):
        resp.parse(bad)


def _parse_repeatedly(buf: bytes) -> tuple[list[resp.Frame], int] | ProtocolError:
    """What ``parse_all(buf)`` must give, from ``parse`` alone."""
    frames: list[resp.Frame] = []
    pos = 0
    try:
        while (got := resp.parse(buf, pos)) is not None:
            frames.append(got[0])
            pos = got[1]
    except ProtocolError as exc:
        if not frames:
            return exc
    return frames, pos


_PIECES = [
    resp.command("GET", "key:000000000042"),
    resp.command("SET", "k", "v" * 100),
    resp.command("SET", "k", b"a\r\nb"),  # a CRLF inside a value
    resp.command("ECHO", b"\r\n$3\r\nGET\r\n"),  # a value that looks like a request
    resp.command("PING"),
    b"PING\r\n",
    b"PING  extra\targs\r\n",
    b"\r\n",  # an empty inline line
    b"PING\nPING\r\n",  # lines ended by a bare LF
    b"*0\r\n",
    b"*2\r\n$03\r\nGET\r\n$1\r\nk\r\n",  # a length with a leading zero
    b"*1\r\n$4\r\nPING\r\n",
    resp.command("SET", "big", "x" * 5000),  # a length beyond parse_all's table
    resp.command("EXISTS", *["k"] * 1100),  # more arguments than parse_all handles itself
]
_MALFORMED = [b"*x\r\n", b"*1\r\n+no\r\n", b"*1\r\n$2\r\nabc\r\n", b"*1\r\n$-5\r\n"]


def test_parse_all_finds_exactly_what_parse_finds_in_any_pipeline() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        parts = [rng.choice(_PIECES) for _ in range(rng.randrange(1, 6))]
        if rng.random() < 0.3:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(_MALFORMED))
        buf = b"".join(parts)
        cut = buf[: rng.randrange(1, len(buf) + 1)]  # whole, or ending mid-request
        start = rng.choice([0, 0, min(len(cut), len(parts[0]))])
        expected = _parse_repeatedly(cut[start:])
        if isinstance(expected, ProtocolError):
            with pytest.raises(ProtocolError, match=re.escape(str(expected))):
                resp.parse_all(cut, start)
        else:
            frames, end = resp.parse_all(cut, start)
            assert (frames, end - start) == expected, cut


@pytest.mark.rt(start_paused=True)
async def test_db_expiry_on_paused_time_and_purge() -> None:
    db = Db()
    db.start()
    db.set(b"a", b"1", ttl=10)
    db.set(b"b", b"2")
    assert db.ttl(b"a") == 10 and db.ttl(b"b") == -1 and db.ttl(b"zz") == -2
    await rt.time.advance(9.5)
    assert db.get(b"a") == b"1"
    await rt.time.advance(1)
    assert db.get(b"a") is None
    assert db.expire(b"b", 5)
    await rt.time.advance(5)
    while len(db):  # the purge task (on any worker) removes b without anyone reading it
        await rt.yield_now()
    assert not db.set(b"c", b"x", xx=True) and db.set(b"c", b"x", nx=True)
    assert not db.set(b"c", b"y", nx=True)
    await db.close()


def test_db_get_of_an_expired_key_never_removes_a_value_set_meanwhile() -> None:
    now = [0.0]
    db = Db(clock=lambda: now[0])
    db.set(b"k", b"old", ttl=1)
    now[0] = 2.0

    def clock_that_lets_another_thread_set_the_key() -> float:
        # get() reads the clock after its lock-free lookup found the expired entry: this is
        # where another thread's SET would land.
        db._now = lambda: now[0]
        db.set(b"k", b"new")
        return now[0]

    db._now = clock_that_lets_another_thread_set_the_key
    assert db.get(b"k") is None  # what it looked at had expired
    assert db.get(b"k") == b"new"  # and the new value was not removed with it


def test_db_incr_rejects_non_integers() -> None:
    db = Db()
    assert db.incr(b"n") == 1 and db.incr(b"n") == 2
    db.set(b"s", b"abc")
    with pytest.raises(ValueError, match="not an integer"):
        db.incr(b"s")


class Running:
    """A server on 127.0.0.1:<free port>, run by the test's runtime."""

    def __init__(self, server: Server, task: rt.JoinHandle[None]) -> None:
        self.server = server
        self.task = task
        self.addr = server.listener.local_addr()

    @classmethod
    async def start(cls, max_connections: int = 10_000) -> Running:
        server = Server(await TcpListener.bind("127.0.0.1:0"), max_connections=max_connections)
        return cls(server, rt.spawn(server.run()))

    async def stop(self) -> None:
        self.server.shutdown()
        await self.task


async def test_commands_through_the_rt_client() -> None:
    srv = await Running.start()
    async with await Client.connect(srv.addr) as c:
        assert await c.ping() == b"PONG"
        assert await c.call("ECHO", "hi") == b"hi"
        assert await c.get("k") is None
        await c.set("k", "v")
        assert await c.get("k") == b"v"
        assert await c.call("SET", "k", "w", "NX") is None
        assert await c.call("SET", "k", "w", "XX") == b"OK"
        assert await c.call("EXISTS", "k", "nope", "k") == 2
        assert await c.call("INCR", "n") == 1
        assert await c.call("INCR", "n") == 2
        with pytest.raises(RespError, match="not an integer"):
            await c.call("INCR", "k")
        assert await c.call("EXPIRE", "k", 100) == 1
        assert await c.call("TTL", "k") == 100
        assert await c.call("DEL", "k", "n", "nope") == 2
        assert await c.call("TTL", "k") == -2
        with pytest.raises(RespError, match="wrong number of arguments for 'get'"):
            await c.call("GET")
        with pytest.raises(RespError, match="wrong number of arguments for 'set'"):
            await c.call("sEt", "k")  # names in any case, the same checks
        assert await c.call("eCho", "any case") == b"any case"
        with pytest.raises(RespError, match="unknown command 'FLY'"):
            await c.call("FLY", "away")
        with pytest.raises(RespError, match="unknown command 'fly'"):
            await c.call("fly", "away")
        with pytest.raises(RespError, match="syntax error"):
            await c.call("SET", "a", "b", "EX")
        assert await c.call("CONFIG", "GET", "save") == [b"save", b""]
        info = await c.call("INFO")
        assert isinstance(info, bytes) and b"redis_version" in info
    await srv.stop()


async def test_pipelined_requests_are_answered_in_order() -> None:
    srv = await Running.start()
    async with await Client.connect(srv.addr) as c:
        cmds: list[tuple[bytes | str | int, ...]] = []
        for i in range(500):
            cmds += [("SET", f"k{i}", i), ("INCR", f"k{i}"), ("GET", f"k{i}")]
        replies = await c.pipeline(cmds)
    assert replies == [r for i in range(500) for r in (b"OK", i + 1, str(i + 1).encode())]
    await srv.stop()


async def test_malformed_input_gets_an_error_and_never_hurts_other_connections() -> None:
    srv = await Running.start()
    async with await Client.connect(srv.addr) as good:
        await good.set("x", "1")
        async with await TcpStream.connect(srv.addr) as bad:
            await bad.write_all(b"*2\r\n$3\r\nGET\r\n%garbage\r\n")
            reply = b""
            while chunk := await bad.read():
                reply += chunk
            assert reply.startswith(b"-ERR Protocol error")
        assert await good.get("x") == b"1"
    await srv.stop()


async def test_a_malformed_request_in_a_pipeline_is_answered_after_the_whole_ones() -> None:
    srv = await Running.start()
    async with await TcpStream.connect(srv.addr) as conn:
        await conn.write_all(resp.command("PING") + resp.command("ECHO", "hi") + b"*1\r\n+x\r\n")
        reply = b""
        while chunk := await conn.read():
            reply += chunk
        assert reply == b"+PONG\r\n$2\r\nhi\r\n-ERR Protocol error: expected '$', got '+'\r\n"
    await srv.stop()


async def test_values_with_crlf_inside_are_stored_whole_in_a_pipeline() -> None:
    srv = await Running.start()
    async with await Client.connect(srv.addr) as c:
        value = b"line one\r\n$3\r\nGET\r\nline two"
        replies = await c.pipeline(
            [("SET", "k", value), ("GET", "k"), ("ECHO", b"\r\n"), ("PING",), ("GET", "k")]
        )
    assert replies == [b"OK", value, b"\r\n", b"PONG", value]
    await srv.stop()


async def test_eof_in_the_middle_of_a_request_gets_an_error_after_the_complete_ones() -> None:
    srv = await Running.start()
    async with await TcpStream.connect(srv.addr) as conn:
        # Two whole requests, then half of a third, then the client stops writing.
        await conn.write_all(b"PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*2\r\n$3\r\nGET\r\n")
        await conn.shutdown()
        reply = b""
        while chunk := await conn.read():
            reply += chunk
        assert (
            reply == b"+PONG\r\n$2\r\nhi\r\n-ERR Protocol error: connection closed mid-request\r\n"
        )
    await srv.stop()


async def test_pubsub_between_rt_clients() -> None:
    srv = await Running.start()
    async with await Client.connect(srv.addr) as pub, await Client.connect(srv.addr) as sc:
        sub = await sc.subscribe("news", "sport")
        assert await pub.publish("news", "hello") == 1
        assert await pub.publish("weather", "rain") == 0
        assert await pub.publish("sport", "goal") == 1
        assert await sub.next_message() == (b"news", b"hello")
        assert await sub.next_message() == (b"sport", b"goal")
    await srv.stop()


async def test_subscribed_mode_allows_only_subscription_commands() -> None:
    srv = await Running.start()
    async with await TcpStream.connect(srv.addr) as s:
        await s.write_all(resp.command("SUBSCRIBE", "a"))
        await s.write_all(resp.command("GET", "x"))
        await s.write_all(resp.command("UNSUBSCRIBE"))
        await s.write_all(resp.command("PING"))
        expected = (
            resp.array([resp.bulk(b"subscribe"), resp.bulk(b"a"), resp.integer(1)])
            + resp.error(
                "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
                "RESET are allowed in this context"
            )
            + resp.array([resp.bulk(b"unsubscribe"), resp.bulk(b"a"), resp.integer(0)])
            + resp.PONG
        )
        got = b""
        while len(got) < len(expected):
            got += await s.read()
        assert got == expected
    await srv.stop()


async def test_requests_pipelined_after_subscribe_are_read_in_subscribed_mode() -> None:
    srv = await Running.start()
    async with await TcpStream.connect(srv.addr) as s:
        await s.write_all(
            resp.command("PING")
            + resp.command("SUBSCRIBE", "a")
            + resp.command("GET", "x")
            + resp.command("UNSUBSCRIBE")
            + resp.command("GET", "x")
        )
        expected = (
            resp.PONG
            + resp.array([resp.bulk(b"subscribe"), resp.bulk(b"a"), resp.integer(1)])
            + resp.error(
                "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
                "RESET are allowed in this context"
            )
            + resp.array([resp.bulk(b"unsubscribe"), resp.bulk(b"a"), resp.integer(0)])
            + resp.NULL  # back in normal mode
        )
        got = b""
        while len(got) < len(expected):
            got += await s.read()
        assert got == expected
    await srv.stop()


async def test_subscribe_without_a_channel_is_an_arity_error_in_either_mode() -> None:
    srv = await Running.start()
    async with await TcpStream.connect(srv.addr) as s:
        await s.write_all(resp.command("SUBSCRIBE"))  # normal mode: an error, not silence
        await s.write_all(resp.command("SUBSCRIBE", "a"))
        await s.write_all(resp.command("SUBSCRIBE"))  # subscribed mode: the same error
        await s.write_all(resp.command("UNSUBSCRIBE", "a"))
        await s.write_all(resp.command("PING"))
        arity = resp.error("ERR wrong number of arguments for 'subscribe' command")
        expected = (
            arity
            + resp.array([resp.bulk(b"subscribe"), resp.bulk(b"a"), resp.integer(1)])
            + arity
            + resp.array([resp.bulk(b"unsubscribe"), resp.bulk(b"a"), resp.integer(0)])
            + resp.PONG
        )
        got = b""
        while len(got) < len(expected):
            got += await s.read()
        assert got == expected
    await srv.stop()


async def test_quit_answers_ok_after_the_pipelined_replies_and_closes() -> None:
    srv = await Running.start()
    async with await TcpStream.connect(srv.addr) as s:
        await s.write_all(resp.command("PING") + resp.command("QUIT") + resp.command("PING"))
        got = b""
        while chunk := await s.read():
            got += chunk
        assert got == resp.PONG + resp.OK  # the request after QUIT is never answered
    await srv.stop()


async def test_connection_limit_refuses_with_an_error() -> None:
    srv = await Running.start(max_connections=1)
    async with await Client.connect(srv.addr) as first:
        assert await first.ping() == b"PONG"
        async with await TcpStream.connect(srv.addr) as second:
            assert await second.read() == b"-ERR max number of clients reached\r\n"
        assert await first.ping() == b"PONG"
    await srv.stop()


async def test_graceful_shutdown_finishes_the_reply_in_flight_and_refuses_new_connections() -> None:
    srv = await Running.start()
    big = b"v" * 8_000_000
    async with await Client.connect(srv.addr) as c:
        await c.set("big", big)
        before = srv.server.commands_processed
        raw = await TcpStream.connect(srv.addr)
        await raw.write_all(resp.command("GET", "big"))  # and do not read yet
        while srv.server.commands_processed == before:
            await rt.yield_now()  # until the server has taken the request
        srv.server.shutdown()
        reply = b""
        while chunk := await raw.read():
            reply += chunk
        assert reply == resp.bulk(big)  # whole, then EOF
        raw.close()
        await srv.task
    with pytest.raises(ConnectionRefusedError):
        await TcpStream.connect(srv.addr)


def test_demo_prints_throughput_and_latency(
    capsys: pytest.CaptureFixture[str], flavor: str | None
) -> None:
    from mini_redis.demo import demo

    result = rt.run(demo(seconds=0.3, connections=8), flavor=flavor)
    out = capsys.readouterr().out
    assert "ops/s" in out and "p99" in out and "shut down gracefully" in out
    assert result["errors"] == 0 and result["ops_per_s"] > 0
    assert result["connections_served"] == 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_process_shuts_down_gracefully_on_ctrl_c_and_the_cli_talks_to_it() -> None:
    import signal
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent.parent
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mini_redis.server", "--port", str(port)],
        cwd=here,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "listening" in proc.stdout.readline()  # waits until the server is bound

        def cli(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "mini_redis.cli", "--addr", f"127.0.0.1:{port}", *args],
                cwd=here,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            return done.stdout.strip()

        assert cli("set", "greeting", "hello") == "OK"
        assert cli("get", "greeting") == "hello"
        assert cli("get", "missing") == "(nil)"
        assert cli("publish", "news", "x") == "0"
        held = socket.create_connection(("127.0.0.1", port))  # an idle client
        proc.send_signal(signal.SIGINT)
        assert held.recv(100) == b""  # the server closed it on the way out
        held.close()
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_a_bug_in_a_command_costs_one_connection_not_the_server(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mini_redis import commands

    def broken(self: object, frame: list[bytes]) -> bytes:
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(commands._COMMANDS, b"ECHO", (2, broken))
    srv = await Running.start()
    async with await TcpStream.connect(srv.addr) as bad:
        await bad.write_all(resp.command("ECHO", "x"))
        reply = b""
        while chunk := await bad.read():
            reply += chunk
        assert reply == b"-ERR internal error\r\n"
    assert "internal error" in caplog.text
    async with await Client.connect(srv.addr) as good:
        assert await good.ping() == b"PONG"
    await srv.stop()


async def test_running_out_of_fds_does_not_stop_the_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import errno
    import os
    import resource

    srv = await Running.start()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hog: list[int] = []
    # The client's socket exists before the fds run out; it connects after, so the server
    # (on any worker) can only accept it once the table is full.
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 4096), hard))
        with pytest.raises(OSError) as info:
            while True:
                hog.append(os.open(os.devnull, os.O_RDONLY))
        assert info.value.errno == errno.EMFILE
        client.connect(srv.addr)
        while "Too many open files" not in caplog.text:  # until the accept loop has met it
            await rt.yield_now()
    finally:
        for fd in hog:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    client.sendall(resp.command("PING"))
    assert await rt.spawn_blocking(client.recv, 100) == b"+PONG\r\n"
    client.close()
    assert not srv.task.is_finished()
    await srv.stop()


def test_the_asyncio_comparison_server_answers_like_the_rt_server() -> None:
    # The benchmark's asyncio / uvloop server runs the same command code and request loop.
    async def talk(request: bytes) -> bytes:
        handle = connection_handler(Commands(Db(clock=time.monotonic)))
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            got = await reader.read()  # until the server closes the connection
            writer.close()
            return got

    pipeline = [("SET", "k", "1"), ("INCR", "k"), ("GET", "k"), ("PING",), ("QUIT",), ("PING",)]
    request = b"".join(resp.command(*c) for c in pipeline)
    assert asyncio.run(talk(request)) == resp.OK + b":2\r\n" + resp.bulk(b"2") + resp.PONG + resp.OK
    got = asyncio.run(talk(resp.command("PING") + resp.command("SUBSCRIBE", "a")))
    assert got == resp.PONG + resp.error(NO_PUBSUB)
