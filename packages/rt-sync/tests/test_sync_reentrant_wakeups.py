"""A wake-up made on the waiting thread while its waiter is being queued is not lost.

Every primitive's lock is re-entrant, so a finalizer run by the collector while a waiter is
allocated (or a signal handler on the main thread) can take the waking side inside the waiting
side's locked section: it sets the flag, frees the lock or sends the value, finds no waiter to
wake, and then the waiter is queued. Each wait looks again once its waiter is queued
(``rt.sync._waitqueue``, "Look again after queueing").

The tests make that happen at exactly that point: the primitive's wait queue is replaced by
one that runs the waking side just before it takes the waiter in. A wait that misses it hangs,
so each wait runs under a timeout (tasks) or on a thread that the test rescues (threads).
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Callable
from types import FrameType, FunctionType
from typing import Any, TypeVar

import pytest
from synchelpers import until

import rt
from rt.sync import (
    ChannelClosed,
    Event,
    Mutex,
    Notify,
    RwLock,
    Semaphore,
    SemaphoreClosed,
    broadcast,
    mpsc,
    oneshot,
    watch,
)
from rt.sync._plain import WaitQueue
from rt.sync._waitqueue import Waiter
from rt.time import timeout

T = TypeVar("T")

# A wait that misses the wake-up never ends; this long is "never" for a wait that should not
# park at all (a hang guard, not a measured duration).
HANG = 10.0


class WakeWhileQueueing(WaitQueue):
    """A wait queue that runs ``wake()`` once, on the waiting thread, just before it takes in
    its first waiter: where a finalizer or signal handler would run."""

    def __init__(self, wake: Callable[[], object], *, after: int = 0) -> None:
        super().__init__()
        self.wake: Callable[[], object] | None = wake
        self.after = after  # waiters to take in before that one

    def __setitem__(self, w: Waiter, value: None) -> None:
        if self.after:
            self.after -= 1
        else:
            wake, self.wake = self.wake, None
            if wake is not None:
                wake()
        super().__setitem__(w, value)


class WakeAlsoWhileWithdrawing(WakeWhileQueueing):
    """:class:`WakeWhileQueueing` that also runs ``on_remove()`` once at the entry of
    ``remove``: where a signal handler (or, from 3.12 on, the collector) can run while the look
    again withdraws the waiter, and hand it what was freed before ``remove`` takes it out."""

    def __init__(self, wake: Callable[[], object], on_remove: Callable[[], object]) -> None:
        super().__init__(wake)
        self.on_remove: Callable[[], object] | None = on_remove

    def remove(self, w: Waiter) -> bool:
        on_remove, self.on_remove = self.on_remove, None
        if on_remove is not None:
            on_remove()
        return super().remove(w)


def on_a_thread(fn: Callable[[], T], rescue: Callable[[], object]) -> T:
    """Run the blocking ``fn`` on a plain thread; if it is still blocked after ``HANG``
    seconds, ``rescue()`` it and fail."""
    box: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            box.append(fn())
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join(HANG)
    if t.is_alive():
        rescue()
        t.join()
        pytest.fail("the blocking wait missed a wake-up made while its waiter was queued")
    if errors:
        raise errors[0]
    return box[0]


# -- Event ---------------------------------------------------------------------------------


async def test_event_wait_sees_a_set_made_by_a_finalizer_while_its_waiter_is_allocated() -> None:
    ev = Event()
    ev._waiters = WakeWhileQueueing(ev.set)
    with timeout(HANG):
        await ev.wait()
    assert ev.statistics().waiters == 0


def test_event_blocking_wait_sees_a_set_made_while_its_waiter_is_queued() -> None:
    ev = Event()
    ev._waiters = WakeWhileQueueing(ev.set)
    on_a_thread(ev.blocking_wait, rescue=ev.set)
    assert ev.statistics().waiters == 0


class _SetsWhenCollected:
    """Garbage (a reference cycle) whose finalizer sets an event, as user code may do."""

    def __init__(self, ev: Event) -> None:
        self.ev = ev
        self.cycle = self

    def __del__(self) -> None:
        self.ev.set()


def _allocating_a_waiter_for(code: Any) -> bool:
    """Whether this thread is inside ``Waiter.for_task()`` called by ``code``'s function."""
    f: FrameType | None = sys._getframe()
    for_task = Waiter.for_task.__func__.__code__  # type: ignore[attr-defined]
    while f is not None:
        if f.f_code is for_task:
            return f.f_back is not None and f.f_back.f_code is code
        f = f.f_back
    return False


# One thread: on two workers the other one's allocations share the collector's count, and a
# collection starts during the allocation only by chance (the hooked tests above cover both).
@pytest.mark.rt(flavor="current_thread")
async def test_event_wait_sees_a_set_made_by_a_real_collection_while_its_waiter_is_allocated() -> (
    None
):
    # The collector runs on an allocation; with a threshold of 1 it runs every few. When a
    # collection starts while Event.wait allocates its waiter, a callback leaves garbage whose
    # finalizer sets the event, which that same collection runs. Each round's setter task
    # sets the event only if the finalizer did not (the wait parked before any collection hit
    # the window): a wait that parks with the flag already set is the lost wake-up.
    if not isinstance(Event.wait, FunctionType) or not isinstance(
        getattr(Waiter.for_task, "__func__", None), FunctionType
    ):
        pytest.skip("compiled by mypyc: no Python frames of Event.wait to look for")
    hits: list[Event] = []
    current: list[Event] = []

    def on_collect(phase: str, info: dict[str, Any]) -> None:
        if (
            phase == "start"
            and current
            and not hits
            and _allocating_a_waiter_for(Event.wait.__code__)
        ):
            hits.append(current[0])
            _SetsWhenCollected(current[0])

    async def set_once_parked(ev: Event) -> None:
        await until(lambda: ev.statistics().waiters == 1)
        if not ev.is_set():
            ev.set()

    thresholds = gc.get_threshold()
    gc.collect()
    gc.callbacks.append(on_collect)
    gc.set_threshold(1, 1_000_000, 1_000_000)
    try:
        for attempt in range(2_000):
            ev = Event()
            current[:] = [ev]
            setter = rt.spawn(set_once_parked(ev))
            # A few more objects each round, so that the allocation which triggers a
            # collection does not fall on the same step of every round.
            padding: list[list[int]] = [[] for _ in range(attempt % 7)]
            with timeout(HANG):
                await ev.wait()
            del padding
            setter.abort()
            with contextlib.suppress(rt.JoinError):
                await setter
            if hits:
                break
    finally:
        gc.set_threshold(*thresholds)
        gc.callbacks.remove(on_collect)
        current.clear()
    assert hits, "no collection ran while Event.wait allocated its waiter"
    assert hits[0].statistics().waiters == 0


# -- Notify --------------------------------------------------------------------------------


async def test_notified_consumes_a_permit_stored_while_its_waiter_is_queued() -> None:
    n = Notify()
    n._waiters = WakeWhileQueueing(n.notify_one)
    with timeout(HANG):
        await n.notified()
    assert n.statistics().permit_stored is False
    assert n.statistics().waiters == 0


async def test_notified_sees_a_notify_waiters_made_while_its_waiter_is_queued() -> None:
    n = Notify()
    n._waiters = WakeWhileQueueing(n.notify_waiters)
    with timeout(HANG):
        await n.notified()
    assert n.statistics().permit_stored is False  # notify_waiters stores nothing


# -- Mutex ---------------------------------------------------------------------------------


async def test_mutex_lock_takes_a_lock_released_while_its_waiter_is_queued() -> None:
    m = Mutex(0)
    held = m.try_lock()
    assert held is not None
    m._waiters = WakeWhileQueueing(held.release)
    with timeout(HANG):
        guard = await m.lock()
    assert m.is_locked() and m.statistics().waiters == 0
    guard.release()
    assert not m.is_locked()


def test_mutex_blocking_lock_takes_a_lock_released_while_its_waiter_is_queued() -> None:
    m = Mutex(0)
    held = m.try_lock()
    assert held is not None
    m._waiters = WakeWhileQueueing(held.release)
    guard = on_a_thread(m.blocking_lock, rescue=m._unlock)
    assert m.is_locked() and m.statistics().waiters == 0
    guard.release()
    assert not m.is_locked()


# -- Semaphore -----------------------------------------------------------------------------


async def test_semaphore_acquire_takes_permits_returned_while_its_waiter_is_queued() -> None:
    s = Semaphore(1)
    held = s.try_acquire()
    assert held is not None
    s._waiters = WakeWhileQueueing(held.release)
    with timeout(HANG):
        permit = await s.acquire()
    assert s.available_permits() == 0 and s.statistics().waiters == 0
    permit.release()
    assert s.available_permits() == 1


async def test_semaphore_acquire_fails_when_closed_while_its_waiter_is_queued() -> None:
    s = Semaphore(0)
    s._waiters = WakeWhileQueueing(s.close)
    with timeout(HANG), pytest.raises(SemaphoreClosed):
        await s.acquire()
    assert s.statistics().waiters == 0


def test_semaphore_blocking_acquire_takes_permits_returned_while_its_waiter_is_queued() -> None:
    s = Semaphore(2)
    held = s.try_acquire(2)
    assert held is not None
    s._waiters = WakeWhileQueueing(held.release)
    permit = on_a_thread(lambda: s.blocking_acquire(2), rescue=lambda: s.add_permits(2))
    assert s.available_permits() == 0 and s.statistics().waiters == 0
    permit.release()
    assert s.available_permits() == 2


async def test_semaphore_acquire_behind_a_bigger_waiter_still_waits_its_turn() -> None:
    # The look again takes permits only for the head of the queue: no barging.
    s = Semaphore(0)
    s._waiters = WakeWhileQueueing(lambda: s.add_permits(1), after=1)
    big = rt.spawn(_acquire(s, 3))
    await until(lambda: s.statistics().waiters == 1)
    small = rt.spawn(_acquire(s, 1))
    with timeout(HANG):
        await until(lambda: s.statistics().waiters == 2 or small.is_finished())
    assert not small.is_finished()
    assert s.available_permits() == 1
    s.add_permits(2)
    with timeout(HANG):
        assert (await big).permits == 3
    s.add_permits(1)
    with timeout(HANG):
        assert (await small).permits == 1


async def test_semaphore_acquire_counts_permits_handed_to_its_waiter_as_it_withdraws_once() -> None:
    # Two releases on the waiting thread: one while the waiter is queued (the look again
    # finds the permit), one as the look again withdraws the waiter (it is handed that permit
    # and taken out of the queue first). The wait holds one permit; the other stays free.
    s = Semaphore(0)
    s._waiters = WakeAlsoWhileWithdrawing(lambda: s.add_permits(1), lambda: s.add_permits(1))
    with timeout(HANG):
        permit = await s.acquire()
    assert s.available_permits() == 1 and s.statistics().waiters == 0
    permit.release()
    assert s.available_permits() == 2


async def _acquire(s: Semaphore, n: int) -> Any:
    return await s.acquire(n)


# -- RwLock --------------------------------------------------------------------------------


async def test_rwlock_write_takes_a_lock_whose_readers_left_while_its_waiter_is_queued() -> None:
    rw = RwLock(0)
    reader = rw.try_read()
    assert reader is not None
    rw._waiters = WakeWhileQueueing(reader.release)
    with timeout(HANG):
        writer = await rw.write()
    assert rw.statistics().writer and rw.statistics().waiters == 0
    writer.release()


async def test_rwlock_read_takes_a_lock_whose_writer_left_while_its_waiter_is_queued() -> None:
    rw = RwLock(0)
    writer = rw.try_write()
    assert writer is not None
    rw._waiters = WakeWhileQueueing(writer.release)
    with timeout(HANG):
        reader = await rw.read()
    assert rw.statistics().readers == 1 and rw.statistics().waiters == 0
    reader.release()


async def test_rwlock_read_counts_a_grant_made_as_it_withdraws_its_waiter_once() -> None:
    # As for the semaphore above: the second reader's release, at the look again's withdrawal,
    # grants the queued reader the lock; it must not take a second read share on top.
    rw = RwLock(0, max_readers=2)
    r1 = await rw.read()
    r2 = await rw.read()
    rw._waiters = WakeAlsoWhileWithdrawing(r1.release, r2.release)
    with timeout(HANG):
        guard = await rw.read()
    assert rw.statistics().readers == 1
    guard.release()
    assert rw.statistics().readers == 0
    with timeout(HANG):
        (await rw.write()).release()


def test_rwlock_blocking_write_takes_a_lock_released_while_its_waiter_is_queued() -> None:
    rw = RwLock(0)
    writer = rw.try_write()
    assert writer is not None
    rw._waiters = WakeWhileQueueing(writer.release)
    again = on_a_thread(rw.blocking_write, rescue=lambda: rw._release(True))
    assert rw.statistics().writer and rw.statistics().waiters == 0
    again.release()


# -- oneshot -------------------------------------------------------------------------------


async def test_oneshot_recv_gets_a_value_sent_while_its_waiter_is_queued() -> None:
    tx, rx = oneshot.channel[int]()
    rx._once.waiters = WakeWhileQueueing(lambda: tx.send(7))
    with timeout(HANG):
        assert await rx == 7


async def test_oneshot_recv_sees_a_close_made_while_its_waiter_is_queued() -> None:
    tx, rx = oneshot.channel[int]()
    rx._once.waiters = WakeWhileQueueing(tx.close)
    with timeout(HANG), pytest.raises(ChannelClosed):
        await rx


async def test_oneshot_sender_closed_sees_the_receiver_closed_while_its_waiter_is_queued() -> None:
    tx, rx = oneshot.channel[int]()
    tx._once.closed_waiters = WakeWhileQueueing(rx.close)
    with timeout(HANG):
        await tx.closed()


def test_oneshot_blocking_recv_gets_a_value_sent_while_its_waiter_is_queued() -> None:
    tx, rx = oneshot.channel[int]()
    rx._once.waiters = WakeWhileQueueing(lambda: tx.send(7))

    def rescue() -> None:
        for w in rx._once.waiters.drain():
            w.wake()

    assert on_a_thread(rx.blocking_recv, rescue) == 7


# -- watch ---------------------------------------------------------------------------------


async def test_watch_changed_sees_a_send_made_while_its_waiter_is_queued() -> None:
    tx, rx = watch.channel(0)
    rx._shared.waiters = WakeWhileQueueing(lambda: tx.send(1))
    with timeout(HANG):
        await rx.changed()
    assert rx.borrow() == 1 and not rx.has_changed()


async def test_watch_changed_sees_the_last_sender_closed_while_its_waiter_is_queued() -> None:
    tx, rx = watch.channel(0)
    rx._shared.waiters = WakeWhileQueueing(tx.close)
    with timeout(HANG), pytest.raises(ChannelClosed):
        await rx.changed()


# -- broadcast -----------------------------------------------------------------------------


async def test_broadcast_recv_gets_a_value_sent_while_its_waiter_is_queued() -> None:
    tx, rx = broadcast.channel[int](4)
    rx._shared.waiters = WakeWhileQueueing(lambda: tx.send(5))
    with timeout(HANG):
        assert await rx.recv() == 5


def test_broadcast_blocking_recv_gets_a_value_sent_while_its_waiter_is_queued() -> None:
    tx, rx = broadcast.channel[int](4)
    rx._shared.waiters = WakeWhileQueueing(lambda: tx.send(5))

    def rescue() -> None:
        for w in rx._shared.waiters.drain():
            w.wake()

    assert on_a_thread(rx.blocking_recv, rescue) == 5


async def test_broadcast_sender_closed_sees_the_last_receiver_closed_while_queued() -> None:
    tx, rx = broadcast.channel[int](4)
    tx._shared.closed_waiters = WakeWhileQueueing(rx.close)
    with timeout(HANG):
        await tx.closed()


# -- mpsc ----------------------------------------------------------------------------------


async def test_mpsc_recv_gets_a_value_sent_while_its_waiter_is_queued() -> None:
    tx, rx = mpsc.channel[int](4)
    rx._chan.recv_waiters = WakeWhileQueueing(lambda: tx.try_send(3))
    with timeout(HANG):
        assert await rx.recv() == 3
    assert rx._chan.stats().receiver_waiting is False


async def test_mpsc_recv_sees_the_last_sender_closed_while_its_waiter_is_queued() -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    rx._chan.recv_waiters = WakeWhileQueueing(tx.close)
    with timeout(HANG), pytest.raises(ChannelClosed):
        await rx.recv()


async def test_mpsc_recv_many_gets_a_value_sent_while_its_waiter_is_queued() -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    rx._chan.recv_waiters = WakeWhileQueueing(lambda: tx.send(3))
    with timeout(HANG):
        assert await rx.recv_many(8) == [3]


async def test_mpsc_async_for_gets_a_value_sent_while_its_waiter_is_queued() -> None:
    tx, rx = mpsc.unbounded_channel[int]()

    def send_and_close() -> None:
        tx.send(3)
        tx.close()

    rx._chan.recv_waiters = WakeWhileQueueing(send_and_close)
    got = []
    with timeout(HANG):
        async for value in rx:
            got.append(value)
    assert got == [3]


async def test_mpsc_send_fails_when_the_receiver_closes_while_its_waiter_is_queued() -> None:
    tx, rx = mpsc.channel[int](1)
    await tx.send(1)
    rx._chan.send_waiters = WakeWhileQueueing(rx.close)
    with timeout(HANG), pytest.raises(ChannelClosed) as caught:
        await tx.send(2)
    assert caught.value.value == 2
    assert rx._chan.stats().waiting_senders == 0


async def test_mpsc_reserve_fails_when_the_receiver_closes_while_its_waiter_is_queued() -> None:
    tx, rx = mpsc.channel[int](1)
    await tx.send(1)
    rx._chan.send_waiters = WakeWhileQueueing(rx.close)
    with timeout(HANG), pytest.raises(ChannelClosed):
        await tx.reserve()
    assert rx._chan.stats().reserved == 0


async def test_mpsc_sender_closed_sees_the_receiver_closed_while_its_waiter_is_queued() -> None:
    tx, rx = mpsc.channel[int](1)
    rx._chan.closed_waiters = WakeWhileQueueing(rx.close)
    with timeout(HANG):
        await tx.closed()


def test_mpsc_blocking_recv_gets_a_value_sent_while_its_waiter_is_queued() -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    rx._chan.recv_waiters = WakeWhileQueueing(lambda: tx.send(3))
    assert on_a_thread(rx.blocking_recv, rescue=tx.close) == 3


def test_mpsc_blocking_send_fails_when_the_receiver_closes_while_its_waiter_is_queued() -> None:
    tx, rx = mpsc.channel[int](1)
    tx.try_send(1)
    rx._chan.send_waiters = WakeWhileQueueing(rx.close)

    def send() -> str:
        try:
            tx.blocking_send(2)
        except ChannelClosed as exc:
            return f"closed with {exc.value}"
        return "sent"

    def rescue() -> None:
        for w in rx._chan.send_waiters.drain():
            w.wake()

    assert on_a_thread(send, rescue) == "closed with 2"


# -- select branches polled in place -------------------------------------------------------


async def test_select_on_mpsc_recv_gets_a_value_sent_while_its_branch_is_armed() -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    rx._chan.recv_waiters = WakeWhileQueueing(lambda: tx.send(3))
    assert await rt.select(rx.recv(), rt.sleep(HANG)) == (0, 3)
    assert rx._chan.stats().receiver_waiting is False


async def test_select_on_broadcast_recv_gets_a_value_sent_while_its_branch_is_armed() -> None:
    tx, rx = broadcast.channel[int](4)
    rx._shared.waiters = WakeWhileQueueing(lambda: tx.send(5))
    assert await rt.select(rx.recv(), rt.sleep(HANG)) == (0, 5)
    assert tx.statistics().waiting_receivers == 0
