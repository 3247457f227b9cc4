"""sleep, Instant, timeout, interval, paused time: deterministic on paused time."""

from __future__ import annotations

import math
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

import rt
import rt.lowlevel
import rt.time as rtt
from rt.time import Elapsed, Instant, MissedTickBehavior
from rt.time._driver import TimeDriver

T = TypeVar("T")


def approx(expected: object) -> object:
    """Paused time is exact up to float rounding of monotonic seconds (about 1e-12 s)."""
    return pytest.approx(expected, abs=1e-9)


def run_paused(main: Coroutine[Any, Any, T], flavor: str | None = None) -> T:
    async def wrapper() -> T:
        rtt.pause()
        return await main

    return rt.run(wrapper(), flavor=flavor)


def test_rt_sleep_is_rt_time_sleep() -> None:
    assert rt.sleep is rtt.sleep


@pytest.mark.rt(start_paused=True)
async def test_paused_sleeps_wake_in_deadline_order_with_exact_clock() -> None:
    start = Instant.now()
    order: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await rtt.sleep(seconds)
        order.append((name, Instant.now() - start))

    async with rt.TaskGroup() as tg:
        tg.spawn(sleeper("hour", 3600))
        tg.spawn(sleeper("ms", 0.001))
        tg.spawn(sleeper("minute", 60))
        tg.spawn(sleeper("day", 86400))
    assert [name for name, _ in order] == ["ms", "minute", "hour", "day"]
    assert [t for _, t in order] == approx([0.001, 60, 3600, 86400])


@pytest.mark.rt(start_paused=True)
async def test_timers_due_in_one_poll_fire_in_deadline_order() -> None:
    # Three deadlines inside one tick of the wheel, armed latest first; one advance makes them
    # all due at once. On the current-thread flavor woken tasks run in the order they were
    # woken, so the order they run in is the order the timers fired in.
    order: list[int] = []
    started = 0

    async def sleeper(n: int) -> None:
        nonlocal started
        started += 1
        await rtt.sleep(1 + n * 0.0001)
        order.append(n)

    async with rt.TaskGroup() as tg:
        for n in (3, 2, 1):
            tg.spawn(sleeper(n))
        while started < 3:
            await rt.yield_now()
        await rtt.advance(2)
    if rt.Handle.current().metrics().flavor == "current_thread":
        assert order == [1, 2, 3]
    else:
        assert sorted(order) == [1, 2, 3]


async def test_sleep_never_returns_before_its_deadline_on_the_real_clock() -> None:
    out = []
    for d in (0.0002, 0.001, 0.003):
        t0 = Instant.now()
        await rtt.sleep(d)
        out.append(t0.elapsed() - d)
    result = out
    assert all(early >= -1e-9 for early in result)


async def test_negative_sleep_is_a_checkpoint_and_bad_values_are_rejected() -> None:
    await rtt.sleep(-5)
    with pytest.raises(ValueError, match="NaN"):
        await rtt.sleep(math.nan)
    with pytest.raises(TypeError, match="seconds"):
        await rtt.sleep("1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bool"):
        await rtt.sleep(True)


async def test_an_aborted_sleep_disarms_its_timer_at_once() -> None:
    from rt.lowlevel import current_driver

    driver = current_driver("time")
    assert isinstance(driver, TimeDriver)
    before = driver.armed()

    async def hour() -> None:
        await rtt.sleep(3600)

    sleeper = rt.spawn(hour())
    while driver.armed() == before:  # until the sleeper (maybe on another worker) arms it
        await rt.yield_now()
    assert driver.armed() == before + 1
    sleeper.abort()
    with pytest.raises(rt.JoinError) as info:
        await sleeper
    assert info.value.is_cancelled()
    assert driver.armed() == before


def test_sleep_outside_runtime_or_without_time_driver_says_what_to_do(flavor: str | None) -> None:
    with pytest.raises(RuntimeError, match=r"rt\.run"):
        rtt.sleep(1)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="enable_time"):
            await rtt.sleep(1)

    rt.run(main(), enable_time=False, flavor=flavor)


def test_instant_arithmetic_and_ordering() -> None:
    a = Instant(10.0)
    b = a + 2.5
    assert b - a == 2.5 and (b - 0.5) == Instant(12.0)
    assert a < b and b >= a and a != b and hash(Instant(1.0)) == hash(Instant(1.0))
    assert b.duration_since(a) == 2.5 and a.duration_since(b) == 0.0


@pytest.mark.rt(start_paused=True)
async def test_sleep_until_an_instant() -> None:
    start = Instant.now()
    await rtt.sleep_until(start + 42)
    result = Instant.now() - start
    assert result == approx(42.0)


@pytest.mark.rt(start_paused=True)
async def test_timeout_returns_the_value_when_in_time() -> None:
    async def work() -> str:
        await rtt.sleep(1)
        return "done"

    result = await rtt.timeout(5, work())
    assert result == "done"


@pytest.mark.rt(start_paused=True)
async def test_timeout_cancels_the_work_runs_its_finally_and_raises_elapsed() -> None:
    log: list[str] = []

    async def work() -> None:
        try:
            await rtt.sleep(10)
        except rt.Cancelled:
            log.append("cancelled")
            raise
        finally:
            log.append("finally")

    start = Instant.now()
    with pytest.raises(Elapsed) as info:
        await rtt.timeout(2, work())
    assert isinstance(info.value, TimeoutError)
    result = Instant.now() - start
    assert result == approx(2.0)
    assert log == ["cancelled", "finally"]


@pytest.mark.rt(start_paused=True)
async def test_timeout_as_with_block_and_async_with() -> None:
    out = []
    with pytest.raises(Elapsed), rtt.timeout(1):
        await rtt.sleep(2)
        out.append("not reached")
    async with rtt.timeout(3) as t:
        await rtt.sleep(2)
        out.append("in time")
    assert not t.expired
    with pytest.raises(Elapsed):
        async with rtt.timeout_at(Instant.now() + 1):
            await rtt.sleep(5)
    assert out == ["in time"]


@pytest.mark.rt(start_paused=True)
async def test_expired_timeout_still_returns_work_that_never_checkpoints() -> None:
    async def instant() -> int:
        return 7

    result = await rtt.timeout(0, instant())
    assert result == 7


@pytest.mark.rt(start_paused=True)
async def test_outer_cancellation_is_never_turned_into_elapsed() -> None:
    # Both the deadline and the outer scope fire at t=1: the outer cancellation wins, so the
    # outer scope catches rt.Cancelled instead of Elapsed escaping it.
    with rt.CancelScope() as outer:

        async def cancel_at_deadline() -> None:
            await rtt.sleep(1)
            outer.cancel()

        rt.spawn(cancel_at_deadline())
        await rt.yield_now()  # its timer is armed first, so it fires first at t=1
        t = rtt.timeout(1)
        with t:
            await rtt.sleep(5)
    result = outer.cancelled_caught, t.expired
    assert result == (True, True)


@pytest.mark.rt(start_paused=True)
async def test_cancelled_timeouts_free_their_timers_at_once() -> None:
    async def quick() -> int:
        return 1

    counts = []
    for _ in range(1000):
        await rtt.timeout(60, quick())
    counts.append(rtt.statistics().armed_timers)
    with rt.CancelScope() as scope:
        scope.cancel()
        await rtt.sleep(100)
    counts.append(rtt.statistics().armed_timers)
    assert counts == [0, 0]


@pytest.mark.rt(start_paused=True)
async def test_interval_first_tick_is_immediate_then_every_period() -> None:
    start = Instant.now()
    iv = rtt.interval(2)
    result = [(await iv.tick()) - start for _ in range(4)]
    assert result == approx([0.0, 2.0, 4.0, 6.0])


@pytest.mark.parametrize(
    ("behavior", "expected"),
    [
        # ticks 0 and 1 on time, then the consumer is late by 3.5 periods
        (MissedTickBehavior.BURST, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        (MissedTickBehavior.DELAY, [0.0, 1.0, 2.0, 5.5, 6.5, 7.5, 8.5]),
        (MissedTickBehavior.SKIP, [0.0, 1.0, 2.0, 5.0, 6.0, 7.0, 8.0]),
    ],
)
@pytest.mark.rt(start_paused=True)
async def test_missed_tick_behaviors_match_tokio(
    behavior: MissedTickBehavior, expected: list[float]
) -> None:
    start = Instant.now()
    iv = rtt.interval(1, missed_tick_behavior=behavior)
    ticks = [await iv.tick(), await iv.tick()]
    await rtt.sleep(3.5)  # the consumer falls behind: "now" is 4.5
    for _ in range(5):
        ticks.append(await iv.tick())
    result = [t - start for t in ticks]
    assert result == approx(expected)


def test_interval_tick_is_cancel_safe(flavor: str | None) -> None:
    # A tick cancelled by a timeout does not consume the tick at 10.
    async def main2() -> float:
        start = Instant.now()
        iv = rtt.interval(10)
        await iv.tick()
        with pytest.raises(Elapsed):
            await rtt.timeout(1, iv.tick())
        return (await iv.tick()) - start

    assert run_paused(main2(), flavor=flavor) == approx(10.0)


def test_interval_reset_and_bad_period(flavor: str | None) -> None:
    async def main() -> float:
        start = Instant.now()
        iv = rtt.interval(5)
        await iv.tick()
        await rtt.sleep(3)
        iv.reset()
        return (await iv.tick()) - start

    assert run_paused(main(), flavor=flavor) == approx(8.0)

    async def bad() -> None:
        for p in (0, -1, math.inf):
            with pytest.raises(ValueError, match="period"):
                rtt.interval(p)

    rt.run(bad(), flavor=flavor)


@pytest.mark.rt(start_paused=True)
async def test_advance_moves_paused_time_and_wakes_due_sleepers() -> None:
    log = []

    async def sleeper() -> None:
        await rtt.sleep(5)
        log.append("woke")

    h = rt.spawn(sleeper())
    await rt.yield_now()
    await rtt.advance(4)
    log.append("advanced 4")
    await rtt.advance(1)
    await h
    assert log == ["advanced 4", "woke"]


async def test_pause_resume_and_misuse_errors() -> None:
    with pytest.raises(RuntimeError, match="pause"):
        await rtt.advance(1)
    rtt.pause()
    assert rtt.is_paused()
    with pytest.raises(RuntimeError, match="already paused"):
        rtt.pause()
    with pytest.raises(ValueError, match="back in time"):
        await rtt.advance(-1)
    frozen = Instant.now()
    await rtt.advance(10)
    assert Instant.now() - frozen == approx(10.0)
    rtt.resume()
    assert not rtt.is_paused()
    with pytest.raises(RuntimeError, match="not paused"):
        rtt.resume()
    await rtt.sleep(0.001)  # the real clock runs again


def test_auto_advance_waits_for_blocking_jobs_in_flight(flavor: str | None) -> None:
    release = threading.Event()

    async def main() -> tuple[float, list[str]]:
        start = Instant.now()
        log: list[str] = []

        async def sleeper() -> None:
            await rtt.sleep(10)
            log.append("sleeper")

        h = rt.spawn(sleeper())

        def job() -> str:
            release.wait()
            return "job"

        blocking = rt.spawn_blocking(job)
        await rt.yield_now()
        threading.Thread(target=release.set).start()
        log.append(await blocking)
        elapsed = Instant.now() - start
        await h
        return elapsed, log

    elapsed, log = run_paused(main(), flavor=flavor)
    assert elapsed == 0.0
    assert log == ["job", "sleeper"]


@pytest.mark.rt(start_paused=True)
async def test_an_hour_of_paused_sleeps_across_many_tasks() -> None:
    done = 0

    async def worker(i: int) -> None:
        nonlocal done
        for _ in range(60):
            await rtt.sleep(1 + i % 7)
        done += 1

    async with rt.TaskGroup() as tg:
        for i in range(100):
            tg.spawn(worker(i))
    assert done == 100


@pytest.mark.rt(start_paused=True, flavor="current_thread")
async def test_advancing_exactly_to_a_deadline_fires_it_despite_float_drift() -> None:
    # Paused-clock arithmetic in float seconds drifts by a few ulps per step; a deadline the
    # clock lands on exactly must still count as reached (a multi-thread run hung on this).
    misses = 0
    for i in range(300):
        step = (0.1, 9.5, 1.0, 0.3, 0.7, 5.0)[i % 6] + i * 1e-4
        deadline = Instant.now() + step
        fired: list[int] = []

        async def sleeper(deadline: Instant = deadline, fired: list[int] = fired) -> None:
            await rtt.sleep_until(deadline)
            fired.append(1)

        h = rt.spawn(sleeper())
        await rt.yield_now()  # the timer is armed
        await rtt.advance(step)
        await rt.yield_now()  # the woken sleeper has run
        misses += not fired
        await h
    assert misses == 0


def test_paused_auto_advance_on_workers_never_runs_past_a_woken_tasks_next_deadline() -> None:
    # Worker B, idle, decides to jump the clock while worker A has just taken a timer whose
    # task (about to reset a deadline and sleep again) is not rescheduled yet: the jump must
    # wait for that task, or its next sleep starts seconds late.
    async def scenario() -> list[float]:
        rtt.pause()
        start = Instant.now()
        s = rtt.sleep(10)
        woke: list[float] = []

        async def waiter() -> None:
            await s
            woke.append(Instant.now() - start)

        h = rt.spawn(waiter())
        await rtt.sleep(1)
        s.reset(start + 4)
        await rtt.sleep(1)
        s.reset(start + 30)
        await h
        return woke

    results = [rt.run(scenario(), flavor="multi_thread", worker_threads=2) for _ in range(100)]
    assert [r for r in results if r != [30.0]] == []


async def test_timeout_refused_by_a_shut_down_timer_driver_leaves_no_scope_entered() -> None:
    driver = rt.lowlevel.current_driver("time")
    assert isinstance(driver, TimeDriver)
    with rt.CancelScope() as outer:
        driver._closed = True  # as after the runtime shut its timer driver down
        try:
            with pytest.raises(RuntimeError, match="shut down"), rtt.timeout(5):
                pass  # pragma: no cover - the block is never entered
        finally:
            driver._closed = False
        # The refused block's scope is gone: cancelling the outer scope reaches this task,
        # and the outer block exits in order (a leftover inner scope would misnest it).
        outer.cancel()
        await rt.lowlevel.checkpoint()
        raise AssertionError("the outer scope's cancellation did not arrive")
    assert outer.cancelled_caught
