"""rt: every workload, written once against rt's API (the rt-mypyc peer runs these too)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
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

NAME = "rt"


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``main()`` on a fresh runtime (flavor from ``RT_FLAVOR``, as users get it).

    The diagnostics suite turns diagnostics on through the environment: ``RT_SLOW_POLL`` (read
    by rt itself), ``RT_BENCH_HOOKS=1`` (a no-op function as each of the four task hooks) and
    ``RT_BENCH_CONSOLE=1`` (the console endpoint on, with a client in another process
    refreshing a dump, the metrics and the task counters every 0.25 s while ``main()`` runs).
    """
    import rt

    options: dict[str, Any] = {}
    if os.environ.get("RT_BENCH_HOOKS"):

        def hook(meta: rt.TaskMeta) -> None:
            pass

        options = {
            name: hook
            for name in (
                "on_task_spawn",
                "on_task_terminate",
                "on_before_task_poll",
                "on_after_task_poll",
            )
        }
    if not os.environ.get("RT_BENCH_CONSOLE"):
        with rt.Runtime(**options) as runtime:
            return runtime.block_on(main())
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "console.sock")
        with rt.Runtime(console=path, **options) as runtime:
            viewer = subprocess.Popen(
                [sys.executable, "-c", _REFRESHER, path], stdout=subprocess.PIPE, text=True
            )
            try:
                assert viewer.stdout is not None
                viewer.stdout.readline()  # attached and answered once
                return runtime.block_on(main())
            finally:
                viewer.kill()
                viewer.wait()


# The console's requests on each refresh, four times as often as `python -m rt console` makes them.
_REFRESHER = """
import sys, time
from rt.lowlevel import diagnostics_request
path = sys.argv[1]
first = True
while True:
    for cmd in ("dump", "metrics", "stats"):
        diagnostics_request(path, cmd)
    if first:
        print("attached", flush=True)
        first = False
    time.sleep(0.25)
"""


def timed(body: Callable[[], Coroutine[Any, Any, None]]) -> float:
    """Seconds ``body()`` took inside the runtime (its construction excluded)."""

    async def main() -> float:
        t0 = time.perf_counter()
        await body()
        return time.perf_counter() - t0

    return float(run(main))


# -- scheduling ----------------------------------------------------------------------------------


def spawn(size: Size) -> float:
    import rt

    async def body() -> None:
        async def child() -> int:
            return 1

        handles = [rt.spawn(child()) for _ in range(size["tasks"])]
        for h in handles:
            await h

    return timed(body)


def yield_(size: Size) -> float:
    import rt

    async def body() -> None:
        async def worker() -> None:
            for _ in range(size["yields"]):
                await rt.yield_now()

        handles = [rt.spawn(worker()) for _ in range(size["tasks"])]
        for h in handles:
            await h

    return timed(body)


def chain(size: Size) -> float:
    import rt

    async def link(n: int) -> int:
        if n == 0:
            return 0
        return await rt.spawn(link(n - 1)) + 1

    async def body() -> None:
        await link(size["depth"])

    return timed(body)


def pingpong(size: Size) -> float:
    import rt
    from rt.lowlevel import Abort, current_task, reschedule, wait_task_rescheduled

    # Two tasks handing a token back and forth through the raw trap API (rt-sync channels
    # are measured by the channel workloads).
    async def body() -> None:
        box: dict[str, Any] = {}

        async def player(me: str, other: str, first: bool) -> None:
            box[me] = current_task()
            if first:
                # Let the other player register first (one yield on the current-thread
                # flavor; on two workers the other may start later, and a first round run
                # before it registered would leave both parked for ever).
                while other not in box:
                    await rt.yield_now()
            for _ in range(size["rounds"]):
                if not first:
                    await wait_task_rescheduled(lambda: Abort.SUCCEEDED)
                if other in box:
                    reschedule(box[other])
                if first:
                    await wait_task_rescheduled(lambda: Abort.SUCCEEDED)

        a = rt.spawn(player("a", "b", True))
        b = rt.spawn(player("b", "a", False))
        await a
        b.abort()

    return timed(body)


def million(size: Size) -> float:
    import rt

    # TonIO's benchmark: a million concurrent coroutines, each sleeps 0, all joined.
    async def body() -> None:
        async def child() -> None:
            await rt.sleep(0)

        handles = [rt.spawn(child()) for _ in range(size["tasks"])]
        for h in handles:
            await h

    return timed(body)


def idletasks(size: Size) -> float:
    """Bytes of RSS per task parked on an ``rt.sync.Event``."""
    import rt
    from rt.sync import Event

    async def main() -> float:
        event = Event()
        base = settled_rss()
        handles = [rt.spawn(event.wait()) for _ in range(size["tasks"])]
        await rt.yield_now()  # every task runs up to its wait
        used = settled_rss() - base
        event.set()
        for h in handles:
            await h
        return used / int(size["tasks"])

    return float(run(main))


def dump(size: Size) -> float:
    """Seconds ``rt.dump()`` takes with ``size["tasks"]`` tasks parked on an ``rt.sync.Event``."""
    import rt
    from rt.sync import Event

    async def main() -> float:
        event = Event()

        async def parked() -> None:
            await event.wait()

        handles = [rt.spawn(parked()) for _ in range(size["tasks"])]
        await rt.yield_now()  # every task runs up to its wait
        t0 = time.perf_counter()
        snapshot = rt.dump()
        took = time.perf_counter() - t0
        assert len(snapshot.tasks) > size["tasks"]
        event.set()
        for h in handles:
            await h
        return took

    return float(run(main))


# -- channels ------------------------------------------------------------------------------------


def channel(size: Size) -> float:
    """4 producers -> 1 consumer through a bounded mpsc channel."""
    import rt
    from rt.sync import mpsc

    per = size["messages"] // 4

    async def body() -> None:
        tx, rx = mpsc.channel(size["capacity"])

        async def producer(sender: Any) -> None:
            for i in range(per):
                await sender.send(i)
            sender.close()

        for _ in range(4):
            rt.spawn(producer(tx.clone()))
        tx.close()
        n = 0
        async for _ in rx:
            n += 1
        assert n == per * 4

    return timed(body)


def chanping(size: Size) -> float:
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

    return float(run(main))


# -- time and the blocking pool --------------------------------------------------------------------


def timers(size: Size) -> dict[str, float]:
    import rt
    import rt.time as rtt

    late: list[float] = []

    async def one(d: float) -> None:
        t = time.perf_counter()
        await rtt.sleep(d)
        late.append(time.perf_counter() - t - d)

    async def main() -> None:
        async with rt.TaskGroup() as tg:
            for d in delays(size["timers"], size["span"]):
                tg.spawn(one(d))

    run(main)
    return percentiles(late)


def timeouts(size: Size) -> float:
    import rt.time as rtt

    async def body() -> None:
        for _ in range(size["timeouts"]):
            with rtt.timeout(60):
                pass

    return timed(body)


def blocking(size: Size) -> float:
    import rt

    async def body() -> None:
        for i in range(size["calls"]):
            await rt.spawn_blocking(abs, i)

    return timed(body)


# -- network ---------------------------------------------------------------------------------------


def echo(size: Size) -> float:
    """Server CPU microseconds per request (rt's stream API in every echo row)."""
    import rt
    from rt.net import TcpListener, TcpStream

    sock = listener()

    async def handle(stream: TcpStream) -> None:
        async with stream:
            while data := await stream.read():
                await stream.write_all(data)

    async def main() -> float:
        lst = TcpListener.from_socket(sock)
        client = echo_client(port_of(sock), size)
        t0 = time.process_time()
        tasks = []
        for _ in range(size["conns"]):
            s, _ = await lst.accept()
            tasks.append(rt.spawn(handle(s)))
        for t in tasks:
            await t
        cpu = time.process_time() - t0
        client.wait()
        lst.close()
        return cpu

    return per_request_us(run(main), size)


def idle(size: Size) -> float:
    """Bytes of server RSS per idle connection, each with a task waiting to read."""
    import rt
    from rt.net import TcpListener, TcpStream

    sock = listener()
    n = int(size["conns"])

    async def handle(stream: TcpStream) -> None:
        async with stream:
            while await stream.read():
                pass

    async def main() -> float:
        lst = TcpListener.from_socket(sock)
        base = settled_rss()
        client = idle_client(port_of(sock), n)
        tasks = []
        for _ in range(n):
            s, _ = await lst.accept()
            tasks.append(rt.spawn(handle(s)))
        assert client.stdout is not None and client.stdin is not None
        client.stdout.readline()
        await rt.yield_now()
        used = settled_rss() - base
        client.stdin.close()
        for t in tasks:
            await t
        client.wait()
        return used / n

    return float(run(main))


# -- multi-thread scaling (the mt suite) -------------------------------------------------------


def scaling(kind: str) -> Callable[[Size], float]:
    """16 tasks, each hashing (``hash``) or compressing (``zlib``) a 1 MiB buffer per round and
    yielding between rounds. Both calls release the GIL, so workers can run them in parallel;
    the flavor and worker count come from ``RT_FLAVOR`` / ``RT_WORKER_THREADS``."""

    def workload(size: Size) -> float:
        import hashlib
        import os
        import zlib

        import rt

        buf = os.urandom(1 << 19) * 2  # 1 MiB, half of it compressible

        def work() -> object:
            return hashlib.sha256(buf).digest() if kind == "hash" else zlib.compress(buf, 6)

        async def task() -> None:
            for _ in range(size["rounds"]):
                work()
                await rt.yield_now()

        async def body() -> None:
            handles = [rt.spawn(task()) for _ in range(size["tasks"])]
            for h in handles:
                await h

        return timed(body)

    return workload


WORKLOADS: dict[str, Callable[[Size], Any]] = {
    "hash": scaling("hash"),
    "zlib": scaling("zlib"),
    "spawn": spawn,
    "yield": yield_,
    "chain": chain,
    "pingpong": pingpong,
    "million": million,
    "idletasks": idletasks,
    "dump": dump,
    "channel16": channel,
    "channel128": channel,
    "channel1024": channel,
    "chanping": chanping,
    "timers": timers,
    "timeouts": timeouts,
    "blocking": blocking,
    "echo64": echo,
    "echo64p": echo,
    "echo16k": echo,
    "echo16kp": echo,
    "idle": idle,
    "idlep": idle,
}

# The fs and process suites' rows (rt.fs, rt.process).
from . import rt_os  # noqa: E402

WORKLOADS.update(rt_os.WORKLOADS)

# The tls suite's rows (rt.net.tls).
from . import rt_tls  # noqa: E402

WORKLOADS.update(rt_tls.WORKLOADS)
