"""@rt.main, @rt.test, select, join, try_join."""

from __future__ import annotations

import inspect
import os
import re
import threading
from types import CoroutineType
from typing import Any

import pytest

import rt
import rt.lowlevel
import rt.time
from rt.sync import mpsc


async def value(x: object, yields: int = 0) -> object:
    for _ in range(yields):
        await rt.yield_now()
    return x


async def fail(msg: str, yields: int = 0) -> None:
    for _ in range(yields):
        await rt.yield_now()
    raise ValueError(msg)


def test_main_keeps_the_signature_and_runs_on_a_fresh_runtime() -> None:
    @rt.main
    async def main(a: int, b: int = 2) -> int:
        """Adds."""
        await rt.yield_now()
        return a + b

    assert main(1) == 3 and main(1, b=5) == 6
    assert main.__name__ == "main" and main.__doc__ == "Adds."

    @rt.main(unhandled_error="ignore", event_interval=7)
    async def configured() -> str:
        return "ok"

    assert configured() == "ok"


def test_main_and_test_select_the_multi_thread_flavor() -> None:
    import threading

    @rt.main(flavor="multi_thread", worker_threads=2, thread_name="main-mt")
    async def main() -> tuple[str, int]:
        m = rt.Handle.current().metrics()
        return threading.current_thread().name, m.workers

    name, workers = main()
    assert name.startswith("main-mt-") and workers == 2

    @rt.test(flavor="multi_thread", worker_threads=3)
    async def body() -> tuple[str, int]:
        m = rt.Handle.current().metrics()
        return m.flavor, m.workers

    assert body() == ("multi_thread", 3)


def test_main_refuses_a_plain_function() -> None:
    with pytest.raises(TypeError, match="async def"):
        rt.main(print)  # type: ignore[arg-type]


def test_main_turns_ctrl_c_into_exit_130_after_finally_blocks() -> None:
    cleaned: list[str] = []

    @rt.main
    async def main() -> None:
        try:
            raise KeyboardInterrupt
        finally:
            cleaned.append("finally")

    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 130 and cleaned == ["finally"]


def test_rt_test_start_paused_makes_sleeps_instant_and_exact() -> None:
    @rt.test(start_paused=True)
    async def body() -> float:
        start = rt.time.Instant.now()
        await rt.sleep(3600)
        return rt.time.Instant.now() - start

    assert body() == pytest.approx(3600, abs=1e-9)


def test_select_returns_the_first_and_cancels_and_awaits_the_others() -> None:
    cleaned: list[str] = []

    async def slow() -> str:
        try:
            await rt.sleep(60)
            return "slow"
        finally:
            cleaned.append("slow cleaned")

    @rt.test(start_paused=True)
    async def body() -> tuple[int, object]:
        result = await rt.select(slow(), value("fast", 2))
        assert cleaned == ["slow cleaned"]  # before select returned
        return result

    assert body() == (1, "fast")


def test_select_propagates_the_first_error_after_stopping_the_rest() -> None:
    cleaned: list[str] = []

    async def other() -> None:
        try:
            await rt.sleep(60)
        finally:
            cleaned.append("other")

    @rt.test(start_paused=True)
    async def body() -> None:
        with pytest.raises(ValueError, match="boom"):
            await rt.select(other(), fail("boom", 1))
        assert cleaned == ["other"]

    body()


def test_biased_select_prefers_the_lowest_finished_branch() -> None:
    # The current-thread flavor, where "the same scheduler pass" is well defined.
    @rt.test(flavor="current_thread")
    async def body() -> tuple[int, object]:
        # Both finish during the same scheduler pass; biased picks index 0.
        return await rt.select(value("a", 1), value("b", 0), biased=True)

    assert body() == (0, "a")


def test_cancelled_select_cancels_and_awaits_its_branches() -> None:
    cleaned: list[int] = []

    async def branch(i: int) -> None:
        try:
            await rt.sleep(60)
        finally:
            cleaned.append(i)

    @rt.test(start_paused=True)
    async def body() -> None:
        with pytest.raises(rt.time.Elapsed):
            await rt.time.timeout(1, rt.select(branch(0), branch(1)))
        assert sorted(cleaned) == [0, 1]

    body()


def test_select_loop_over_a_channel_and_a_timeout() -> None:
    @rt.test(start_paused=True)
    async def body() -> list[object]:
        tx, rx = mpsc.channel(4)
        got: list[object] = []

        async def producer() -> None:
            for i in range(3):
                await rt.sleep(1)
                await tx.send(i)

        rt.spawn(producer())
        while True:
            index: int
            item: object
            index, item = await rt.select(rx.recv(), rt.sleep(5))
            if index == 1:
                got.append("timeout")
                return got
            got.append(item)

    assert body() == [0, 1, 2, "timeout"]


def test_select_without_branches_is_a_value_error() -> None:
    @rt.test
    async def body() -> None:
        with pytest.raises(ValueError):
            await rt.select()

    body()


def test_join_returns_values_in_order_and_runs_every_branch_to_the_end() -> None:
    finished: list[str] = []

    async def tracked(name: str, yields: int) -> str:
        await value(None, yields)
        finished.append(name)
        return name

    @rt.test
    async def body() -> None:
        assert await rt.join(tracked("a", 3), tracked("b", 1)) == ("a", "b")
        with pytest.raises(ValueError, match="first"):
            await rt.join(fail("first", 0), tracked("c", 3))
        assert "c" in finished  # join does not cancel the others

    body()


async def test_join_and_try_join_refuse_a_non_awaitable_branch_before_running_any() -> None:
    started: list[str] = []

    async def branch() -> None:
        started.append("ran")

    for combinator in (rt.join, rt.try_join):
        coro = branch()
        with pytest.raises(TypeError, match=r"join\(\) branches must be awaitable, got 42"):
            await combinator(coro, 42)  # type: ignore[call-overload]
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED  # not "never awaited"
    assert started == []


async def test_select_join_and_try_join_refuse_one_coroutine_given_as_two_branches() -> None:
    started: list[str] = []

    async def branch() -> str:
        started.append("ran")
        return "value"

    for combinator in (rt.select, rt.join, rt.try_join):
        coro = branch()
        with pytest.raises(TypeError, match=r"the same coroutine as branches 0 and 2"):
            await combinator(coro, rt.sleep(1), coro)
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED  # not "never awaited"
        coro = branch()
        with pytest.raises(TypeError, match=r"the same coroutine as branches 0 and 1"):
            await combinator(coro, coro)
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
    assert started == []
    # an awaitable that may be awaited twice (a JoinHandle) can be given twice
    h = rt.spawn(branch())
    assert await rt.join(h, h) == ("value", "value")
    assert await rt.select(h, h) == (0, "value")


def test_try_join_cancels_the_rest_at_the_first_error_and_raises_it() -> None:
    cleaned: list[str] = []

    async def other() -> None:
        try:
            await rt.sleep(60)
        finally:
            cleaned.append("other")

    @rt.test(start_paused=True)
    async def body() -> None:
        assert await rt.try_join(value(1), value(2, 2)) == (1, 2)
        with pytest.raises(ValueError, match="bad"):
            await rt.try_join(other(), fail("bad", 1))
        assert cleaned == ["other"]

    body()


_BAD_ENTRY_OPTIONS = [
    ({"flavor": "fast"}, ValueError, "flavor must be one of"),
    ({"flavor": "multi_thread", "worker_threads": 0}, ValueError, "worker_threads must be an int"),
    ({"flavor": "multi_thread", "worker_threads": -2}, ValueError, "worker_threads must be an"),
    ({"flavor": "current_thread", "worker_threads": 2}, ValueError, "applies to flavor='multi"),
    ({"flavor": "multi_thread", "on_thread_stop": "x"}, ValueError, "on_thread_stop must be a"),
    ({"on_task_terminate": 3}, ValueError, "on_task_terminate must be a callable"),
    ({"unhandled_error": "explode"}, ValueError, "unhandled_error must be one of"),
    ({"event_intervall": 5}, TypeError, "unexpected keyword argument 'event_intervall'"),
]


@pytest.mark.parametrize("decorator", [rt.main, rt.test], ids=["main", "test"])
@pytest.mark.parametrize(
    ("options", "error", "message"),
    _BAD_ENTRY_OPTIONS,
    ids=[str(o) for o, *_ in _BAD_ENTRY_OPTIONS],
)
def test_entry_decorators_refuse_a_bad_option_when_decorating(
    decorator: Any, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    # At decoration (import), with the error rt's option check gives, which rt-core's tests
    # hold to the one rt.Runtime gives, before anything is called.
    with pytest.raises(error, match=re.escape(message)) as raised:
        decorator(**options)
    with pytest.raises(error) as checked:
        rt.lowlevel.check_runtime_options(**options)
    assert str(raised.value) == str(checked.value)


def test_entry_decorators_build_no_runtime_when_decorating() -> None:
    fds = set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()
    threads = threading.active_count()

    @rt.main(flavor="multi_thread", worker_threads=3)
    async def main() -> int:
        return 1

    @rt.test(flavor="multi_thread", worker_threads=3, start_paused=True)
    async def check() -> int:
        return 2

    assert threading.active_count() == threads
    if fds:
        assert set(os.listdir("/proc/self/fd")) <= fds
    assert main() == 1 and check() == 2


def test_rt_test_refuses_a_start_paused_that_is_not_a_bool() -> None:
    with pytest.raises(TypeError, match="start_paused must be True or False, got 'yes'"):
        rt.test(start_paused="yes")  # type: ignore[call-overload]


@pytest.mark.parametrize("biased", [1, 0, "no", None, [True]])
def test_select_refuses_a_biased_that_is_not_a_bool(biased: object) -> None:
    branch = value("a")
    assert isinstance(branch, CoroutineType)
    message = f"biased must be True or False, got {biased!r}"

    async def main() -> None:
        with pytest.raises(TypeError, match=re.escape(message)):
            await rt.select(branch, biased=biased)  # type: ignore[call-overload]

    rt.run(main())
    assert branch.cr_frame is None  # closed unstarted: no "never awaited" warning
