"""A ``Sleep.reset()`` made on the waiting task's own thread while its timer is being armed:
what a finalizer run by the cyclic collector at the timer's allocation (or a signal handler on
the main thread) does. The driver's lock is re-entrant, so the reset gets in; it must not be
lost (see the design notes, "Same-thread wake-ups outside rt-sync")."""

from __future__ import annotations

from typing import Any

import pytest

import rt
import rt.time as rtt
from rt.time import Instant
from rt.time._driver import TimeDriver


def _reset_while_arming(
    monkeypatch: pytest.MonkeyPatch, sleep: rtt.Sleep, to: Instant, method: str = "_arm_locked"
) -> list[None]:
    """Make the next timer armed (through ``TimeDriver.<method>``: ``Sleep``'s wait calls
    ``_arm_locked``, ``rt.select``'s branch ``arm``) call ``sleep.reset(to)`` on this thread,
    right after the timer's entry is made (where the collector may run a finalizer); return
    the calls made."""
    original = getattr(TimeDriver, method)
    calls: list[None] = []

    def arm(self: TimeDriver, *args: Any, **kwargs: Any) -> Any:
        entry = original(self, *args, **kwargs)
        if not calls:
            calls.append(None)
            sleep.reset(to)
        return entry

    monkeypatch.setattr(TimeDriver, method, arm)
    return calls


@pytest.mark.rt(start_paused=True)
async def test_a_sleep_reset_to_now_while_its_timer_is_armed_wakes_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = Instant.now()
    sleep = rtt.sleep(3600)
    calls = _reset_while_arming(monkeypatch, sleep, start)
    await sleep
    assert calls, "the reset did not run inside the wait"
    # Time is paused: with the reset lost, the clock jumps to the old deadline, an hour on.
    assert Instant.now() == start


@pytest.mark.rt(start_paused=True)
async def test_a_sleep_reset_later_while_its_timer_is_armed_waits_for_the_new_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = Instant.now()
    sleep = rtt.sleep(10)
    calls = _reset_while_arming(monkeypatch, sleep, start + 20)
    await sleep
    assert calls
    assert Instant.now() == start + 20


@pytest.mark.rt(start_paused=True)
async def test_a_select_branch_sleep_reset_to_now_while_its_timer_is_armed_wins_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = Instant.now()
    sleep = rtt.sleep(3600)
    calls = _reset_while_arming(monkeypatch, sleep, start, "arm")
    index, _ = await rt.select(sleep, rtt.sleep(7200))
    assert calls
    assert index == 0
    assert Instant.now() == start
    assert rtt.statistics().armed_timers == 0
