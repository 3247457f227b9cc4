"""RwLock: shared and exclusive access, fairness, try_* and downgrade, cancelled waiters."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from synchelpers import cancelled, in_thread, until, wait

import rt
from rt.sync import (
    RwLock,
    RwLockReadGuard,
    RwLockWriteGuard,
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], flavor: str | None = None) -> T:
    return rt.run(coro, flavor=flavor)


async def test_readers_queued_behind_a_cancelled_writer_get_in_while_readers_hold_it() -> None:
    rw = RwLock(0)
    held = await rw.read()
    writer = rt.spawn(wait(rw.write()))
    await until(lambda: rw.statistics().waiters == 1)
    got: list[int] = []

    async def reader(i: int) -> None:
        async with rw.read():
            got.append(i)

    readers = [rt.spawn(reader(i)) for i in range(3)]
    await until(lambda: rw.statistics().waiters == 4)
    await cancelled(writer)
    for r in readers:
        await r  # would hang before: they stayed behind the writer that left
    assert sorted(got) == [0, 1, 2]
    assert rw.statistics().readers == 1
    held.release()
    assert rw.statistics() == rw.statistics().__class__(0, False, 0, RwLock.MAX_READERS)


async def test_a_writer_queued_behind_a_cancelled_writer_gets_the_lock_on_release() -> None:
    rw = RwLock(0)
    held = await rw.read()
    first = rt.spawn(wait(rw.write()))
    await until(lambda: rw.statistics().waiters == 1)

    async def second() -> int:
        async with rw.write() as g:
            g.value = 2
            return g.value

    h = rt.spawn(second())
    await until(lambda: rw.statistics().waiters == 2)
    await cancelled(first)
    held.release()
    assert await h == 2


async def test_try_read_and_try_write_take_the_lock_only_when_free_now() -> None:
    rw = RwLock("v")
    r1 = rw.try_read()
    assert isinstance(r1, RwLockReadGuard) and r1.value == "v"
    assert rw.try_write() is None
    r2 = rw.try_read()
    assert r2 is not None
    r1.release()
    r2.release()
    w = rw.try_write()
    assert isinstance(w, RwLockWriteGuard)
    assert rw.try_read() is None and rw.try_write() is None
    w.release()


async def test_try_read_does_not_overtake_a_queued_writer() -> None:
    rw = RwLock(0)
    held = await rw.read()
    writer = rt.spawn(wait(rw.write()))
    await until(lambda: rw.statistics().waiters == 1)
    assert rw.try_read() is None  # fairness: the waiting writer comes first
    held.release()
    (await writer).release()


async def test_max_readers_bounds_concurrent_readers() -> None:
    rw = RwLock.with_max_readers(0, 2)
    assert rw.max_readers() == 2
    a = await rw.read()
    b = await rw.read()
    assert rw.try_read() is None
    third = rt.spawn(wait(rw.read()))
    await until(lambda: rw.statistics().waiters == 1)
    a.release()
    c = await third
    assert rw.statistics().readers == 2
    b.release()
    c.release()
    for bad in (0, -1, RwLock.MAX_READERS + 1, True, 1.5):
        with pytest.raises(ValueError, match="max_readers"):
            RwLock(0, max_readers=bad)  # type: ignore[arg-type]


async def test_downgrade_keeps_the_value_and_lets_queued_readers_in_but_not_writers() -> None:
    rw = RwLock([0])
    w = await rw.write()
    w.value = [1]
    reader = rt.spawn(wait(rw.read()))
    await until(lambda: rw.statistics().waiters == 1)
    r = w.downgrade()
    assert r.value == [1]
    other = await reader  # let in at once: only readers hold the lock now
    assert rw.statistics().readers == 2 and not rw.statistics().writer
    assert rw.try_write() is None
    with pytest.raises(RuntimeError, match="released"):
        w.downgrade()
    r.release()
    other.release()
    assert rw.try_write() is not None


async def test_downgrade_wakes_a_reader_blocked_in_a_plain_thread() -> None:
    rw = RwLock(0)
    w = await rw.write()

    def read_in_thread() -> int:
        g = rw.blocking_read()
        try:
            return g.value
        finally:
            g.release()

    h = rt.spawn(in_thread(read_in_thread))
    await until(lambda: rw.statistics().waiters == 1)
    w.value = 7
    r = w.downgrade()
    assert await h == 7
    r.release()


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


def test_rwlock_write_guard_from_a_thread(flavor: str | None) -> None:
    async def main() -> int:
        rw = RwLock(1)

        def bump() -> None:
            with rw.blocking_write() as g:
                g.value += 41

        await rt.spawn_blocking(bump)
        async with rw.read() as g:
            return g.value

    assert run(main(), flavor=flavor) == 42
