"""rt.select: branches polled in place, the one coroutine driven in place, no value lost."""

from __future__ import annotations

import inspect
import sys
import threading
from typing import Any

import pytest

import rt
import rt.time
from rt.sync import ChannelClosed, Event, broadcast, mpsc, oneshot, watch


def spawned() -> int:
    return rt.Handle.current().metrics().spawned_tasks


async def parked_on(rx: mpsc.Receiver[Any]) -> None:
    while not rx.statistics().receiver_waiting:
        await rt.yield_now()


async def test_select_over_two_recv_does_not_lose_the_losers_value() -> None:
    tx1, rx1 = mpsc.unbounded_channel[str]()
    tx2, rx2 = mpsc.unbounded_channel[str]()
    waiter = rt.spawn(rt.select(rx1.recv(), rx2.recv()))
    await parked_on(rx1)
    await parked_on(rx2)
    tx1.send("a")
    tx2.send("b")
    assert await waiter == (0, "a")
    assert rx2.try_recv() == "b"  # lost before: handed to the losing branch's task
    assert not rx1.statistics().receiver_waiting and not rx2.statistics().receiver_waiting


async def test_select_over_bounded_recv_keeps_the_value_a_losing_branch_was_woken_for() -> None:
    tx1, rx1 = mpsc.channel[int](1)
    tx2, rx2 = mpsc.channel[int](1)
    waiter = rt.spawn(rt.select(rx1.recv(), rx2.recv(), biased=True))
    await parked_on(rx1)
    await tx2.send(2)
    await tx1.send(1)
    index, value = await waiter
    left = rx2.try_recv() if index == 0 else rx1.try_recv()
    assert sorted([value, left]) == [1, 2]


@pytest.mark.parametrize("switch", [None, 1e-6], ids=["default_switch", "tight_switch"])
def test_select_over_recv_from_plain_thread_senders_loses_and_duplicates_nothing(
    switch: float | None,
    flavor: str | None,
) -> None:
    old = sys.getswitchinterval()
    if switch is not None:
        sys.setswitchinterval(switch)  # thread switches land between any two bytecodes
    try:
        rt.run(_select_over_thread_senders(2000 if switch is None else 500), flavor=flavor)
    finally:
        sys.setswitchinterval(old)


async def _select_over_thread_senders(n: int) -> None:
    tx1, rx1 = mpsc.channel[int](4)
    tx2, rx2 = mpsc.channel[int](4)

    def produce(tx: mpsc.Sender[int], base: int) -> None:
        for i in range(n):
            tx.blocking_send(base + i)
        tx.close()

    threads = [
        threading.Thread(target=produce, args=(tx1, 0)),
        threading.Thread(target=produce, args=(tx2, 100_000)),
    ]
    for t in threads:
        t.start()
    got: list[int] = []
    open_ = [True, True]
    rxs = [rx1, rx2]
    while any(open_):
        if all(open_):
            try:
                _, v = await rt.select(rx1.recv(), rx2.recv())
            except ChannelClosed:
                open_ = [not rx.is_closed() or len(rx) > 0 for rx in rxs]
                continue
        else:
            rx = rxs[open_.index(True)]
            try:
                v = await rx.recv()
            except ChannelClosed:
                break
        got.append(v)
    for rx in rxs:
        while True:
            try:
                got.append(rx.try_recv())
            except (ChannelClosed, rt.sync.ChannelEmpty):
                break
    for t in threads:
        t.join()
    assert sorted(got) == list(range(n)) + list(range(100_000, 100_000 + n))


@pytest.mark.rt(start_paused=True)
async def test_select_recv_and_sleep_spawns_no_task() -> None:
    tx, rx = mpsc.channel[int](1)
    before = spawned()
    assert await rt.select(rx.recv(), rt.sleep(1)) == (1, None)
    await tx.send(5)
    assert await rt.select(rx.recv(), rt.sleep(1)) == (0, 5)
    assert spawned() == before
    assert not rx.statistics().receiver_waiting


@pytest.mark.rt(start_paused=True)
async def test_select_sleep_deadline_counts_from_the_call() -> None:
    _tx, rx = mpsc.channel[int](1)
    start = rt.time.Instant.now()
    assert await rt.select(rx.recv(), rt.time.sleep_until(start + 2), rt.sleep(5)) == (1, None)
    assert start.elapsed() >= 2


@pytest.mark.rt(start_paused=True)
async def test_select_polls_a_sleep_in_place_next_to_a_coroutine_without_a_task() -> None:
    async def never() -> None:
        await Event().wait()

    before = spawned()
    start = rt.time.Instant.now()
    assert await rt.select(never(), rt.sleep(3)) == (1, None)
    assert start.elapsed() >= 3
    assert spawned() == before  # the sleep was one timer, not a task


@pytest.mark.rt(start_paused=True)
async def test_a_sleep_that_loses_select_keeps_its_deadline_and_disarms_its_timer() -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    start = rt.time.Instant.now()
    deadline = rt.sleep(4)
    tx.send(1)
    assert await rt.select(rx.recv(), deadline) == (0, 1)
    assert not deadline.is_elapsed()
    assert await rt.select(rx.recv(), deadline) == (1, None)
    assert start.elapsed() >= 4


@pytest.mark.rt(start_paused=True)
async def test_resetting_a_sleep_that_select_polls_moves_its_timer() -> None:
    _tx, rx = mpsc.unbounded_channel[int]()
    start = rt.time.Instant.now()
    deadline = rt.sleep(100)

    async def move_it() -> None:
        await rt.sleep(1)
        deadline.reset(start + 2)

    mover = rt.spawn(move_it())
    assert await rt.select(rx.recv(), deadline) == (1, None)
    await mover
    assert 2 <= start.elapsed() < 100


@pytest.mark.rt(start_paused=True)
async def test_a_coroutine_driven_in_place_is_cancelled_and_cleaned_before_select_returns() -> None:
    tx, rx = mpsc.unbounded_channel[str]()
    cleaned: list[str] = []

    async def slow() -> str:
        try:
            await rt.sleep(60)
            return "slow"
        finally:
            cleaned.append("slow")

    async def send_later() -> None:
        await rt.sleep(1)
        tx.send("value")

    before = spawned()
    rt.spawn(send_later())
    assert await rt.select(slow(), rx.recv()) == (1, "value")
    assert cleaned == ["slow"]
    assert spawned() == before + 1  # only send_later: the coroutine ran in this task


@pytest.mark.rt(start_paused=True)
async def test_a_coroutine_that_finished_wins_over_a_recv_that_was_only_woken() -> None:
    tx, rx = mpsc.unbounded_channel[int]()

    async def finishes_and_sends() -> str:
        await rt.sleep(1)
        tx.send(1)  # wakes the recv branch, then finishes before select looks
        return "coroutine"

    assert await rt.select(finishes_and_sends(), rx.recv()) == (0, "coroutine")
    assert rx.try_recv() == 1  # the woken branch took nothing


@pytest.mark.rt(start_paused=True)
async def test_select_over_a_join_handle_does_not_cancel_the_task_when_it_loses() -> None:
    gate = Event()

    async def worker() -> str:
        await gate.wait()
        return "done"

    h = rt.spawn(worker())
    assert await rt.select(h, rt.sleep(1)) == (1, None)
    assert not h.is_finished()
    gate.set()
    assert await rt.select(h, rt.sleep(1)) == (0, "done")


async def test_select_over_broadcast_oneshot_and_watch_takes_nothing_when_it_loses() -> None:
    btx, brx = broadcast.channel[int](4)
    otx, orx = oneshot.channel[str]()
    wtx, wrx = watch.channel(0)
    waiter = rt.spawn(rt.select(brx.recv(), orx, wrx.changed()))
    while btx.statistics().waiting_receivers == 0:
        await rt.yield_now()
    otx.send("once")
    btx.send(1)
    wtx.send(2)
    index, value = await waiter
    assert (index, value) in {(0, 1), (1, "once"), (2, None)}
    if index != 0:
        assert brx.try_recv() == 1
    if index != 1:
        assert orx.try_recv() == "once"
    if index != 2:
        assert wrx.has_changed()


@pytest.mark.rt(start_paused=True)
async def test_select_polls_broadcast_oneshot_and_watch_receives_in_place() -> None:
    # No task per branch, in either build (a second coroutine branch would need one): a
    # compiled recv()/changed() is recognised by the hook on its coroutine's class.
    btx, brx = broadcast.channel[int](4)
    brx2 = btx.subscribe()
    otx, orx = oneshot.channel[str]()
    _, orx2 = oneshot.channel[str]()
    wtx, wrx = watch.channel(0)
    wrx2 = wrx.clone()
    before = spawned()
    assert await rt.select(brx.recv(), brx2.recv(), rt.sleep(1)) == (2, None)
    assert await rt.select(orx.recv(), orx2.recv(), rt.sleep(1)) == (2, None)
    assert await rt.select(orx, orx2, rt.sleep(1)) == (2, None)
    assert await rt.select(wrx.changed(), wrx2.changed(), rt.sleep(1)) == (2, None)
    btx.send(1)
    assert await rt.select(brx2.recv(), brx.recv()) == (0, 1)
    otx.send("once")
    assert await rt.select(orx2.recv(), orx.recv()) == (1, "once")
    wtx.send(2)
    assert await rt.select(wrx2.changed(), wrx.changed()) == (0, None)
    assert spawned() == before
    assert brx.try_recv() == 1  # the losers took nothing
    assert wrx.has_changed()


async def test_a_recv_branch_on_an_ended_channel_raises_its_error() -> None:
    tx, rx = mpsc.channel[int](1)
    tx.close()
    with pytest.raises(ChannelClosed):
        await rt.select(rx.recv(), rt.sleep(10))


async def test_biased_select_prefers_the_lowest_ready_in_place_branch() -> None:
    tx1, rx1 = mpsc.unbounded_channel[int]()
    tx2, rx2 = mpsc.unbounded_channel[int]()
    tx1.send(1)
    tx2.send(2)
    assert await rt.select(rx2.recv(), rx1.recv(), biased=True) == (0, 2)
    assert rx1.try_recv() == 1


@pytest.mark.rt(start_paused=True)
async def test_a_cancelled_select_withdraws_its_in_place_waits() -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    with pytest.raises(rt.time.Elapsed):
        await rt.time.timeout(1, rt.select(rx.recv(), rt.sleep(60)))
    assert not rx.statistics().receiver_waiting
    tx.send(3)
    assert await rx.recv() == 3  # nothing taken, and the receiver is free again


async def test_a_non_awaitable_branch_is_a_type_error_and_closes_the_others() -> None:
    async def never() -> None:
        raise AssertionError("never started")

    coro = never()
    with pytest.raises(TypeError, match="awaitable"):
        await rt.select(coro, 42)  # type: ignore[call-overload]
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED  # not left "never awaited"


@pytest.mark.rt(start_paused=True)
async def test_an_error_in_the_coroutine_driven_in_place_propagates_and_withdraws_the_rest() -> (
    None
):
    _tx, rx = mpsc.unbounded_channel[int]()

    async def boom() -> None:
        await rt.sleep(1)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await rt.select(boom(), rx.recv(), rt.sleep(5))
    assert not rx.statistics().receiver_waiting


@pytest.mark.rt(start_paused=True)
async def test_with_several_coroutines_a_task_branch_wins_and_the_recv_keeps_its_value() -> None:
    tx, rx = mpsc.unbounded_channel[str]()
    cleaned: list[str] = []

    async def quick() -> str:
        await rt.sleep(1)
        return "quick"

    async def slow() -> str:
        try:
            await rt.sleep(60)
            return "slow"
        finally:
            cleaned.append("slow")

    async def send_at_2() -> None:
        await rt.sleep(2)
        tx.send("late")

    rt.spawn(send_at_2())
    assert await rt.select(slow(), rx.recv(), quick()) == (2, "quick")
    assert cleaned == ["slow"]  # the loser task was cancelled and awaited
    assert await rx.recv() == "late"


def test_select_storm_with_random_cancellation_loses_and_duplicates_nothing(
    flavor: str | None,
) -> None:
    rt.run(_select_storm(channels=4, per_channel=400, seed=7), flavor=flavor)


async def _select_storm(channels: int, per_channel: int, seed: int) -> None:
    import random

    rng = random.Random(seed)
    pairs = [mpsc.channel[int](2) for _ in range(channels)]
    got: list[list[int]] = [[] for _ in range(channels)]

    def produce(k: int) -> None:
        tx = pairs[k][0]
        for i in range(per_channel):
            tx.blocking_send(k * 100_000 + i)
        tx.close()

    async def consume(k: int) -> None:
        rx = pairs[k][1]
        while True:
            try:
                # sleep(0) races the receive head-on: with a task per branch both could
                # finish, and the receive's value was lost.
                index, value = await rt.select(rx.recv(), rt.sleep(rng.choice((0, 0.0005))))
            except ChannelClosed:
                return
            if index == 0:
                assert value is not None
                got[k].append(value)

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(channels)]
    for t in threads:
        t.start()
    consumers = {k: rt.spawn(consume(k)) for k in range(channels)}
    while any(not h.is_finished() for h in consumers.values()):
        k = rng.randrange(channels)
        h = consumers[k]
        if not h.is_finished() and rng.random() < 0.5:
            h.abort()  # lands on a select parked, polling or waking: must not lose a value
            try:
                await h
            except rt.JoinError:
                pass
            consumers[k] = rt.spawn(consume(k))
        await rt.sleep(0.0002)
    for t in threads:
        t.join()
    for k in range(channels):
        assert got[k] == [k * 100_000 + i for i in range(per_channel)], k
