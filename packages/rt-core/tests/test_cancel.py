"""CancelScope: level-triggered cancellation, shields, nesting, cross-thread cancel."""

from __future__ import annotations

import threading

import pytest
from rtcore_helpers import Gate

import rt


async def test_cancelled_scope_catches_its_own_cancellation_and_code_continues() -> None:
    log = []
    with rt.CancelScope() as scope:
        scope.cancel()
        log.append("before checkpoint")
        await rt.yield_now()
        log.append("not reached")
    log.append(f"after caught={scope.cancelled_caught}")
    assert log == ["before checkpoint", "after caught=True"]


async def test_cancel_from_another_task_wakes_a_parked_task() -> None:
    gate = Gate()
    with rt.CancelScope() as scope:
        rt.spawn(_cancel(scope))
        await gate.wait()
    result = scope.cancelled_caught and scope.cancel_called
    assert result


async def _cancel(scope: rt.CancelScope) -> None:
    scope.cancel()


async def test_cancel_from_a_plain_thread_wakes_the_task() -> None:
    gate = Gate()
    with rt.CancelScope() as scope:
        t = threading.Thread(target=scope.cancel)
        t.start()
        await gate.wait()
    t.join()
    result = scope.cancelled_caught
    assert result


async def test_shield_protects_from_outer_cancellation_but_not_from_its_own() -> None:
    log = []
    with rt.CancelScope() as outer:
        outer.cancel()
        with rt.CancelScope(shield=True) as inner:
            await rt.yield_now()
            log.append("shielded ran")
            inner.cancel()
            await rt.yield_now()
            log.append("not reached")
        log.append(f"inner caught={inner.cancelled_caught}")
        await rt.yield_now()
        log.append("not reached either")
    log.append(f"outer caught={outer.cancelled_caught}")
    assert log == ["shielded ran", "inner caught=True", "outer caught=True"]


async def test_outer_cancellation_passes_through_an_uncancelled_inner_scope() -> None:
    with rt.CancelScope() as outer, rt.CancelScope() as inner:
        outer.cancel()
        await rt.yield_now()
    result = inner.cancelled_caught, outer.cancelled_caught
    assert result == (False, True)


async def test_task_abort_reaches_through_scopes_but_not_through_shields() -> None:
    log: list[str] = []

    async def worker(started: Gate, gate: Gate) -> None:
        with rt.CancelScope(shield=True):
            started.open()
            await gate.wait()
            log.append("shield finished its wait")
        await rt.yield_now()
        log.append("not reached")

    started, gate = Gate(), Gate()
    h = rt.spawn(worker(started, gate))
    await started.wait()
    h.abort()
    await rt.yield_now()
    gate.open()
    with pytest.raises(rt.JoinError) as info:
        await h
    result = info.value.is_cancelled()
    assert result
    assert log == ["shield finished its wait"]


def test_scope_cannot_be_entered_twice_or_outside_a_task(flavor: str | None) -> None:
    scope = rt.CancelScope()
    with pytest.raises(RuntimeError, match=r"rt\.run"):
        scope.__enter__()

    async def main() -> None:
        s = rt.CancelScope()
        with s:
            pass
        with pytest.raises(RuntimeError, match="only once"), s:
            pass

    rt.run(main(), flavor=flavor)


async def test_cancel_after_exit_does_nothing() -> None:
    with rt.CancelScope() as scope:
        await rt.yield_now()
    scope.cancel()
    await rt.yield_now()
    result = scope.cancelled_caught
    assert result is False


async def test_other_exceptions_pass_through_a_cancelled_scope() -> None:
    with pytest.raises(ValueError), rt.CancelScope() as scope:
        scope.cancel()
        raise ValueError("kept")


async def test_shield_can_be_toggled_while_inside() -> None:
    log = []
    with rt.CancelScope() as outer, rt.CancelScope(shield=True) as inner:
        outer.cancel()
        await rt.yield_now()
        log.append("shielded")
        inner.shield = False
        await rt.yield_now()
        log.append("not reached")
    log.append(f"caught={outer.cancelled_caught}")
    assert log == ["shielded", "caught=True"]


def test_a_shield_that_is_not_a_bool_is_refused_at_construction_and_assignment() -> None:
    # (the compiled build refuses it at the call, with mypyc's own TypeError)
    with pytest.raises(TypeError, match=r"shield must be True or False, got 'no'|bool object"):
        rt.CancelScope(shield="no")  # type: ignore[arg-type]
    scope = rt.CancelScope()
    with pytest.raises(TypeError, match=r"shield must be True or False, got 1|bool object"):
        scope.shield = 1  # type: ignore[assignment]
    assert scope.shield is False
    scope.shield = True
    assert scope.shield is True


async def test_a_task_aborted_while_suspended_at_a_checkpoint_is_cancelled_at_that_await() -> None:
    from rt.lowlevel import checkpoint

    log: list[str] = []

    async def spinner() -> None:
        try:
            while True:
                await checkpoint()
                log.append("step")
        except rt.Cancelled:
            log.append("cancelled at the checkpoint")
            raise
        finally:
            log.append("finally")

    h = rt.spawn(spinner())
    while not log:  # it has run one step and is suspended at its checkpoint again
        await rt.yield_now()
    h.abort()
    with pytest.raises(rt.JoinError) as info:
        await h
    assert info.value.is_cancelled()
    assert log[-2:] == ["cancelled at the checkpoint", "finally"]


async def test_a_cancel_delivered_after_its_scope_was_left_does_not_cancel_the_next_wait() -> None:
    # What a timeout firing on another worker does when its ``with`` block is being left: the
    # scope's "already exited" check passed, then the task left the scope and parked in a new
    # wait, then the delivery arrives. It must find the task no longer cancelled and leave the
    # new wait alone (the race suite runs the real thing; this pins the mechanism).
    me = rt.current_task()
    with rt.CancelScope():
        pass
    gate = Gate()

    async def stale_delivery() -> None:
        while "parked" not in repr(me):
            await rt.yield_now()
        me._sched.deliver_cancel(me)
        gate.open()

    h = rt.spawn(stale_delivery())
    with rt.CancelScope() as fresh:
        await gate.wait()
    assert not fresh.cancelled_caught
    await h
