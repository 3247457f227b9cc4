"""rt.process against real children doing hostile things: grandchildren that keep the pipes
open, a child that exits while a big stdin is being written to it, and `output()` cancelled at
every point. Each held up in the OS-modules hostile pass; these guard it."""

from __future__ import annotations

import gc
import os
import signal

import pytest

import rt
import rt.io
import rt.time
from rt.process import Command, Stdio, _reaper
from rt.process._reaper import REAPER

BOUND = 30  # seconds: a hang fails the test instead of the suite's timeout


def open_fds() -> set[int]:
    # The SIGCHLD watcher's listener (its pipe) is made on first use and kept for the life of
    # the process: make it before counting, so it is not taken for a leak.
    if _reaper._force_sigchld and _reaper.WATCHER._listener is None:
        from rt.signal._registry import register_raw

        _reaper.WATCHER._listener = register_raw(signal.SIGCHLD, lifelong=True)
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def no_child_left() -> bool:
    """Whether this process has no child at all, running or a zombie."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return False


async def test_wait_returns_while_a_grandchild_still_holds_the_stdout_pipe() -> None:
    # Tokio's and asyncio's wait() see the child's exit, not the pipe's end of file: a
    # grandchild holding stdout must not keep wait() from returning.
    child = Command("sh").args(["-c", "sleep 1000 & echo $!"]).stdout(Stdio.piped()).spawn()
    assert child.stdout is not None
    line = await rt.time.timeout(BOUND, rt.io.BufReader(child.stdout).read_line())
    grandchild = int(line)
    assert await rt.time.timeout(BOUND, child.wait()) == 0
    reader = rt.spawn(child.stdout.read(64))  # the grandchild's copy keeps it open
    os.kill(grandchild, signal.SIGKILL)
    assert await rt.time.timeout(BOUND, reader) == b""


async def test_a_big_stdin_write_to_a_child_that_exits_early_raises_broken_pipe() -> None:
    # 16 MiB is far more than a pipe holds: the writer is parked on the full pipe when the
    # child (which reads one byte) exits; the write must fail, not wait for ever.
    child = Command("head").args(["-c", "1"]).stdin(Stdio.piped()).stdout(Stdio.null()).spawn()
    stdin = child.stdin
    assert stdin is not None
    with pytest.raises(BrokenPipeError) as caught:
        await rt.time.timeout(BOUND, stdin.write_all(b"x" * (16 << 20)))
    written = rt.io.bytes_written(caught.value)
    assert written is not None and 0 < written < 16 << 20
    assert await child.wait() == 0


def test_output_aborted_at_any_point_leaves_no_child_and_no_fd(flavor: str | None) -> None:
    # Aborted before the blocking pool spawned the child, while it spawns, while the output
    # is read and while the exit is awaited: with kill_on_drop every child is killed and
    # reaped, and every pipe and pidfd closed.
    async def main() -> None:
        for i in range(48):
            task = rt.spawn(Command("sleep").arg("1000").kill_on_drop(True).output())
            for _ in range(i % 12):
                await rt.yield_now()
            task.abort()
            with pytest.raises(rt.JoinError):
                await task

    fds = open_fds()
    with rt.Runtime(flavor=flavor) as runtime:
        runtime.block_on(main())
    gc.collect()
    assert REAPER.wait_idle(BOUND)
    assert no_child_left()
    assert open_fds() - fds == set()
