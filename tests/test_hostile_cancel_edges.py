"""Hostile cancellation edges: a select branch, a timeout or a cancel scope whose cancel lands at
the same instant as the work it cancels (a plain thread completes it, or paused time makes both
due together).

Either side may win; what must hold is that nothing is lost (a message stays in its channel),
no cancellation leaks past the block that caught it, and ``biased=True`` means the lowest
ready index wins.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import TypeVar

import pytest

import rt
import rt.time
from rt.sync import Event, mpsc

T = TypeVar("T")

ROUNDS = 150
LIMIT = 10.0


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(5e-6)
    yield
    sys.setswitchinterval(old)


async def bounded(aw: Awaitable[T], what: str) -> T:
    try:
        return await rt.time.timeout(LIMIT, aw)
    except rt.time.Elapsed:
        raise AssertionError(f"hung: {what}") from None


def start(fn: Callable[[], object]) -> threading.Thread:
    t = threading.Thread(target=fn, name="hostile-plain-thread")
    t.start()
    return t


async def finished(t: threading.Thread, what: str) -> None:
    await rt.spawn_blocking(t.join, LIMIT)
    assert not t.is_alive(), f"hung: {what}"


def send_when(go: threading.Event, tx: mpsc.UnboundedSender[int], value: int) -> None:
    assert go.wait(LIMIT)
    tx.send(value)


async def test_select_recv_losing_to_a_branch_as_a_thread_sends_keeps_the_message() -> None:
    tx, rx = mpsc.unbounded_channel[int]()

    async def release_the_sender(go: threading.Event) -> str:
        go.set()
        await rt.yield_now()
        return "other"

    for i in range(ROUNDS):
        go = threading.Event()
        t = start(partial(send_when, go, tx, i))
        index, value = await bounded(rt.select(rx.recv(), release_the_sender(go)), "select")
        await finished(t, "the sending thread")
        if index == 0:
            assert value == i
        else:
            assert await bounded(rx.recv(), "the message select's losing recv took") == i
        assert rx.statistics().queued == 0


async def test_timeout_expiring_as_a_thread_sends_leaves_the_message_in_the_channel() -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    for i in range(ROUNDS):
        go = threading.Event()
        t = start(partial(send_when, go, tx, i))
        try:
            with rt.time.timeout(0):
                go.set()
                assert await rx.recv() == i
        except rt.time.Elapsed:
            assert await bounded(rx.recv(), "the message the timed-out recv took") == i
        await finished(t, "the sending thread")
        await rt.yield_now()  # no cancellation leaked out of the timeout block


@pytest.mark.rt(start_paused=True)
async def test_timeout_due_with_its_body_returns_a_result_and_leaks_no_cancellation() -> None:
    for _ in range(20):
        try:
            await rt.time.timeout(1, rt.time.sleep(1))
        except rt.time.Elapsed:
            pass
        await rt.yield_now()
        with rt.time.timeout(1):
            await rt.time.sleep(1)
        await rt.time.sleep(0)


@pytest.mark.rt(start_paused=True)
async def test_a_select_timer_due_with_an_interval_tick_never_loses_the_tick() -> None:
    start_at = rt.time.Instant.now()
    ticks = rt.time.interval(1)
    await ticks.tick()  # the first tick is immediate
    for n in range(1, 6):
        index, _ = await rt.select(rt.time.sleep(1), ticks.tick(), biased=n % 2 == 0)
        if index == 0:  # the timer won: the tick due at this instant is still there
            await ticks.tick()
        assert rt.time.Instant.now() - start_at == n, "a tick was lost (or came early)"


@pytest.mark.rt(start_paused=True)
async def test_a_select_timer_due_with_a_branch_that_finished_never_drops_its_value() -> None:
    tx, rx = mpsc.unbounded_channel[int]()

    async def take_after(seconds: float) -> int:
        await rt.time.sleep(seconds)
        return await rx.recv()

    for i in range(10):
        tx.send(i)
        index, value = await rt.select(rt.time.sleep(1), take_after(1), biased=i % 2 == 0)
        if index == 0:
            assert rx.try_recv() == i, "the value the losing branch took is lost"
        else:
            assert value == i


async def test_cancel_scope_cancelled_from_a_thread_as_its_body_finishes_leaks_nothing() -> None:
    for _ in range(ROUNDS):
        woken = Event()
        scope = rt.CancelScope()
        finisher = start(woken.set)
        canceller = start(scope.cancel)
        body_done = False
        with scope:
            await woken.wait()
            body_done = True
        await finished(finisher, "Event.set")
        await finished(canceller, "CancelScope.cancel")
        assert scope.cancel_called
        assert scope.cancelled_caught is not body_done
        await rt.yield_now()  # the scope's cancellation stays inside it


async def test_cancel_scope_cancelled_from_a_thread_spares_its_shielded_inner_scope() -> None:
    async def body(scopes: list[rt.CancelScope], inside: Event, release: Event) -> bool:
        shielded_done = False
        with rt.CancelScope() as outer:
            scopes.append(outer)
            with rt.CancelScope(shield=True):
                inside.set()
                await release.wait()
                shielded_done = True
            await rt.yield_now()  # the outer cancellation lands here
            raise AssertionError("the cancelled scope's body went on past a checkpoint")
        assert outer.cancelled_caught
        return shielded_done

    for _ in range(ROUNDS // 3):
        scopes: list[rt.CancelScope] = []
        inside, release = Event(), Event()
        task = rt.spawn(body(scopes, inside, release))
        await bounded(inside.wait(), "the body entering its shielded scope")
        t = start(scopes[0].cancel)
        await finished(t, "CancelScope.cancel")
        release.set()
        assert await bounded(task, "the shielded body") is True


async def test_abort_from_a_thread_racing_completion_gives_the_value_or_a_cancelled_join() -> None:
    async def wait_for(g: Event) -> str:
        await g.wait()
        return "done"

    for _ in range(ROUNDS):
        gate = Event()
        task = rt.spawn(wait_for(gate))
        await rt.yield_now()
        opener = start(gate.set)
        aborter = start(task.abort)
        try:
            assert await bounded(task, "a task aborted from a thread as it finished") == "done"
        except rt.JoinError as err:
            assert err.is_cancelled(), err
        await finished(opener, "Event.set")
        await finished(aborter, "JoinHandle.abort")
        assert task.is_finished()


def test_abort_from_a_thread_that_returned_before_the_task_resumed_cancels_its_next_checkpoint(
    flavor: str | None,
) -> None:
    steps: list[str] = []

    async def body(resume: Event) -> None:
        await resume.wait()
        for _ in range(3):
            await rt.yield_now()  # each one a checkpoint after the abort
        steps.append("ran past three checkpoints after abort() returned")

    async def main() -> bool:
        resume = Event()
        task = rt.spawn(body(resume))
        await rt.yield_now()  # the body parks on resume
        aborted = threading.Event()

        def abort_then_say_so() -> None:
            task.abort()
            aborted.set()

        t = start(abort_then_say_so)
        # Block this (runtime) thread until abort() has returned: the abort happens before
        # the wake below, so the woken task's next checkpoint must raise Cancelled.
        assert aborted.wait(LIMIT)
        resume.set()
        try:
            await bounded(task, "the aborted task")
        except rt.JoinError as err:
            return err.is_cancelled()
        finally:
            await finished(t, "the aborting thread")
        return False

    assert rt.run(main(), flavor=flavor) is True, steps


def test_cancel_scope_cancelled_from_a_thread_before_its_task_resumed_cancels_the_next_checkpoint(
    flavor: str | None,
) -> None:
    async def body(resume: Event, scopes: list[rt.CancelScope]) -> bool:
        with rt.CancelScope() as scope:
            scopes.append(scope)
            await resume.wait()
            for _ in range(3):
                await rt.yield_now()  # each one a checkpoint after the cancel
        return scope.cancelled_caught

    async def main() -> bool:
        resume = Event()
        scopes: list[rt.CancelScope] = []
        task = rt.spawn(body(resume, scopes))
        await rt.yield_now()  # the body enters its scope and parks on resume
        cancelled = threading.Event()

        def cancel_then_say_so() -> None:
            scopes[0].cancel()
            cancelled.set()

        t = start(cancel_then_say_so)
        # Block this (runtime) thread until cancel() has returned: the cancel happens before
        # the wake below.
        assert cancelled.wait(LIMIT)
        resume.set()
        try:
            return await bounded(task, "the task in the cancelled scope")
        finally:
            await finished(t, "the cancelling thread")

    assert rt.run(main(), flavor=flavor) is True
