"""Notify: one permit at most, notify_one / notify_waiters, threads, cancelled waiters."""

from __future__ import annotations

from synchelpers import cancelled, until

import rt
from rt.sync import Notify


async def test_notify_one_reaches_the_waiter_behind_a_cancelled_waiter() -> None:
    n = Notify()
    first = rt.spawn(n.notified())
    await until(lambda: n.statistics().waiters == 1)
    second = rt.spawn(n.notified())
    await until(lambda: n.statistics().waiters == 2)
    await cancelled(first)
    n.notify_one()
    await second
    assert n.statistics() == n.statistics().__class__(0, False)
