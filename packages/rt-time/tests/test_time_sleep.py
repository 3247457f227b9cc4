"""The ``Sleep`` object and ``Interval``'s resets (Tokio's API, issue 26)."""

from __future__ import annotations

import math
from typing import Any

import pytest

import rt
import rt.time as rtt
from rt.time import Instant, Sleep


@pytest.mark.rt(start_paused=True)
async def test_sleep_returns_a_sleep_with_its_deadline_and_elapsed_state() -> None:
    start = Instant.now()
    s = rtt.sleep(5)
    assert isinstance(s, Sleep)
    assert s.deadline == start + 5
    assert not s.is_elapsed()
    await s
    assert s.is_elapsed() and Instant.now() == start + 5
    await s  # an elapsed sleep is ready at once
    assert Instant.now() == start + 5
    assert rtt.sleep(math.inf).deadline is None
    assert rtt.sleep_until(start + 9).deadline == start + 9


@pytest.mark.rt(start_paused=True)
async def test_sleep_deadline_counts_from_its_creation_as_in_tokio() -> None:
    start = Instant.now()
    s = rtt.sleep(2)
    await rtt.sleep(1)
    await s
    assert Instant.now() - start == 2.0


@pytest.mark.rt(start_paused=True)
async def test_reset_moves_the_deadline_even_after_it_elapsed() -> None:
    start = Instant.now()
    s = rtt.sleep(1)
    await s
    s.reset(start + 3)
    assert not s.is_elapsed() and s.deadline == start + 3
    await s
    assert Instant.now() - start == 3.0


@pytest.mark.rt(start_paused=True)
async def test_reset_moves_a_sleep_another_task_is_waiting_on() -> None:
    start = Instant.now()
    s = rtt.sleep(10)
    woke: list[float] = []

    async def waiter() -> None:
        await s
        woke.append(Instant.now() - start)

    h = rt.spawn(waiter())
    await rtt.sleep(1)
    s.reset(start + 4)  # later than now, earlier than 10
    await rtt.sleep(1)
    s.reset(start + 30)  # later still
    await h
    assert woke == [30.0]
    assert rtt.statistics().armed_timers == 0


@pytest.mark.rt(start_paused=True)
async def test_reset_gives_a_sleep_without_end_that_a_task_waits_on_a_deadline() -> None:
    start = Instant.now()
    s = rtt.sleep(math.inf)
    h = rt.spawn(_await(s))
    await rtt.sleep(1)
    assert not h.is_finished()
    s.reset(start + 5)
    await h
    assert Instant.now() - start == 5.0


@pytest.mark.rt(start_paused=True)
async def test_reset_to_a_passed_deadline_wakes_the_waiter_at_once() -> None:
    start = Instant.now()
    s = rtt.sleep(100)
    h = rt.spawn(_await(s))
    await rtt.sleep(1)
    s.reset(start)
    await h
    assert Instant.now() - start == 1.0
    assert rtt.statistics().armed_timers == 0


async def _await(s: Sleep) -> None:
    await s


@pytest.mark.rt(start_paused=True)
async def test_a_cancelled_wait_leaves_the_sleep_reusable_with_the_same_deadline() -> None:
    start = Instant.now()
    s = rtt.sleep(10)
    with pytest.raises(rtt.Elapsed):
        await rtt.timeout(1, _await(s))
    assert rtt.statistics().armed_timers == 0 and s.deadline == start + 10
    await s
    assert Instant.now() - start == 10.0


@pytest.mark.rt(start_paused=True)
async def test_a_sleep_awaited_by_two_tasks_at_once_is_refused() -> None:
    s = rtt.sleep(10)
    h = rt.spawn(_await(s))
    while rtt.statistics().armed_timers == 0:  # until the first waiter is parked on it
        await rt.yield_now()
    with pytest.raises(RuntimeError, match="already awaited"):
        await s
    await h


# current_thread: with workers, auto-advance may jump to the loop's deadline while the other
# branch's task is mid-step on another worker, before it armed its timer (Tokio allows
# paused time on the current-thread runtime only).
@pytest.mark.rt(start_paused=True, flavor="current_thread")
async def test_one_sleep_bounds_a_select_loop_across_many_iterations() -> None:
    # Tokio's pattern: one deadline for the whole loop, a select branch on every pass; each
    # lost race disarms its timer and leaves the deadline where it was.
    start = Instant.now()
    deadline = rtt.sleep(2.55)
    steps = 0
    while True:
        index, _ = await rt.select(deadline, rtt.sleep(0.1))
        if index == 0:
            break
        steps += 1
        assert rtt.statistics().armed_timers <= 1
    assert steps == 25
    assert Instant.now() - start == 2.55
    assert rtt.statistics().armed_timers == 0


@pytest.mark.rt(start_paused=True)
async def test_sleep_of_zero_or_less_is_a_checkpoint_that_is_already_elapsed() -> None:
    start = Instant.now()
    for d in (0, -1, -math.inf):
        s = rtt.sleep(d)
        assert s.is_elapsed()
        await s
    assert Instant.now() == start


def test_sleep_of_zero_runs_without_a_timer_driver(flavor: str | None) -> None:
    async def main() -> bool:
        s = rtt.sleep(0)
        await s
        return s.is_elapsed()

    assert rt.run(main(), enable_time=False, flavor=flavor)


def test_a_sleep_from_a_runtime_that_shut_down_refuses_to_arm(flavor: str | None) -> None:
    async def make() -> Sleep:
        return rtt.sleep(5)

    old = rt.run(make(), flavor=flavor)

    async def use() -> None:
        with pytest.raises(RuntimeError, match="timer driver is shut down"):
            await old
        assert rtt.statistics().armed_timers == 0

    rt.run(use(), flavor=flavor)


@pytest.mark.rt(start_paused=True)
async def test_reset_takes_only_an_instant() -> None:
    s = rtt.sleep(1)
    with pytest.raises(TypeError, match="Instant"):
        s.reset(5)  # type: ignore[arg-type]


@pytest.mark.rt(start_paused=True)
async def test_interval_reset_after_and_reset_at() -> None:
    start = Instant.now()
    iv = rtt.interval(1)
    await iv.tick()
    iv.reset_after(5)
    assert (await iv.tick()) - start == 5.0
    assert (await iv.tick()) - start == 6.0
    iv.reset_at(start + 6.5)
    assert (await iv.tick()) - start == 6.5
    assert (await iv.tick()) - start == 7.5
    iv.reset()
    assert (await iv.tick()) - start == 8.5


@pytest.mark.rt(start_paused=True)
async def test_interval_reset_moves_a_tick_that_is_already_waiting() -> None:
    start = Instant.now()
    iv = rtt.interval(10)
    await iv.tick()
    h = rt.spawn(iv.tick())
    await rtt.sleep(1)
    iv.reset_after(2)  # the waiting tick now fires at 3, not 10
    assert (await h) - start == 3.0
    assert Instant.now() - start == 3.0
    assert (await iv.tick()) - start == 13.0


@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
def test_resets_from_another_thread_racing_a_cancel_never_hang_or_leak_timers(
    flavor: str,
) -> None:
    # A plain thread moves the deadline of a Sleep back and forth (now and then into the past)
    # while its waiter is aborted: the waiter always ends (woken or cancelled), no timer stays
    # armed. sys.setswitchinterval makes the thread switches land mid-operation.
    import sys
    import threading

    async def main() -> tuple[int, int]:
        outcomes = {"woke": 0, "cancelled": 0}
        for round_ in range(200):
            start = Instant.now()
            s = rtt.sleep(3600)

            async def waiter(s: Sleep = s) -> None:
                await s

            h = rt.spawn(waiter())
            stop = threading.Event()

            def mover(
                s: Sleep = s, start: Instant = start, seed: int = round_, stop: Any = stop
            ) -> None:
                i = seed
                while not stop.is_set():
                    i += 1
                    s.reset(start + (3600 if i % 7 else -1))

            t = threading.Thread(target=mover)
            t.start()
            for _ in range(round_ % 5):
                await rt.yield_now()
            h.abort()
            try:
                await h
                outcomes["woke"] += 1
            except rt.JoinError as err:
                assert err.is_cancelled()
                outcomes["cancelled"] += 1
            stop.set()
            t.join()
            assert rtt.statistics().armed_timers == 0
        return outcomes["woke"], outcomes["cancelled"]

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        woke, cancelled = rt.run(main(), flavor=flavor)
    finally:
        sys.setswitchinterval(old)
    assert woke + cancelled == 200


async def test_a_sleep_can_be_spawned_as_a_task_of_its_own() -> None:
    # rt.spawn takes any awaitable, and says so in its type: this line passes mypy --strict.
    handle: rt.JoinHandle[None] = rt.spawn(rtt.sleep(0.001))
    await handle
    assert handle.is_finished()
