"""Barrier: rounds, one leader, cancelled parties."""

from __future__ import annotations

from synchelpers import cancelled, until

import rt
from rt.sync import Barrier


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
