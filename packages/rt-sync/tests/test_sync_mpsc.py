"""mpsc: bounded and unbounded channels, reservations, weak senders, closing, cancellation."""

from __future__ import annotations

import gc
import threading

import pytest
from synchelpers import cancelled, in_thread, until

import rt
from rt.sync import ChannelClosed, ChannelEmpty, ChannelFull, SendTimeout, mpsc

# -- reservations (issue: a released permit left recv hanging; close refused reserved slots) --


async def test_recv_on_a_closed_channel_ends_when_the_last_permit_is_released_unused() -> None:
    tx, rx = mpsc.channel[int](2)
    permit = await tx.reserve()
    rx.close()
    receiver = rt.spawn(rx.recv())
    await until(lambda: rx.statistics().receiver_waiting)
    permit.release()
    with pytest.raises(rt.JoinError) as info:
        await receiver  # hung forever before
    assert isinstance(info.value.exception, ChannelClosed)


async def test_recv_ends_when_the_last_sender_is_gone_and_its_permit_is_released() -> None:
    tx, rx = mpsc.channel[int](2)
    permit = await tx.reserve()
    tx.close()
    receiver = rt.spawn(rx.recv())
    await until(lambda: rx.statistics().receiver_waiting)
    assert rx.is_closed()
    permit.release()
    with pytest.raises(rt.JoinError) as info:
        await receiver
    assert isinstance(info.value.exception, ChannelClosed)


async def test_a_permit_reserved_before_receiver_close_still_delivers() -> None:
    tx, rx = mpsc.channel[str](2)
    permit = await tx.reserve()
    rx.close()
    with pytest.raises(ChannelClosed):
        await tx.send("refused")  # new sends fail once closed
    receiver = rt.spawn(rx.recv())
    await until(lambda: rx.statistics().receiver_waiting)
    permit.send("reserved before the close")  # raised ChannelClosed before
    assert await receiver == "reserved before the close"
    with pytest.raises(ChannelClosed):
        await rx.recv()


async def test_a_permit_keeps_the_channel_open_after_every_sender_closed() -> None:
    tx, rx = mpsc.channel[int](1)
    permit = tx.try_reserve()
    tx.close()
    with pytest.raises(ChannelEmpty):
        rx.try_recv()  # not ended: the permit may still send
    permit.send(5)
    assert await rx.recv() == 5
    with pytest.raises(ChannelClosed):
        rx.try_recv()


async def test_a_permit_to_a_garbage_collected_receiver_fails_with_the_value() -> None:
    tx, rx = mpsc.channel[str](1)
    permit = await tx.reserve()
    del rx
    gc.collect()
    with pytest.raises(ChannelClosed) as info:
        permit.send("nobody")
    assert info.value.value == "nobody"


def test_a_permit_released_in_a_plain_thread_ends_a_parked_recv() -> None:
    async def main() -> None:
        tx, rx = mpsc.channel[int](1)
        permit = await tx.reserve()
        tx.close()
        receiver = rt.spawn(rx.recv())
        await until(lambda: rx.statistics().receiver_waiting)
        await in_thread(permit.release)
        with pytest.raises(rt.JoinError):
            await receiver

    rt.run(main())


# -- try_reserve, reserve_many, try_reserve_many -----------------------------------------------


async def test_try_reserve_takes_a_slot_or_reports_full_or_closed() -> None:
    tx, rx = mpsc.channel[int](1)
    permit = tx.try_reserve()
    assert tx.capacity() == 0
    with pytest.raises(ChannelFull):
        tx.try_reserve()
    permit.release()
    assert tx.capacity() == 1
    tx.try_reserve().send(1)
    assert rx.try_recv() == 1
    rx.close()
    with pytest.raises(ChannelClosed):
        tx.try_reserve()


async def test_reserve_many_waits_for_all_slots_then_each_permit_sends_once() -> None:
    tx, rx = mpsc.channel[int](3)
    for i in range(3):
        await tx.send(i)
    many = rt.spawn(tx.reserve_many(2))
    await until(lambda: tx.statistics().waiting_senders == 1)
    assert await rx.recv() == 0  # one slot free: not enough for two
    assert tx.statistics().waiting_senders == 1
    assert await rx.recv() == 1
    permits = await many
    assert len(permits) == 2 and tx.capacity() == 0
    permits[1].send(11)
    permits[0].send(10)
    assert [await rx.recv(), await rx.recv(), await rx.recv()] == [2, 11, 10]
    with pytest.raises(RuntimeError):
        permits[0].send(12)
    assert await tx.reserve_many(0) == []


async def test_try_reserve_many_is_all_or_nothing_and_rejects_impossible_counts() -> None:
    tx, _rx = mpsc.channel[int](3)
    await tx.send(0)
    with pytest.raises(ChannelFull):
        tx.try_reserve_many(3)
    assert tx.statistics().reserved == 0
    permits = tx.try_reserve_many(2)
    assert len(permits) == 2 and tx.capacity() == 0
    for p in permits:
        p.release()
    for bad in (-1, 4, True, 1.0):
        with pytest.raises(ValueError, match="reserve"):
            tx.try_reserve_many(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="reserve"):
            await tx.reserve_many(bad)  # type: ignore[arg-type]


async def test_a_sender_queued_behind_a_cancelled_reserve_many_gets_the_room() -> None:
    tx, rx = mpsc.channel[int](2)
    await tx.send(0)
    await tx.send(1)
    many = rt.spawn(tx.reserve_many(2))
    await until(lambda: tx.statistics().waiting_senders == 1)
    single = rt.spawn(tx.send(2))
    await until(lambda: tx.statistics().waiting_senders == 2)
    assert await rx.recv() == 0  # one slot: the head (two) cannot use it
    await cancelled(many)
    await single  # served once the big request left the queue
    assert [await rx.recv(), await rx.recv()] == [1, 2]
    assert tx.statistics().reserved == 0


async def test_a_sender_queued_behind_a_cancelled_sender_is_delivered_and_the_other_not() -> None:
    tx, rx = mpsc.channel[str](1)
    await tx.send("full")
    first = rt.spawn(tx.send("cancelled"))
    await until(lambda: tx.statistics().waiting_senders == 1)
    second = rt.spawn(tx.send("second"))
    await until(lambda: tx.statistics().waiting_senders == 2)
    await cancelled(first)
    assert await rx.recv() == "full"
    await second
    assert await rx.recv() == "second"
    with pytest.raises(ChannelEmpty):
        rx.try_recv()


# -- send_timeout -------------------------------------------------------------------------------


@pytest.mark.rt(start_paused=True)
async def test_send_timeout_gives_the_value_back_when_no_room_comes_in_time() -> None:
    tx, rx = mpsc.channel[str](1)
    await tx.send("first")
    with pytest.raises(SendTimeout) as info:
        await tx.send_timeout("late", 0.5)
    assert info.value.value == "late"
    assert isinstance(info.value, ChannelFull) and isinstance(info.value, TimeoutError)
    assert await rx.recv() == "first"
    with pytest.raises(ChannelEmpty):
        rx.try_recv()  # the timed-out value was not sent


@pytest.mark.rt(start_paused=True)
async def test_send_timeout_sends_when_room_appears_before_the_deadline() -> None:
    tx, rx = mpsc.channel[int](1)
    await tx.send(1)

    async def drain_later() -> int:
        await rt.sleep(0.1)
        return await rx.recv()

    h = rt.spawn(drain_later())
    await tx.send_timeout(2, 1.0)
    assert await h == 1
    assert await rx.recv() == 2
    rx.close()
    with pytest.raises(ChannelClosed) as info:
        await tx.send_timeout(3, 1.0)
    assert info.value.value == 3


# -- weak senders, closed(), is_closed() -------------------------------------------------------


async def test_weak_sender_does_not_keep_the_channel_open_and_upgrades_while_one_is() -> None:
    tx, rx = mpsc.channel[int](4)
    weak = tx.downgrade()
    assert weak.strong_count() == 1
    strong = weak.upgrade()
    assert isinstance(strong, mpsc.Sender)
    await strong.send(1)
    strong.close()
    tx.close()
    assert weak.upgrade() is None
    assert await rx.recv() == 1
    with pytest.raises(ChannelClosed):
        await rx.recv()  # the weak sender did not keep it open
    utx, urx = mpsc.unbounded_channel[int]()
    uweak = utx.downgrade()
    upgraded = uweak.upgrade()
    assert isinstance(upgraded, mpsc.UnboundedSender)
    upgraded.send(2)
    assert urx.try_recv() == 2
    upgraded.close()
    with pytest.raises(RuntimeError, match="closed"):
        upgraded.downgrade()


async def test_sender_closed_waits_for_the_receiver_to_close_or_go() -> None:
    tx, rx = mpsc.channel[int](1)
    waiter = rt.spawn(tx.closed())
    await rt.yield_now()
    assert not waiter.is_finished() and not tx.is_closed()
    rx.close()
    await waiter
    await tx.closed()  # already closed: returns at once
    utx, urx = mpsc.unbounded_channel[int]()
    gone = rt.spawn(utx.closed())
    await rt.yield_now()
    del urx
    gc.collect()
    await gone


def test_sender_closed_wakes_when_a_plain_thread_closes_the_receiver() -> None:
    async def main() -> None:
        tx, rx = mpsc.channel[int](1)
        waiter = rt.spawn(tx.closed())
        await rt.yield_now()
        await in_thread(rx.close)
        await waiter

    rt.run(main())


async def test_receiver_is_closed_once_every_sender_is_gone() -> None:
    tx, rx = mpsc.channel[int](1)
    tx2 = tx.clone()
    assert not rx.is_closed()
    tx.close()
    assert not rx.is_closed()
    del tx2
    gc.collect()
    assert rx.is_closed()
    _, rx2 = mpsc.unbounded_channel[int]()
    rx2.close()
    assert rx2.is_closed()


def test_blocking_senders_and_a_task_receiver_with_reserve_many_lose_nothing() -> None:
    async def main() -> None:
        tx, rx = mpsc.channel[int](4)
        per_thread = 300

        def produce(base: int, sender: mpsc.Sender[int]) -> None:
            for i in range(per_thread):
                sender.blocking_send(base + i)
            sender.close()

        threads = [threading.Thread(target=produce, args=(k * 1000, tx.clone())) for k in range(3)]
        for t in threads:
            t.start()

        async def reserver() -> None:
            for i in range(per_thread // 3):
                for j, p in enumerate(await tx.reserve_many(3)):
                    p.send(10_000 + 3 * i + j)
            tx.close()

        h = rt.spawn(reserver())
        got = [v async for v in rx]
        await h
        for t in threads:
            t.join()
        assert sorted(got) == sorted(
            [k * 1000 + i for k in range(3) for i in range(per_thread)]
            + [10_000 + i for i in range(per_thread)]
        )

    rt.run(main())
