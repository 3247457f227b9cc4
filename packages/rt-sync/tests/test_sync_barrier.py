"""Barrier: rounds, one leader, cancelled parties."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from synchelpers import cancelled, until

import rt
from rt.sync import (
    Barrier,
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], flavor: str | None = None) -> T:
    return rt.run(coro, flavor=flavor)


async def test_a_cancelled_party_is_not_counted_and_the_parties_behind_it_are_released() -> None:
    b = Barrier(3)
    first = rt.spawn(b.wait())
    await until(lambda: b.statistics().waiting == 1)
    second = rt.spawn(b.wait())
    await until(lambda: b.statistics().waiting == 2)
    await cancelled(first)
    assert b.statistics().waiting == 1
    third = rt.spawn(b.wait())
    await until(lambda: b.statistics().waiting == 2)
    leader = await b.wait()  # the third live party
    results = [leader, await second, await third]
    assert sum(r.is_leader() for r in results) == 1
    assert b.statistics().generation == 1


def test_barrier_releases_all_with_exactly_one_leader_per_round(flavor: str | None) -> None:
    with pytest.raises(ValueError):
        Barrier(0)

    async def main() -> list[int]:
        b = Barrier(4)
        leaders = []
        for _ in range(3):
            async with rt.TaskGroup() as tg:
                hs = [tg.spawn(b.wait()) for _ in range(4)]
            leaders.append(sum(h_res.is_leader() for h_res in [await h for h in hs]))
        return leaders

    assert run(main(), flavor=flavor) == [1, 1, 1]
