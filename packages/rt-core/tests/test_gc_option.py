"""Runtime(gc=...): the opt-in tuning of the cyclic collector, undone at shutdown."""

from __future__ import annotations

import gc

import pytest

import rt


async def _collector_state() -> tuple[tuple[int, ...], int]:
    return gc.get_threshold(), gc.get_freeze_count()


def test_gc_freeze_freezes_the_heap_and_raises_the_young_threshold_until_shutdown(
    flavor: str | None,
) -> None:
    before = gc.get_threshold()
    with rt.Runtime(flavor=flavor, gc="freeze") as runtime:
        thresholds, frozen = runtime.block_on(_collector_state())
    assert thresholds == (50_000, *before[1:])
    assert frozen > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_gc_thresholds_apply_while_the_runtime_runs_and_are_restored(flavor: str | None) -> None:
    before = gc.get_threshold()
    runtime = rt.Runtime(flavor=flavor, gc=(10_000, 15))
    try:
        thresholds, frozen = runtime.block_on(_collector_state())
    finally:
        runtime.shutdown()
    assert thresholds == (10_000, 15, before[2])
    assert frozen == 0
    assert gc.get_threshold() == before
    runtime.shutdown()  # again: nothing more to restore
    assert gc.get_threshold() == before


def test_gc_tasks_still_run_and_collect_their_cycles_under_freeze(flavor: str | None) -> None:
    async def child(i: int) -> int:
        return i

    async def main() -> int:
        handles = [rt.spawn(child(i)) for i in range(1000)]
        return sum([await h for h in handles])

    assert rt.run(main(), flavor=flavor, gc="freeze") == sum(range(1000))
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("bad", ["off", (), (1, 2, 3, 4), (-1,), (True,), ("700",)])
def test_gc_refuses_an_unknown_setting_naming_the_accepted_ones(bad: object) -> None:
    before = gc.get_threshold()
    with pytest.raises(ValueError, match=r"gc must be None .* 'freeze', or a tuple of 1 to 3"):
        rt.Runtime(gc=bad)
    assert gc.get_threshold() == before


@pytest.mark.parametrize("bad", [[700], 700])
def test_gc_refuses_a_setting_of_the_wrong_type(bad: object) -> None:
    with pytest.raises(ValueError, match=r"gc must be None"):
        rt.Runtime(gc=bad)
