"""Children spawned, waited for, killed and dropped from many tasks at once, on both flavors,
under a 1 µs switch interval: a lost exit wake-up hangs (pytest-timeout fails it), a wrong
exit code or a zombie fails an assertion."""

from __future__ import annotations

import gc
import random
import sys
from collections.abc import Iterator

import pytest

import rt
from rt.process import Command, Stdio
from rt.process._reaper import REAPER


@pytest.fixture
def tiny_switch_interval() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
@pytest.mark.usefixtures("tiny_switch_interval")
def test_spawn_wait_kill_and_drop_from_many_tasks_keep_every_exit_code(flavor: str) -> None:
    async def one(i: int) -> int:
        kind = i % 4
        if kind == 0:
            return await Command("sh").args(["-c", f"exit {i % 7}"]).status()
        if kind == 1:
            child = Command("sleep").arg("1000").spawn()
            waiters = [rt.spawn(child.wait()) for _ in range(2)]
            if random.random() < 0.5:
                await rt.yield_now()
            await child.kill()
            codes = {await w for w in waiters}
            assert codes == {-9}
            return -9
        if kind == 2:
            out = await Command("cat").stdin(Stdio.null()).output()
            return out.returncode
        Command("sleep").arg("1000").kill_on_drop(True).spawn()  # dropped at once
        return 0

    expected = [(i % 7) if i % 4 == 0 else (-9 if i % 4 == 1 else 0) for i in range(120)]

    async def main() -> list[int]:
        handles = [rt.spawn(one(i)) for i in range(120)]
        return [await h for h in handles]

    options = {"worker_threads": 4} if flavor == "multi_thread" else {}
    assert rt.run(main(), flavor=flavor, **options) == expected
    gc.collect()
    assert REAPER.wait_idle(60)
