"""Notify: one permit at most, notify_one / notify_waiters, threads, cancelled waiters."""

from __future__ import annotations

import threading

from synchelpers import cancelled, until

import rt
from rt.sync import (
    Notify,
)


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


async def test_notify_one_stores_a_single_permit() -> None:
    n = Notify()
    log: list[str] = []
    n.notify_one()
    n.notify_one()
    assert n.statistics().permit_stored
    await n.notified()  # consumes the one permit
    assert not n.statistics().permit_stored

    async def waiter(name: str) -> None:
        await n.notified()
        log.append(name)

    a = rt.spawn(waiter("a"))
    while n.statistics().waiters < 1:  # a waits first (tasks may start on any worker)
        await rt.yield_now()
    b = rt.spawn(waiter("b"))
    while n.statistics().waiters < 2:
        await rt.yield_now()
    n.notify_one()
    await a
    assert log == ["a"]
    n.notify_waiters()
    await b
    assert log == ["a", "b"]


async def test_notify_waiters_stores_nothing_and_notify_works_from_a_thread() -> None:
    n = Notify()
    n.notify_waiters()
    assert not n.statistics().permit_stored

    async def waiter() -> None:
        await n.notified()

    h = rt.spawn(waiter())
    await rt.yield_now()
    threading.Thread(target=n.notify_one).start()
    await h
