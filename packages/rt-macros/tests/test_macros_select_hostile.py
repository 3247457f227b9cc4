"""A hostile pass on rt.select, join and try_join: what a Tokio, asyncio or trio user might try
(see the design notes, "A hostile pass on time, select and the combinators")."""

from __future__ import annotations

import pytest

import rt
import rt.lowlevel
import rt.time
from rt.sync import Event, mpsc, oneshot, watch


@pytest.mark.rt(start_paused=True)
async def test_one_mpsc_receiver_or_sleep_in_two_branches_is_a_type_error_naming_both() -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    s = rt.sleep(5)
    # Before: the second branch's registration failed with "another task is already
    # receiving on this channel" ("already awaited by another task" for a Sleep).
    with pytest.raises(TypeError, match="branches 1 and 2 both wait on"):
        await rt.select(rt.sleep(1), rx.recv(), rx.recv())
    with pytest.raises(TypeError, match="branches 0 and 1 both wait on"):
        await rt.select(s, s)
    # Nothing was left registered or unawaited: the receiver and the sleep work as before.
    tx.send(1)
    assert await rt.select(rx.recv(), s) == (0, 1)
    assert await rt.select(rx.recv(), s) == (1, None)


@pytest.mark.rt(start_paused=True)
async def test_one_broadcast_oneshot_or_watch_receiver_in_two_branches_still_works() -> None:
    _, orx = oneshot.channel[int]()
    wtx, wrx = watch.channel(0)
    wtx.send(1)
    index, _ = await rt.select(orx, orx, wrx.changed(), wrx.changed(), rt.sleep(1))
    assert index in (2, 3)


@pytest.mark.rt(start_paused=True)
async def test_different_receivers_and_sleeps_still_share_one_select() -> None:
    tx1, rx1 = mpsc.unbounded_channel[int]()
    _, rx2 = mpsc.unbounded_channel[int]()
    tx1.send(7)
    assert await rt.select(rx2.recv(), rx1.recv(), rt.sleep(1), rt.sleep(1)) == (1, 7)


async def _work(unwound: list[str] | None = None) -> str:
    try:
        await rt.sleep(2)
    finally:
        if unwound is not None:
            unwound.append("work")
    return "work"


async def _send_and_take_back(tx: mpsc.UnboundedSender[int], rx: mpsc.Receiver[int]) -> None:
    await rt.sleep(1)
    tx.send(1)  # wakes select's recv branch...
    assert rx.try_recv() == 1  # ...and takes the value back before select looks


@pytest.mark.xfail(
    strict=True,
    raises=RuntimeError,
    reason=(
        "known limit: the one coroutine select drives in place is interrupted by cancelling "
        "it when a polled branch is woken; if another task then takes that branch's value "
        "(try_recv on the same receiver), the coroutine is gone and select raises a "
        "RuntimeError saying so. Resuming it would need select to step the coroutine itself "
        "with a waker of its own (see the design notes)"
    ),
)
@pytest.mark.rt(start_paused=True)
async def test_a_spurious_wake_of_a_recv_branch_does_not_drop_the_coroutine_branch() -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    rt.spawn(_send_and_take_back(tx, rx))
    got = await rt.time.timeout(10, rt.select(_work(), rx.recv()))
    assert got == (0, "work")


@pytest.mark.rt(start_paused=True)
async def test_a_receive_taken_from_under_select_raises_naming_the_lost_coroutine_branch() -> None:
    # Before: select went on waiting on the receiver alone, without the coroutine it had
    # cancelled, and the timeout below fired instead (a silent hang in a real program).
    tx, rx = mpsc.unbounded_channel[int]()
    unwound: list[str] = []
    rt.spawn(_send_and_take_back(tx, rx))
    with pytest.raises(RuntimeError, match=r"branch 1 woke select.*coroutine of branch 0") as info:
        await rt.time.timeout(10, rt.select(_work(unwound), rx.recv()))
    assert "one receiver in one task at a time" in str(info.value)
    assert unwound == ["work"]
    # The receiver is left usable: nothing stays registered on it.
    tx.send(2)
    assert await rx.recv() == 2


@pytest.mark.rt(start_paused=True)
async def test_a_join_handle_branch_is_awaited_again_after_a_spurious_wake() -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    handle = rt.spawn(_work())
    rt.spawn(_send_and_take_back(tx, rx))
    # Before: the handle branch was dropped after the empty wake and select timed out.
    assert await rt.time.timeout(10, rt.select(handle, rx.recv())) == (0, "work")


@pytest.mark.rt(start_paused=True)
async def test_a_fired_sleep_branch_reset_later_by_another_task_still_wins() -> None:
    # The resetter's timer is armed before select's (same deadline), so at t=1 it runs first
    # and moves the fired sleep's deadline before select looks.
    s = rt.sleep(1)
    ran: list[str] = []

    async def work() -> str:
        await rt.sleep(5)
        return "work"

    async def reset_after_fire() -> None:
        await rt.sleep(1)
        s.reset(rt.time.Instant.now() + 10)
        ran.append("reset")

    rt.spawn(reset_after_fire())
    await rt.yield_now()  # its timer first
    # Before: select found the sleep not elapsed, had cancelled work() for nothing, and
    # waited on the sleep's new deadline alone (the timeout below fired).
    assert await rt.time.timeout(8, rt.select(work(), s)) == (1, None)
    assert ran == ["reset"]
    assert not s.is_elapsed()  # the deadline did move


async def _cleanup_fails() -> None:
    try:
        await rt.sleep(10)
    finally:
        raise ValueError("cleanup failed")


async def _idle() -> None:
    await rt.sleep(10)


async def _wins() -> str:
    await rt.sleep(1)
    return "win"


@pytest.mark.rt(start_paused=True)
async def test_a_losing_branch_whose_cleanup_raises_propagates_its_error_however_it_ran() -> None:
    tx, rx = mpsc.unbounded_channel[int]()

    async def send_later() -> None:
        await rt.sleep(1)
        tx.send(1)

    # Driven in place (one coroutine): the error propagated already, the value stayed queued.
    rt.spawn(send_later())
    with pytest.raises(ValueError, match="cleanup failed"):
        await rt.select(_cleanup_fails(), rx.recv())
    assert rx.try_recv() == 1
    # As tasks (several coroutines): before, the error was swallowed and the winner returned.
    for branches in ((_cleanup_fails(), _wins()), (_cleanup_fails(), _idle(), _wins())):
        with pytest.raises(ValueError, match="cleanup failed"):
            await rt.select(*branches)
    rt.spawn(send_later())
    with pytest.raises(ValueError, match="cleanup failed"):
        await rt.select(_cleanup_fails(), _idle(), rx.recv())
    # A loser that ends as cancelled raises nothing.
    assert await rt.select(_idle(), _idle(), _wins()) == (2, "win")


@pytest.mark.rt(start_paused=True)
async def test_losing_join_handle_branches_run_as_tasks_leave_their_tasks_running() -> None:
    gate = Event()

    async def worker(v: str) -> str:
        await gate.wait()
        return v

    h1, h2 = rt.spawn(worker("a")), rt.spawn(worker("b"))
    # Two awaitables besides the sleep: each is awaited by a task of select's, which loses.
    assert await rt.select(h1, h2, rt.sleep(1)) == (2, None)
    assert not h1.is_finished() and not h2.is_finished()
    gate.set()
    assert await rt.join(h1, h2) == ("a", "b")


@pytest.mark.rt(start_paused=True)
async def test_losers_cleanup_that_awaits_finishes_before_select_returns() -> None:
    log: list[str] = []

    async def loser(name: str) -> None:
        try:
            await rt.sleep(10)
        finally:
            with rt.CancelScope(shield=True):
                await rt.sleep(1)  # asynchronous cleanup
            log.append(name)

    assert await rt.select(loser("a"), loser("b"), _wins()) == (2, "win")  # as tasks
    assert sorted(log) == ["a", "b"]
    log.clear()
    assert await rt.select(loser("a"), rt.sleep(1)) == (1, None)  # driven in place
    assert log == ["a"]


@pytest.mark.rt(start_paused=True)
async def test_select_inside_a_timeout_inside_a_select_reports_each_level() -> None:
    tx, rx = mpsc.unbounded_channel[int]()

    async def inner() -> tuple[int, object]:
        return await rt.time.timeout(1, rt.select(rx.recv(), rt.sleep(5)))

    assert await rt.select(inner(), rt.sleep(0.5)) == (1, None)  # the outer sleep wins
    with pytest.raises(rt.time.Elapsed):  # the timeout fires before either inner branch
        await rt.select(inner(), rt.sleep(3))
    tx.send(5)
    assert await rt.select(inner(), rt.sleep(3)) == (0, (0, 5))
    with pytest.raises(rt.time.Elapsed):  # through two selects, whose sleeps are later
        await rt.select(rt.select(inner(), rt.sleep(3)), rt.sleep(2))
    assert await rt.select(rt.select(inner(), rt.sleep(0.2)), rt.sleep(2)) == (0, (1, None))


@pytest.mark.rt(start_paused=True)
async def test_biased_select_prefers_an_earlier_ready_coroutine_over_a_ready_recv() -> None:
    # Tokio's `biased; _ = shutdown => ..., v = rx.recv() => ...`: with both ready, shutdown.
    tx, rx = mpsc.unbounded_channel[int]()
    stop = Event()
    stop.set()
    tx.send(1)
    # Before: the recv was polled first (it needs no driving) and won, the coroutine unrun.
    assert await rt.select(stop.wait(), rx.recv(), biased=True) == (0, None)
    assert rx.try_recv() == 1  # the losing recv took nothing

    async def job() -> str:
        return "job"

    h = rt.spawn(job())
    await h
    tx.send(2)
    assert await rt.select(h, rx.recv(), rt.sleep(1), biased=True) == (0, "job")
    assert rx.try_recv() == 2


@pytest.mark.rt(start_paused=True)
async def test_biased_select_runs_an_earlier_branch_until_it_waits_then_cancels_it() -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    log: list[str] = []

    async def not_ready() -> str:
        log.append("started")
        try:
            await rt.sleep(10)
            return "late"
        finally:
            log.append("cleaned")

    async def yields_then_finishes() -> str:
        await rt.yield_now()  # a checkpoint, not a wait
        return "no wait"

    tx.send(1)
    start = rt.time.Instant.now()
    assert await rt.select(not_ready(), rx.recv(), biased=True) == (1, 1)
    assert log == ["started", "cleaned"]
    assert rt.time.Instant.now() == start  # cancelled as it parked, not when its sleep ended
    tx.send(2)
    assert await rt.select(yields_then_finishes(), rx.recv(), biased=True) == (0, "no wait")
    assert rx.try_recv() == 2
    # An awaitable whose __await__ is a plain iterator (rt's checkpoint) is run first too.
    tx.send(4)
    assert await rt.select(rt.lowlevel.checkpoint(), rx.recv(), biased=True) == (0, None)
    assert rx.try_recv() == 4
    # Unbiased, a ready recv still wins without the coroutine being run at all.
    log.clear()
    tx.send(3)
    assert await rt.select(not_ready(), rx.recv()) == (1, 3)
    assert log == []


@pytest.mark.parametrize("combinator", ["select", "join", "try_join"])
async def test_an_async_function_given_uncalled_as_a_branch_is_refused_saying_to_call_it(
    combinator: str,
) -> None:
    async def fetch() -> int:
        return 1

    run = getattr(rt, combinator)
    # Before: "branches must be awaitable, got <function ...fetch at 0x...>".
    with pytest.raises(
        TypeError, match=rf"got the function '.*fetch': call it, e\.g\. {combinator}\("
    ):
        await run(fetch, rt.sleep(1))
    assert await run(fetch(), fetch()) in ((0, 1), (1, 1))  # select: either index
