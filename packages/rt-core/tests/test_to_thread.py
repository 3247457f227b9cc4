"""rt.to_thread: a blocking call on the blocking pool that returns or raises like a plain call."""

from __future__ import annotations

import contextvars
import threading
import traceback
from pathlib import Path

import pytest

import rt

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


async def test_to_thread_returns_the_value_computed_on_another_thread() -> None:
    caller = threading.get_ident()

    def work(a: int, *, b: int) -> tuple[int, bool]:
        return a + b, threading.get_ident() != caller

    assert await rt.to_thread(work, 40, b=2) == (42, True)


async def test_to_thread_reraises_the_functions_own_exception(tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"
    with pytest.raises(FileNotFoundError) as info:
        await rt.to_thread(missing.read_text)
    assert info.value.filename == str(missing)
    # Not wrapped, and no JoinError left behind as the context of the error.
    assert not isinstance(info.value.__context__, rt.JoinError)
    assert "read_text" in "".join(traceback.format_tb(info.value.__traceback__))


async def test_to_thread_keeps_the_cause_the_function_chained() -> None:
    def fail() -> None:
        try:
            {}["key"]  # type: ignore[index]
        except KeyError as exc:
            raise ValueError("bad config") from exc

    with pytest.raises(ValueError, match="bad config") as info:
        await rt.to_thread(fail)
    assert isinstance(info.value.__cause__, KeyError)


async def test_to_thread_runs_in_a_copy_of_the_callers_context() -> None:
    VAR.set("caller")

    def read_and_write() -> str:
        seen = VAR.get()
        VAR.set("thread")
        return seen

    assert await rt.to_thread(read_and_write) == "caller"
    assert VAR.get() == "caller"


async def test_to_thread_refuses_an_async_function() -> None:
    async def not_blocking() -> None:
        pass

    with pytest.raises(TypeError):
        _ = await rt.to_thread(not_blocking)


def test_to_thread_outside_a_runtime_says_how_to_run_one() -> None:
    coro = rt.to_thread(int)
    with pytest.raises(RuntimeError, match=r"rt\.run"):
        coro.send(None)


def test_cancelling_the_caller_while_the_call_is_queued_means_it_never_runs(
    flavor: str | None,
) -> None:
    ran: list[int] = []
    started = threading.Event()
    release = threading.Event()

    def hold() -> None:
        started.set()
        release.wait()

    async def main() -> None:
        first = rt.spawn_blocking(hold)
        # A blocking job reaches the pool when its task first runs: on two workers the call
        # below could get there first, so wait until `hold` has the only thread.
        while not started.is_set():
            await rt.yield_now()
        waiter = rt.spawn(rt.to_thread(ran.append, 1))
        while rt.Handle.current().metrics().blocking_queue_depth == 0:
            await rt.yield_now()  # until the call is queued behind `hold`
        waiter.abort()
        with pytest.raises(rt.JoinError) as info:
            await waiter
        assert info.value.is_cancelled()
        release.set()
        await first

    rt.run(main(), max_blocking_threads=1, flavor=flavor)
    assert ran == []


def test_cancelling_the_caller_while_the_call_runs_lets_it_finish_unobserved(
    flavor: str | None,
) -> None:
    started = threading.Event()
    release = threading.Event()
    finished = threading.Event()

    def work() -> None:
        started.set()
        release.wait()
        finished.set()

    async def main() -> None:
        waiter = rt.spawn(rt.to_thread(work))
        await rt.spawn_blocking(started.wait)
        waiter.abort()
        with pytest.raises(rt.JoinError) as info:
            await waiter
        assert info.value.is_cancelled()
        release.set()

    rt.run(main(), flavor=flavor)  # shutdown joins the blocking pool, so the call has completed
    assert finished.is_set()
