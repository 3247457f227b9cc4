"""Mutex: exclusion, FIFO fairness, plain threads, cancelled waiters."""

from __future__ import annotations

from synchelpers import cancelled, until, wait

import rt
from rt.sync import Mutex


async def test_a_waiter_queued_behind_a_cancelled_waiter_gets_the_lock() -> None:
    m = Mutex(0)
    held = await m.lock()
    first = rt.spawn(wait(m.lock()))
    await until(lambda: m.statistics().waiters == 1)

    async def second() -> str:
        async with m.lock() as g:
            g.value = 2
        return "second"

    h = rt.spawn(second())
    await until(lambda: m.statistics().waiters == 2)
    await cancelled(first)
    held.release()
    assert await h == "second"
    assert not m.is_locked() and m.statistics().waiters == 0
