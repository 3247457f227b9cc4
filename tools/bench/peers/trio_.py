"""trio: every workload it has an equivalent for, written against trio's API."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from .._common import (
    Size,
    delays,
    echo_client,
    idle_client,
    listener,
    per_request_us,
    percentiles,
    port_of,
    settled_rss,
)

NAME = "trio"


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    import trio

    return trio.run(main)


def timed(body: Callable[[], Awaitable[None]]) -> float:
    async def main() -> float:
        t0 = time.perf_counter()
        await body()
        return time.perf_counter() - t0

    return float(run(main))


def spawn(size: Size) -> float:
    import trio

    async def body() -> None:
        async def child() -> None:
            return None

        async with trio.open_nursery() as n:
            for _ in range(size["tasks"]):
                n.start_soon(child)

    return timed(body)


def yield_(size: Size) -> float:
    import trio

    async def body() -> None:
        async def worker() -> None:
            for _ in range(size["yields"]):
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as n:
            for _ in range(size["tasks"]):
                n.start_soon(worker)

    return timed(body)


def pingpong(size: Size) -> float:
    import trio

    async def body() -> None:
        tasks: dict[str, Any] = {}

        async def player(me: str, other: str, first: bool) -> None:
            tasks[me] = trio.lowlevel.current_task()
            if first:
                await trio.lowlevel.checkpoint()
            for _ in range(size["rounds"]):
                if not first:
                    await trio.lowlevel.wait_task_rescheduled(
                        lambda _: trio.lowlevel.Abort.SUCCEEDED
                    )
                if other in tasks:
                    trio.lowlevel.reschedule(tasks[other])
                if first:
                    await trio.lowlevel.wait_task_rescheduled(
                        lambda _: trio.lowlevel.Abort.SUCCEEDED
                    )

        async with trio.open_nursery() as n:
            n.start_soon(player, "b", "a", False)
            await trio.lowlevel.checkpoint()
            n.start_soon(player, "a", "b", True)

    return timed(body)


def million(size: Size) -> float:
    import trio

    async def body() -> None:
        async def child() -> None:
            await trio.sleep(0)

        async with trio.open_nursery() as n:
            for _ in range(size["tasks"]):
                n.start_soon(child)

    return timed(body)


def idletasks(size: Size) -> float:
    import trio
    import trio.testing

    async def main() -> float:
        event = trio.Event()
        base = settled_rss()
        async with trio.open_nursery() as n:
            for _ in range(size["tasks"]):
                n.start_soon(event.wait)
            await trio.testing.wait_all_tasks_blocked()
            used = settled_rss() - base
            event.set()
        return used / int(size["tasks"])

    return float(run(main))


def channel(size: Size) -> float:
    import trio

    per = size["messages"] // 4

    async def body() -> None:
        send, recv = trio.open_memory_channel[int](size["capacity"])
        n = 0
        async with trio.open_nursery() as nursery:

            async def producer(s: Any) -> None:
                async with s:
                    for i in range(per):
                        await s.send(i)

            for _ in range(4):
                nursery.start_soon(producer, send.clone())
            await send.aclose()
            async for _ in recv:
                n += 1
        assert n == per * 4

    return timed(body)


def chanping(size: Size) -> float:
    import trio

    async def main() -> float:
        a_s, a_r = trio.open_memory_channel[int](1)
        b_s, b_r = trio.open_memory_channel[int](1)
        elapsed = 0.0
        async with trio.open_nursery() as nursery:

            async def echo() -> None:
                async for v in a_r:
                    await b_s.send(v)

            nursery.start_soon(echo)
            t0 = time.perf_counter()
            for i in range(size["rounds"]):
                await a_s.send(i)
                await b_r.receive()
            elapsed = time.perf_counter() - t0
            await a_s.aclose()
        return elapsed

    return float(run(main))


def timers(size: Size) -> dict[str, float]:
    import trio

    late: list[float] = []

    async def one(d: float) -> None:
        t = time.perf_counter()
        await trio.sleep(d)
        late.append(time.perf_counter() - t - d)

    async def main() -> None:
        async with trio.open_nursery() as n:
            for d in delays(size["timers"], size["span"]):
                n.start_soon(one, d)

    run(main)
    return percentiles(late)


def timeouts(size: Size) -> float:
    import trio

    async def body() -> None:
        for _ in range(size["timeouts"]):
            with trio.move_on_after(60):
                pass

    return timed(body)


def blocking(size: Size) -> float:
    import trio

    async def body() -> None:
        for i in range(size["calls"]):
            await trio.to_thread.run_sync(abs, i)

    return timed(body)


def echo(size: Size) -> float:
    import trio

    sock = listener()

    async def main() -> float:
        lst = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        client = echo_client(port_of(sock), size)
        t0 = time.process_time()
        async with trio.open_nursery() as nursery:
            for _ in range(size["conns"]):
                stream = await lst.accept()

                async def handle(s: Any = stream) -> None:
                    async with s:
                        while data := await s.receive_some(65536):
                            await s.send_all(data)

                nursery.start_soon(handle)
        cpu = time.process_time() - t0
        client.wait()
        return cpu

    return per_request_us(run(main), size)


def idle(size: Size) -> float:
    import trio

    sock = listener()
    n = int(size["conns"])

    async def main() -> float:
        lst = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        base = settled_rss()
        client = idle_client(port_of(sock), n)
        assert client.stdout is not None and client.stdin is not None
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                stream = await lst.accept()

                async def handle(s: Any = stream) -> None:
                    async with s:
                        while await s.receive_some(65536):
                            pass

                nursery.start_soon(handle)
            await trio.to_thread.run_sync(client.stdout.readline)
            await trio.sleep(0)
            used = settled_rss() - base
            client.stdin.close()
        client.wait()
        return used / n

    return float(run(main))


# No chain row: trio's nurseries nest one per link, which is not the same workload. Its
# streams are its only API, so the "...p" (Protocols) rows have no trio cell either.
WORKLOADS: dict[str, Callable[[Size], Any]] = {
    "spawn": spawn,
    "yield": yield_,
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
    "echo64": echo,
    "echo16k": echo,
    "idle": idle,
}

# The fs and process suites' rows (trio.open_file, trio.run_process).
from . import trio_os  # noqa: E402

WORKLOADS.update(trio_os.WORKLOADS)

# The tls suite's rows (trio.SSLStream).
from . import trio_tls  # noqa: E402

WORKLOADS.update(trio_tls.WORKLOADS)
