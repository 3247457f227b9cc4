"""asyncio event loops side by side: asyncio's default loop, rt's (rt.asyncio), uvloop and rloop.

    python tools/bench/asyncio_bench.py            # 5 rounds per cell
    python tools/bench/asyncio_bench.py --quick    # 1 round, smaller sizes (about a minute)

Every (row, loop) cell runs in a fresh process; rounds interleave the loops so that noise on
this shared machine hits them alike; the median of the rounds is reported. A loop that is not
installed is left out (uvloop and rloop are in the bench environment of hatch.toml). Writes
``docs/bench/asyncio.json`` (every run) and ``docs/bench/asyncio.md`` (medians and ratios to the
default loop and to uvloop; a ratio below 1.00 means rt's loop is better).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "docs" / "bench"
LOOPS = ["default", "rt", "uvloop", "rloop"]

# row -> (description, unit, higher is better)
ROWS: dict[str, tuple[str, str, bool]] = {
    "call_soon": ("call_soon callbacks", "k callbacks/s", True),
    "create_task": ("create_task + await", "k tasks/s", True),
    "queue": ("asyncio.Queue ping-pong", "k round trips/s", True),
    "sleep0": ("sleep(0) yields, 100 tasks", "k yields/s", True),
    "timers": ("1k timers, p99 lateness", "µs", False),
    "echo_protocol": ("TCP echo 64 B, Protocol: server CPU", "µs/request", False),
    "echo_streams": ("TCP echo 64 B, streams: server CPU", "µs/request", False),
    "uvicorn": ("uvicorn + a small ASGI app, 10 keep-alive clients", "k requests/s", True),
}


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "default":
        return asyncio.new_event_loop()
    if name == "rt":
        import rt.asyncio

        return rt.asyncio.new_event_loop()
    if name == "uvloop":
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
    import rloop

    rloop_loop: asyncio.AbstractEventLoop = rloop.new_event_loop()
    return rloop_loop


def available(name: str) -> bool:
    if name in ("default", "rt"):
        return True
    try:
        __import__(name)
    except ImportError:
        return False
    return True


# -- scheduling rows: run inside the loop, return the figure ------------------------------


async def bench_call_soon(n: int) -> float:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    left = n

    def tick() -> None:
        nonlocal left
        left -= 1
        if left == 0:
            done.set_result(None)

    t0 = time.perf_counter()
    for _ in range(n // 1000):
        for _ in range(1000):
            loop.call_soon(tick)
        await asyncio.sleep(0)
    await done
    return n / (time.perf_counter() - t0) / 1000


async def bench_create_task(n: int) -> float:
    async def child() -> int:
        return 1

    t0 = time.perf_counter()
    for _ in range(n):
        await asyncio.create_task(child())
    return n / (time.perf_counter() - t0) / 1000


async def bench_queue(n: int) -> float:
    ping: asyncio.Queue[int] = asyncio.Queue()
    pong: asyncio.Queue[int] = asyncio.Queue()

    async def echo() -> None:
        for _ in range(n):
            pong.put_nowait(await ping.get())

    task = asyncio.create_task(echo())
    t0 = time.perf_counter()
    for i in range(n):
        ping.put_nowait(i)
        await pong.get()
    await task
    return n / (time.perf_counter() - t0) / 1000


async def bench_sleep0(n: int) -> float:
    per = n // 100

    async def spin() -> None:
        for _ in range(per):
            await asyncio.sleep(0)

    t0 = time.perf_counter()
    await asyncio.gather(*(spin() for _ in range(100)))
    return per * 100 / (time.perf_counter() - t0) / 1000


async def bench_timers(n: int) -> float:
    import random

    loop = asyncio.get_running_loop()
    rng = random.Random(1)
    late: list[float] = []
    done = loop.create_future()

    def fire(target: float) -> None:
        late.append(time.monotonic() - target)
        if len(late) == n and not done.done():
            done.set_result(None)

    for _ in range(n):
        delay = rng.uniform(0.0, 0.1)
        loop.call_later(delay, fire, time.monotonic() + delay)
    await done
    late.sort()
    return late[int(len(late) * 0.99) - 1] * 1e6


# -- I/O rows: the server runs the loop under test in this process ------------------------


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def _echo_streams(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    while data := await r.read(65536):
        w.write(data)
        await w.drain()
    w.close()


def _client(port: int, n: int, conns: int) -> None:
    """Blocking clients (a separate process): ``conns`` connections, 64 B request/response."""
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
    payload = b"x" * 64
    for _ in range(n // conns):
        for s in socks:
            s.sendall(payload)
        for s in socks:
            got = 0
            while got < 64:
                got += len(s.recv(64 - got))
    for s in socks:
        s.close()


async def bench_echo(n: int, streams: bool) -> float:
    loop = asyncio.get_running_loop()
    if streams:
        server = await asyncio.start_server(_echo_streams, "127.0.0.1", 0)
    else:
        server = await loop.create_server(_Echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import asyncio_bench as b; "
        "b._client(int(sys.argv[2]), int(sys.argv[3]), 10)"
    )
    before = resource.getrusage(resource.RUSAGE_SELF)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(Path(__file__).parent), str(port), str(n)
    )
    await proc.wait()
    after = resource.getrusage(resource.RUSAGE_SELF)
    server.close()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu / n * 1e6


async def _asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b"hello, world"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"12")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _http_client(port: int, n: int, conns: int) -> None:
    """Blocking keep-alive HTTP/1.1 clients (a separate process), one request at a time each."""
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    for _ in range(n // conns):
        for s in socks:
            s.sendall(request)
        for s in socks:
            buf = b""
            while not buf.endswith(b"hello, world"):
                chunk = s.recv(4096)
                if not chunk:
                    raise ConnectionError("server closed")
                buf += chunk
    for s in socks:
        s.close()


async def bench_uvicorn(n: int) -> float:
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        _asgi_app, host="127.0.0.1", port=port, log_level="error", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    while not server.started:
        await asyncio.sleep(0.005)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import asyncio_bench as b; "
        "b._http_client(int(sys.argv[2]), int(sys.argv[3]), 10)"
    )
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(Path(__file__).parent), str(port), str(n)
    )
    await proc.wait()
    elapsed = time.perf_counter() - t0
    server.should_exit = True
    await serving
    return n / elapsed / 1000


def sizes(quick: bool) -> dict[str, int]:
    k = 1 if quick else 4
    return {
        "call_soon": 100_000 * k,
        "create_task": 20_000 * k,
        "queue": 20_000 * k,
        "sleep0": 50_000 * k,
        "timers": 1000,
        "echo_protocol": 5_000 * k,
        "echo_streams": 5_000 * k,
        "uvicorn": 5_000 * k,
    }


def run_one(row: str, loop_name: str, n: int) -> float:
    benches: dict[str, Callable[[int], Coroutine[Any, Any, float]]] = {
        "call_soon": bench_call_soon,
        "create_task": bench_create_task,
        "queue": bench_queue,
        "sleep0": bench_sleep0,
        "timers": bench_timers,
        "echo_protocol": lambda n: bench_echo(n, False),
        "echo_streams": lambda n: bench_echo(n, True),
        "uvicorn": bench_uvicorn,
    }
    with asyncio.Runner(loop_factory=lambda: new_loop(loop_name)) as runner:
        return runner.run(benches[row](n))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--one", nargs=3, metavar=("ROW", "LOOP", "N"))
    args = parser.parse_args()
    if args.one:
        row, loop_name, n = args.one
        print(json.dumps(run_one(row, loop_name, int(n))))
        return 0
    rounds = args.rounds or (1 if args.quick else 5)
    loops = [name for name in LOOPS if available(name)]
    n_for = sizes(args.quick)
    runs: dict[str, dict[str, list[float]]] = {row: {lp: [] for lp in loops} for row in ROWS}
    for r in range(rounds):
        for row in ROWS:
            order = loops if r % 2 == 0 else loops[::-1]
            for lp in order:
                out = subprocess.run(
                    [sys.executable, __file__, "--one", row, lp, str(n_for[row])],
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                if out.returncode != 0:
                    print(f"{row} on {lp} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                    continue
                runs[row][lp].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"round {r + 1} {row:14} {lp:8} {runs[row][lp][-1]:10.2f}", flush=True)
    medians = {
        row: {lp: statistics.median(v) for lp, v in per.items() if v} for row, per in runs.items()
    }
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "quick": args.quick,
        "rounds": rounds,
        "sizes": n_for,
    }
    (OUT / "asyncio.json").write_text(
        json.dumps({"meta": meta, "runs": runs, "medians": medians}, indent=1) + "\n"
    )
    lines = [
        "# asyncio event loops: default, rt, uvloop, rloop",
        "",
        f"`tools/bench/asyncio_bench.py{' --quick' if args.quick else ''}`, Python "
        f"{meta['python']}, {meta['cpus']} CPUs (a shared VM), median of {rounds} round(s), "
        "every cell a fresh process. Ratios are rt's figure over the other loop's, oriented so "
        "that **below 1.00 means rt's loop is better** (faster, or less CPU / lateness).",
        "",
        "| row | unit | " + " | ".join(loops) + " | rt vs default | rt vs uvloop |",
        "|---|---|" + "---|" * len(loops) + "---|---|",
    ]
    for row, (desc, unit, higher) in ROWS.items():
        m = medians[row]
        cells = [f"{m[lp]:.1f}" if lp in m else "—" for lp in loops]

        def ratio(other: str, m: dict[str, float] = m, higher: bool = higher) -> str:
            if "rt" not in m or other not in m or not m[other] or not m["rt"]:
                return "—"
            return f"{(m[other] / m['rt']) if higher else (m['rt'] / m[other]):.2f}"

        lines.append(
            f"| {desc} | {unit} | " + " | ".join(cells) + f" | {ratio('default')} | "
            f"{ratio('uvloop')} |"
        )
    (OUT / "asyncio.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
