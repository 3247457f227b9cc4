"""A hostile pass on rt.time: what a Tokio, asyncio or trio user might try (see the design
notes, "A hostile pass on time, select and the combinators")."""

from __future__ import annotations

import pytest

import rt
import rt.time as rtt
from rt.time import Instant, MissedTickBehavior


def test_a_sleep_or_interval_from_another_live_runtime_is_refused_not_left_waiting(
    flavor: str | None,
) -> None:
    other = rt.Runtime(flavor=flavor)
    try:

        async def make() -> tuple[rtt.Sleep, rtt.Interval]:
            iv = rtt.interval(1)
            await iv.tick()  # the next tick is a second away
            return rtt.sleep(60), iv

        foreign, foreign_interval = other.block_on(make())

        async def use() -> None:
            rtt.pause()
            # Before: armed on the other runtime's wheel, which nobody drives (current-thread)
            # or which wakes this task from its own clock: a wait with no end here.
            with pytest.raises(RuntimeError, match="made on another rt runtime"):
                await rtt.timeout(60, foreign)
            with pytest.raises(RuntimeError, match="made on another rt runtime"):
                await rtt.timeout(60, foreign_interval.tick())
            with pytest.raises(RuntimeError, match="made on another rt runtime"):
                await rtt.timeout(60, rt.select(foreign, rtt.sleep(100)))
            assert rtt.statistics().armed_timers == 0

        rt.run(use(), flavor=flavor)
    finally:
        other.shutdown()


@pytest.mark.rt(start_paused=True)
async def test_an_instant_compared_with_a_number_is_a_type_error_not_an_attribute_error() -> None:
    now = Instant.now()
    for op in ("<", "<=", ">", ">="):
        with pytest.raises(TypeError, match="not supported between instances of 'Instant'"):
            eval(f"now {op} 5.0", {"now": now})
    with pytest.raises(TypeError, match=r"takes an rt\.time\.Instant, got float"):
        now.duration_since(5.0)  # type: ignore[arg-type]
    assert now != now.seconds and now == Instant.now()
    assert sorted([now + 2, now, now + 1]) == [now, now + 1, now + 2]


@pytest.mark.rt(start_paused=True)
async def test_nested_timeouts_with_one_deadline_raise_elapsed_from_the_outer_only() -> None:
    # trio's rule: the outermost expired scope catches; the inner one lets rt.Cancelled pass
    # (an outer cancellation is never turned into Elapsed), though both timers fired.
    seen: list[str] = []
    outer = rtt.timeout(1)
    with pytest.raises(rtt.Elapsed), outer:
        try:
            with rtt.timeout_at(outer.deadline or Instant.now()) as inner:
                await rtt.sleep(10)
        except rt.Cancelled:
            seen.append("cancelled")
            raise
    assert seen == ["cancelled"] and outer.expired and inner.expired


@pytest.mark.rt(start_paused=True)
async def test_a_timeout_around_a_shielded_scope_lets_it_finish_then_raises_at_a_checkpoint() -> (
    None
):
    start = Instant.now()
    done: list[float] = []
    with pytest.raises(rtt.Elapsed), rtt.timeout(1) as t:
        with rt.CancelScope(shield=True):
            await rtt.sleep(5)
            done.append(start.elapsed())
        assert t.expired
        await rtt.sleep(0)  # the first checkpoint outside the shield
    assert done == [5.0]


@pytest.mark.rt(start_paused=True)
async def test_work_finishing_exactly_at_the_deadline_keeps_its_value() -> None:
    async def work() -> str:
        await rtt.sleep(1)
        return "done"

    # The timeout's timer is armed (and fires) first; the work's wait had fired already, so
    # its value is returned rather than thrown away for an Elapsed.
    assert await rtt.timeout(1, work()) == "done"
    assert await rt.select(work(), rtt.sleep(1)) == (0, "done")


@pytest.mark.rt(start_paused=True)
@pytest.mark.parametrize(
    ("behavior", "expected"),
    [
        (MissedTickBehavior.BURST, [0, 1, 2, 3, 4]),
        (MissedTickBehavior.DELAY, [0, 1, 3.5, 6, 8.5]),
        (MissedTickBehavior.SKIP, [0, 1, 3, 6, 8]),
    ],
)
async def test_missed_ticks_with_a_consumer_always_slower_than_the_period_match_tokio(
    behavior: MissedTickBehavior, expected: list[float]
) -> None:
    start = Instant.now()
    iv = rtt.interval(1, missed_tick_behavior=behavior)
    ticks = []
    for _ in range(5):
        ticks.append((await iv.tick()) - start)
        await rtt.sleep(2.5)  # 2.5 periods of work per tick
    assert ticks == expected


@pytest.mark.rt(start_paused=True)
async def test_bad_interval_periods_are_refused_with_what_to_pass() -> None:
    for bad in (0, -1, 0.0, -0.0, float("inf")):
        with pytest.raises(ValueError, match="positive, finite period"):
            rtt.interval(bad)
    with pytest.raises(ValueError, match="NaN"):
        rtt.interval(float("nan"))
    with pytest.raises(TypeError, match="int or float, got bool"):
        rtt.interval(True)
    with pytest.raises(ValueError, match="not a valid MissedTickBehavior"):
        rtt.interval(1, missed_tick_behavior="bogus")  # type: ignore[arg-type]
    tiny = rtt.interval(1e-9)  # one nanosecond: valid, and ticks
    first = await tiny.tick()
    assert (await tiny.tick()) - first == 1e-9


@pytest.mark.rt(start_paused=True)
async def test_timeout_refuses_a_non_awaitable_at_the_call_saying_what_it_takes() -> None:
    # Before: the coroutine returned, once awaited, failed with Python's "object int can't be
    # used in 'await' expression" (and unawaited, it was "never awaited").
    for bad in (5, None.__class__, print):
        with pytest.raises(TypeError, match="takes an awaitable to bound"):
            rtt.timeout(1, bad)  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="takes an awaitable to bound"):
            rtt.timeout_at(Instant.now() + 1, bad)  # type: ignore[call-overload]

    async def job() -> int:
        return 3

    h = rt.spawn(job())
    assert await rtt.timeout(1, h) == 3  # other awaitables still work
    start = Instant.now()
    await rtt.timeout(1, rtt.sleep(0.5))
    assert Instant.now() - start == 0.5


async def test_timeout_given_an_async_function_uncalled_says_to_call_it() -> None:
    async def fetch() -> int:
        return 1

    # Before: "... got <function ...fetch at 0x...>; call it with the deadline alone for a
    # with block", which points at the wrong fix.
    with pytest.raises(TypeError, match=r"got the function '.*fetch': call it, e\.g\. "):
        rtt.timeout(1, fetch)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"rt\.time\.timeout_at\(\.\.\., .*fetch\(\)\)"):
        rtt.timeout_at(Instant.now() + 1, fetch)  # type: ignore[call-overload]
    assert await rtt.timeout(1, fetch()) == 1


@pytest.mark.rt(start_paused=True)
async def test_an_interval_ticked_by_two_tasks_at_once_names_the_interval() -> None:
    iv = rtt.interval(1)
    await iv.tick()
    first = rt.spawn(iv.tick())
    while rtt.statistics().armed_timers == 0:
        await rt.yield_now()
    # Before: "this rt.time.Sleep is already awaited by another task", a Sleep the caller
    # never made.
    with pytest.raises(RuntimeError, match="Interval is already ticking in another task"):
        await iv.tick()
    got = await first  # the first task got its tick; the next one is a period later
    assert (await iv.tick()) - got == 1.0
