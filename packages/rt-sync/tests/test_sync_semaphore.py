"""Semaphore: permits, fairness, close, MAX_PERMITS, permit merge/split/forget, cancellation."""

from __future__ import annotations

import pytest
from synchelpers import cancelled, until, wait

import rt
from rt.sync import Semaphore, SemaphoreClosed


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
