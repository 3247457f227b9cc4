"""mini-redis driven by redis-py, the most used Redis client library, with its defaults: the
sync client and the asyncio client, each in a thread of its own beside the rt server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import redis
import redis.asyncio
from mini_redis import Server

import rt
from rt.net import TcpListener

T = TypeVar("T")

BIG = bytes(range(256)) * (16 * 1024)  # 4 MiB


async def _with_server(client_side: Callable[[int], T]) -> T:
    server = Server(await TcpListener.bind("127.0.0.1:0"))
    port = server.listener.local_addr()[1]
    task = rt.spawn(server.run())
    try:
        return await rt.spawn_blocking(client_side, port)
    finally:
        server.shutdown()
        await task


def _sync_session(port: int) -> dict[str, Any]:
    r = redis.Redis(port=port, socket_timeout=30)
    out: dict[str, Any] = {}
    try:
        out["ping"] = r.ping()
        out["set"] = r.set("k", "v")
        out["get"] = r.get("k")
        out["incr"] = [r.incr("n"), r.incr("n", 5), r.decr("n"), r.decr("n", 2)]
        out["mset"] = r.mset({"a": "1", "b": "2"})
        out["mget"] = r.mget("a", "missing", "b")
        out["ex"] = [r.set("t", "x", ex=100), r.ttl("t"), r.expire("k", 50), r.exists("k", "t")]
        out["delete"] = r.delete("k", "t", "nope")
        with r.pipeline() as pipe:  # transactional by default: MULTI ... EXEC
            for call in (
                lambda: pipe.set("p", 1),
                lambda: pipe.incr("p"),
                lambda: pipe.incrby("p", 10),
                lambda: pipe.get("p"),
                lambda: pipe.mget("a", "b"),
            ):
                call()
            out["pipeline"] = pipe.execute()
        with r.pipeline(transaction=False) as pipe:
            pipe.incr("q")
            pipe.incr("q")
            pipe.get("q")
            out["plain_pipeline"] = pipe.execute()
        out["big"] = [r.set("big", BIG), r.get("big") == BIG]
        pubsub = r.pubsub()
        pubsub.subscribe("news")
        first = pubsub.get_message(timeout=10)
        out["subscribed"] = first is not None and first["type"] == "subscribe"
        out["receivers"] = r.publish("news", "hello")
        msg = pubsub.get_message(timeout=10)
        out["message"] = None if msg is None else (msg["channel"], msg["data"])
        pubsub.close()
        try:
            r.execute_command("NOSUCHCOMMAND")  # type: ignore[no-untyped-call]
        except redis.ResponseError as exc:
            out["error"] = str(exc)
    finally:
        r.close()
    return out


EXPECTED: dict[str, Any] = {
    "ping": True,
    "set": True,
    "get": b"v",
    "incr": [1, 6, 5, 3],
    "mset": True,
    "mget": [b"1", None, b"2"],
    "ex": [True, 100, True, 2],
    "delete": 2,
    "pipeline": [True, 2, 12, b"12", [b"1", b"2"]],
    "plain_pipeline": [1, 2, b"2"],
    "big": [True, True],
    "subscribed": True,
    "receivers": 1,
    "message": (b"news", b"hello"),
    "error": "unknown command 'NOSUCHCOMMAND', with args beginning with: ",
}


async def test_redis_py_sync_client_with_its_defaults() -> None:
    assert await _with_server(_sync_session) == EXPECTED


async def _async_session(port: int) -> dict[str, Any]:
    r = redis.asyncio.Redis(port=port, socket_timeout=30)
    out: dict[str, Any] = {}
    try:
        out["ping"] = await r.ping()
        out["set"] = await r.set("k", "v")
        out["get"] = await r.get("k")
        out["incr"] = [
            await r.incr("n"),
            await r.incr("n", 5),
            await r.decr("n"),
            await r.decr("n", 2),
        ]
        out["mset"] = await r.mset({"a": "1", "b": "2"})
        out["mget"] = await r.mget("a", "missing", "b")
        out["ex"] = [
            await r.set("t", "x", ex=100),
            await r.ttl("t"),
            await r.expire("k", 50),
            await r.exists("k", "t"),
        ]
        out["delete"] = await r.delete("k", "t", "nope")
        async with r.pipeline() as pipe:
            for call in (
                lambda: pipe.set("p", 1),
                lambda: pipe.incr("p"),
                lambda: pipe.incrby("p", 10),
                lambda: pipe.get("p"),
                lambda: pipe.mget("a", "b"),
            ):
                call()
            out["pipeline"] = await pipe.execute()
        async with r.pipeline(transaction=False) as pipe:
            pipe.incr("q")
            pipe.incr("q")
            pipe.get("q")
            out["plain_pipeline"] = await pipe.execute()
        out["big"] = [await r.set("big", BIG), (await r.get("big")) == BIG]
        pubsub = r.pubsub()
        await pubsub.subscribe("news")
        first = await pubsub.get_message(timeout=10)
        out["subscribed"] = first is not None and first["type"] == "subscribe"
        out["receivers"] = await r.publish("news", "hello")
        msg = await pubsub.get_message(timeout=10)
        out["message"] = None if msg is None else (msg["channel"], msg["data"])
        await pubsub.aclose()
        try:
            await r.execute_command("NOSUCHCOMMAND")  # type: ignore[no-untyped-call]
        except redis.ResponseError as exc:
            out["error"] = str(exc)
    finally:
        await r.aclose()
    return out


async def test_redis_py_asyncio_client_with_its_defaults() -> None:
    result = await _with_server(lambda port: asyncio.run(_async_session(port)))
    assert result == EXPECTED
