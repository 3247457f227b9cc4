"""watch: latest value, changes, several senders, closing, cancelled watchers."""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest
from synchelpers import cancelled, in_thread

import rt
from rt.sync import (
    ChannelClosed,
    watch,
)


async def test_a_watcher_waiting_behind_a_cancelled_watcher_sees_the_change() -> None:
    tx, rx1 = watch.channel(0)
    rx2 = rx1.clone()
    first = rt.spawn(rx1.changed())
    second = rt.spawn(rx2.changed())
    await rt.yield_now()
    await cancelled(first)
    tx.send(1)
    await second
    assert rx2.borrow_and_update() == 1
    await rx1.changed()  # the cancelled changed() marked nothing seen


async def test_cloned_senders_all_publish_and_the_channel_closes_with_the_last() -> None:
    tx, rx = watch.channel[int](0)
    tx2 = tx.clone()
    assert tx.sender_count() == 2
    tx2.send(2)
    await rx.changed()
    assert rx.borrow_and_update() == 2
    tx.close()
    tx.close()  # a no-op the second time
    with pytest.raises(RuntimeError, match="closed"):
        tx.clone()
    tx2.send(3)
    await rx.changed()
    assert rx.borrow_and_update() == 3
    waiter = rt.spawn(rx.changed())
    await rt.yield_now()
    del tx2
    gc.collect()
    with pytest.raises(rt.JoinError) as info:
        await waiter
    assert isinstance(info.value.exception, ChannelClosed)


async def test_sender_closed_waits_until_every_receiver_is_gone() -> None:
    tx, rx = watch.channel("v")
    rx2 = rx.clone()
    waiter = rt.spawn(tx.closed())
    await rt.yield_now()
    rx.close()
    await rt.yield_now()
    assert not waiter.is_finished()
    rx2.close()
    await waiter
    assert tx.is_closed()
    await tx.closed()


def test_sender_closed_wakes_when_a_plain_thread_closes_the_receiver(flavor: str | None) -> None:
    async def main() -> None:
        tx, rx = watch.channel(0)
        waiter = rt.spawn(tx.closed())
        await rt.yield_now()
        await in_thread(rx.close)
        await waiter

    rt.run(main(), flavor=flavor)


async def test_typed_constructor_states_the_type_and_the_plain_call_infers_it() -> None:
    tx, rx = watch.channel[float](0)
    tx.send(1.5)
    assert rx.borrow() == 1.5
    tx2, rx2 = watch.channel("text")
    tx2.send("more")
    assert rx2.borrow() == "more"


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
