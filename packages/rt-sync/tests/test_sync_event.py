"""Event: set once, every waiter released, tasks and threads, cancelled waiters."""

from __future__ import annotations

from synchelpers import cancelled, until

import rt
from rt.sync import Event


async def test_set_wakes_the_waiters_behind_a_cancelled_waiter() -> None:
    e = Event()
    first = rt.spawn(e.wait())
    await until(lambda: e.statistics().waiters == 1)
    second = rt.spawn(e.wait())
    await until(lambda: e.statistics().waiters == 2)
    await cancelled(first)
    e.set()
    await second
    assert e.statistics().waiters == 0
