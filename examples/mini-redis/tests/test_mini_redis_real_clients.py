"""mini-redis driven by clients nobody here wrote: redis-cli and redis-benchmark.

``tools/dev.py`` installs Debian's ``redis-tools`` when they are missing and it can (root with
apt); without them these tests are skipped, and the skip says why.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from mini_redis import Server

import rt
from rt.net import TcpListener

pytestmark = pytest.mark.skipif(
    shutil.which("redis-cli") is None or shutil.which("redis-benchmark") is None,
    reason="redis-cli / redis-benchmark not installed (apt install redis-tools)",
)


async def _cli(port: int, *args: str) -> str:
    done = await rt.spawn_blocking(
        lambda: subprocess.run(
            ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=60
        )
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def test_redis_cli_commands_behave_as_with_redis() -> None:
    server = Server(await TcpListener.bind("127.0.0.1:0"))
    port = server.listener.local_addr()[1]
    task = rt.spawn(server.run())
    assert await _cli(port, "ping") == "PONG"
    assert await _cli(port, "echo", "hello world") == "hello world"
    assert await _cli(port, "get", "k") == ""
    assert await _cli(port, "set", "k", "v") == "OK"
    assert await _cli(port, "get", "k") == "v"
    assert await _cli(port, "set", "k", "w", "nx") == ""
    assert await _cli(port, "set", "k", "w", "xx") == "OK"
    assert await _cli(port, "set", "t", "1", "ex", "100") == "OK"
    assert await _cli(port, "ttl", "t") == "100"
    assert await _cli(port, "expire", "k", "50") == "1"
    assert await _cli(port, "exists", "k", "t", "nope") == "2"
    assert await _cli(port, "incr", "n") == "1"
    assert await _cli(port, "incr", "n") == "2"
    assert "not an integer" in await _cli(port, "incr", "k")
    assert await _cli(port, "del", "k", "t", "n") == "3"
    assert await _cli(port, "publish", "ch", "msg") == "0"
    assert "unknown command" in await _cli(port, "nosuchcmd")
    server.shutdown()
    await task


async def test_redis_cli_runs_counter_multi_key_and_transaction_commands() -> None:
    # What redis-py sends by default (INCRBY, MSET/MGET, MULTI/EXEC), from redis-cli too.
    server = Server(await TcpListener.bind("127.0.0.1:0"))
    port = server.listener.local_addr()[1]
    task = rt.spawn(server.run())
    assert await _cli(port, "incrby", "n", "5") == "5"
    assert await _cli(port, "decrby", "n", "2") == "3"
    assert await _cli(port, "mset", "a", "1", "b", "2") == "OK"
    assert (await _cli(port, "mget", "a", "missing", "b")).splitlines() == ["1", "", "2"]
    # One connection: redis-cli reads the commands from stdin and sends them in order.
    done = await rt.spawn_blocking(
        lambda: subprocess.run(
            ["redis-cli", "-p", str(port)],
            input="MULTI\nINCRBY n 10\nGET n\nEXEC\nMULTI\nSET n 0\nDISCARD\nGET n\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["OK", "QUEUED", "QUEUED", "13", "13", "OK", "QUEUED", "OK", "13"]
    server.shutdown()
    await task


async def test_redis_benchmark_runs_with_zero_errors() -> None:
    server = Server(await TcpListener.bind("127.0.0.1:0"))
    port = server.listener.local_addr()[1]
    task = rt.spawn(server.run())
    done = await rt.spawn_blocking(
        lambda: subprocess.run(
            [
                "redis-benchmark",
                "-p",
                str(port),
                "-t",
                "ping,set,get,incr",
                "-n",
                "2000",
                "-c",
                "10",
                "-P",
                "4",
                "-q",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "rror" not in out, out
    for test in ("PING_INLINE", "PING_MBULK", "SET", "GET", "INCR"):
        assert f"{test}:" in out, out
    server.shutdown()
    await task
