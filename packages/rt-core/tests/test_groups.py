"""JoinSet and TaskGroup."""

from __future__ import annotations

import logging

import pytest
from rtcore_helpers import Gate

import rt


async def _value(v: int, yields: int = 0) -> int:
    for _ in range(yields):
        await rt.yield_now()
    return v


async def _fail(msg: str, yields: int = 0) -> None:
    for _ in range(yields):
        await rt.yield_now()
    raise ValueError(msg)


# Completion order follows the yields only when one thread runs every task.
@pytest.mark.rt(flavor="current_thread")
async def test_join_set_returns_results_in_completion_order_then_none() -> None:
    js: rt.JoinSet[int] = rt.JoinSet()
    js.spawn(_value(1, yields=3))
    js.spawn(_value(2, yields=1))
    js.spawn(_value(3, yields=2))
    assert len(js) == 3
    out = [await js.join_next() for _ in range(3)]
    assert len(js) == 0
    out.append(await js.join_next())
    assert out == [2, 3, 1, None]


async def test_join_set_join_next_raises_join_error_for_a_failed_task() -> None:
    js: rt.JoinSet[None] = rt.JoinSet()
    js.spawn(_fail("x"))
    with pytest.raises(rt.JoinError) as info:
        await js.join_next()
    assert info.value.is_panic()
    assert len(js) == 0


async def test_join_set_abort_all_and_join_all() -> None:
    js: rt.JoinSet[None] = rt.JoinSet()
    gate = Gate()
    for _ in range(3):
        js.spawn(gate.wait())
    js.abort_all()
    errors = 0
    while len(js):
        try:
            await js.join_next()
        except rt.JoinError as e:
            assert e.is_cancelled()
            errors += 1
    assert errors == 3


# Completion order follows the yields only when one thread runs every task.
@pytest.mark.rt(flavor="current_thread")
async def test_join_all_returns_values_in_completion_order() -> None:
    js2: rt.JoinSet[int] = rt.JoinSet()
    for i in range(5):
        js2.spawn(_value(i, yields=5 - i))
    assert await js2.join_all() == [4, 3, 2, 1, 0]


async def test_join_set_context_exit_aborts_and_waits_for_remaining_tasks() -> None:
    cleaned: list[int] = []

    async def worker(i: int, gate: Gate) -> None:
        try:
            await gate.wait()
        finally:
            cleaned.append(i)

    gate = Gate()
    async with rt.JoinSet[None]() as js:
        for i in range(4):
            js.spawn(worker(i, gate))
        await rt.yield_now()
    assert sorted(cleaned) == [0, 1, 2, 3]
    assert len(js) == 0


def test_join_set_join_next_is_cancel_safe(flavor: str | None) -> None:
    async def main() -> int | None:
        js: rt.JoinSet[int] = rt.JoinSet()
        gate = Gate()

        async def later() -> int:
            await gate.wait()
            return 9

        js.spawn(later())
        with rt.CancelScope() as scope:
            rt.spawn(_cancel(scope))
            await js.join_next()
        assert scope.cancelled_caught and len(js) == 1
        gate.open()
        return await js.join_next()

    assert rt.run(main(), flavor=flavor) == 9


async def _cancel(scope: rt.CancelScope) -> None:
    scope.cancel()


async def test_task_group_waits_for_all_children() -> None:
    async with rt.TaskGroup() as tg:
        hs = [tg.spawn(_value(i, yields=i)) for i in range(5)]
    assert all(h.is_finished() for h in hs)
    result = [await h for h in hs]
    assert result == [0, 1, 2, 3, 4]


async def test_task_group_first_error_cancels_siblings_and_raises_group_without_cancelled() -> None:
    cancelled: list[str] = []

    async def sibling(gate: Gate) -> None:
        try:
            await gate.wait()
        except rt.Cancelled:
            cancelled.append("sibling")
            raise

    gate = Gate()
    with pytest.raises(ExceptionGroup) as info:
        async with rt.TaskGroup() as tg:
            tg.spawn(sibling(gate))
            tg.spawn(_fail("child failed", yields=2))
            await gate.wait()  # the body is cancelled too
    group = info.value
    assert [str(e) for e in group.exceptions] == ["child failed"]
    assert cancelled == ["sibling"]


async def test_task_group_collects_the_body_error_with_child_errors() -> None:
    async def fails_when_cancelled(gate: Gate) -> None:
        try:
            await gate.wait()
        except rt.Cancelled:
            raise ValueError("child cleanup failed") from None

    with pytest.raises(ExceptionGroup) as info:
        async with rt.TaskGroup() as tg:
            tg.spawn(fails_when_cancelled(Gate()))
            await rt.yield_now()
            raise KeyError("body")
    kinds = [type(e).__name__ for e in info.value.exceptions]
    assert kinds == ["KeyError", "ValueError"]


async def test_task_group_outer_cancellation_cancels_children_and_propagates() -> None:
    cleaned: list[str] = []

    async def child(gate: Gate) -> None:
        try:
            await gate.wait()
        finally:
            cleaned.append("child")

    gate = Gate()
    with rt.CancelScope() as scope:
        async with rt.TaskGroup() as tg:
            tg.spawn(child(gate))
            tg.spawn(child(gate))
            rt.spawn(_cancel(scope))
    result = scope.cancelled_caught
    assert result
    assert cleaned == ["child", "child"]


async def test_task_group_spawn_outside_its_block_is_an_error() -> None:
    tg = rt.TaskGroup()
    with pytest.raises(RuntimeError, match="not been entered"):
        tg.spawn(_value(1))
    async with tg:
        pass
    with pytest.raises(RuntimeError, match="already finished"):
        tg.spawn(_value(1))


async def test_a_task_detached_from_a_join_set_finishes_without_touching_the_set() -> None:
    gate = Gate()
    js: rt.JoinSet[object] = rt.JoinSet()
    js.spawn(gate.wait())
    await rt.yield_now()
    js.detach_all()
    assert len(js) == 0
    gate.open()
    js.spawn(_value(7))
    assert await js.join_next() == 7  # the detached task's completion is not in the set
    assert await js.join_next() is None


async def test_dropping_a_join_set_aborts_the_tasks_still_running_in_it() -> None:
    gate = Gate()
    js: rt.JoinSet[object] = rt.JoinSet()
    handle = js.spawn(gate.wait())
    await rt.yield_now()
    del js  # the set's tasks hold its containers, not the set: it is freed here
    while not handle.is_finished():
        await rt.yield_now()
    assert not gate.is_open


def test_a_failure_of_a_task_detached_from_a_join_set_is_reported_when_it_ends(
    caplog: pytest.LogCaptureFixture, flavor: str | None
) -> None:
    gate = Gate()

    async def fail_later() -> None:
        await gate.wait()
        raise ValueError("detached and failed")

    async def main() -> None:
        js: rt.JoinSet[None] = rt.JoinSet()
        handle = js.spawn(fail_later())
        await rt.yield_now()
        js.detach_all()
        gate.open()
        while not handle.is_finished():
            await rt.yield_now()
        del handle

    with caplog.at_level(logging.ERROR, logger="rt"):
        rt.run(main(), flavor=flavor)
    assert any("detached and failed" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_join_set_try_join_next_returns_finished_values_without_waiting() -> None:
    js: rt.JoinSet[int] = rt.JoinSet()
    assert js.try_join_next() is None  # empty
    gate = Gate()

    async def later() -> int:
        await gate.wait()
        return 2

    async def now() -> int:
        return 1

    js.spawn(later())
    js.spawn(now())
    while len(js) == 2 and js.try_join_next() is None:
        await rt.yield_now()
    assert len(js) == 1
    assert js.try_join_next() is None  # `later` has not finished
    gate.open()
    assert await js.join_next() == 2
    assert js.is_empty()


async def test_join_set_join_next_with_id_pairs_each_value_or_error_with_its_task() -> None:
    js: rt.JoinSet[int] = rt.JoinSet()

    async def value() -> int:
        return 5

    async def boom() -> int:
        raise ValueError("boom")

    ok = js.spawn(value())
    bad = js.spawn(boom())
    seen: dict[int, object] = {}
    for _ in range(2):
        try:
            got = await js.join_next_with_id()
            assert got is not None
            seen[got[0]] = got[1]
        except rt.JoinError as err:
            assert err.id is not None
            seen[err.id] = type(err.exception).__name__
    assert seen == {ok.id: 5, bad.id: "ValueError"}
    assert await js.join_next_with_id() is None


async def test_join_set_spawn_blocking_joins_the_function_result() -> None:
    js: rt.JoinSet[int] = rt.JoinSet()
    js.spawn_blocking(pow, 2, 10)
    js.spawn_blocking(int, "7")
    assert sorted([await js.join_next(), await js.join_next()]) == [7, 1024]  # type: ignore[type-var]
    with pytest.raises(TypeError, match="async function"):
        js.spawn_blocking(_async_fn)  # type: ignore[arg-type]
    assert js.is_empty()


async def _async_fn() -> None:
    pass
