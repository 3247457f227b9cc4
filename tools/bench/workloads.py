"""Scheduling workloads, written once per peer with the same sizes.

Each ``run_<peer>(workload, size)`` returns the seconds the workload took, timed inside the
process around the event loop's work only (runtime construction excluded).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

SIZES: dict[str, dict[str, int]] = {
    "spawn": {"tasks": 100_000},
    "yield": {"tasks": 1_000, "yields": 1_000},
    "chain": {"depth": 10_000},
    "pingpong": {"rounds": 100_000},
    "million": {"tasks": 1_000_000},
}
QUICK: dict[str, dict[str, int]] = {
    "spawn": {"tasks": 20_000},
    "yield": {"tasks": 200, "yields": 500},
    "chain": {"depth": 5_000},
    "pingpong": {"rounds": 20_000},
    "million": {"tasks": 100_000},
}


# -- rt ---------------------------------------------------------------------------------------


def rt_workload(name: str, size: dict[str, int]) -> Callable[[], Coroutine[Any, Any, None]]:
    import rt

    async def spawn() -> None:
        async def child() -> int:
            return 1

        handles = [rt.spawn(child()) for _ in range(size["tasks"])]
        for h in handles:
            await h

    async def yield_() -> None:
        async def worker() -> None:
            for _ in range(size["yields"]):
                await rt.yield_now()

        handles = [rt.spawn(worker()) for _ in range(size["tasks"])]
        for h in handles:
            await h

    async def chain() -> None:
        async def link(n: int) -> int:
            if n == 0:
                return 0
            return await rt.spawn(link(n - 1)) + 1

        await link(size["depth"])

    async def pingpong() -> None:
        from rt.lowlevel import Abort, current_task, reschedule, wait_task_rescheduled

        # Two tasks handing a token back and forth through the raw trap API (rt-sync
        # channels are measured by the channel workload).
        box: dict[str, Any] = {}

        async def player(me: str, other: str, first: bool) -> None:
            box[me] = current_task()
            if first:
                await rt.yield_now()
            for _ in range(size["rounds"]):
                if not first:
                    await wait_task_rescheduled(lambda: Abort.SUCCEEDED)
                reschedule(box[other]) if other in box else None
                if first:
                    await wait_task_rescheduled(lambda: Abort.SUCCEEDED)

        a = rt.spawn(player("a", "b", True))
        b = rt.spawn(player("b", "a", False))
        await a
        b.abort()

    async def million() -> None:
        # TonIO's benchmark: a million concurrent coroutines, each sleeps 0, all joined.
        async def child() -> None:
            await rt.sleep(0)

        handles = [rt.spawn(child()) for _ in range(size["tasks"])]
        for h in handles:
            await h

    return {
        "spawn": spawn,
        "yield": yield_,
        "chain": chain,
        "pingpong": pingpong,
        "million": million,
    }[name]


def run_rt(name: str, size: dict[str, int]) -> float:
    import rt

    body = rt_workload(name, size)

    async def timed() -> float:
        t0 = time.perf_counter()
        await body()
        return time.perf_counter() - t0

    with rt.Runtime() as runtime:
        return runtime.block_on(timed())


# -- asyncio / uvloop ---------------------------------------------------------------------------


def asyncio_workload(name: str, size: dict[str, int]) -> Callable[[], Coroutine[Any, Any, None]]:
    import asyncio

    async def spawn() -> None:
        async def child() -> int:
            return 1

        tasks = [asyncio.create_task(child()) for _ in range(size["tasks"])]
        for t in tasks:
            await t

    async def yield_() -> None:
        async def worker() -> None:
            for _ in range(size["yields"]):
                await asyncio.sleep(0)

        tasks = [asyncio.create_task(worker()) for _ in range(size["tasks"])]
        for t in tasks:
            await t

    async def chain() -> None:
        async def link(n: int) -> int:
            if n == 0:
                return 0
            return await asyncio.create_task(link(n - 1)) + 1

        await link(size["depth"])

    async def pingpong() -> None:
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

    async def million() -> None:
        async def child() -> None:
            await asyncio.sleep(0)

        tasks = [asyncio.create_task(child()) for _ in range(size["tasks"])]
        for t in tasks:
            await t

    return {
        "spawn": spawn,
        "yield": yield_,
        "chain": chain,
        "pingpong": pingpong,
        "million": million,
    }[name]


def _run_asyncio(name: str, size: dict[str, int], use_uvloop: bool) -> float:
    import asyncio

    body = asyncio_workload(name, size)

    async def timed() -> float:
        t0 = time.perf_counter()
        await body()
        return time.perf_counter() - t0

    if use_uvloop:
        import uvloop

        return float(uvloop.run(timed()))
    return asyncio.run(timed())


def run_asyncio(name: str, size: dict[str, int]) -> float:
    return _run_asyncio(name, size, False)


def run_uvloop(name: str, size: dict[str, int]) -> float:
    return _run_asyncio(name, size, True)


# -- trio -----------------------------------------------------------------------------------------


def run_trio(name: str, size: dict[str, int]) -> float:
    import trio

    async def spawn() -> None:
        async def child() -> None:
            return None

        async with trio.open_nursery() as n:
            for _ in range(size["tasks"]):
                n.start_soon(child)

    async def yield_() -> None:
        async def worker() -> None:
            for _ in range(size["yields"]):
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as n:
            for _ in range(size["tasks"]):
                n.start_soon(worker)

    async def chain() -> None:
        async def link(k: int) -> None:
            if k == 0:
                return
            async with trio.open_nursery() as n:
                n.start_soon(link, k - 1)

        await link(min(size["depth"], 900))  # nurseries nest: keep under the recursion limit

    async def pingpong() -> None:
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

    async def million() -> None:
        async def child() -> None:
            await trio.sleep(0)

        async with trio.open_nursery() as n:
            for _ in range(size["tasks"]):
                n.start_soon(child)

    body = {
        "spawn": spawn,
        "yield": yield_,
        "chain": chain,
        "pingpong": pingpong,
        "million": million,
    }[name]

    async def timed() -> float:
        t0 = time.perf_counter()
        await body()
        return time.perf_counter() - t0

    return float(trio.run(timed))


# -- floor: the cost of pure Python ----------------------------------------------------------


class _Yield:
    def __await__(self) -> Any:
        yield None


def run_floor(name: str, size: dict[str, int]) -> float | None:
    """A bare ``deque`` + ``ctx.run(coro.send)`` scheduler: what any pure-Python runtime pays."""
    import contextvars

    ready: deque[Any] = deque()
    results: dict[int, Any] = {}
    waiters: dict[int, list[Any]] = {}

    class FTask:
        __slots__ = ("coro", "ctx", "done")

        def __init__(self, coro: Any) -> None:
            self.coro = coro
            self.ctx = contextvars.copy_context()
            self.done = False

    def spawn(coro: Any) -> FTask:
        t = FTask(coro)
        ready.append(t)
        return t

    class Join:
        def __init__(self, t: FTask) -> None:
            self.t = t

        def __await__(self) -> Any:
            if not self.t.done:
                yield ("join", self.t)
            return results.pop(id(self.t), None)

    async def spawn_w() -> None:
        async def child() -> int:
            return 1

        ts = [spawn(child()) for _ in range(size["tasks"])]
        for t in ts:
            await Join(t)

    async def yield_w() -> None:
        async def worker() -> None:
            for _ in range(size["yields"]):
                await _Yield()

        ts = [spawn(worker()) for _ in range(size["tasks"])]
        for t in ts:
            await Join(t)

    async def chain_w() -> None:
        async def link(k: int) -> int:
            if k == 0:
                return 0
            return int(await Join(spawn(link(k - 1)))) + 1

        await link(size["depth"])

    async def million_w() -> None:
        async def child() -> None:
            await _Yield()

        ts = [spawn(child()) for _ in range(size["tasks"])]
        for t in ts:
            await Join(t)

    body = {"spawn": spawn_w, "yield": yield_w, "chain": chain_w, "million": million_w}.get(name)
    if body is None:
        return None  # no floor for this workload
    main = spawn(body())
    t0 = time.perf_counter()
    popleft, append = ready.popleft, ready.append
    while ready:
        t = popleft()
        try:
            trap = t.ctx.run(t.coro.send, None)
        except StopIteration as e:
            t.done = True
            results[id(t)] = e.value
            for w in waiters.pop(id(t), ()):
                append(w)
            continue
        if trap is None:
            append(t)
        else:
            waiters.setdefault(id(trap[1]), []).append(t)
    assert main.done
    return time.perf_counter() - t0


PEERS: dict[str, Callable[[str, dict[str, int]], float | None]] = {
    "rt": run_rt,
    "asyncio": run_asyncio,
    "uvloop": run_uvloop,
    "trio": run_trio,
    "floor": run_floor,
}


# -- timers: lateness, and arming + cancelling timeouts -------------------------------------------

TIMER_SIZES = {"timers": 1000, "span": 0.2, "timeouts": 1_000_000, "blocking": 2000}
TIMER_QUICK = {"timers": 300, "span": 0.1, "timeouts": 100_000, "blocking": 500}


def _delays(n: int, span: float) -> list[float]:
    import random

    rng = random.Random(42)
    return [rng.uniform(0, span) for _ in range(n)]


def _percentiles(late: list[float]) -> dict[str, float]:
    late.sort()
    return {
        "p50_ms": late[len(late) // 2] * 1000,
        "p99_ms": late[min(len(late) - 1, int(len(late) * 0.99))] * 1000,
    }


def timers_rt(size: dict[str, Any]) -> dict[str, float]:
    import rt
    import rt.time as rtt

    delays = _delays(size["timers"], size["span"])
    late: list[float] = []

    async def one(d: float, start: float) -> None:
        t = time.perf_counter()
        await rtt.sleep(d)
        late.append(time.perf_counter() - t - d)

    async def main() -> None:
        start = time.perf_counter()
        async with rt.TaskGroup() as tg:
            for d in delays:
                tg.spawn(one(d, start))

    rt.run(main())
    return _percentiles(late)


def _timers_asyncio(size: dict[str, Any], use_uvloop: bool) -> dict[str, float]:
    import asyncio

    delays = _delays(size["timers"], size["span"])
    late: list[float] = []

    async def one(d: float, start: float) -> None:
        t = time.perf_counter()
        await asyncio.sleep(d)
        late.append(time.perf_counter() - t - d)

    async def main() -> None:
        start = time.perf_counter()
        await asyncio.gather(*(one(d, start) for d in delays))

    if use_uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
    return _percentiles(late)


def timers_trio(size: dict[str, Any]) -> dict[str, float]:
    import trio

    delays = _delays(size["timers"], size["span"])
    late: list[float] = []

    async def one(d: float, start: float) -> None:
        t = time.perf_counter()
        await trio.sleep(d)
        late.append(time.perf_counter() - t - d)

    async def main() -> None:
        start = time.perf_counter()
        async with trio.open_nursery() as n:
            for d in delays:
                n.start_soon(one, d, start)

    trio.run(main)
    return _percentiles(late)


def timeouts_rt(size: dict[str, Any]) -> float:
    import rt
    import rt.time as rtt

    async def main() -> float:
        t0 = time.perf_counter()
        for _ in range(size["timeouts"]):
            with rtt.timeout(60):
                pass
        return time.perf_counter() - t0

    return rt.run(main())


def _timeouts_asyncio(size: dict[str, Any], use_uvloop: bool) -> float:
    import asyncio

    async def main() -> float:
        t0 = time.perf_counter()
        for _ in range(size["timeouts"]):
            async with asyncio.timeout(60):
                pass
        return time.perf_counter() - t0

    if use_uvloop:
        import uvloop

        return float(uvloop.run(main()))
    return asyncio.run(main())


def timeouts_trio(size: dict[str, Any]) -> float:
    import trio

    async def main() -> float:
        t0 = time.perf_counter()
        for _ in range(size["timeouts"]):
            with trio.move_on_after(60):
                pass
        return time.perf_counter() - t0

    return float(trio.run(main))


def blocking_rt(size: dict[str, Any]) -> float:
    import rt

    async def main() -> float:
        t0 = time.perf_counter()
        for i in range(size["blocking"]):
            await rt.spawn_blocking(abs, i)
        return time.perf_counter() - t0

    return rt.run(main())


def _blocking_asyncio(size: dict[str, Any], use_uvloop: bool) -> float:
    import asyncio

    async def main() -> float:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        for i in range(size["blocking"]):
            await loop.run_in_executor(None, abs, i)
        return time.perf_counter() - t0

    if use_uvloop:
        import uvloop

        return float(uvloop.run(main()))
    return asyncio.run(main())


def blocking_trio(size: dict[str, Any]) -> float:
    import trio

    async def main() -> float:
        t0 = time.perf_counter()
        for i in range(size["blocking"]):
            await trio.to_thread.run_sync(abs, i)
        return time.perf_counter() - t0

    return float(trio.run(main))


# -- channels: 4 producers -> 1 consumer, and ping-pong through two channels ----------------------

CHAN_SIZES = {"messages": 200_000, "rounds": 50_000}
CHAN_QUICK = {"messages": 40_000, "rounds": 10_000}


def channel_rt(capacity: int, size: dict[str, int]) -> float:
    import rt
    from rt.sync import mpsc

    per = size["messages"] // 4

    async def main() -> float:
        tx, rx = mpsc.channel(capacity)

        async def producer(sender: Any) -> None:
            for i in range(per):
                await sender.send(i)
            sender.close()

        t0 = time.perf_counter()
        for _ in range(4):
            rt.spawn(producer(tx.clone()))
        tx.close()
        n = 0
        async for _ in rx:
            n += 1
        assert n == per * 4
        return time.perf_counter() - t0

    return rt.run(main())


def _channel_asyncio(capacity: int, size: dict[str, int], use_uvloop: bool) -> float:
    import asyncio

    per = size["messages"] // 4

    async def main() -> float:
        q: asyncio.Queue[int | None] = asyncio.Queue(capacity)

        async def producer() -> None:
            for i in range(per):
                await q.put(i)
            await q.put(None)

        t0 = time.perf_counter()
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
        return time.perf_counter() - t0

    if use_uvloop:
        import uvloop

        return float(uvloop.run(main()))
    return asyncio.run(main())


def channel_trio(capacity: int, size: dict[str, int]) -> float:
    import trio

    per = size["messages"] // 4

    async def main() -> float:
        send, recv = trio.open_memory_channel[int](capacity)
        t0 = time.perf_counter()
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
        return time.perf_counter() - t0

    return float(trio.run(main))


def chanping_rt(size: dict[str, int]) -> float:
    import rt
    from rt.sync import mpsc

    async def main() -> float:
        a_tx, a_rx = mpsc.channel(1)
        b_tx, b_rx = mpsc.channel(1)

        async def echo() -> None:
            async for v in a_rx:
                await b_tx.send(v)

        h = rt.spawn(echo())
        t0 = time.perf_counter()
        for i in range(size["rounds"]):
            await a_tx.send(i)
            await b_rx.recv()
        elapsed = time.perf_counter() - t0
        a_tx.close()
        await h
        return elapsed

    return rt.run(main())


def _chanping_asyncio(size: dict[str, int], use_uvloop: bool) -> float:
    import asyncio

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

    if use_uvloop:
        import uvloop

        return float(uvloop.run(main()))
    return asyncio.run(main())


def chanping_trio(size: dict[str, int]) -> float:
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

    return float(trio.run(main))


def run_cell(peer: str, workload: str, quick: bool) -> Any:
    """Run one (peer, workload) cell; return seconds, a dict of metrics, or None (n/a)."""
    if workload in SIZES:
        size = (QUICK if quick else SIZES)[workload]
        if peer == "trio" and workload == "chain":
            return None  # nurseries nest one per link: not the same workload
        return PEERS[peer](workload, size)
    tsize = TIMER_QUICK if quick else TIMER_SIZES
    csize = CHAN_QUICK if quick else CHAN_SIZES
    table: dict[str, dict[str, Callable[[], Any]]] = {
        **{
            f"channel{cap}": {
                "rt": lambda cap=cap: channel_rt(cap, csize),  # type: ignore[misc]
                "asyncio": lambda cap=cap: _channel_asyncio(cap, csize, False),  # type: ignore[misc]
                "uvloop": lambda cap=cap: _channel_asyncio(cap, csize, True),  # type: ignore[misc]
                "trio": lambda cap=cap: channel_trio(cap, csize),  # type: ignore[misc]
            }
            for cap in (16, 128, 1024)
        },
        "chanping": {
            "rt": lambda: chanping_rt(csize),
            "asyncio": lambda: _chanping_asyncio(csize, False),
            "uvloop": lambda: _chanping_asyncio(csize, True),
            "trio": lambda: chanping_trio(csize),
        },
        "timers": {
            "rt": lambda: timers_rt(tsize),
            "asyncio": lambda: _timers_asyncio(tsize, False),
            "uvloop": lambda: _timers_asyncio(tsize, True),
            "trio": lambda: timers_trio(tsize),
        },
        "timeouts": {
            "rt": lambda: timeouts_rt(tsize),
            "asyncio": lambda: _timeouts_asyncio(tsize, False),
            "uvloop": lambda: _timeouts_asyncio(tsize, True),
            "trio": lambda: timeouts_trio(tsize),
        },
        "blocking": {
            "rt": lambda: blocking_rt(tsize),
            "asyncio": lambda: _blocking_asyncio(tsize, False),
            "uvloop": lambda: _blocking_asyncio(tsize, True),
            "trio": lambda: blocking_trio(tsize),
        },
    }
    fn = table[workload].get(peer)
    return None if fn is None else fn()


# -- multi-thread scaling (tools/bench/mt_bench.py) ------------------------------------------

# sha256 is ~30x faster than zlib per MiB: more rounds so both take a measurable time.
SCALING_SIZES = {"hash": {"tasks": 16, "rounds": 48}, "zlib": {"tasks": 16, "rounds": 12}}
SCALING_QUICK = {"hash": {"tasks": 8, "rounds": 12}, "zlib": {"tasks": 8, "rounds": 4}}


def scaling_rt(kind: str, quick: bool) -> float:
    """16 tasks, each hashing (``hash``) or compressing (``zlib``) a 1 MiB buffer per round and
    yielding between rounds (48 rounds of sha256, 12 of zlib). Both calls release the GIL, so
    workers can run them in parallel. The runtime's flavor and worker count come from
    ``RT_FLAVOR`` / ``RT_WORKER_THREADS``."""
    import hashlib
    import os
    import zlib

    import rt

    size = (SCALING_QUICK if quick else SCALING_SIZES)[kind]
    buf = os.urandom(1 << 19) * 2  # 1 MiB, half of it compressible
    if kind == "hash":

        def work() -> object:
            return hashlib.sha256(buf).digest()

    else:

        def work() -> object:
            return zlib.compress(buf, 6)

    async def task() -> None:
        for _ in range(size["rounds"]):
            work()
            await rt.yield_now()

    async def main() -> float:
        t0 = time.perf_counter()
        handles = [rt.spawn(task()) for _ in range(size["tasks"])]
        for h in handles:
            await h
        return time.perf_counter() - t0

    with rt.Runtime() as runtime:
        return runtime.block_on(main())
