"""The demo: start mini-redis, drive it with many rt clients for a few seconds, report.

``python -m mini_redis.demo [--seconds S] [--connections N]`` prints operations per second and
latency percentiles, then shuts the server down gracefully and exits.
"""

from __future__ import annotations

import argparse
import time

import rt
import rt.time
from rt.net import TcpListener

from .client import Client
from .server import Server


def _pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[i]


async def demo(seconds: float = 3.0, connections: int = 50, pipeline: int = 1) -> dict[str, float]:
    """Run the load and return the figures it printed.

    Cancel safety: cancelling stops the load and shuts the server down gracefully.
    """
    listener = await TcpListener.bind("127.0.0.1:0")
    server = Server(listener)
    addr = listener.local_addr()
    server_task = rt.spawn(server.run(), name="mini-redis server")
    latencies: list[float] = []
    ops = 0
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal ops, errors
        async with await Client.connect(addr) as c:
            await c.set(f"counter:{i}", "0")
            n = 0
            while time.perf_counter() < stop_at:
                key = f"key:{i}:{n % 100}"
                t0 = time.perf_counter()
                if pipeline > 1:
                    replies = await c.pipeline(
                        [("SET", key, n), ("GET", key)] * (pipeline // 2) or [("PING",)]
                    )
                    count = len(replies)
                else:
                    await c.set(key, str(n))
                    got = await c.get(key)
                    if got != str(n).encode():
                        errors += 1
                    await c.call("INCR", f"counter:{i}")
                    count = 3
                latencies.append((time.perf_counter() - t0) / count)
                ops += count
                n += 1

    print(
        f"mini-redis on rt: {connections} client connections, {seconds:g} s of "
        f"SET / GET / INCR{f', pipelined x{pipeline}' if pipeline > 1 else ''} ..."
    )
    t0 = time.perf_counter()
    try:
        async with rt.TaskGroup() as tg:
            for i in range(connections):
                tg.spawn(worker(i))
    finally:
        elapsed = time.perf_counter() - t0
        server.shutdown()
        with rt.CancelScope(shield=True):
            await server_task
    latencies.sort()
    ms = [1000 * _pct(latencies, q) for q in (0.5, 0.99, 0.999)]
    result = {
        "ops_per_s": ops / elapsed,
        "p50_ms": ms[0],
        "p99_ms": ms[1],
        "p999_ms": ms[2],
        "errors": float(errors),
        "connections_served": float(server.connections_served),
    }
    print(f"  {ops:,} operations in {elapsed:.2f} s: {result['ops_per_s']:,.0f} ops/s")
    print(f"  latency per operation: p50 {ms[0]:.3f} ms, p99 {ms[1]:.3f} ms, p99.9 {ms[2]:.3f} ms")
    print(f"  wrong replies: {errors}; server saw {server.connections_served} connections")
    metrics = rt.Handle.current().metrics()
    print(f"  runtime: {metrics.spawned_tasks:,} tasks spawned, {metrics.polls:,} polls")
    print("  server shut down gracefully.")
    return result


def main() -> None:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--pipeline", type=int, default=1)
    args = p.parse_args()
    rt.run(demo(args.seconds, args.connections, args.pipeline))


if __name__ == "__main__":
    main()
