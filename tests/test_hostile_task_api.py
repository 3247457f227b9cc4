"""A hostile pass on rt-core's task API (JoinHandle, JoinSet, TaskGroup, LocalSet, Runtime),
compared with Tokio's contract, on both flavors.

Waits are bounded by the suite's pytest timeout: a hang is the failure.
"""

from __future__ import annotations

import pytest

import rt
from rt.lowlevel import Abort, wait_task_rescheduled
from rt.sync import Event


async def _forever() -> None:
    """Park until cancelled (nothing ever wakes it)."""
    await wait_task_rescheduled(lambda: Abort.SUCCEEDED)


async def test_task_group_child_spawned_while_the_group_aborts_is_cancelled_not_awaited() -> None:
    # A child cancelled by the failing block spawns a sibling from its cleanup: the group is
    # shutting down, so that sibling must be cancelled too, or leaving the block waits for it
    # for ever (trio cancels a task started in a cancelled nursery).
    spawned: list[rt.JoinHandle[None]] = []
    running = Event()

    async def child(tg: rt.TaskGroup) -> None:
        running.set()  # let the block fail
        try:
            await _forever()
        except rt.Cancelled:
            spawned.append(tg.spawn(_forever()))
            raise

    with pytest.raises(BaseExceptionGroup) as info:
        async with rt.TaskGroup() as tg:
            tg.spawn(child(tg))
            await running.wait()
            raise ValueError("boom")
    assert [type(e) for e in info.value.exceptions] == [ValueError]
    assert len(spawned) == 1 and spawned[0].is_finished()
    with pytest.raises(rt.JoinError) as join:
        await spawned[0]
    assert join.value.is_cancelled()
