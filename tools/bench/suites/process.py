"""Child processes: rt.process against asyncio's subprocess API on asyncio, uvloop and rloop,
trio, and plain synchronous ``subprocess``."""

from __future__ import annotations

from ..harness import Row

NAME = "process"
TITLE = "Child processes (rt.process)"
PEERS = ["rt", "asyncio", "uvloop", "rloop", "trio", "sync"]

ROWS: dict[str, Row] = {
    "procspawn": Row(
        "spawn and wait 1,000 `true`, one at a time",
        {"procs": 1000, "width": 1},
        {"procs": 200, "width": 1},
    ),
    "procspawn32": Row(
        "spawn and wait 1,000 `true`, 32 at a time",
        {"procs": 1000, "width": 32},
        {"procs": 256, "width": 32},
    ),
    "proccat": Row("pipe 256 MiB through `cat` (1 MiB writes)", {"mib": 256}, {"mib": 64}),
}

NOTES = """
A `--quick` run spawns 200 (one at a time) or 256 (32 at a time) processes and pipes 64 MiB.
How each runtime learns that a child exited: rt registers the child's pidfd with its reactor
(one `epoll` wake-up per exit, no thread; without pidfds a process-wide SIGCHLD watcher, not
measured here); asyncio's default watcher on Python 3.11 is `ThreadedChildWatcher` (a thread
per child blocked in `waitpid`); uvloop goes through libuv's SIGCHLD handling; trio waits on
the pidfd. How they spawn: rt's `status()` / `output()` call `subprocess.Popen` (which releases
the GIL while it spawns) on the blocking pool, so concurrent spawns overlap and the scheduler
keeps running (`Command.spawn()` itself is synchronous, as in Tokio, and uses `os.posix_spawn`
on the task's thread); asyncio calls `subprocess.Popen` on the loop; trio calls it in a worker
thread; uvloop uses libuv's `uv_spawn`, which forks. `sync` is `subprocess.run` in a loop
(one child at a time only). rloop runs the asyncio code on its own loop.
"""
