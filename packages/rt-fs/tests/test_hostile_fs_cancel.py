"""Hostile cancellation of rt.fs opens: an open aborted while its pool job runs (or before the
pool took it) leaves no fd behind once the runtime has shut down, on both flavors.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import rt
import rt.fs

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
