"""Scheduling, channels, timers, the blocking pool and memory per idle task."""

from __future__ import annotations

from ..harness import Row

NAME = "sched"
TITLE = "Scheduling, channels, timers, memory per task"
PEERS = ["rt", "rt-mypyc", "asyncio", "uvloop", "rloop", "trio", "floor"]


def _chan(capacity: int) -> Row:
    return Row(
        f"bounded channel 4->1, capacity {capacity} (200k messages)",
        {"messages": 200_000, "capacity": capacity},
        {"messages": 40_000, "capacity": capacity},
    )


ROWS: dict[str, Row] = {
    "spawn": Row("spawn 100k tasks, await each", {"tasks": 100_000}, {"tasks": 20_000}),
    "yield": Row(
        "1,000 tasks x 1,000 yields",
        {"tasks": 1_000, "yields": 1_000},
        {"tasks": 200, "yields": 500},
    ),
    "chain": Row("chain of 10k tasks, each spawns the next", {"depth": 10_000}, {"depth": 5_000}),
    "pingpong": Row(
        "ping-pong between two tasks (100k round trips)", {"rounds": 100_000}, {"rounds": 20_000}
    ),
    "channel16": _chan(16),
    "channel128": _chan(128),
    "channel1024": _chan(1024),
    "chanping": Row(
        "ping-pong through two channels (50k round trips)", {"rounds": 50_000}, {"rounds": 10_000}
    ),
    "timers": Row(
        "1,000 timers over 0-200 ms: lateness p50 / p99",
        {"timers": 1000, "span": 0.2},
        {"timers": 300, "span": 0.1},
        "lateness",
    ),
    "timeouts": Row("arm and cancel 1M timeouts", {"timeouts": 1_000_000}, {"timeouts": 100_000}),
    "blocking": Row("spawn_blocking round trip x 2,000", {"calls": 2000}, {"calls": 500}),
    "million": Row(
        "1M concurrent coroutines, each sleeps 0, all joined",
        {"tasks": 1_000_000},
        {"tasks": 100_000},
    ),
    "idletasks": Row(
        "200k tasks waiting on an event: RSS per task",
        {"tasks": 200_000},
        {"tasks": 200_000},
        "bytes",
    ),
}

NOTES = """
`floor` is a bare scheduler (`tools/bench/peers/floor.py`): a deque, `ctx.run(coro.send)` per
step, a task that is its own join handle, one shared yield trap, and a copied context per task
(the contextvars semantics rt gives); it has no channels, timers or cancellation, so those rows
are empty. trio has no chain row (its nurseries nest one per link: not the same workload).
Timers compare p99 lateness (the cell shows p50 / p99). The idle-task row spawns 200k tasks
that each wait on an event (`rt.sync.Event`; `asyncio.Event` on asyncio, uvloop and rloop;
`trio.Event`; the floor's own), and divides the growth of RSS (read the same way, after a full
collection, in every peer) by the number of tasks; it keeps its size in `--quick` runs.
"""
