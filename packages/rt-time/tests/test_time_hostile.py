"""A hostile pass on rt.time: what a Tokio, asyncio or trio user might try (see the design
notes, "A hostile pass on time, select and the combinators")."""

from __future__ import annotations

import math
from typing import Any

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
            return rtt.sleep(0.01), iv

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
    with pytest.raises(TypeError, match="takes an rt.time.Instant, got float"):
        now.duration_since(5.0)  # type: ignore[arg-type]
    assert now != now.seconds and now == Instant.now()
    assert sorted([now + 2, now, now + 1]) == [now, now + 1, now + 2]
