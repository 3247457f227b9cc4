"""LocalSet and spawn_local: tasks pinned to the thread that entered the set."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import rt

MT: dict[str, Any] = {"flavor": "multi_thread", "worker_threads": 2}


def test_spawn_local_tasks_stay_on_the_thread_that_entered_the_local_set() -> None:
    async def pinned(log: list[int]) -> None:
        for _ in range(100):
            log.append(threading.get_ident())
            await rt.yield_now()

    async def busy() -> None:
        for _ in range(2000):
            await rt.yield_now()

    async def main() -> tuple[int, set[int], set[int]]:
        others = [rt.spawn(busy()) for _ in range(8)]  # keep both workers stealing
        logs: list[list[int]] = [[] for _ in range(6)]
        async with rt.LocalSet() as local:
            owner = threading.get_ident()
            for log in logs[:3]:
                local.spawn_local(pinned(log))
            for log in logs[3:]:
                rt.spawn_local(pinned(log))
            mine: set[int] = set()
            for _ in range(100):
                mine.add(threading.get_ident())
                await rt.yield_now()
        for h in others:
            await h
        return owner, {i for log in logs for i in log}, mine

    with rt.Runtime(**MT) as runtime:
        owner, idents, mine = runtime.block_on(main())
    assert idents == {owner}
    assert mine == {owner}


def test_a_pinned_task_woken_from_a_plain_thread_runs_on_its_own_worker() -> None:
    async def main() -> tuple[int, list[int]]:
        seen: list[int] = []
        async with rt.LocalSet() as local:
            owner = threading.get_ident()

            async def waiter() -> None:
                for _ in range(50):
                    me = rt.current_task()
                    # The plain thread may wake us before we park (the wake-up then lands
                    # while the task is still running) or after: both must resume us here.
                    threading.Thread(target=rt.lowlevel.reschedule, args=(me,)).start()
                    await rt.lowlevel.wait_task_rescheduled(lambda: rt.lowlevel.Abort.FAILED)
                    seen.append(threading.get_ident())

            local.spawn_local(waiter())
        return owner, seen

    with rt.Runtime(**MT) as runtime:
        owner, seen = runtime.block_on(main())
    assert seen == [owner] * 50


async def test_spawn_local_outside_a_local_set_says_how_to_enter_one() -> None:
    async def nop() -> None:
        pass

    with pytest.raises(RuntimeError, match=r"async with rt\.LocalSet\(\)"):
        rt.spawn_local(nop())
    local = rt.LocalSet()
    with pytest.raises(RuntimeError, match="has not been entered"):
        local.spawn_local(nop())
    async with local:
        h = local.spawn_local(nop())
    assert h.is_finished()
    with pytest.raises(RuntimeError, match="has already finished"):
        local.spawn_local(nop())
    with pytest.raises(RuntimeError, match="only once"):
        async with local:
            pass


async def test_a_failing_local_set_block_aborts_its_tasks() -> None:
    async def forever() -> None:
        await rt.lowlevel.wait_task_rescheduled(lambda: rt.lowlevel.Abort.SUCCEEDED)

    with pytest.raises(ZeroDivisionError):
        async with rt.LocalSet() as local:
            h = local.spawn_local(forever())
            await rt.yield_now()
            1 / 0  # noqa: B018
    assert h.is_finished()
    with pytest.raises(rt.JoinError) as info:
        await h
    assert info.value.is_cancelled()
