"""Integer-nanosecond time: paused arithmetic is exact, bad durations are refused, and a
coroutine an API refuses to run is closed (issue 26, items 2 and 3)."""

from __future__ import annotations

import gc
import math
import warnings
from collections.abc import Coroutine, Iterator
from fractions import Fraction
from typing import Any

import pytest

import rt
import rt.time as rtt
from rt.time import Instant
from rt.time._clock import NS_PER_S, duration_ns
from rt.time._driver import TimeDriver

# Durations where float seconds used to drift below themselves, and a spread of others.
DURATIONS = [
    0.1,
    0.2,
    0.3,
    0.7,
    1000,
    1000.0,
    999.9999999999999,
    1e-9,
    1.5e-9,
    3e-7,
    0.001,
    0.0999,
    1 / 3,
    2 / 3,
    1.1,
    2.675,
    86400.000001,
    123456.789,
    1e6 + 0.1,
    5e8 + 0.3,
]


@pytest.mark.rt(start_paused=True)
@pytest.mark.parametrize("d", DURATIONS)
async def test_paused_sleep_then_elapsed_is_never_below_the_duration(d: float) -> None:
    for _ in range(5):  # from clock readings that are not round numbers, too
        start = Instant.now()
        await rtt.sleep(d)
        assert start.elapsed() >= d
        assert Instant.now() - start >= d


@pytest.mark.rt(start_paused=True)
async def test_elapsed_is_never_below_the_sleep_at_any_clock_magnitude() -> None:
    for clock_at in (0.3, 86400.123, 1e7 + 0.7, 4e9 + 0.1):
        await rtt.advance(clock_at)
        for d in DURATIONS:
            start = Instant.now()
            await rtt.sleep(d)
            assert start.elapsed() >= d, (clock_at, d)
            assert Instant.now() - start >= d, (clock_at, d)


@pytest.mark.rt(start_paused=True)
async def test_paused_sleeps_land_exactly_on_the_deadline_they_asked_for() -> None:
    start = Instant.now()
    for _ in range(1000):
        await rtt.sleep(0.1)
    assert Instant.now() == start + 100
    assert Instant.now() - start == 100.0


@pytest.mark.rt(start_paused=True)
async def test_sleep_until_an_instant_wakes_exactly_at_it() -> None:
    start = Instant.now()
    for d in DURATIONS:
        target = Instant.now() + d
        await rtt.sleep_until(target)
        assert Instant.now() == target
    assert Instant.now() > start


def test_duration_ns_is_the_least_nanosecond_count_not_below_the_float() -> None:
    for d in [*DURATIONS, 4.4e6 + 0.123456789, 4.6e9, 1e-12]:
        n = duration_ns(d)
        assert n / NS_PER_S >= d, d
        if n < 1 << 52:  # the least such count; beyond, the exact ceiling of d * 1e9
            assert n == 1 or (n - 1) / NS_PER_S < d, d
        else:
            assert n - 1 < Fraction(d) * NS_PER_S <= n, d


def test_instant_arithmetic_and_comparisons_are_exact() -> None:
    a = Instant(12345.678901234)
    for d in DURATIONS:
        b = a + d
        assert b - a >= d
        assert b > a and b >= a and a < b and a <= b and a != b
        assert (b - d) <= a  # at least d back, so never after a
        assert b - a == b.duration_since(a)
    c = a + 0.1 + 0.2
    assert c == a + 0.1 + 0.2 and hash(c) == hash(a + 0.1 + 0.2)
    assert (a + 1e-9) - a == 1e-9
    with pytest.raises(ValueError, match="finite"):
        a + math.inf
    with pytest.raises(ValueError, match="NaN"):
        a - math.nan


@pytest.mark.rt(start_paused=True)
@pytest.mark.parametrize("clock_at", [0, 12345.678901, 1e7 + 0.3, 4e9 + 0.7])
async def test_interval_reset_immediately_then_next_tick_is_ready_exactly_on_time(
    clock_at: float,
) -> None:
    # With float seconds, whether 0.401 + 0.3 landed on the clock's reading depended on the
    # clock's magnitude: try several.
    await rtt.advance(clock_at)
    start = Instant.now()
    iv = rtt.interval(0.3)
    assert await iv.tick() == start
    await rtt.sleep(0.401)
    iv.reset_immediately()
    assert (await iv.tick()) - start == 0.401
    await rtt.sleep_until(start + 0.701)
    before = Instant.now()
    scheduled = await iv.tick()  # due at 401 ms + 300 ms: ready now, no clock movement
    assert Instant.now() == before
    assert scheduled == start + 0.401 + 0.3 and scheduled <= before


@pytest.mark.rt(start_paused=True)
@pytest.mark.parametrize("bad", [math.inf, 1e300, math.nan, -1, -1e-9, -math.inf, 10**400])
async def test_advance_refuses_infinite_huge_nan_and_negative_durations(bad: float) -> None:
    before = Instant.now()
    with pytest.raises(ValueError, match=r"rt\.time\.advance"):
        await rtt.advance(bad)
    assert Instant.now() == before
    await rtt.sleep(1)  # time still works afterwards
    assert Instant.now() - before == 1.0


@pytest.mark.rt(start_paused=True)
async def test_advance_by_zero_and_by_the_largest_duration_are_accepted() -> None:
    before = Instant.now()
    await rtt.advance(0)
    await rtt.advance(0.1)
    assert Instant.now() - before == 0.1
    await rtt.advance(100 * 365 * 86400)
    await rtt.sleep(2)
    assert Instant.now() - before >= 100 * 365 * 86400 + 2.1


@pytest.fixture
def no_never_awaited_warning() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    never = [w for w in caught if "never awaited" in str(w.message)]
    assert never == []


async def _work() -> int:
    return 1


def _assert_closed(coro: Coroutine[Any, Any, Any]) -> None:
    assert getattr(coro, "cr_frame", None) is None, "the coroutine was left unclosed"


@pytest.mark.usefixtures("no_never_awaited_warning")
@pytest.mark.rt
@pytest.mark.parametrize("bad", [math.nan, "1", None, True])
async def test_timeout_with_bad_seconds_closes_the_coroutine_it_refused(bad: object) -> None:
    coro = _work()
    with pytest.raises((ValueError, TypeError)):
        rtt.timeout(bad, coro)  # type: ignore[call-overload]
    _assert_closed(coro)


@pytest.mark.usefixtures("no_never_awaited_warning")
@pytest.mark.rt
@pytest.mark.parametrize("bad", [math.nan, math.inf, "soon"])
async def test_timeout_at_with_a_bad_deadline_closes_the_coroutine_it_refused(
    bad: object,
) -> None:
    coro = _work()
    with pytest.raises((ValueError, TypeError)):
        rtt.timeout_at(bad, coro)  # type: ignore[call-overload]
    _assert_closed(coro)


@pytest.mark.usefixtures("no_never_awaited_warning")
def test_timeout_without_a_timer_driver_closes_the_coroutine_it_refused(flavor: str | None) -> None:
    coros: list[Coroutine[Any, Any, Any]] = []

    async def main() -> None:
        coro = _work()
        coros.append(coro)
        with pytest.raises(RuntimeError, match="enable_time"):
            await rtt.timeout(1, coro)
        coro = _work()
        coros.append(coro)
        with pytest.raises(RuntimeError, match="enable_time"):
            await rtt.timeout_at(Instant(1.0), coro)

    rt.run(main(), enable_time=False, flavor=flavor)
    for coro in coros:
        _assert_closed(coro)


@pytest.mark.usefixtures("no_never_awaited_warning")
@pytest.mark.rt(start_paused=True)
async def test_timeout_of_infinity_or_centuries_sets_no_limit() -> None:
    for limit in (math.inf, 1e300):
        async with rtt.timeout(limit) as t:
            await rtt.sleep(3600)
        assert t.deadline is None and not t.expired
    assert await rtt.timeout(math.inf, _work()) == 1


@pytest.mark.rt(start_paused=True)
async def test_sleep_until_float_seconds_wakes_with_the_clock_not_below_them() -> None:
    # A float deadline (monotonic seconds, as a Db that stores float expiry times has) rounds
    # up: once woken, reading the clock as float seconds never gives less than it.
    for d in DURATIONS:
        target = Instant.now().seconds + d
        await rtt.sleep_until(target)
        assert Instant.now().seconds >= target
    target = Instant.now().seconds + 0.3
    with pytest.raises(rtt.Elapsed), rtt.timeout_at(target):
        await rtt.sleep(1)
    assert Instant.now().seconds >= target


@pytest.mark.rt(start_paused=True)
async def test_a_timeout_built_directly_takes_seconds_or_a_deadline() -> None:
    start = Instant.now()
    with pytest.raises(rtt.Elapsed), rtt.Timeout(seconds=0.5):
        await rtt.sleep(1)
    assert Instant.now() - start == 0.5
    with pytest.raises(rtt.Elapsed):
        async with rtt.Timeout(deadline=start + 2):
            await rtt.sleep(5)
    assert Instant.now() - start == 2.0


async def test_the_driver_refuses_a_deadline_in_float_seconds() -> None:
    # Other distributions arm timers on the same wheel: a deadline in the old unit (float
    # seconds) must fail loudly, not fire at once.
    from rt.lowlevel import current_driver

    driver = current_driver("time")
    assert isinstance(driver, TimeDriver)
    with pytest.raises(TypeError, match="integer nanoseconds"):
        driver.arm(driver.clock.now() + 1.0, callback=lambda: None)
    entry = driver.arm(driver.clock.now_ns() + NS_PER_S, callback=lambda: None)
    assert entry is not None and driver.cancel(entry)


@pytest.mark.rt(start_paused=True)
async def test_an_int_too_large_for_a_float_counts_as_infinite_seconds() -> None:
    # sleep(10**400) sleeps for ever (as sleep(math.inf)): the timeout ends it
    start = Instant.now()
    with pytest.raises(rtt.Elapsed), rtt.timeout(3600):
        await rtt.sleep(10**400)
    assert Instant.now() - start == 3600
    await rtt.sleep(-(10**400))  # no wait, as any negative duration
    with pytest.raises(ValueError, match="finite"):
        Instant(10**400)
    with pytest.raises(ValueError, match="finite"):
        rtt.interval(10**400)


@pytest.mark.rt(start_paused=True)
async def test_an_int_too_long_to_print_is_refused_naming_its_size() -> None:
    # Python will not turn an int of more than 4,300 digits into a string: the error message
    # describes it instead of failing in its own repr with an unrelated ValueError.
    huge = 10**5000
    now = Instant.now()
    for refuse in (
        lambda: Instant(huge),
        lambda: now + huge,
        lambda: now - huge,
        lambda: rtt.interval(huge),
        lambda: rtt.sleep_until(huge),
    ):
        with pytest.raises(ValueError, match=r"finite.*an int of about 10\*\*5000"):
            refuse()
    with pytest.raises(ValueError, match=r"rt\.time\.advance.*an int of about 10\*\*5000"):
        await rtt.advance(huge)
    with pytest.raises(ValueError, match=r"back in time \(an int of about 10\*\*5000\)"):
        await rtt.advance(-huge)
