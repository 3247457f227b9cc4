"""oneshot: one value, closing either side, cancelled receivers."""

from __future__ import annotations

import gc
import threading

import pytest
from synchelpers import cancelled, in_thread

import rt
from rt.sync import (
    ChannelClosed,
    ChannelEmpty,
    oneshot,
)


async def test_a_cancelled_recv_leaves_the_value_for_the_next_recv() -> None:
    tx, rx = oneshot.channel[str]()
    first = rt.spawn(rx.recv())
    await rt.yield_now()
    await cancelled(first)
    tx.send("kept")
    assert await rx == "kept"


async def test_sender_closed_waits_for_the_receiver_to_close_or_go() -> None:
    tx, rx = oneshot.channel[int]()
    waiter = rt.spawn(tx.closed())
    await rt.yield_now()
    assert not waiter.is_finished() and not tx.is_closed()
    rx.close()
    await waiter
    assert tx.is_closed()
    await tx.closed()
    tx2, rx2 = oneshot.channel[int]()
    gone = rt.spawn(tx2.closed())
    await rt.yield_now()
    del rx2
    gc.collect()
    await gone


def test_sender_closed_wakes_when_a_plain_thread_closes_the_receiver(flavor: str | None) -> None:
    async def main() -> None:
        tx, rx = oneshot.channel[int]()
        waiter = rt.spawn(tx.closed())
        await rt.yield_now()
        await in_thread(rx.close)
        await waiter

    rt.run(main(), flavor=flavor)


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


async def test_oneshot_across_threads() -> None:
    tx, rx = oneshot.channel()
    threading.Thread(target=tx.send, args=(7,)).start()
    result = int(await rx)
    assert result == 7


async def _send_later(tx: oneshot.Sender[str], value: str) -> None:
    await rt.yield_now()
    tx.send(value)
