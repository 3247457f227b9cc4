"""Every workload written once against the asyncio API, for the asyncio, uvloop and rloop peers.

Each peer module passes its ``run`` (how a coroutine runs on its event loop) to
:func:`workloads`; the code the peers run is otherwise the same.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

from .._common import (
    Size,
    delays,
    echo_client,
    http_app,
    http_client,
    idle_client,
    listener,
    per_request_us,
    percentiles,
    port_of,
    settled_rss,
)

Runner = Callable[[Coroutine[Any, Any, Any]], Any]


def workloads(run: Runner) -> dict[str, Callable[[Size], Any]]:
    """The asyncio-API workloads, each running on the event loop ``run`` starts."""

    def timed(body: Callable[[], Coroutine[Any, Any, None]]) -> float:
        async def main() -> float:
            t0 = time.perf_counter()
            await body()
            return time.perf_counter() - t0

        return float(run(main()))

    def spawn(size: Size) -> float:
        async def body() -> None:
            async def child() -> int:
                return 1

            tasks = [asyncio.create_task(child()) for _ in range(size["tasks"])]
            for t in tasks:
                await t

        return timed(body)

    def yield_(size: Size) -> float:
        async def body() -> None:
            async def worker() -> None:
                for _ in range(size["yields"]):
                    await asyncio.sleep(0)

            tasks = [asyncio.create_task(worker()) for _ in range(size["tasks"])]
            for t in tasks:
                await t

        return timed(body)

    def chain(size: Size) -> float:
        async def link(n: int) -> int:
            if n == 0:
                return 0
            return await asyncio.create_task(link(n - 1)) + 1

        async def body() -> None:
            await link(size["depth"])

        return timed(body)

    def pingpong(size: Size) -> float:
        async def body() -> None:
            loop = asyncio.get_running_loop()
            futs: dict[str, asyncio.Future[None]] = {}

            async def player(me: str, other: str, first: bool) -> None:
                for _ in range(size["rounds"]):
                    if not first:
                        futs[me] = loop.create_future()
                        await futs[me]
                    f = futs.get(other)
                    if f is not None and not f.done():
                        f.set_result(None)
                    if first:
                        futs[me] = loop.create_future()
                        await futs[me]

            b = asyncio.create_task(player("b", "a", False))
            await asyncio.sleep(0)
            a = asyncio.create_task(player("a", "b", True))
            await a
            b.cancel()

        return timed(body)

    def million(size: Size) -> float:
        async def body() -> None:
            async def child() -> None:
                await asyncio.sleep(0)

            tasks = [asyncio.create_task(child()) for _ in range(size["tasks"])]
            for t in tasks:
                await t

        return timed(body)

    def idletasks(size: Size) -> float:
        async def main() -> float:
            event = asyncio.Event()
            base = settled_rss()
            tasks = [asyncio.create_task(event.wait()) for _ in range(size["tasks"])]
            await asyncio.sleep(0)  # every task runs up to its wait
            used = settled_rss() - base
            event.set()
            for t in tasks:
                await t
            return used / int(size["tasks"])

        return float(run(main()))

    def channel(size: Size) -> float:
        per = size["messages"] // 4

        async def body() -> None:
            q: asyncio.Queue[int | None] = asyncio.Queue(size["capacity"])

            async def producer() -> None:
                for i in range(per):
                    await q.put(i)
                await q.put(None)

            tasks = [asyncio.create_task(producer()) for _ in range(4)]
            done = n = 0
            while done < 4:
                v = await q.get()
                if v is None:
                    done += 1
                else:
                    n += 1
            assert n == per * 4
            for t in tasks:
                await t

        return timed(body)

    def chanping(size: Size) -> float:
        async def main() -> float:
            a: asyncio.Queue[int | None] = asyncio.Queue(1)
            b: asyncio.Queue[int] = asyncio.Queue(1)

            async def echo() -> None:
                while (v := await a.get()) is not None:
                    await b.put(v)

            h = asyncio.create_task(echo())
            t0 = time.perf_counter()
            for i in range(size["rounds"]):
                await a.put(i)
                await b.get()
            elapsed = time.perf_counter() - t0
            await a.put(None)
            await h
            return elapsed

        return float(run(main()))

    def timers(size: Size) -> dict[str, float]:
        late: list[float] = []

        async def one(d: float) -> None:
            t = time.perf_counter()
            await asyncio.sleep(d)
            late.append(time.perf_counter() - t - d)

        async def main() -> None:
            await asyncio.gather(*(one(d) for d in delays(size["timers"], size["span"])))

        run(main())
        return percentiles(late)

    def timeouts(size: Size) -> float:
        async def body() -> None:
            for _ in range(size["timeouts"]):
                async with asyncio.timeout(60):
                    pass

        return timed(body)

    def blocking(size: Size) -> float:
        async def body() -> None:
            loop = asyncio.get_running_loop()
            for i in range(size["calls"]):
                await loop.run_in_executor(None, abs, i)

        return timed(body)

    def echo(size: Size, protocol: bool) -> float:
        sock = listener()
        port = port_of(sock)  # read first: rloop's create_server takes the socket over

        async def main() -> float:
            done = 0
            all_done = asyncio.Event()

            def finished() -> None:
                nonlocal done
                done += 1
                if done == size["conns"]:
                    all_done.set()

            if protocol:

                class Echo(asyncio.Protocol):
                    def connection_made(self, transport: Any) -> None:
                        self.t = transport

                    def data_received(self, data: bytes) -> None:
                        self.t.write(data)

                    def connection_lost(self, exc: Exception | None) -> None:
                        finished()

                server = await asyncio.get_running_loop().create_server(Echo, sock=sock)
            else:

                async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                    while data := await r.read(65536):
                        w.write(data)
                        await w.drain()
                    w.close()
                    finished()

                server = await asyncio.start_server(handle, sock=sock)
            client = echo_client(port, size)
            t0 = time.process_time()
            await all_done.wait()
            cpu = time.process_time() - t0
            client.wait()
            server.close()
            return cpu

        return per_request_us(run(main()), size)

    def idle(size: Size, protocol: bool) -> float:
        sock = listener()
        port = port_of(sock)  # read first: rloop's create_server takes the socket over
        n = int(size["conns"])

        async def main() -> float:
            count = closed = 0
            all_in, all_out = asyncio.Event(), asyncio.Event()

            def opened() -> None:
                nonlocal count
                count += 1
                if count == n:
                    all_in.set()

            def gone() -> None:
                nonlocal closed
                closed += 1
                if closed == n:
                    all_out.set()

            base = settled_rss()
            if protocol:

                class Sink(asyncio.Protocol):
                    def connection_made(self, transport: Any) -> None:
                        self.t = transport
                        opened()

                    def data_received(self, data: bytes) -> None:
                        pass

                    def connection_lost(self, exc: Exception | None) -> None:
                        gone()

                server = await asyncio.get_running_loop().create_server(Sink, sock=sock)
            else:

                async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                    opened()
                    while await r.read(65536):
                        pass
                    w.close()
                    gone()

                server = await asyncio.start_server(handle, sock=sock)
            client = idle_client(port, n)
            await all_in.wait()
            assert client.stdout is not None and client.stdin is not None
            client.stdout.readline()
            await asyncio.sleep(0)
            used = settled_rss() - base
            client.stdin.close()
            await all_out.wait()
            client.wait()
            server.close()
            return used / n

        return float(run(main()))

    # -- the asyncio suite's scheduling rows: the loop's own hot paths --------------------
    # CPU time of the process (single-threaded work on every loop), so that other load on a
    # shared machine moves the figures less than wall time would.

    def cpu_timed(body: Callable[[], Coroutine[Any, Any, None]]) -> float:
        async def main() -> float:
            t0 = time.process_time()
            await body()
            return time.process_time() - t0

        return float(run(main()))

    def call_soon(size: Size) -> float:
        async def body() -> None:
            loop = asyncio.get_running_loop()
            done = loop.create_future()
            left = size["callbacks"]

            def tick() -> None:
                nonlocal left
                left -= 1
                if left == 0:
                    done.set_result(None)

            for _ in range(size["callbacks"] // 1000):
                for _ in range(1000):
                    loop.call_soon(tick)
                await asyncio.sleep(0)
            await done

        return cpu_timed(body)

    def create_task(size: Size) -> float:
        async def body() -> None:
            async def child() -> int:
                return 1

            for _ in range(size["tasks"]):
                await asyncio.create_task(child())

        return cpu_timed(body)

    def queue(size: Size) -> float:
        async def body() -> None:
            n = size["rounds"]
            ping: asyncio.Queue[int] = asyncio.Queue()
            pong: asyncio.Queue[int] = asyncio.Queue()

            async def echo() -> None:
                for _ in range(n):
                    pong.put_nowait(await ping.get())

            task = asyncio.create_task(echo())
            for i in range(n):
                ping.put_nowait(i)
                await pong.get()
            await task

        return cpu_timed(body)

    def sleep0(size: Size) -> float:
        async def body() -> None:
            async def spin() -> None:
                for _ in range(size["yields"]):
                    await asyncio.sleep(0)

            await asyncio.gather(*(spin() for _ in range(size["tasks"])))

        return cpu_timed(body)

    def uvicorn_(size: Size, cpu: bool) -> float:
        async def main() -> float:
            import uvicorn

            # A TCP socket as uvicorn's own host/port path makes it (proto IPPROTO_TCP: asyncio
            # then sets TCP_NODELAY on accepted connections, as uvicorn users get).
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            sock.listen(1024)
            port = port_of(sock)  # read first: rloop's create_server takes the socket over
            config = uvicorn.Config(http_app, log_level="error", access_log=False, lifespan="off")
            server = uvicorn.Server(config)
            serving = asyncio.ensure_future(server.serve(sockets=[sock]))
            while not server.started:
                await asyncio.sleep(0.005)
            t0, c0 = time.perf_counter(), time.process_time()
            client = http_client(port, size)
            while client.poll() is None:
                await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - t0
            used = time.process_time() - c0
            server.should_exit = True
            await serving
            if client.returncode != 0:
                raise RuntimeError(f"the HTTP client failed with exit code {client.returncode}")
            return per_request_us(used, size) if cpu else elapsed

        return float(run(main()))

    return {
        "call_soon": call_soon,
        "create_task": create_task,
        "queue": queue,
        "sleep0": sleep0,
        "uvicorn": lambda size: uvicorn_(size, cpu=False),
        "uvicorn_cpu": lambda size: uvicorn_(size, cpu=True),
        "spawn": spawn,
        "yield": yield_,
        "chain": chain,
        "pingpong": pingpong,
        "million": million,
        "idletasks": idletasks,
        "channel16": channel,
        "channel128": channel,
        "channel1024": channel,
        "chanping": chanping,
        "timers": timers,
        "timeouts": timeouts,
        "blocking": blocking,
        # The "...p" rows serve with Protocols (the fastest asyncio API) instead of streams.
        "echo64": lambda size: echo(size, protocol=False),
        "echo64p": lambda size: echo(size, protocol=True),
        "echo16k": lambda size: echo(size, protocol=False),
        "echo16kp": lambda size: echo(size, protocol=True),
        "idle": lambda size: idle(size, protocol=False),
        "idlep": lambda size: idle(size, protocol=True),
    }
