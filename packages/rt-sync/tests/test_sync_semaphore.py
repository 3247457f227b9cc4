"""Semaphore: permits, fairness, close, MAX_PERMITS, permit merge/split/forget, cancellation."""

from __future__ import annotations

import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from synchelpers import cancelled, until, wait

import rt
from rt.sync import (
    Barrier,
    Semaphore,
    SemaphoreClosed,
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], flavor: str | None = None) -> T:
    return rt.run(coro, flavor=flavor)


async def test_a_small_waiter_behind_a_cancelled_big_waiter_gets_its_permits() -> None:
    sem = Semaphore(2)
    held = await sem.acquire()
    big = rt.spawn(wait(sem.acquire(2)))
    await until(lambda: sem.statistics().waiters == 1)
    small = rt.spawn(wait(sem.acquire(1)))
    await until(lambda: sem.statistics().waiters == 2)
    await cancelled(big)
    permit = await small  # would hang before: one permit was free, queued behind the big one
    assert permit.permits == 1 and sem.available_permits() == 0
    permit.release()
    held.release()
    assert sem.available_permits() == 2


async def test_max_permits_is_tokios_and_enforced() -> None:
    assert Semaphore.MAX_PERMITS == (2**64 - 1) >> 3
    Semaphore(Semaphore.MAX_PERMITS)
    with pytest.raises(ValueError, match="MAX_PERMITS"):
        Semaphore(Semaphore.MAX_PERMITS + 1)
    sem = Semaphore(Semaphore.MAX_PERMITS - 1)
    sem.add_permits(1)
    with pytest.raises(ValueError, match="MAX_PERMITS"):
        sem.add_permits(1)
    assert sem.available_permits() == Semaphore.MAX_PERMITS
    with pytest.raises(ValueError):
        sem.acquire(Semaphore.MAX_PERMITS + 1)


async def test_permits_merge_split_and_forget() -> None:
    sem = Semaphore(5)
    a = await sem.acquire(2)
    b = await sem.acquire(1)
    a.merge(b)
    assert a.permits == 3 and b.permits == 0
    b.release()  # holds nothing: gives nothing back
    assert sem.available_permits() == 2
    part = a.split(2)
    assert part is not None and part.permits == 2 and a.permits == 1
    assert a.split(2) is None and a.permits == 1  # not enough: nothing moves
    part.release()
    assert sem.available_permits() == 4
    a.forget()
    a.release()  # forgotten: a no-op
    assert sem.available_permits() == 4
    other = Semaphore(1)
    c = await other.acquire()
    d = await sem.acquire()
    with pytest.raises(ValueError, match="same semaphore"):
        d.merge(c)
    with pytest.raises(ValueError, match="itself"):
        d.merge(d)
    with pytest.raises(ValueError):
        d.split(0)
    c.release()
    d.release()


async def test_a_split_permit_releases_on_its_own_and_wakes_a_waiter() -> None:
    sem = Semaphore(2)
    both = await sem.acquire(2)
    waiter = rt.spawn(wait(sem.acquire(1)))
    await until(lambda: sem.statistics().waiters == 1)
    one = both.split(1)
    assert one is not None
    one.release()
    (await waiter).release()
    both.release()
    assert sem.available_permits() == 2


async def test_close_fails_waiters_queued_behind_a_cancelled_one_too() -> None:
    sem = Semaphore(0)
    first = rt.spawn(wait(sem.acquire()))
    second = rt.spawn(wait(sem.acquire()))
    await until(lambda: sem.statistics().waiters == 2)
    await cancelled(first)
    sem.close()
    with pytest.raises(rt.JoinError) as info:
        await second
    assert isinstance(info.value.exception, SemaphoreClosed)


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


def test_semaphore_errors_try_acquire_and_close(flavor: str | None) -> None:
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

    run(main(), flavor=flavor)


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


def test_semaphore_and_barrier_refuse_a_bool_float_or_str_count_with_a_value_error() -> None:
    sem = Semaphore(2)
    permit = sem.try_acquire(2)
    assert permit is not None
    for bad in (True, 1.5, "2"):
        with pytest.raises(ValueError, match="Semaphore needs an int"):
            Semaphore(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="Barrier needs an int"):
            Barrier(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="number of permits"):
            sem.acquire(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="number of permits"):
            sem.try_acquire(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="number of permits"):
            sem.blocking_acquire(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="number of permits"):
            permit.split(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="add_permits needs an int"):
            sem.add_permits(bad)  # type: ignore[arg-type]
    assert sem.available_permits() == 0
