"""Mutex: exclusion, FIFO fairness, plain threads, cancelled waiters."""

from __future__ import annotations

import threading

import pytest
from synchelpers import cancelled, until, wait

import rt
from rt.sync import (
    Mutex,
)


async def _cancel(scope: rt.CancelScope) -> None:
    scope.cancel()


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


async def test_mutex_serializes_tasks_that_yield_inside_the_lock() -> None:
    m = Mutex(0)

    async def inc() -> None:
        for _ in range(50):
            async with m.lock() as g:
                v = g.value
                await rt.yield_now()
                g.value = v + 1

    async with rt.TaskGroup() as tg:
        for _ in range(8):
            tg.spawn(inc())
    g = m.try_lock()
    assert g is not None
    result = g.value
    assert result == 400


async def test_mutex_is_fifo_fair() -> None:
    m = Mutex(None)
    order: list[int] = []
    first = await m.lock()

    async def waiter(i: int) -> None:
        async with m.lock():
            order.append(i)

    hs = []
    for i in range(5):  # queue them one by one (tasks may start on any worker)
        hs.append(rt.spawn(waiter(i)))
        while m.statistics().waiters < i + 1:
            await rt.yield_now()
    first.release()
    for h in hs:
        await h
    assert order == [0, 1, 2, 3, 4]


async def test_cancelled_lock_waiter_leaves_the_queue_and_the_next_waiter_gets_the_lock() -> None:
    m = Mutex("v")
    log: list[str] = []
    held = await m.lock()

    async def cancelled_waiter() -> None:
        with rt.CancelScope() as scope:
            rt.spawn(_cancel(scope))
            await m.lock()
        log.append(f"cancelled={scope.cancelled_caught}")

    async def next_waiter() -> None:
        async with m.lock() as g:
            log.append(f"got {g.value}")

    a = rt.spawn(cancelled_waiter())
    await rt.yield_now()
    b = rt.spawn(next_waiter())
    await a
    while m.statistics().waiters != 1:  # b queues up (on another worker, maybe later)
        await rt.yield_now()
    held.release()
    await b
    assert log == ["cancelled=True", "got v"]


async def test_guard_is_unusable_after_release_and_try_lock_reports_busy() -> None:
    m = Mutex([1])
    g = await m.lock()
    assert m.try_lock() is None and m.is_locked()
    g.release()
    g.release()
    with pytest.raises(RuntimeError, match="released"):
        _ = g.value
    assert not m.is_locked()


async def test_mutex_blocking_lock_from_plain_threads_against_tasks() -> None:
    m: Mutex[int] = Mutex(0)

    def thread_inc() -> None:
        for _ in range(200):
            with m.blocking_lock() as g:
                g.value += 1

    threads = [threading.Thread(target=thread_inc) for _ in range(4)]
    for t in threads:
        t.start()

    async def task_inc() -> None:
        for _ in range(200):
            async with m.lock() as g:
                g.value += 1
                await rt.yield_now()

    async with rt.TaskGroup() as tg:
        for _ in range(4):
            tg.spawn(task_inc())

    def join() -> None:
        for t in threads:
            t.join()

    await rt.spawn_blocking(join)
    with pytest.raises(RuntimeError, match="blocks the calling thread"):
        m.blocking_lock()
    g = await m.lock()
    result = g.value
    assert result == 1600
