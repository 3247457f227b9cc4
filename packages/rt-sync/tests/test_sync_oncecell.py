"""OnceCell: one initializer under a race, retries after failure or cancellation."""

from __future__ import annotations

import inspect
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from synchelpers import cancelled, until

import rt
from rt.sync import (
    Event,
    OnceCell,
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], flavor: str | None = None) -> T:
    return rt.run(coro, flavor=flavor)


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


def test_once_cell_runs_the_initializer_once_under_a_race(flavor: str | None) -> None:
    async def main() -> tuple[list[int], int]:
        cell: OnceCell[int] = OnceCell()
        calls = 0

        async def init() -> int:
            nonlocal calls
            calls += 1
            await rt.yield_now()
            return 42

        async with rt.TaskGroup() as tg:
            hs = [tg.spawn(cell.get_or_init(init)) for _ in range(10)]
        return [await h for h in hs], calls

    values, calls = run(main(), flavor=flavor)
    assert values == [42] * 10 and calls == 1


def test_once_cell_retries_after_a_failed_or_cancelled_initializer(flavor: str | None) -> None:
    async def main() -> int | None:
        cell: OnceCell[int] = OnceCell()

        async def bad() -> int:
            raise ValueError("first try fails")

        with pytest.raises(ValueError):
            await cell.get_or_init(bad)
        assert not cell.initialized()

        async def slow() -> int:
            await rt.yield_now()
            return 1

        with rt.CancelScope() as scope:
            scope.cancel()
            await cell.get_or_init(slow)
        assert cell.get() is None

        async def good() -> int:
            return 7

        assert await cell.get_or_init(good) == 7
        with pytest.raises(RuntimeError, match="already"):
            cell.set(8)
        return cell.get()

    assert run(main(), flavor=flavor) == 7


async def test_get_or_init_refuses_a_coroutine_object_and_closes_it() -> None:
    async def fetch() -> int:
        return 1

    for cell in (OnceCell[int](), OnceCell[int](1, initialized=True)):
        coro = fetch()
        with pytest.raises(TypeError, match=r"not fetch\(\)"):
            await cell.get_or_init(coro)  # type: ignore[arg-type]
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED  # not "never awaited"
    assert await OnceCell[int]().get_or_init(fetch) == 1
