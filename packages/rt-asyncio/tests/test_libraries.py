"""Real asyncio libraries, started for real, on rt's loop: each response is checked."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

import rt
import rt.asyncio

httpx = pytest.importorskip("httpx", reason="httpx is a test dependency (hatch.toml)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_uvicorn_serves_a_starlette_app_to_httpx_all_on_rts_loop() -> None:
    uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is a test dependency (hatch.toml)")
    starlette = pytest.importorskip("starlette", reason="starlette is a test dependency")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    del starlette

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello {request.path_params['name']}")

    async def echo(request: Request) -> JSONResponse:
        body = await request.json()
        await asyncio.sleep(0.001)
        return JSONResponse({"loop": type(asyncio.get_running_loop()).__name__, **body})

    app = Starlette(routes=[Route("/hello/{name}", hello), Route("/echo", echo, methods=["POST"])])
    port = _free_port()

    async def main() -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)
        serving = asyncio.ensure_future(server.serve())
        while not server.started:
            await asyncio.sleep(0.005)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            replies = await asyncio.gather(*(client.get(f"/hello/n{i}") for i in range(20)))
            assert [r.text for r in replies] == [f"hello n{i}" for i in range(20)]
            r = await client.post("/echo", json={"n": 7})
            assert r.status_code == 200
            assert r.json() == {"loop": "RtEventLoop", "n": 7}
            assert (await client.get("/nope")).status_code == 404
        server.should_exit = True
        await serving

    rt.asyncio.run(main())


def test_aiohttp_server_and_client_on_rts_loop() -> None:
    aiohttp = pytest.importorskip("aiohttp", reason="aiohttp is a test dependency (hatch.toml)")
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        data = await request.read()
        return web.Response(
            body=data[::-1], headers={"X-Loop": type(asyncio.get_running_loop()).__name__}
        )

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            await sock.send_str(msg.data.upper())
        return sock

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/rev", handle)
        app.router.add_get("/ws", ws)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:
                for i in range(10):
                    async with session.post(
                        f"http://127.0.0.1:{port}/rev", data=b"abc%d" % i
                    ) as resp:
                        assert resp.status == 200
                        assert await resp.read() == (b"abc%d" % i)[::-1]
                        assert resp.headers["X-Loop"] == "RtEventLoop"
                async with session.ws_connect(f"http://127.0.0.1:{port}/ws") as conn:
                    await conn.send_str("over websocket")
                    msg = await conn.receive()
                    assert msg.data == "OVER WEBSOCKET"
        finally:
            await runner.cleanup()

    rt.asyncio.run(main())


def test_anyio_asyncio_backend_with_rts_loop_factory() -> None:
    anyio = pytest.importorskip("anyio", reason="anyio is a test dependency (hatch.toml)")

    async def main() -> list[Any]:
        results: list[Any] = [type(asyncio.get_running_loop()).__name__]

        async def serve(stream: Any) -> None:
            async with stream:
                await stream.send(await stream.receive() * 2)

        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, serve)
            async with await anyio.connect_tcp("127.0.0.1", port) as client:
                await client.send(b"any")
                results.append(await client.receive())
            with anyio.move_on_after(0.01) as scope:
                await anyio.sleep(10)
            results.append(scope.cancelled_caught)
            results.append(await anyio.to_thread.run_sync(lambda: 6 * 7))
            tg.cancel_scope.cancel()
        return results

    got = anyio.run(
        main, backend="asyncio", backend_options={"loop_factory": rt.asyncio.new_event_loop}
    )
    assert got == ["RtEventLoop", b"anyany", True, 42]


async def test_redis_py_asyncio_client_talks_to_mini_redis_on_the_same_runtime() -> None:
    redis_asyncio = pytest.importorskip(
        "redis.asyncio", reason="redis is a test dependency (hatch.toml)"
    )
    from mini_redis import Server

    from rt.net import TcpListener

    server = Server(await TcpListener.bind("127.0.0.1:0"))  # an rt server ...
    port = server.listener.local_addr()[1]
    serving = rt.spawn(server.run())

    async def client() -> list[Any]:  # ... and an asyncio client, on one thread and reactor
        r = redis_asyncio.Redis(host="127.0.0.1", port=port)
        try:
            out: list[Any] = [await r.ping(), await r.set("k", "v"), await r.get("k")]
            out.append(await r.exists("k", "nope"))
            async with r.pipeline(transaction=False) as pipe:
                pipe.set("a", "1").get("a").exists("a", "zz")
                out.append(await pipe.execute())
            out.append(await r.delete("k", "a"))
            return out
        finally:
            await r.aclose()

    got = await rt.asyncio.aio_as_rt(client())
    assert got == [True, True, b"v", 1, [True, b"1", 1], 2]
    server.shutdown()
    await serving
