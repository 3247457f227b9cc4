"""mpsc, oneshot, broadcast and watch: behaviour, errors, threads, cancel safety."""

from __future__ import annotations

import gc
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

import rt
from rt.sync import (
    ChannelClosed,
    ChannelEmpty,
    ChannelError,
    ChannelFull,
    Lagged,
    broadcast,
    mpsc,
    oneshot,
    watch,
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return rt.run(coro)


async def _cancel(scope: rt.CancelScope) -> None:
    scope.cancel()


def test_bad_capacities_are_value_errors() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            mpsc.channel(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            broadcast.channel(bad)  # type: ignore[arg-type]


def test_all_channel_errors_derive_from_channel_error() -> None:
    for cls in (ChannelClosed, ChannelEmpty, ChannelFull, Lagged):
        assert issubclass(cls, ChannelError)


async def test_bounded_send_waits_for_room_backpressure() -> None:
    tx, rx = mpsc.channel(2)
    log: list[str] = []

    async def producer() -> None:
        for i in range(4):
            await tx.send(i)
            log.append(f"sent {i}")

    h = rt.spawn(producer())
    while len(log) < 2:  # the producer may run on another worker
        await rt.yield_now()
    for _ in range(5):  # nobody receives: the third send must keep waiting
        await rt.yield_now()
    assert log == ["sent 0", "sent 1"]
    assert tx.capacity() == 0
    assert await rx.recv() == 0
    while len(log) < 3:
        await rt.yield_now()
    assert log == ["sent 0", "sent 1", "sent 2"]
    rest = [await rx.recv() for _ in range(3)]
    await h
    result = [*log, str(rest)]
    assert result[-1] == "[1, 2, 3]"


async def test_try_send_and_try_recv_report_full_empty_and_closed_with_the_value() -> None:
    tx, rx = mpsc.channel(1)
    with pytest.raises(ChannelEmpty):
        rx.try_recv()
    tx.try_send("a")
    with pytest.raises(ChannelFull) as full:
        tx.try_send("b")
    assert full.value.value == "b"
    assert rx.try_recv() == "a"
    rx.close()
    with pytest.raises(ChannelClosed) as closed:
        tx.try_send("c")
    assert closed.value.value == "c"
    with pytest.raises(ChannelClosed) as closed2:
        await tx.send("d")
    assert closed2.value.value == "d"
    with pytest.raises(ChannelClosed):
        rx.try_recv()


async def test_receiver_close_keeps_buffered_values_and_fails_waiting_senders() -> None:
    tx, rx = mpsc.channel(1)
    await tx.send(1)

    async def blocked() -> None:
        await tx.send(2)

    h = rt.spawn(blocked())
    await rt.yield_now()
    rx.close()
    with pytest.raises(rt.JoinError) as info:
        await h
    err = info.value.exception
    assert isinstance(err, ChannelClosed) and err.value == 2
    got = [await rx.recv()]
    with pytest.raises(ChannelClosed):
        await rx.recv()
    assert got == [1]


async def test_channel_ends_when_every_sender_is_closed_or_collected() -> None:
    tx, rx = mpsc.unbounded_channel()
    tx2 = tx.clone()
    tx.send(1)
    tx2.send(2)
    tx.close()
    tx.close()  # twice: no-op
    with pytest.raises(ChannelClosed):
        tx.send(3)  # this handle is closed
    del tx2
    gc.collect()
    result = [v async for v in rx]
    assert result == [1, 2]


async def test_recv_many_and_async_iteration() -> None:
    tx, rx = mpsc.channel(10)
    for i in range(5):
        await tx.send(i)
    batch = await rx.recv_many(3)
    tx.close()
    rest = [v async for v in rx]
    result = batch, rest
    assert result == ([0, 1, 2], [3, 4])


async def test_reserve_holds_a_slot_until_the_permit_sends_or_is_released() -> None:
    tx, rx = mpsc.channel(1)
    permit = await tx.reserve()
    with pytest.raises(ChannelFull):
        tx.try_send("x")
    permit.send("reserved")
    with pytest.raises(RuntimeError):
        permit.send("again")
    got = [await rx.recv()]
    p2 = await tx.reserve()
    p2.release()
    tx.try_send("after release")
    got.append(await rx.recv())
    assert got == ["reserved", "after release"]


async def test_cancelled_recv_loses_no_value() -> None:
    tx, rx = mpsc.channel(4)
    with rt.CancelScope() as scope:
        rt.spawn(_cancel(scope))
        await rx.recv()
    assert scope.cancelled_caught
    await tx.send(1)
    await tx.send(2)
    result = [await rx.recv(), await rx.recv()]
    assert result == [1, 2]


async def test_cancelled_send_either_delivered_or_did_nothing() -> None:
    tx, rx = mpsc.channel(1)
    await tx.send(0)
    with rt.CancelScope() as scope:
        rt.spawn(_cancel(scope))
        await tx.send(99)  # waits for room, and is cancelled before any frees up
    assert scope.cancelled_caught
    assert tx.statistics().waiting_senders == 0
    tx.close()
    result = [v async for v in rx]
    assert result == [0]


async def test_two_concurrent_receivers_is_an_error() -> None:
    tx, rx = mpsc.channel(1)
    h = rt.spawn(rx.recv())
    await rt.yield_now()
    with pytest.raises(RuntimeError, match="already receiving"):
        await rx.recv()
    h.abort()
    with pytest.raises(rt.JoinError):
        await h
    del tx


def test_plain_thread_producers_with_blocking_send_and_a_task_consumer() -> None:
    async def main() -> list[tuple[int, int]]:
        tx, rx = mpsc.channel(8)

        def producer(k: int, sender: mpsc.Sender[tuple[int, int]]) -> None:
            for i in range(500):
                sender.blocking_send((k, i))
            sender.close()

        threads = [threading.Thread(target=producer, args=(k, tx.clone())) for k in range(4)]
        tx.close()
        for t in threads:
            t.start()
        got = [v async for v in rx]

        def join() -> None:
            for t in threads:
                t.join()

        await rt.spawn_blocking(join)
        return got

    got = run(main())
    assert len(got) == 2000 and len(set(got)) == 2000
    for k in range(4):
        assert [i for kk, i in got if kk == k] == list(range(500))


def test_a_sender_queued_just_after_the_receiver_took_a_value_still_gets_the_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The receiver takes buffered values without the lock, then looks for waiting senders. A
    # sender that found the channel full and queues itself just after that look must notice
    # the room by itself, or it waits forever on a channel with room. Make the receiver take
    # the value at exactly that moment: while the sender builds its waiter.
    from rt.sync import _waitqueue

    tx, rx = mpsc.channel(1)
    tx.blocking_send(0)
    taken: list[int] = []
    real = _waitqueue.Waiter.for_thread

    def for_thread(n: int = 1) -> _waitqueue.Waiter:
        taken.append(rx.try_recv())
        return real(n)

    monkeypatch.setattr(_waitqueue.Waiter, "for_thread", staticmethod(for_thread))
    sender = threading.Thread(target=tx.blocking_send, args=(1,), daemon=True)
    sender.start()
    sender.join(30)  # returns at once when the send completes; 30 s only if it is stranded
    assert not sender.is_alive(), "the sender waits although the channel has room"
    assert taken == [0]
    assert rx.try_recv() == 1


@pytest.mark.parametrize("capacity", [1, 3])
def test_blocking_senders_racing_the_lock_free_receive_deliver_every_value(
    capacity: int,
) -> None:
    import sys

    per = 4000

    async def main() -> list[int]:
        tx, rx = mpsc.channel(capacity)

        def producer(k: int, sender: mpsc.Sender[int]) -> None:
            for i in range(per):
                sender.blocking_send(k * per + i)
            sender.close()

        threads = [threading.Thread(target=producer, args=(k, tx.clone())) for k in range(2)]
        tx.close()
        for t in threads:
            t.start()
        got = [v async for v in rx]

        def join() -> None:
            for t in threads:
                t.join()

        await rt.spawn_blocking(join)
        return got

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads between almost any two bytecodes
    try:
        got = run(main())
    finally:
        sys.setswitchinterval(interval)
    assert [v for v in got if v < per] == list(range(per))
    assert [v for v in got if v >= per] == list(range(per, 2 * per))


def test_task_producer_and_plain_thread_consumer_with_blocking_recv() -> None:
    out: list[int] = []

    async def main() -> None:
        tx, rx = mpsc.channel(4)

        def consumer() -> None:
            while True:
                try:
                    out.append(rx.blocking_recv())
                except ChannelClosed:
                    return

        t = threading.Thread(target=consumer)
        t.start()
        for i in range(300):
            await tx.send(i)
        tx.close()
        await rt.spawn_blocking(t.join)

    run(main())
    assert out == list(range(300))


async def test_oneshot_delivers_once_and_reports_a_dropped_sender() -> None:
    tx, rx = oneshot.channel()
    with pytest.raises(ChannelEmpty):
        rx.try_recv()
    rt.spawn(_send_later(tx, "hello"))
    del tx
    assert await rx == "hello"
    tx2, rx2 = oneshot.channel()
    del tx2
    gc.collect()
    with pytest.raises(ChannelClosed):
        await rx2.recv()
    tx3, rx3 = oneshot.channel()
    rx3.close()
    with pytest.raises(ChannelClosed) as info:
        tx3.send(5)
    assert info.value.value == 5


async def _send_later(tx: oneshot.Sender[str], value: str) -> None:
    await rt.yield_now()
    tx.send(value)


async def test_oneshot_across_threads() -> None:
    tx, rx = oneshot.channel()
    threading.Thread(target=tx.send, args=(7,)).start()
    result = int(await rx)
    assert result == 7


async def test_broadcast_every_receiver_sees_every_value_in_order() -> None:
    tx, rx1 = broadcast.channel(16)
    rx2 = tx.subscribe()
    assert tx.send(1) == 2
    tx.send(2)
    tx.close()
    result = [[v async for v in rx1], [v async for v in rx2]]
    assert result == [[1, 2], [1, 2]]


async def test_broadcast_slow_receiver_gets_lagged_then_oldest_retained() -> None:
    tx, rx = broadcast.channel(2)
    for i in range(5):
        tx.send(i)
    with pytest.raises(Lagged) as info:
        await rx.recv()
    result = info.value.skipped, [rx.try_recv(), rx.try_recv()]
    assert result == (3, [3, 4])


def test_broadcast_send_without_receivers_returns_the_value() -> None:
    tx, rx = broadcast.channel(1)
    rx.close()
    with pytest.raises(ChannelClosed) as info:
        tx.send("lost?")
    assert info.value.value == "lost?"


# The values seen encode one interleaving of two tasks on one thread (the multi-thread
# flavor's watch is covered by test_watch_from_a_thread).
@pytest.mark.rt(flavor="current_thread")
async def test_watch_borrow_changed_and_wait_for() -> None:
    tx, rx = watch.channel({"v": 0})
    log: list[Any] = [rx.borrow()["v"]]
    assert not rx.has_changed()

    async def bump() -> None:
        for i in range(1, 4):
            await rt.yield_now()
            tx.send({"v": i})

    rt.spawn(bump())
    await rx.changed()
    log.append(rx.borrow_and_update()["v"])
    log.append((await rx.wait_for(lambda d: d["v"] >= 3))["v"])
    tx.send_modify(lambda d: d.update(v=10))
    assert rx.has_changed()
    log.append(rx.borrow_and_update()["v"])
    tx.close()
    with pytest.raises(ChannelClosed):
        await rx.changed()
    assert log == [0, 1, 3, 10]


async def test_watch_from_a_thread() -> None:
    tx, rx = watch.channel(0)

    def writer() -> None:
        for i in range(1, 101):
            tx.send(i)

    threading.Thread(target=writer).start()
    result = await rx.wait_for(lambda v: v == 100)
    assert result == 100


# One thread, so "the other task ran first" can only come from the budget yield (on several
# workers it could run in parallel): the current-thread flavor and a one-worker multi-thread one.
@pytest.mark.parametrize(
    "flavor",
    [
        pytest.param({"flavor": "current_thread"}, id="current_thread"),
        pytest.param({"flavor": "multi_thread", "worker_threads": 1}, id="multi_thread_1"),
    ],
)
def test_hot_receive_loop_respects_the_cooperative_budget(flavor: dict[str, Any]) -> None:
    rt.run(_hot_receive_loop(), **flavor)


async def _hot_receive_loop() -> None:
    tx, rx = mpsc.unbounded_channel()
    for i in range(1000):
        tx.send(i)
    order: list[str] = []

    async def consumer() -> None:
        for _ in range(1000):
            await rx.recv()  # always ready: never parks
        order.append("consumer")

    async def other() -> None:
        order.append("other")

    a = rt.spawn(consumer())
    b = rt.spawn(other())
    await a
    await b
    assert order == ["other", "consumer"]


# One thread: the abort lands while the consumer waits at a budget yield. On several workers
# the consumer could drain all 1000 values in parallel before the abort arrives.
@pytest.mark.parametrize(
    "flavor",
    [
        pytest.param({"flavor": "current_thread"}, id="current_thread"),
        pytest.param({"flavor": "multi_thread", "worker_threads": 1}, id="multi_thread_1"),
    ],
)
def test_cancellation_at_a_budget_yield_loses_no_received_value(flavor: dict[str, Any]) -> None:
    rt.run(_cancel_at_budget_yield(), **flavor)


async def _cancel_at_budget_yield() -> None:
    tx, rx = mpsc.unbounded_channel()
    for i in range(1000):
        tx.send(i)
    got: list[int] = []

    async def consumer() -> None:
        while True:
            got.append(await rx.recv())  # always ready: only the budget yields

    h = rt.spawn(consumer())
    await rt.yield_now()  # the consumer runs until its budget makes it yield
    h.abort()
    with pytest.raises(rt.JoinError):
        await h
    left = 0
    while True:
        try:
            assert rx.try_recv() == len(got) + left
            left += 1
        except ChannelEmpty:
            break
    received = len(got)
    assert 0 < received < 1000 and received + left == 1000
