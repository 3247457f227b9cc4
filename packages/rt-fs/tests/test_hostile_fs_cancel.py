"""Hostile cancellation of rt.fs opens: an open aborted while its pool job runs (or before the
pool took it) leaves no fd behind once the runtime has shut down, on both flavors; so does
runtime shutdown cancelling tasks that hold open files.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import rt
import rt.fs
import rt.sync

ROUNDS = 120

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd to count open fds"
)


def fds_on(path: Path) -> list[int]:
    """This process's fds open on ``path``."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == str(path):
                found.append(int(name))
        except OSError:  # the listing's own fd, closed by now
            pass
    return found


OPENERS: dict[str, Callable[[Path], Awaitable[rt.fs.File]]] = {
    "File.open": rt.fs.File.open,
    "File.create": rt.fs.File.create,
    "OpenOptions.open": lambda p: rt.fs.OpenOptions().read().write().open(p),
}


@pytest.mark.parametrize("opener", sorted(OPENERS))
def test_an_open_aborted_at_any_point_leaves_no_fd_open_on_the_file(
    flavor: str | None, tmp_path: Path, opener: str
) -> None:
    path = tmp_path / "target"
    path.write_bytes(b"data")
    open_it = OPENERS[opener]

    async def open_and_keep(p: Path) -> rt.fs.File:
        return await open_it(p)

    async def main() -> None:
        for i in range(ROUNDS):
            task = rt.spawn(open_and_keep(path))
            for _ in range(i % 5):  # abort before, during and after the pool job
                await rt.yield_now()
            task.abort()
            try:
                file = await task
            except rt.JoinError as err:
                assert err.is_cancelled(), err
            else:
                await file.close()

    with rt.Runtime(flavor=flavor) as runtime:
        runtime.block_on(main())
    assert fds_on(path) == [], "an aborted open left its fd open"


def test_writes_buffered_by_a_task_that_shutdown_cancels_reach_the_file_and_no_fd_stays(
    flavor: str | None, tmp_path: Path
) -> None:
    # The task holds an open File with bytes collected but not yet handed to the OS, and
    # another reads a big file, when the runtime shuts down: the bytes reach the file (as an
    # io.BufferedWriter's do when it is dropped) and neither file stays open.
    written, read = tmp_path / "written", tmp_path / "read"
    read.write_bytes(b"r" * (4 << 20))
    ready: list[str] = []

    async def writer() -> None:
        f = await rt.fs.File.create(written)
        await f.write(b"kept")
        ready.append("writer")
        await rt.sync.Event().wait()  # until shutdown cancels it

    async def reader() -> None:
        async with await rt.fs.File.open(read) as f:
            ready.append("reader")
            while await f.read(1 << 16):
                pass
            await rt.sync.Event().wait()

    async def main() -> None:
        rt.spawn(writer())
        rt.spawn(reader())
        while len(ready) < 2:
            await rt.yield_now()

    with pytest.warns(ResourceWarning, match="was never closed"):
        with rt.Runtime(flavor=flavor) as runtime:
            runtime.block_on(main())
        gc.collect()
    assert written.read_bytes() == b"kept"
    assert fds_on(written) == [] and fds_on(read) == []
