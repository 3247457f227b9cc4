"""Tasks: spawn, JoinHandle, JoinError, abort, ownership, contextvars, budget."""

from __future__ import annotations

import contextvars
import gc
import logging
import queue
import threading
from typing import Any

import pytest
from rtcore_helpers import Gate

import rt
from rt._core._driver import Driver
from rt._core._scheduler import CurrentThreadScheduler
from rt.lowlevel import Abort, reschedule, wait_task_rescheduled


async def test_spawned_tasks_return_their_values_through_handles() -> None:
    async def child(i: int) -> int:
        await rt.yield_now()
        return i * i

    handles = [rt.spawn(child(i)) for i in range(50)]
    result = [await h for h in handles]
    assert result == [i * i for i in range(50)]


async def test_join_error_reports_panic_with_the_task_exception_as_cause() -> None:
    async def boom() -> None:
        raise ValueError("bad input")

    h = rt.spawn(boom())
    with pytest.raises(rt.JoinError) as info:
        await h
    err = info.value
    assert err.is_panic() and not err.is_cancelled()
    assert isinstance(err.exception, ValueError)
    assert err.__cause__ is err.exception
    assert "bad input" in str(err)


async def test_abort_cancels_a_parked_task_and_runs_its_finally() -> None:
    cleaned: list[str] = []

    async def sleeper(gate: Gate) -> None:
        try:
            await gate.wait()
        finally:
            cleaned.append("finally")

    gate = Gate()
    h = rt.spawn(sleeper(gate))
    await rt.yield_now()
    h.abort()
    with pytest.raises(rt.JoinError) as info:
        await h
    err = info.value
    assert err.is_cancelled() and not err.is_panic() and err.exception is None
    assert cleaned == ["finally"]


async def test_abort_before_first_poll_means_the_task_never_runs() -> None:
    ran: list[bool] = []

    async def never() -> None:
        ran.append(True)

    # Pinned to this task's thread, the new task cannot be polled before abort() (with a plain
    # spawn, a second worker could take it and run it first).
    async with rt.LocalSet() as local:
        h = local.spawn_local(never())
        h.abort()
        with pytest.raises(rt.JoinError):
            await h
    result = h.is_finished()
    assert result is True
    assert ran == []


async def test_abort_after_finish_is_a_no_op_and_value_is_kept() -> None:
    h = rt.spawn(_value(0))
    await h
    h.abort()
    h2 = rt.spawn(_value(7))
    await rt.yield_now()
    await rt.yield_now()
    h2.abort_handle().abort()
    result = await h2
    assert result == 7


async def _value(v: int) -> int:
    return v


async def test_cancellation_is_level_triggered_every_checkpoint_raises() -> None:
    seen: list[str] = []
    started = Gate()

    async def stubborn(gate: Gate) -> None:
        started.open()
        try:
            await gate.wait()
        except rt.Cancelled:
            seen.append("first")
        try:
            await rt.yield_now()
        except rt.Cancelled:
            seen.append("second")
            raise

    h = rt.spawn(stubborn(Gate()))
    await started.wait()  # (a task aborted before it starts never runs)
    h.abort()
    with pytest.raises(rt.JoinError):
        await h
    assert seen == ["first", "second"]


async def test_handle_exposes_id_name_and_current_task_matches() -> None:
    async def me() -> tuple[int, str | None]:
        t = rt.current_task()
        return t.id, t.name

    h = rt.spawn(me(), name="worker")
    assert h.name == "worker"
    tid, name = await h
    assert tid == h.id and name == "worker"
    assert "worker" in repr(h)


async def test_awaiting_a_handle_is_cancel_safe_the_task_keeps_running() -> None:
    async def slow(gate: Gate) -> str:
        await gate.wait()
        return "done"

    gate = Gate()
    h = rt.spawn(slow(gate))
    with rt.CancelScope() as scope:
        waiter = rt.spawn(_cancel_soon(scope))
        await h
    assert scope.cancelled_caught
    await waiter
    assert not h.is_finished()
    gate.open()
    result = await h
    assert result == "done"


async def _cancel_soon(scope: rt.CancelScope) -> None:
    await rt.yield_now()
    scope.cancel()


async def test_spawn_rejects_a_function_with_a_message_saying_to_call_it() -> None:
    async def work() -> None:
        pass

    with pytest.raises(TypeError, match=r"call it.*work\(\)"):
        rt.spawn(work)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="int"):
        rt.spawn(42)  # type: ignore[arg-type]


async def test_a_task_spawned_with_a_finished_coroutine_fails_with_a_type_error() -> None:
    # Not refused at spawn: telling a finished coroutine from a fresh one there would cost
    # every task a frame object (as on asyncio, the task fails at its first step instead).
    async def work() -> int:
        return 1

    coro = work()
    await coro
    h = rt.spawn(coro)
    with pytest.raises(rt.JoinError) as info:
        await h
    assert isinstance(info.value.exception, TypeError)
    assert "which had already finished" in str(info.value.exception)
    assert "call the async function again" in str(info.value.exception)


async def test_spawn_accepts_any_awaitable_object() -> None:
    class Awaitable:
        def __await__(self) -> Any:
            yield from rt.yield_now().__await__()
            return 5

    result: int = await rt.spawn(Awaitable())
    assert result == 5


async def test_a_task_awaiting_its_own_handle_gets_an_error_not_a_hang() -> None:
    async def selfish() -> None:
        # Its own handle, found without a race against the spawner (on multi-thread the task
        # may run before ``rt.spawn`` returns to the spawner).
        await rt.current_task()

    handle = rt.spawn(selfish())
    with pytest.raises(rt.JoinError) as info:
        await handle
    assert isinstance(info.value.exception, RuntimeError)


def test_dropped_handle_detaches_and_the_task_still_completes(flavor: str | None) -> None:
    done = Gate()

    async def detached() -> None:
        await rt.yield_now()
        done.open()

    async def main() -> None:
        rt.spawn(detached())
        gc.collect()
        await done.wait()

    rt.run(main(), flavor=flavor)
    assert done.is_open


def test_exception_in_detached_task_is_logged_with_traceback(
    caplog: pytest.LogCaptureFixture, flavor: str | None
) -> None:
    async def boom() -> None:
        await rt.yield_now()
        raise KeyError("lost")

    async def main() -> None:
        h = rt.spawn(boom(), name="doomed")
        del h
        gc.collect()
        for _ in range(5):
            await rt.yield_now()

    with caplog.at_level(logging.ERROR, logger="rt"):
        rt.run(main(), flavor=flavor)
    records = [r for r in caplog.records if "doomed" in r.getMessage()]
    assert records and records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], KeyError)


def test_unretrieved_failure_is_logged_when_its_handle_is_dropped(
    caplog: pytest.LogCaptureFixture, flavor: str | None
) -> None:
    async def boom() -> None:
        raise OSError("never looked at")

    async def main() -> None:
        h = rt.spawn(boom())
        await rt.yield_now()
        await rt.yield_now()
        assert h.is_finished()
        del h
        gc.collect()

    with caplog.at_level(logging.ERROR, logger="rt"):
        rt.run(main(), flavor=flavor)
    assert any("never looked at" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_unhandled_error_policy_raise_stops_block_on_with_the_error(flavor: str | None) -> None:
    async def boom() -> None:
        raise LookupError("fatal")

    async def main() -> None:
        rt.spawn(boom())
        gc.collect()
        # Busy until the error stops block_on: on two workers the failing task may run on
        # the other one, which a loaded machine can start late (ten yields were not always
        # enough). The bound only keeps a regression from spinning for ever.
        for _ in range(1_000_000):
            await rt.yield_now()

    with pytest.raises(LookupError, match="fatal"):
        rt.run(main(), unhandled_error="raise", flavor=flavor)


def test_unhandled_error_policy_raise_wakes_a_block_on_whose_main_task_waits_forever(
    flavor: str | None,
) -> None:
    async def boom() -> None:
        raise LookupError("fatal while main sleeps")

    async def main() -> None:
        rt.spawn(boom())
        await rt.lowlevel.wait_task_rescheduled(lambda: rt.lowlevel.Abort.SUCCEEDED)

    with pytest.raises(LookupError, match="while main sleeps"):
        rt.run(main(), unhandled_error="raise", flavor=flavor)


class _ParkSignal:
    """Wraps a runtime's driver and sets ``sleeping`` when the runtime parks with no timeout."""

    def __init__(self, inner: Driver) -> None:
        self.inner = inner
        self.sleeping = threading.Event()

    def park(self, timeout: float | None) -> None:
        if timeout is None:
            self.sleeping.set()
        self.inner.park(timeout)

    def unpark(self) -> None:
        self.inner.unpark()

    def shutdown(self) -> None:
        self.inner.shutdown()


@pytest.mark.timeout(30)
def test_raise_policy_wakes_a_parked_runtime_when_a_failed_task_is_dropped_elsewhere() -> None:
    handed: queue.Queue[rt.JoinHandle[None]] = queue.Queue()

    async def boom() -> None:
        raise LookupError("dropped on another thread")

    async def main() -> None:
        h = rt.spawn(boom())
        while not h.is_finished():
            await rt.yield_now()
        handed.put(h)
        del h  # the other thread now holds the only reference
        await rt.lowlevel.wait_task_rescheduled(lambda: rt.lowlevel.Abort.SUCCEEDED)

    def drop_once_asleep(signal: _ParkSignal) -> None:
        h = handed.get()
        signal.sleeping.wait()
        del h

    with rt.Runtime(flavor="current_thread", unhandled_error="raise") as runtime:
        sched = runtime._sched
        assert isinstance(sched, CurrentThreadScheduler)
        signal = sched._driver = _ParkSignal(sched._driver)
        thread = threading.Thread(target=drop_once_asleep, args=(signal,))
        thread.start()
        with pytest.raises(LookupError, match="another thread"):
            runtime.block_on(main())
        thread.join()


def test_a_failed_task_kept_alive_by_a_reference_cycle_is_reported_when_it_is_collected(
    caplog: pytest.LogCaptureFixture, flavor: str | None
) -> None:
    async def boom() -> None:
        me = rt.current_task()  # the traceback keeps this frame, so the task holds itself
        raise OSError(f"{me.id} in a cycle")

    async def main() -> None:
        h = rt.spawn(boom(), name="cyclic")
        while not h.is_finished():
            await rt.yield_now()
        del h
        gc.collect()

    with caplog.at_level(logging.ERROR, logger="rt"):
        rt.run(main(), flavor=flavor)
    assert [r for r in caplog.records if "cyclic" in r.getMessage()]


def test_the_task_and_its_handle_are_one_object(flavor: str | None) -> None:
    async def child() -> rt.Task[Any]:
        return rt.current_task()

    async def main() -> None:
        h = rt.spawn(child())
        assert await h is h

    rt.run(main(), flavor=flavor)


def test_unhandled_error_policy_ignore_logs_nothing(
    caplog: pytest.LogCaptureFixture, flavor: str | None
) -> None:
    async def boom() -> None:
        raise LookupError("quiet")

    async def main() -> None:
        rt.spawn(boom())
        gc.collect()
        for _ in range(5):
            await rt.yield_now()

    with caplog.at_level(logging.ERROR, logger="rt"):
        rt.run(main(), unhandled_error="ignore", flavor=flavor)
    assert not [r for r in caplog.records if r.name == "rt"]


def test_each_task_runs_in_a_copy_of_its_spawners_context(flavor: str | None) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def child() -> str:
        seen = var.get()
        var.set("child")
        await rt.yield_now()
        return seen + "/" + var.get()

    async def main() -> tuple[str, str]:
        var.set("parent")
        h = rt.spawn(child())
        var.set("parent-later")
        result = await h
        return result, var.get()

    assert rt.run(main(), flavor=flavor) == ("parent/child", "parent-later")


def test_context_is_entered_per_step_so_tasks_do_not_see_each_others_values(
    flavor: str | None,
) -> None:
    var: contextvars.ContextVar[int] = contextvars.ContextVar("var", default=-1)

    async def worker(i: int) -> list[int]:
        var.set(i)
        seen = []
        for _ in range(5):
            await rt.yield_now()
            seen.append(var.get())
        return seen

    async def main() -> list[list[int]]:
        hs = [rt.spawn(worker(i)) for i in range(4)]
        return [await h for h in hs]

    assert rt.run(main(), flavor=flavor) == [[i] * 5 for i in range(4)]


async def test_the_running_task_is_its_own_join_handle_with_a_public_repr() -> None:
    me = rt.current_task()
    assert isinstance(me, rt.JoinHandle)
    assert rt.Task is rt.JoinHandle
    assert repr(me).startswith(f"<rt.JoinHandle #{me.id} runnable")
    assert rt.JoinHandle.__module__ == "rt"
    assert rt.JoinError.__module__ == "rt"


def test_a_cancelled_task_releases_its_locals_when_it_finishes(flavor: str | None) -> None:
    import weakref

    class Resource:
        pass

    refs: list[weakref.ref[Resource]] = []

    async def holder(gate: Gate) -> None:
        res = Resource()
        refs.append(weakref.ref(res))
        await gate.wait()

    async def main() -> bool:
        h = rt.spawn(holder(Gate()))
        await rt.yield_now()
        h.abort()
        with pytest.raises(rt.JoinError):
            await h
        # No gc.collect(): the handle is alive, and the local must be gone already.
        return refs[0]() is None

    assert rt.run(main(), flavor=flavor)


async def test_cancelling_a_task_that_awaits_a_handle_leaves_the_target_running_and_joinable() -> (
    None
):
    release: list[bool] = []

    async def target() -> str:
        while not release:
            await rt.yield_now()
        return "done"

    h = rt.spawn(target())

    async def joiner() -> str:
        return await h

    j = rt.spawn(joiner())
    await rt.yield_now()  # the joiner is now parked on the handle
    j.abort()
    with pytest.raises(rt.JoinError) as info:
        await j
    assert info.value.is_cancelled()
    assert not h.is_finished()
    release.append(True)
    assert await h == "done"  # the handle is still usable, and the target never saw a cancel


# -- one behaviour on both flavors where they used to disagree ---------------------------------


async def test_an_abort_function_that_raises_is_logged_and_the_wait_stays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bad_abort() -> Abort:
        raise ValueError("abort broke")

    async def waiter() -> str:
        await wait_task_rescheduled(bad_abort)
        await rt.yield_now()  # the cancellation is seen at the next checkpoint
        return "not reached"

    h = rt.spawn(waiter())
    while "parked" not in repr(h):
        await rt.yield_now()
    h.abort()
    while not any("abort function" in r.getMessage() for r in caplog.records):
        await rt.yield_now()
    assert not h.is_finished()  # the wait stayed: only its waker can end it
    reschedule(h)
    with pytest.raises(rt.JoinError) as info:
        await h
    assert info.value.is_cancelled()


async def test_a_completion_callback_that_raises_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    called: list[str] = []

    def bad(_t: rt.JoinHandle[Any]) -> None:
        raise ValueError("callback broke")

    release = Gate()

    async def work() -> int:
        await release.wait()  # held until both callbacks are in place
        return 7

    h = rt.spawn(work())
    assert h._add_waiter(bad)
    assert h._add_waiter(lambda _t: called.append("second"))
    release.open()
    assert await h == 7
    while not called:
        await rt.yield_now()
    assert called == ["second"]
    assert any("completion callback" in r.getMessage() for r in caplog.records)


def test_block_in_place_runs_the_function_while_other_tasks_keep_running() -> None:
    import rt.task

    async def main() -> str:
        unblocked = threading.Event()

        async def setter() -> None:
            unblocked.set()

        async def blocker() -> str:
            rt.spawn(setter())  # queued behind this task, on this worker
            # Handed off to the other worker while this one blocks: it sets the event.
            return rt.task.block_in_place(lambda: "done" if unblocked.wait(30) else "stuck")

        return await rt.spawn(blocker())

    assert rt.run(main(), flavor="multi_thread", worker_threads=2) == "done"


@pytest.mark.parametrize("nested", [False, True], ids=["", "after-a-nested-call"])
@pytest.mark.parametrize("how", ["spawns", "wakes"])
def test_a_task_the_block_in_place_function_spawns_or_wakes_runs_while_it_blocks(
    how: str, nested: bool
) -> None:
    # What the function starts goes to the other workers: this one runs nothing else until
    # the function returns (a wake-up made there used to wait for the end of the step, in
    # this worker's LIFO slot; a spawn could stay in its local queue).
    import rt.sync
    import rt.task

    ran = threading.Event()
    notify = rt.sync.Notify()

    async def child() -> None:
        ran.set()

    async def waiter() -> None:
        await notify.notified()
        ran.set()

    def fn() -> bool:
        if nested:  # a nested call returned: this one still hands off
            assert rt.task.block_in_place(lambda: 1) == 1
        if how == "spawns":
            rt.spawn(child())
        else:
            notify.notify_one()
        return ran.wait(30)

    async def main() -> bool:
        h = rt.spawn(waiter()) if how == "wakes" else None
        for _ in range(5):
            await rt.yield_now()  # (the waiter is parked on the Notify)
        result = rt.task.block_in_place(fn)
        if h is not None:
            await h
        return result

    async def started() -> None:
        pass

    with rt.Runtime(flavor="multi_thread", worker_threads=2) as runtime:
        runtime.block_on(started())
        assert runtime.block_on(main()), "the task waited for the function to return"


def test_block_in_place_on_a_current_thread_runtime_says_to_use_spawn_blocking() -> None:
    import rt.task

    async def main() -> None:
        with pytest.raises(RuntimeError, match="spawn_blocking"):
            rt.task.block_in_place(int)

    rt.run(main(), flavor="current_thread")


def test_block_in_place_outside_a_task_just_calls_the_function() -> None:
    import rt.task

    assert rt.task.block_in_place(pow, 2, 3) == 8


@pytest.mark.parametrize("build", [rt.JoinHandle, lambda: rt.Task(None), rt.AbortHandle])
def test_handles_cannot_be_constructed_by_users_and_the_error_says_where_they_come_from(
    build: Any,
) -> None:
    with pytest.raises(TypeError, match=r"rt\.spawn\(\).*abort_handle\(\)"):
        build()


async def test_spawn_and_abort_handle_still_build_handles() -> None:
    async def work() -> None:
        await rt.yield_now()

    handle = rt.spawn(work())
    assert isinstance(handle, rt.JoinHandle)
    assert isinstance(handle.abort_handle(), rt.AbortHandle)
    await handle


@pytest.mark.skipif(
    __import__("rt._core._task", fromlist=["COMPILED"]).COMPILED,
    reason="replaces JoinHandle's `_done` slot descriptor, which compiled classes do not have",
)
@pytest.mark.parametrize("how", ["await", "callback"])
def test_a_task_finishing_as_another_thread_registers_to_wait_for_it_still_wakes_the_waiter(
    flavor: str | None, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A completion takes the waiters lock only when it has a waiter to take: here the task
    finishes (and its completion reads no waiter) between the waiter's check of ``_done``
    under the lock and its registration, by ``await handle`` on another runtime or as a
    done-callback (what JoinSet, LocalSet and block_on register). The waiter must see it done
    and not park (or have its callback called)."""
    from rt._core._task import _WAITERS_LOCK, JoinHandle

    slot = JoinHandle.__dict__["_done"]
    consumer: list[int] = []  # the waiter's thread
    armed = threading.Event()
    gate_box: list[Gate] = []
    processed = threading.Event()

    def get_done(task: JoinHandle[Any]) -> bool:
        value: bool = slot.__get__(task, JoinHandle)
        owned: bool = _WAITERS_LOCK._is_owned()  # type: ignore[attr-defined]
        if armed.is_set() and [threading.get_ident()] == consumer and owned:
            # The waiter read ``_done`` under the lock and is about to register: let the
            # task finish now, on its own runtime's thread, and return what it read before.
            armed.clear()
            gate_box[0].open()
            assert processed.wait(timeout=30)
            return value
        return value

    monkeypatch.setattr(JoinHandle, "_done", property(get_done, slot.__set__))

    handles: queue.SimpleQueue[rt.JoinHandle[int]] = queue.SimpleQueue()

    async def producer() -> None:
        gate = Gate()
        gate_box.append(gate)

        async def child() -> int:
            await gate.wait()
            return 42

        h = rt.spawn(child())
        handles.put(h)
        while not h.is_finished():  # its whole completion has run once this is seen
            await rt.yield_now()
        processed.set()

    outcome: list[object] = []

    called = threading.Event()

    async def waiter() -> None:
        consumer.append(threading.get_ident())
        h = handles.get(timeout=30)
        armed.set()
        if how == "await":
            outcome.append(await h)
        elif not h._add_waiter(lambda _t: called.set()) or called.wait(timeout=5):
            outcome.append(h._outcome())

    workers = {"worker_threads": 2} if flavor == "multi_thread" else {}
    t = threading.Thread(target=rt.run, args=(producer(),), kwargs={"flavor": flavor, **workers})
    t.start()
    w = threading.Thread(target=rt.run, args=(waiter(),), daemon=True)
    w.start()
    w.join(timeout=60)
    t.join(timeout=60)
    assert not w.is_alive(), "the waiter was never woken: a lost wake-up"
    assert outcome == [42]


@pytest.mark.skipif(
    __import__("rt._core._task", fromlist=["COMPILED"]).COMPILED,
    reason="replaces JoinHandle._withdraw, which a compiled class does not allow",
)
@pytest.mark.parametrize("how", ["abort", "scope"])
def test_a_joiner_cancelled_from_another_thread_is_withdrawn_on_the_runtime_thread(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The current-thread loop takes a finished task's joiner of its own runtime without the
    waiters lock, which is sound only if such a joiner is withdrawn (its wait cancelled) on
    the runtime's thread alone, never on the thread that cancels it."""
    from rt._core._task import JoinHandle

    withdrawn_on: list[int] = []
    real_withdraw = JoinHandle._withdraw

    def withdraw(self: JoinHandle[Any], waiter: JoinHandle[Any]) -> Any:
        withdrawn_on.append(threading.get_ident())
        return real_withdraw(self, waiter)

    monkeypatch.setattr(JoinHandle, "_withdraw", withdraw)

    async def main() -> tuple[int, bool]:
        gate = Gate()

        async def child() -> None:
            await gate.wait()

        async def joiner(scope: rt.CancelScope) -> None:
            with scope:
                await h

        h = rt.spawn(child())
        scope = rt.CancelScope()
        j = rt.spawn(joiner(scope))
        await rt.yield_now()  # the joiner parks on h
        cancel = j.abort if how == "abort" else scope.cancel
        t = threading.Thread(target=cancel)
        t.start()
        t.join()
        if how == "abort":
            with pytest.raises(rt.JoinError):
                await j
        else:
            await j
        gate.open()
        await h
        return threading.get_ident(), scope.cancelled_caught or how == "abort"

    runtime_thread, cancelled = rt.run(main(), flavor="current_thread")
    assert cancelled
    assert withdrawn_on == [runtime_thread]


def test_a_task_aborted_from_another_thread_before_its_first_step_never_runs(
    flavor: str | None,
) -> None:
    ran: list[str] = []

    async def child() -> None:
        ran.append("body")

    async def main() -> bool:
        h = rt.spawn(child())
        # From a plain thread, while the child waits in the run queue (one worker on the
        # multi-thread flavor, so nothing can start it meanwhile): on the current-thread
        # flavor the abort's delivery is posted, and the child's step may come first.
        t = threading.Thread(target=h.abort)
        t.start()
        t.join()
        with pytest.raises(rt.JoinError) as info:
            await h
        return info.value.is_cancelled()

    workers = {"worker_threads": 1} if flavor == "multi_thread" else {}
    assert rt.run(main(), flavor=flavor, **workers)
    assert ran == []
