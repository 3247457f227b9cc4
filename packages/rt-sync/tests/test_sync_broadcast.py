"""broadcast: every receiver sees every value, lag, closing, memory, cancelled receivers."""

from __future__ import annotations

import gc
import weakref

import pytest
from synchelpers import cancelled, in_thread, until

import rt
from rt.sync import (
    ChannelClosed,
    Lagged,
    broadcast,
)


class Payload:
    """A value we can hold a weak reference to."""


async def test_a_value_is_released_once_every_receiver_has_read_it() -> None:
    tx, rx1 = broadcast.channel[Payload](8)
    rx2 = tx.subscribe()
    value = Payload()
    ref = weakref.ref(value)
    tx.send(value)
    del value
    assert (await rx1.recv()) is ref()
    gc.collect()
    assert ref() is not None  # rx2 has not read it yet
    assert (await rx2.recv()) is ref()
    gc.collect()
    assert ref() is None  # kept alive until overwritten before
    assert tx.statistics().retained == 0


async def test_a_value_is_released_when_the_last_receiver_that_had_not_read_it_closes() -> None:
    tx, rx1 = broadcast.channel[Payload](8)
    rx2 = tx.subscribe()
    refs = []
    for _ in range(3):
        p = Payload()
        refs.append(weakref.ref(p))
        tx.send(p)
    del p
    await rx1.recv()
    rx1.close()  # read one of three
    gc.collect()
    assert all(r() is not None for r in refs)  # rx2 still has all three to read
    await rx2.recv()
    gc.collect()
    assert refs[0]() is None and refs[1]() is not None
    rx2.close()
    gc.collect()
    assert all(r() is None for r in refs)


async def test_a_receiver_subscribed_later_does_not_hold_earlier_values() -> None:
    tx, rx1 = broadcast.channel[Payload](4)
    p = Payload()
    ref = weakref.ref(p)
    tx.send(p)
    del p
    late = tx.subscribe()
    await rx1.recv()
    gc.collect()
    assert ref() is None
    tx.send(Payload())
    assert isinstance(await late.recv(), Payload)


async def test_a_receiver_waiting_behind_a_cancelled_receiver_gets_the_value() -> None:
    tx, rx1 = broadcast.channel[int](4)
    rx2 = tx.subscribe()
    first = rt.spawn(rx1.recv())
    await until(lambda: tx.statistics().waiting_receivers == 1)
    second = rt.spawn(rx2.recv())
    await until(lambda: tx.statistics().waiting_receivers == 2)
    await cancelled(first)
    assert tx.send(7) == 2
    assert await second == 7
    assert await rx1.recv() == 7  # the cancelled recv did not move rx1 on


async def test_sender_closed_waits_until_every_receiver_is_gone() -> None:
    tx, rx1 = broadcast.channel[int](2)
    rx2 = rx1.resubscribe()
    waiter = rt.spawn(tx.closed())
    await rt.yield_now()
    rx1.close()
    await rt.yield_now()
    assert not waiter.is_finished() and not tx.is_closed()
    del rx2
    gc.collect()
    await waiter
    assert tx.is_closed()
    await tx.closed()
    with pytest.raises(ChannelClosed):
        tx.send(1)


def test_sender_closed_wakes_when_a_plain_thread_closes_the_last_receiver(
    flavor: str | None,
) -> None:
    async def main() -> None:
        tx, rx = broadcast.channel[int](2)
        waiter = rt.spawn(tx.closed())
        await rt.yield_now()
        await in_thread(rx.close)
        await waiter

    rt.run(main(), flavor=flavor)


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
