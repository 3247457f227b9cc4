"""Mutex, RwLock, Semaphore, Notify, Barrier, Event, OnceCell."""

from __future__ import annotations

import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

import rt
from rt.sync import (
    Barrier,
    Event,
    Mutex,
    Notify,
    OnceCell,
    RwLock,
    Semaphore,
    SemaphoreClosed,
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return rt.run(coro)


async def _cancel(scope: rt.CancelScope) -> None:
    scope.cancel()


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


async def test_rwlock_readers_share_writers_exclude_and_writers_do_not_starve() -> None:
    rw = RwLock({"n": 0})
    log: list[str] = []
    r1 = await rw.read()
    r2 = await rw.read()
    assert rw.statistics().readers == 2

    async def writer() -> None:
        async with rw.write() as g:
            g.value = {"n": 1}
            log.append("write")

    async def late_reader() -> None:
        async with rw.read() as g:
            log.append(f"read {g.value['n']}")

    w = rt.spawn(writer())
    while rw.statistics().waiters < 1:  # the writer queues first
        await rt.yield_now()
    lr = rt.spawn(late_reader())
    while rw.statistics().waiters < 2:
        await rt.yield_now()
    assert log == []
    r1.release()
    r2.release()
    await w
    await lr
    assert log == ["write", "read 1"]


def test_rwlock_write_guard_from_a_thread() -> None:
    async def main() -> int:
        rw = RwLock(1)

        def bump() -> None:
            with rw.blocking_write() as g:
                g.value += 41

        await rt.spawn_blocking(bump)
        async with rw.read() as g:
            return g.value

    assert run(main()) == 42


async def test_semaphore_bounds_concurrency_and_is_fair_to_big_requests() -> None:
    sem = Semaphore(3)
    active = peak = 0
    counting = threading.Lock()  # workers may run on several threads
    order: list[str] = []

    async def worker(i: int) -> None:
        nonlocal active, peak
        async with sem.acquire():
            with counting:
                active += 1
                peak = max(peak, active)
            await rt.yield_now()
            with counting:
                active -= 1

    async with rt.TaskGroup() as tg:
        for i in range(10):
            tg.spawn(worker(i))

    held = await sem.acquire(2)

    async def big() -> None:
        async with sem.acquire(3):
            order.append("big")

    async def small() -> None:
        async with sem.acquire(1):
            order.append("small")

    b = rt.spawn(big())
    while sem.statistics().waiters < 1:  # big queues (its task may run on another worker)
        await rt.yield_now()
    s = rt.spawn(small())
    while sem.statistics().waiters < 2:
        await rt.yield_now()
    assert order == []  # one permit is free, but "small" queues behind "big"
    held.release()
    await b
    await s
    assert order == ["big", "small"]
    assert 1 <= peak <= 3
    if rt.Handle.current().metrics().workers == 1:
        assert peak == 3  # on one thread the three holders are inside together at the yield


def test_semaphore_errors_try_acquire_and_close() -> None:
    with pytest.raises(ValueError):
        Semaphore(-1)

    async def main() -> None:
        sem = Semaphore(1)
        p = sem.try_acquire()
        assert p is not None and sem.try_acquire() is None
        assert sem.available_permits() == 0

        async def waiter() -> None:
            await sem.acquire()

        h = rt.spawn(waiter())
        await rt.yield_now()
        sem.close()
        with pytest.raises(rt.JoinError) as info:
            await h
        assert isinstance(info.value.exception, SemaphoreClosed)
        with pytest.raises(SemaphoreClosed):
            await sem.acquire()
        with pytest.raises(ValueError):
            sem.acquire(0)

    run(main())


async def test_semaphore_from_threads() -> None:
    sem = Semaphore(0)

    def producer() -> None:
        for _ in range(100):
            sem.add_permits(1)

    threading.Thread(target=producer).start()
    for _ in range(100):
        (await sem.acquire()).forget()
    result = sem.available_permits()
    assert result == 0


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


def test_barrier_releases_all_with_exactly_one_leader_per_round() -> None:
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

    assert run(main()) == [1, 1, 1]


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


def test_once_cell_runs_the_initializer_once_under_a_race() -> None:
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

    values, calls = run(main())
    assert values == [42] * 10 and calls == 1


def test_once_cell_retries_after_a_failed_or_cancelled_initializer() -> None:
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

    assert run(main()) == 7


def test_statistics_are_frozen_snapshots() -> None:
    m = Mutex(0)
    s = m.statistics()
    with pytest.raises(AttributeError):
        s.locked = True  # type: ignore[misc]


@pytest.mark.parametrize("kind", ["mutex", "semaphore", "rwlock"])
def test_cancellation_at_a_budget_yield_never_leaves_a_lock_held(kind: str) -> None:
    async def main() -> bool:
        m = Mutex(0)
        sem = Semaphore(1)
        rw = RwLock(0)
        rounds = 0

        async def hot() -> None:
            nonlocal rounds
            while True:  # uncontended: only the cooperative budget ever yields here
                if kind == "mutex":
                    async with m.lock():
                        rounds += 1
                elif kind == "semaphore":
                    async with sem.acquire():
                        rounds += 1
                else:
                    async with rw.write():
                        rounds += 1

        h = rt.spawn(hot())
        await rt.yield_now()
        h.abort()
        with pytest.raises(rt.JoinError):
            await h
        assert rounds > 0
        if kind == "mutex":
            return not m.is_locked()
        if kind == "semaphore":
            return sem.available_permits() == 1
        return rw.statistics() == type(rw.statistics())(0, False, 0)

    assert run(main())
