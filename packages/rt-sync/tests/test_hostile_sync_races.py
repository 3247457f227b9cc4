"""Hostile races on rt.sync: a task parked on a primitive is aborted while a plain thread hands
it what it waits for (a message, a permit, the lock, a notification).

Either outcome is fine (the task got it and finished, or it was cancelled first); what must
never happen is a lost message, a leaked permit, a lock left held, a notification that nobody
gets, or a hang. Each test loops the race under a short thread switch interval; every wait is
bounded, so a lost wake-up fails with a message instead of hanging the suite.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import pytest
from synchelpers import until

import rt
import rt.time
from rt.sync import (
    Barrier,
    Event,
    Mutex,
    Notify,
    OnceCell,
    RwLock,
    Semaphore,
    broadcast,
    mpsc,
    oneshot,
    watch,
)

T = TypeVar("T")

ROUNDS = 150
LIMIT = 10.0  # seconds any single wait may take before the test calls it a hang


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    """Switch threads every few microseconds, so the plain thread and the abort interleave."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(5e-6)
    yield
    sys.setswitchinterval(old)


async def bounded(aw: Awaitable[T], what: str) -> T:
    """``await aw``, failing the test (not hanging it) if it takes more than ``LIMIT``."""
    try:
        return await rt.time.timeout(LIMIT, aw)
    except rt.time.Elapsed:
        raise AssertionError(f"hung: {what}") from None


def start(fn: Callable[[], object]) -> threading.Thread:
    t = threading.Thread(target=fn, name="hostile-plain-thread")
    t.start()
    return t


async def finished(t: threading.Thread, what: str) -> None:
    """Wait (without blocking the runtime) for a plain thread to end."""
    await rt.spawn_blocking(t.join, LIMIT)
    assert not t.is_alive(), f"hung: {what}"


async def outcome(handle: rt.JoinHandle[T]) -> tuple[bool, T | None]:
    """``(True, value)`` if the task finished, ``(False, None)`` if it was cancelled."""
    try:
        return True, await bounded(handle, "joining the aborted task")
    except rt.JoinError as err:
        assert err.is_cancelled(), err
        return False, None


async def test_mpsc_recv_aborted_as_a_thread_sends_never_loses_the_message() -> None:
    tx, rx = mpsc.channel[int](4)
    for i in range(ROUNDS):
        task = rt.spawn(rx.recv())
        await until(lambda: rx.statistics().receiver_waiting)
        t = start(partial(tx.blocking_send, i))
        task.abort()
        got, value = await outcome(task)
        await finished(t, "blocking_send into a channel with room")
        if got:
            assert value == i
        else:
            assert rx.try_recv() == i, "the message sent as the receiver was aborted is lost"
        assert rx.statistics().queued == 0


async def test_mpsc_send_aborted_as_a_thread_makes_room_leaves_exact_capacity() -> None:
    tx, rx = mpsc.channel[int](1)
    for i in range(ROUNDS):
        tx.try_send(-1)
        task = rt.spawn(tx.send(i))
        await until(lambda: rx.statistics().waiting_senders == 1)
        t = start(rx.blocking_recv)
        task.abort()
        got, _ = await outcome(task)
        await finished(t, "blocking_recv of a queued message")
        if got:
            assert rx.try_recv() == i
        stats = rx.statistics()
        assert (stats.queued, stats.reserved, stats.waiting_senders) == (0, 0, 0), stats
        assert tx.capacity() == 1, "an aborted send kept (or lost) a slot"


async def test_semaphore_acquire_aborted_as_a_thread_adds_the_permits_leaks_none() -> None:
    sem = Semaphore(2)

    async def take_three() -> None:
        permit = await sem.acquire(3)
        permit.release()

    for _ in range(ROUNDS):
        task = rt.spawn(take_three())
        await until(lambda: sem.statistics().waiters == 1)
        t = start(lambda: sem.add_permits(1))
        task.abort()
        await outcome(task)
        await finished(t, "add_permits")
        stats = sem.statistics()
        assert (stats.available_permits, stats.waiters) == (3, 0), stats
        permit = sem.try_acquire()
        assert permit is not None
        permit.forget()  # back to 2 for the next round


async def test_mutex_lock_aborted_as_a_thread_releases_leaves_the_mutex_free() -> None:
    mutex = Mutex(0)

    async def bump() -> None:
        async with mutex.lock() as guard:
            guard.value += 1

    for _ in range(ROUNDS):
        held = mutex.try_lock()
        assert held is not None
        task = rt.spawn(bump())
        await until(lambda: mutex.statistics().waiters == 1)
        t = start(held.release)
        task.abort()
        await outcome(task)
        await finished(t, "MutexGuard.release")
        again = mutex.try_lock()
        assert again is not None, f"the mutex stayed locked: {mutex.statistics()}"
        again.release()


async def test_rwlock_write_aborted_as_a_thread_drops_its_read_leaves_the_lock_free() -> None:
    lock = RwLock(0)

    async def write() -> None:
        async with lock.write() as guard:
            guard.value += 1

    for _ in range(ROUNDS):
        reading = await lock.read()
        task = rt.spawn(write())
        await until(lambda: lock.statistics().waiters == 1)
        t = start(reading.release)
        task.abort()
        await outcome(task)
        await finished(t, "RwLockReadGuard.release")
        again = lock.try_write()
        assert again is not None, f"the lock stayed held: {lock.statistics()}"
        again.release()


async def test_notify_one_racing_the_abort_of_its_waiter_passes_on_to_the_next() -> None:
    notify = Notify()
    for _ in range(ROUNDS):
        first = rt.spawn(notify.notified())
        await until(lambda: notify.statistics().waiters == 1)
        second = rt.spawn(notify.notified())
        await until(lambda: notify.statistics().waiters == 2)
        t = start(notify.notify_one)
        first.abort()
        got, _ = await outcome(first)
        await finished(t, "notify_one")
        if got:
            notify.notify_one()  # the first consumed it: give the second its own
        await bounded(second, "the second waiter: the aborted first waiter's notification is lost")
        stats = notify.statistics()
        assert (stats.waiters, stats.permit_stored) == (0, False), stats


async def test_notify_waiters_from_a_thread_wakes_every_waiter_not_aborted() -> None:
    notify = Notify()
    for _ in range(ROUNDS):
        tasks = [rt.spawn(notify.notified()) for _ in range(3)]
        await until(lambda: notify.statistics().waiters == 3)
        t = start(notify.notify_waiters)
        tasks[1].abort()
        await finished(t, "notify_waiters")
        await bounded(tasks[0], "a waiter notify_waiters should have woken")
        await bounded(tasks[2], "a waiter notify_waiters should have woken")
        await outcome(tasks[1])
        assert notify.statistics().permit_stored is False


async def test_broadcast_recv_aborted_as_a_thread_sends_keeps_the_value_for_the_receiver() -> None:
    tx, rx = broadcast.channel[int](8)
    for i in range(ROUNDS):
        task = rt.spawn(rx.recv())
        for _ in range(3):
            await rt.yield_now()
        t = start(partial(tx.send, i))
        task.abort()
        got, value = await outcome(task)
        await finished(t, "broadcast send")
        if got:
            assert value == i
        else:
            assert rx.try_recv() == i, "the value sent as the receiver was aborted is lost"


async def test_watch_changed_aborted_as_a_thread_sends_still_sees_the_change() -> None:
    tx, rx = watch.channel(0)
    for i in range(1, ROUNDS):
        task = rt.spawn(rx.changed())
        for _ in range(3):
            await rt.yield_now()
        t = start(partial(tx.send, i))
        task.abort()
        got, _ = await outcome(task)
        await finished(t, "watch send")
        if not got:
            await bounded(rx.changed(), "the change made as changed() was aborted is lost")
        assert rx.borrow_and_update() == i


async def test_barrier_party_aborted_as_a_thread_arrives_is_not_counted() -> None:
    def arrive_from_another_runtime(barrier: Barrier) -> None:
        async def arrive() -> None:
            await barrier.wait()

        rt.run(arrive())

    for _ in range(ROUNDS // 3):
        barrier = Barrier(2)
        task = rt.spawn(barrier.wait())
        await until(partial(lambda b: b.statistics().waiting == 1, barrier))
        t = start(partial(arrive_from_another_runtime, barrier))
        task.abort()
        got, _ = await outcome(task)
        if not got:
            # the cancelled party left: the thread's party needs a new partner
            await bounded(barrier.wait(), "a fresh party could not pass the barrier")
        await finished(t, "the thread's party: released with a cancelled partner counted")


async def test_oncecell_initializer_aborted_from_a_thread_lets_the_next_caller_init() -> None:
    running = Event()

    async def slow() -> int:
        running.set()
        await Event().wait()
        return 1

    async def fast() -> int:
        return 2

    for _ in range(ROUNDS // 3):
        cell = OnceCell[int]()
        running = Event()
        first = rt.spawn(cell.get_or_init(slow))
        await running.wait()
        second = rt.spawn(cell.get_or_init(fast))
        await rt.yield_now()
        t = start(first.abort)
        await finished(t, "JoinHandle.abort")
        assert await outcome(first) == (False, None)
        assert await bounded(second, "the second caller after the first was aborted") == 2
        assert cell.get() == 2


async def test_blocking_lock_in_a_thread_gets_the_mutex_when_its_holder_is_aborted() -> None:
    mutex = Mutex(0)

    async def hold(holding: Event) -> None:
        async with mutex.lock():
            holding.set()
            await Event().wait()

    def lock_in_thread() -> None:
        guard = mutex.blocking_lock()
        guard.value += 1
        guard.release()

    for i in range(ROUNDS // 3):
        holding = Event()
        task = rt.spawn(hold(holding))
        await holding.wait()
        t = start(lock_in_thread)
        task.abort()
        await outcome(task)
        await finished(t, "blocking_lock after the holding task was aborted")
        again = mutex.try_lock()
        assert again is not None, f"the mutex stayed locked: {mutex.statistics()}"
        assert again.value == i + 1
        again.release()


async def test_oneshot_blocking_recv_in_a_thread_ends_when_the_sending_task_is_aborted() -> None:
    def recv_in_thread(rx: oneshot.Receiver[int], seen: list[Any]) -> None:
        try:
            seen.append(rx.blocking_recv())
        except Exception as err:
            seen.append(err)

    for _ in range(ROUNDS // 3):
        tx, rx = oneshot.channel[int]()
        seen: list[Any] = []
        t = start(partial(recv_in_thread, rx, seen))

        async def send_later(sender: oneshot.Sender[int]) -> None:
            await rt.yield_now()
            sender.send(7)

        task = rt.spawn(send_later(tx))
        del tx  # the task owns the only sender
        task.abort()
        got, _ = await outcome(task)
        del task
        await finished(t, "blocking_recv after its sender's task was aborted")
        if got:
            assert seen == [7]
        else:
            assert len(seen) == 1 and isinstance(seen[0], rt.sync.ChannelClosed), seen


async def test_rwlock_blocking_write_in_a_thread_interleaves_with_task_readers() -> None:
    lock = RwLock(0)

    def write_in_thread() -> None:
        for _ in range(ROUNDS):
            guard = lock.blocking_write()
            guard.value += 1
            guard.release()

    t = start(write_in_thread)
    for _ in range(ROUNDS):
        async with lock.read():
            pass
    await finished(t, "blocking_write with task readers")
    async with lock.read() as guard:
        assert guard.value == ROUNDS


async def test_broadcast_blocking_recv_in_a_thread_gets_every_value_in_order() -> None:
    tx, rx = broadcast.channel[int](ROUNDS)
    got: list[int] = []

    def recv_in_thread() -> None:
        got.extend(rx.blocking_recv() for _ in range(ROUNDS))

    t = start(recv_in_thread)
    for i in range(ROUNDS):
        tx.send(i)
        if i % 7 == 0:
            await rt.yield_now()
    await finished(t, "broadcast blocking_recv")
    assert got == list(range(ROUNDS))


async def test_semaphore_shared_by_blocking_threads_and_tasks_never_exceeds_its_permits() -> None:
    sem = Semaphore(2)
    lock = threading.Lock()
    inside = [0, 0]  # now, peak

    def enter() -> None:
        with lock:
            inside[0] += 1
            inside[1] = max(inside)

    def leave() -> None:
        with lock:
            inside[0] -= 1

    def in_thread() -> None:
        for _ in range(ROUNDS):
            permit = sem.blocking_acquire()
            enter()
            leave()
            permit.release()

    async def in_task() -> None:
        for _ in range(ROUNDS):
            async with sem.acquire():
                enter()
                await rt.yield_now()
                leave()

    threads = [start(in_thread) for _ in range(3)]
    await bounded(rt.join(in_task(), in_task(), in_task()), "tasks sharing with threads")
    for t in threads:
        await finished(t, "blocking_acquire sharing with tasks")
    assert inside[1] <= 2, f"{inside[1]} holders of a 2-permit semaphore"
    assert sem.statistics().available_permits == 2


async def test_mutex_shared_by_blocking_threads_and_tasks_loses_no_update() -> None:
    mutex = Mutex(0)

    def in_thread() -> None:
        for _ in range(ROUNDS):
            guard = mutex.blocking_lock()
            guard.value += 1
            guard.release()

    async def in_task() -> None:
        for _ in range(ROUNDS):
            async with mutex.lock() as guard:
                seen = guard.value
                await rt.yield_now()  # hold it across a switch
                guard.value = seen + 1

    threads = [start(in_thread) for _ in range(3)]
    await bounded(rt.join(in_task(), in_task(), in_task()), "tasks sharing with threads")
    for t in threads:
        await finished(t, "blocking_lock sharing with tasks")
    guard = mutex.try_lock()
    assert guard is not None and guard.value == 6 * ROUNDS


async def test_mpsc_recv_many_gets_every_plain_thread_senders_values_in_order() -> None:
    tx, rx = mpsc.channel[tuple[int, int]](3)

    def send_all(k: int) -> None:
        for i in range(ROUNDS):
            tx.blocking_send((k, i))

    threads = [start(partial(send_all, k)) for k in range(4)]
    last = dict.fromkeys(range(4), -1)
    total = 0
    while total < 4 * ROUNDS:
        for k, i in await bounded(rx.recv_many(5), "recv_many with senders still sending"):
            assert i == last[k] + 1, f"sender {k}: {i} after {last[k]}"
            last[k] = i
            total += 1
    for t in threads:
        await finished(t, "blocking_send")


async def test_aborting_the_semaphore_waiter_at_the_head_wakes_the_one_behind_it() -> None:
    sem = Semaphore(1)
    big = rt.spawn(_acquire(sem, 2))
    await until(lambda: sem.statistics().waiters == 1)
    small = rt.spawn(_acquire(sem, 1))
    await until(lambda: sem.statistics().waiters == 2)
    big.abort()
    assert await outcome(big) == (False, None)
    assert await bounded(small, "the waiter behind an aborted head") == 1


async def _acquire(sem: Semaphore, n: int) -> int:
    permit = await sem.acquire(n)
    return permit.permits


async def test_aborting_a_queued_writer_lets_a_plain_threads_blocking_read_through() -> None:
    lock = RwLock(0)
    held = await lock.read()

    async def write() -> None:
        async with lock.write():
            pass

    writer = rt.spawn(write())
    await until(lambda: lock.statistics().waiters == 1)
    got: list[object] = []
    t = start(lambda: got.append(lock.blocking_read()))
    await until(lambda: lock.statistics().waiters == 2)
    writer.abort()
    await outcome(writer)
    await finished(t, "blocking_read queued behind an aborted writer")
    assert len(got) == 1
    held.release()


@pytest.mark.parametrize("primitive", ["semaphore", "mpsc-receiver", "mpsc-sender"])
async def test_closing_from_a_plain_thread_wakes_the_parked_task_with_a_closed_error(
    primitive: str,
) -> None:
    closed_error: type[Exception]
    if primitive == "semaphore":
        sem = Semaphore(0)
        task: rt.JoinHandle[Any] = rt.spawn(_acquire(sem, 1))
        await until(lambda: sem.statistics().waiters == 1)
        close, closed_error = sem.close, rt.sync.SemaphoreClosed
    elif primitive == "mpsc-receiver":
        tx, rx = mpsc.channel[int](1)
        task = rt.spawn(rx.recv())
        await until(lambda: rx.statistics().receiver_waiting)
        close, closed_error = tx.close, rt.sync.ChannelClosed
    else:
        tx, rx = mpsc.channel[int](1)
        tx.try_send(0)
        task = rt.spawn(tx.send(1))
        await until(lambda: rx.statistics().waiting_senders == 1)
        close, closed_error = rx.close, rt.sync.ChannelClosed
    t = start(close)
    with pytest.raises(rt.JoinError) as info:
        await bounded(task, f"{primitive} closed from a plain thread")
    await finished(t, "close")
    assert isinstance(info.value.exception, closed_error), info.value.exception


async def test_oncecell_set_from_a_thread_during_get_or_init_is_refused_and_the_value_kept() -> (
    None
):
    cell = OnceCell[int]()
    running, release = Event(), Event()

    async def init() -> int:
        running.set()
        await release.wait()
        return 1

    initializer = rt.spawn(cell.get_or_init(init))
    await running.wait()
    errors: list[BaseException] = []

    def set_in_thread() -> None:
        try:
            cell.set(3)
        except RuntimeError as err:
            errors.append(err)

    t = start(set_in_thread)
    await finished(t, "OnceCell.set")
    release.set()
    assert await bounded(initializer, "the initializer") == 1
    assert cell.get() == 1, "the cell's value changed after it was set"
    assert len(errors) == 1 and "being initialized" in str(errors[0])


async def test_oncecell_set_from_many_threads_at_once_succeeds_exactly_once() -> None:
    def race(cell: OnceCell[int], barrier: threading.Barrier, wins: list[int], k: int) -> None:
        barrier.wait(LIMIT)
        try:
            cell.set(k)
            wins.append(k)
        except RuntimeError:
            pass

    for _ in range(ROUNDS // 10):
        cell = OnceCell[int]()
        barrier = threading.Barrier(4)
        wins: list[int] = []
        threads = [start(partial(race, cell, barrier, wins, k)) for k in range(4)]
        for t in threads:
            await finished(t, "OnceCell.set racing")
        assert len(wins) == 1 and cell.get() == wins[0], wins
