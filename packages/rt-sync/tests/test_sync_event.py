"""Event: set once, every waiter released, tasks and threads, cancelled waiters."""

from __future__ import annotations

import threading

from synchelpers import cancelled, until

import rt
from rt.sync import (
    Event,
)


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


async def test_event_wakes_tasks_and_threads() -> None:
    ev = Event()
    log: list[str] = []

    def thread_waiter() -> None:
        ev.blocking_wait()
        log.append("thread")

    t = threading.Thread(target=thread_waiter)
    t.start()

    async def task_waiter() -> None:
        await ev.wait()
        log.append("task")

    h = rt.spawn(task_waiter())
    await rt.yield_now()
    await rt.spawn_blocking(ev.set)
    await h
    await rt.spawn_blocking(t.join)
    await ev.wait()  # already set: returns at once
    result = sorted(log)
    assert result == ["task", "thread"]
