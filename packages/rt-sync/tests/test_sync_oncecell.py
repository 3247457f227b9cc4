"""OnceCell: one initializer under a race, retries after failure or cancellation."""

from __future__ import annotations

from synchelpers import cancelled, until

import rt
from rt.sync import Event, OnceCell


async def test_a_caller_queued_behind_a_cancelled_caller_still_gets_the_value() -> None:
    cell: OnceCell[str] = OnceCell()
    started = Event()
    release = Event()
    runs: list[str] = []

    async def slow_init() -> str:
        runs.append("slow")
        started.set()
        await release.wait()
        return "slow"

    async def quick_init() -> str:
        runs.append("quick")
        return "quick"

    initializer = rt.spawn(cell.get_or_init(slow_init))
    await started.wait()
    queued = rt.spawn(cell.get_or_init(quick_init))
    later = rt.spawn(cell.get_or_init(quick_init))
    await until(lambda: cell.statistics().waiters == 2)
    await cancelled(queued)  # the waiter at the head of the queue leaves
    release.set()
    assert await initializer == "slow"
    assert await later == "slow"
    assert runs == ["slow"]
