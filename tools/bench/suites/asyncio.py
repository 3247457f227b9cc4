"""asyncio event loops side by side: rt's (``rt.asyncio``), asyncio's default, uvloop, rloop."""

from __future__ import annotations

from ..harness import Row

NAME = "asyncio"
TITLE = "asyncio event loops: rt's loop, the default loop, uvloop, rloop"
# The rt column is rt's asyncio loop running the same asyncio-API workloads as the others.
PEERS = ["rt", "asyncio", "uvloop", "rloop"]
COLUMNS: dict[str, tuple[str, dict[str, str]]] = {
    "rt": ("rt-asyncio", {}),
    "asyncio": ("asyncio", {}),
    "uvloop": ("uvloop", {}),
    "rloop": ("rloop", {}),
}


def _echo(requests: int, quick: int, protocols: bool) -> Row:
    what = "Protocol" if protocols else "streams"
    return Row(
        f"TCP echo 64 B via {what}, 10 conns: server CPU per request",
        {"conns": 10, "bytes": 64, "requests": requests},
        {"conns": 10, "bytes": 64, "requests": quick},
        "us",
    )


ROWS: dict[str, Row] = {
    "call_soon": Row(
        "`call_soon` throughput: 400k callbacks (CPU time)",
        {"callbacks": 400_000},
        {"callbacks": 100_000},
    ),
    "create_task": Row(
        "`create_task` + await, one at a time: 80k tasks (CPU time)",
        {"tasks": 80_000},
        {"tasks": 20_000},
    ),
    "queue": Row(
        "`asyncio.Queue` ping-pong: 80k round trips (CPU time)",
        {"rounds": 80_000},
        {"rounds": 20_000},
    ),
    "sleep0": Row(
        "`sleep(0)` yields: 100 tasks x 2,000 (CPU time)",
        {"tasks": 100, "yields": 2_000},
        {"tasks": 100, "yields": 500},
    ),
    "timers": Row(
        "1,000 timers over 0-100 ms: lateness p50 / p99",
        {"timers": 1000, "span": 0.1},
        {"timers": 1000, "span": 0.1},
        "lateness",
    ),
    "echo64p": _echo(40_000, 10_000, True),
    "echo64": _echo(40_000, 10_000, False),
    "idlep": Row(
        "2,000 idle connections: server RSS per connection (Protocol)",
        {"conns": 2_000},
        {"conns": 2_000},
        "bytes",
    ),
    "idle": Row(
        "2,000 idle connections: server RSS per connection (streams)",
        {"conns": 2_000},
        {"conns": 2_000},
        "bytes",
    ),
    "uvicorn": Row(
        "uvicorn + a small ASGI app: 20k keep-alive requests from 10 clients (wall time)",
        {"conns": 10, "requests": 20_000},
        {"conns": 10, "requests": 5_000},
    ),
    "uvicorn_cpu": Row(
        "uvicorn + a small ASGI app, the same run: server CPU per request",
        {"conns": 10, "requests": 20_000},
        {"conns": 10, "requests": 5_000},
        "us",
    ),
}

NOTES = """
Every column runs the same asyncio-API workloads (`tools/bench/peers/asyncio_api.py`); the `rt`
column is rt's asyncio loop (`rt.asyncio.new_event_loop`, pure Python), the others are asyncio's
default selector loop, uvloop (libuv, Cython) and rloop (Rust). The scheduling rows stay inside one
loop and report the process's CPU time (the work is single-threaded on every loop, and CPU time
moves less than wall time under other load on a shared machine); the echo rows are the server
process's CPU time per 64 B request, driven by the same `selectors` client in another process; the
idle rows hold 2,000 connections open (a Protocol or a stream handler waiting to read each) and
divide the server's RSS growth by 2,000; the uvicorn row serves a bare ASGI app (uvicorn's own HTTP
parser choice, the same for every loop) to a load generator in another process that checks every
response, and reports wall time (the client shares the machine's two cores with the server) and,
in the next row, the server process's CPU time per request.
"""
