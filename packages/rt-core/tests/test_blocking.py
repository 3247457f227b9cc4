"""spawn_blocking and the blocking pool."""

from __future__ import annotations

import inspect
import sys
import threading
import types
from typing import Any

import pytest
from rtcore_helpers import Gate

import rt
import rt.task


async def test_spawn_blocking_runs_on_another_thread_and_returns_the_value() -> None:
    caller = threading.get_ident()
    value, ident = await rt.spawn_blocking(lambda x: (x * 2, threading.get_ident()), 21)
    result = value, ident != caller
    assert result == (42, True)


async def test_spawn_blocking_exception_arrives_as_join_error_cause() -> None:
    def fail() -> None:
        raise FileNotFoundError("nope")

    with pytest.raises(rt.JoinError) as info:
        await rt.spawn_blocking(fail)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_blocking_pool_never_exceeds_max_blocking_threads(flavor: str | None) -> None:
    lock = threading.Lock()
    active = 0
    peak = 0
    both_running = threading.Barrier(2, timeout=30)

    def job(i: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        if i < 2:
            both_running.wait()  # the first two jobs run at the same time
        with lock:
            active -= 1
        return i

    async def main() -> list[int]:
        handles = [rt.spawn_blocking(job, i) for i in range(6)]
        return [await h for h in handles]

    assert rt.run(main(), max_blocking_threads=2, flavor=flavor) == list(range(6))
    assert peak == 2


def test_idle_blocking_threads_retire_after_keep_alive(flavor: str | None) -> None:
    async def main() -> threading.Thread:
        # The job names its own thread: a thread listing taken after the await could miss
        # one that had already retired (10 ms is short on a loaded machine).
        return await rt.spawn_blocking(threading.current_thread)

    with rt.Runtime(flavor=flavor, thread_keep_alive=0.01, thread_name="rt-retire") as runtime:
        thread = runtime.block_on(main())
        assert "-blocking-" in thread.name
        thread.join(timeout=10)  # waits for the retirement we mean
        assert not thread.is_alive()
        assert runtime.metrics().blocking_threads == 0


def test_jobs_submitted_while_idle_threads_retire_all_run(flavor: str | None) -> None:
    # A keep-alive of 10 µs: threads retire between almost any two jobs, so a job is often
    # submitted just as the idle thread it would go to gives up waiting. Each job must run
    # (on that thread or a new one), never wait for a thread that has retired.
    async def caller(n: int) -> int:
        total = 0
        for i in range(n):
            total += await rt.spawn_blocking(abs, -i)
        return total

    async def main() -> list[int]:
        handles = [rt.spawn(caller(150)) for _ in range(4)]
        return [await h for h in handles]

    with rt.Runtime(flavor=flavor, thread_keep_alive=1e-5, max_blocking_threads=2) as runtime:
        assert runtime.block_on(main()) == [sum(range(150))] * 4


@pytest.mark.timeout(30)  # the bug this pins was a hang: fail instead
def test_an_infinite_keep_alive_keeps_an_idle_thread_that_takes_the_next_job(
    flavor: str | None,
) -> None:
    # A keep-alive past the lock's TIMEOUT_MAX (float("inf"): "never retire") used to kill
    # the idle thread with an OverflowError while it still counted as idle, so the next job
    # was handed to it and never ran.
    async def main() -> tuple[threading.Thread, threading.Thread]:
        first = await rt.spawn_blocking(threading.current_thread)
        while rt.Handle.current().metrics().idle_blocking_threads == 0:
            await rt.yield_now()  # until the thread waits for more work
        second = await rt.spawn_blocking(threading.current_thread)
        return first, second

    first, second = rt.run(main(), flavor=flavor, thread_keep_alive=float("inf"))
    assert first is second


def test_aborting_a_queued_blocking_job_means_it_never_runs(flavor: str | None) -> None:
    ran: list[int] = []
    started = threading.Event()
    release = threading.Event()

    def hold() -> None:
        started.set()
        release.wait()

    async def main() -> bool:
        first = rt.spawn_blocking(hold)
        while not started.is_set():
            await rt.yield_now()  # until `hold` has the only thread
        queued = rt.spawn_blocking(ran.append, 1)
        assert rt.Handle.current().metrics().blocking_queue_depth == 1  # queued at the call
        await rt.yield_now()  # its task parks on the job
        queued.abort()
        with pytest.raises(rt.JoinError) as info:
            await queued
        release.set()
        await first
        return info.value.is_cancelled()

    assert rt.run(main(), max_blocking_threads=1, flavor=flavor)
    assert ran == []


def test_aborting_a_running_blocking_job_has_no_effect(flavor: str | None) -> None:
    started = threading.Event()
    release = threading.Event()

    def work() -> str:
        started.set()
        release.wait()
        return "finished"

    async def main() -> str:
        h = rt.spawn_blocking(work)
        await rt.spawn_blocking(started.wait)
        h.abort()
        release.set()
        return await h

    assert rt.run(main(), flavor=flavor) == "finished"


async def test_handle_current_works_inside_blocking_threads() -> None:
    async def child() -> str:
        return "from blocking"

    def blocking() -> str:
        handle = rt.Handle.current()
        return handle.block_on(child())

    result = await rt.spawn_blocking(blocking)
    assert result == "from blocking"


def test_spawn_blocking_refuses_async_functions_and_non_callables(flavor: str | None) -> None:
    async def coro_fn() -> None:
        pass

    async def main() -> None:
        with pytest.raises(TypeError, match=r"rt\.spawn\(\)"):
            rt.spawn_blocking(coro_fn)
        with pytest.raises(TypeError, match="callable"):
            rt.spawn_blocking(3)  # type: ignore[arg-type]

    rt.run(main(), flavor=flavor)
    with pytest.raises(RuntimeError, match=r"rt\.run"):
        rt.spawn_blocking(print)


def test_apis_taking_a_function_close_a_coroutine_handed_by_mistake(flavor: str | None) -> None:
    async def coro_fn() -> None:
        pass

    def refused(call: Any) -> None:
        coro = coro_fn()
        with pytest.raises(TypeError, match=r"got the coroutine .*await it, or use rt\.spawn\(\)"):
            call(coro)
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED  # no "never awaited"

    async def main() -> None:
        refused(rt.spawn_blocking)
        refused(rt.Handle.current().spawn_blocking)
        refused(rt.JoinSet[None]().spawn_blocking)
        refused(rt.task.block_in_place)
        coro = coro_fn()
        with pytest.raises(TypeError, match="got the coroutine"):
            await rt.to_thread(coro)  # type: ignore[arg-type]
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED

    rt.run(main(), flavor=flavor)
    refused(rt.spawn_blocking)  # outside a runtime too
    refused(rt.JoinSet[None]().spawn_blocking)


async def test_blocking_job_can_wake_a_task_through_a_thread_safe_gate() -> None:
    gate = Gate()
    job = rt.spawn_blocking(gate.open)
    await gate.wait()
    result = gate.is_open
    assert result
    await job  # the job's own task finishes once gate.open has returned


def test_spawn_blocking_calls_from_one_task_run_in_call_order_on_a_one_thread_pool(
    flavor: str | None,
) -> None:
    order: list[int] = []
    started = threading.Event()
    release = threading.Event()

    def hold() -> None:
        started.set()
        release.wait()

    async def main() -> None:
        first = rt.spawn_blocking(hold)
        assert started.wait(timeout=30)  # the pool's only thread is busy: the rest queue up
        # Each job's task may be stepped, or stolen, by any worker: the jobs still reach
        # the pool in the order of the calls.
        handles = [rt.spawn_blocking(order.append, i) for i in range(1000)]
        release.set()
        await first
        for h in handles:
            await h

    workers = {"worker_threads": 2} if flavor == "multi_thread" else {}
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # the workers take turns often: steps interleave
    try:
        rt.run(main(), flavor=flavor, max_blocking_threads=1, **workers)
    finally:
        sys.setswitchinterval(interval)
    assert order == list(range(1000))


def test_a_blocking_job_starts_at_the_call_and_may_finish_before_its_task_runs(
    flavor: str | None,
) -> None:
    done = threading.Event()

    def job() -> str:
        done.set()
        return "value"

    async def main() -> tuple[bool, str]:
        h = rt.spawn_blocking(job)
        # Block this task's thread: the job's task cannot have run yet, its job runs anyway.
        finished_first = done.wait(timeout=30)
        return finished_first, await h

    assert rt.run(main(), flavor=flavor) == (True, "value")


def test_a_task_aborted_before_its_first_step_drops_its_queued_job(flavor: str | None) -> None:
    ran: list[int] = []
    started = threading.Event()
    release = threading.Event()

    def hold() -> None:
        started.set()
        release.wait()

    async def main() -> bool:
        first = rt.spawn_blocking(hold)
        assert started.wait(timeout=30)
        queued = rt.spawn_blocking(ran.append, 1)
        queued.abort()  # before its task ever ran: it never waits for the job
        with pytest.raises(rt.JoinError) as info:
            await queued
        release.set()
        await first
        # The pool's thread takes the dropped job next; a job queued behind it runs after.
        await rt.spawn_blocking(ran.append, 2)
        return info.value.is_cancelled()

    assert rt.run(main(), flavor=flavor, max_blocking_threads=1)
    assert ran == [2]


def test_an_abort_after_a_thread_took_the_job_leaves_the_result_standing(
    flavor: str | None,
) -> None:
    # The job is queued at the call; once a pool thread has taken it, aborting its task has
    # no effect, as in Tokio, even when the task has not run its first step yet.
    started = threading.Event()
    release = threading.Event()

    def job() -> str:
        started.set()
        release.wait()
        return "done"

    async def main() -> str:
        handle = rt.spawn_blocking(job)
        # Block this thread (and so, on current_thread, the handle's task) until a pool
        # thread runs the job: the abort below lands before the task's first step there.
        assert started.wait(timeout=30)
        handle.abort()
        release.set()
        return await handle

    assert rt.run(main(), flavor=flavor) == "done"


def test_a_blocking_job_spawned_by_a_finalizer_as_the_pool_makes_a_thread_runs_within_the_bound(
    flavor: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pool makes its thread holding its lock; a collection there may run a finalizer that
    # spawns a blocking job (or aborts one) on the same thread, which takes the lock again.
    # The finalizer's call is made at exactly that point: inside the first thread the pool
    # makes. Before, the lock was not re-entrant and the runtime's thread deadlocked.
    from rt._core import _blocking

    if not isinstance(_blocking.BlockingPool.submit, types.FunctionType):
        pytest.skip("compiled by mypyc: no Python frame of BlockingPool.submit to hook")
    ran_on: list[str] = []
    threads: list[int] = []
    nested: list[rt.JoinHandle[None]] = []
    real = threading.Thread
    submit = _blocking.BlockingPool.submit.__code__

    def job() -> None:
        ran_on.append(threading.current_thread().name)

    hooked: list[None] = []

    def thread(*args: Any, **kwargs: Any) -> threading.Thread:
        if not hooked and sys._getframe(1).f_code is submit:
            hooked.append(None)
            nested.append(rt.spawn_blocking(job))  # what the finalizer does
        return real(*args, **kwargs)

    async def main() -> None:
        monkeypatch.setattr(threading, "Thread", thread)
        try:
            first = rt.spawn_blocking(job)
        finally:
            monkeypatch.undo()
        threads.append(rt.Handle.current().metrics().blocking_threads)  # made so far
        await first
        await nested[0]

    errors: list[BaseException] = []

    def run() -> None:
        try:
            rt.run(main(), max_blocking_threads=1, flavor=flavor)
        except BaseException as exc:
            errors.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(30)
    assert not runner.is_alive(), "spawning a blocking job inside the pool's lock deadlocked"
    if errors:
        raise errors[0]
    assert len(ran_on) == 2
    assert threads == [1]  # one thread, as max_blocking_threads says


def _fail_next_pool_thread_start(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the next blocking-pool thread's ``start()`` fail as at the OS's thread limit;
    returns the names of the threads refused."""
    refused: list[str] = []
    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        if not refused and "-blocking-" in self.name:
            refused.append(self.name)
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    return refused


def test_a_blocking_job_whose_thread_cannot_start_fails_saying_so_and_the_next_one_runs(
    flavor: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No pool thread exists and none can be started: the job's task fails, naming the
    # thread limit (a RuntimeError, its JoinError's cause). Before, the job stayed queued
    # for a thread that never came (its task waited for ever) and the thread that failed
    # to start kept counting against the bound.
    async def main() -> tuple[str, int]:
        refused = _fail_next_pool_thread_start(monkeypatch)
        with pytest.raises(rt.JoinError, match="could not start a thread") as failed:
            async with rt.time.timeout(30):
                await rt.spawn_blocking(abs, -1)
        assert refused
        async with rt.time.timeout(30):
            second = await rt.spawn_blocking(abs, -2)
        return str(failed.value), second

    message, second = rt.run(main(), max_blocking_threads=1, flavor=flavor)
    assert "RuntimeError" in message and "thread limit" in message
    assert "max_blocking_threads" in message
    assert second == 2


def test_a_blocking_job_whose_thread_cannot_start_waits_for_a_busy_pool_thread(
    flavor: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pool thread exists (busy): the job stays queued and that thread runs it next, as
    # when the pool is at its bound.
    release = threading.Event()

    def busy() -> str:
        assert release.wait(30)
        return "busy"

    async def main() -> list[str]:
        first = rt.spawn_blocking(busy)
        refused = _fail_next_pool_thread_start(monkeypatch)
        second = rt.spawn_blocking(lambda: "queued")
        assert refused
        release.set()
        async with rt.time.timeout(30):
            results = [await first, await second]
        return results

    assert rt.run(main(), max_blocking_threads=2, flavor=flavor) == ["busy", "queued"]
