"""oneshot: one value, closing either side, cancelled receivers."""

from __future__ import annotations

import gc

from synchelpers import cancelled, in_thread

import rt
from rt.sync import oneshot


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


def test_sender_closed_wakes_when_a_plain_thread_closes_the_receiver() -> None:
    async def main() -> None:
        tx, rx = oneshot.channel[int]()
        waiter = rt.spawn(tx.closed())
        await rt.yield_now()
        await in_thread(rx.close)
        await waiter

    rt.run(main())
