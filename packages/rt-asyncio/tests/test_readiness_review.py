"""Adversarial readiness and timer cases for rt's asyncio loop (review of the reactor-callback
readiness path and the loop's timer heap): churn of add/remove in the readiness callback
itself, handles removed in the batch that queued them, readiness seen by another worker, and
what a loop leaves in rt's reactor and timer wheel.

Each wait is bounded (``LIMIT``), so a lost readiness fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from loop_helpers import LIMIT, pair, run

import rt
import rt.asyncio
from rt.lowlevel import current_driver, current_io

ROUNDS = 300


async def churn(keep_writer: bool) -> tuple[int, int]:
    """Each readiness removes the reader and adds a fresh one, then asks for the next."""
    loop = asyncio.get_running_loop()
    a, b = pair()
    calls = 0
    spurious = 0
    done = loop.create_future()

    def on_a() -> None:
        nonlocal calls, spurious
        try:
            a.recv(100)
        except BlockingIOError:
            spurious += 1  # queued for a readiness that was not there (twice for one)
            return
        calls += 1
        loop.remove_reader(a)
        if calls == ROUNDS:
            done.set_result(None)
            return
        loop.add_reader(a, on_a)
        b.send(b"x")

    if keep_writer:
        # A writer keeps the fd's watch alive across the reader's remove/add (it fires while
        # the socket is writable: every batch).
        loop.add_writer(a, lambda: None)
    try:
        loop.add_reader(a, on_a)
        b.send(b"x")
        await asyncio.wait_for(done, LIMIT)
        for _ in range(3):
            await asyncio.sleep(0)
        return calls, spurious
    finally:
        loop.remove_reader(a)
        loop.remove_writer(a)
        a.close()
        b.close()


def test_a_reader_removed_and_added_again_in_its_own_callback_fires_once_per_readiness() -> None:
    assert run(lambda: churn(False)) == (ROUNDS, 0)
    assert run(lambda: churn(True)) == (ROUNDS, 0)


async def test_reader_churn_fires_once_per_readiness_on_a_loop_attached_to_either_flavor() -> None:
    assert await rt.asyncio.aio_as_rt(churn(False)) == (ROUNDS, 0)
    assert await rt.asyncio.aio_as_rt(churn(True)) == (ROUNDS, 0)


async def mutual_removal() -> list[str]:
    """Two fds ready for the same poll; whichever callback runs first removes the other."""
    loop = asyncio.get_running_loop()
    a, b = pair()
    c, d = pair()
    ran: list[str] = []
    done = loop.create_future()

    def on(name: str, sock: socket.socket, other: socket.socket) -> Callable[[], None]:
        def cb() -> None:
            ran.append(name)
            sock.recv(100)
            loop.remove_reader(sock)
            loop.remove_reader(other)
            loop.call_soon(loop.call_soon, done.set_result, None)

        return cb

    try:
        b.send(b"1")
        d.send(b"2")
        loop.add_reader(a, on("a", a, c))
        loop.add_reader(c, on("c", c, a))
        await asyncio.wait_for(done, LIMIT)
        for _ in range(3):
            await asyncio.sleep(0)
        return ran
    finally:
        loop.remove_reader(a)
        loop.remove_reader(c)
        for s in (a, b, c, d):
            s.close()


def test_a_reader_removed_by_another_callback_of_its_batch_does_not_run() -> None:
    for _ in range(20):
        assert len(run(mutual_removal)) == 1


async def test_a_reader_removed_in_its_batch_does_not_run_on_a_loop_attached_to_either_flavor() -> (
    None
):
    for _ in range(20):
        assert len(await rt.asyncio.aio_as_rt(mutual_removal())) == 1


async def ping_pong_from_rt(sent_by: Callable[[socket.socket], Coroutine[Any, Any, None]]) -> int:
    loop = asyncio.get_running_loop()
    a, b = pair()
    calls = 0
    done = loop.create_future()
    more: asyncio.Queue[None] = asyncio.Queue()

    def on_a() -> None:
        nonlocal calls
        try:
            a.recv(100)
        except BlockingIOError:
            return
        calls += 1
        more.put_nowait(None)
        if calls == ROUNDS:
            done.set_result(None)

    loop.add_reader(a, on_a)
    try:

        async def pump() -> None:
            for _ in range(ROUNDS):
                await rt.asyncio.rt_as_aio(sent_by(b))
                await more.get()

        await asyncio.wait_for(asyncio.gather(pump(), done), LIMIT)
        return calls
    finally:
        loop.remove_reader(a)
        a.close()
        b.close()


async def send_from_a_spawned_task(sock: socket.socket) -> None:
    async def send() -> None:
        sock.send(b"x")

    await rt.spawn(send())


async def test_readiness_caused_from_rt_tasks_reaches_an_attached_loop_every_time() -> None:
    assert await rt.asyncio.aio_as_rt(ping_pong_from_rt(send_from_a_spawned_task)) == ROUNDS


async def test_an_attached_loop_leaves_no_fd_in_rts_reactor_after_remove_reader_and_writer() -> (
    None
):
    io = current_io()
    before = io.registered_fds()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = pair()
        readable: asyncio.Future[None] = loop.create_future()
        writable: asyncio.Future[None] = loop.create_future()

        def settle(fut: asyncio.Future[None]) -> None:
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(a, settle, readable)
        loop.add_writer(a, settle, writable)
        b.send(b"x")
        await asyncio.wait_for(asyncio.gather(readable, writable), LIMIT)
        loop.remove_reader(a)
        loop.remove_writer(a)
        a.close()
        b.close()

    await rt.asyncio.aio_as_rt(main())
    assert io.registered_fds() == before


async def test_an_attached_loop_leaves_no_wheel_timer_once_its_timers_ran_or_were_cancelled() -> (
    None
):
    timers: Any = current_driver("time")
    before = timers.armed()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        fired = loop.create_future()
        keep = [loop.call_later(3600, lambda: None) for _ in range(5)]
        loop.call_later(0.001, fired.set_result, None)
        await asyncio.wait_for(fired, LIMIT)
        for h in keep:
            h.cancel()

    await rt.asyncio.aio_as_rt(main())
    assert timers.armed() == before


class _FiredElsewhere:
    """The loop's view of rt's timer driver, where the wheel's timer for the loop's earliest
    deadline has just been taken to fire by another worker of a multi-thread runtime: the
    driver marked it fired (``cancel`` says so) and that worker has not called the loop's
    callback yet. It calls it once the loop has pointed the wheel at a new deadline, the
    moment the race leaves the loop in."""

    def __init__(self, timers: Any) -> None:
        self.timers = timers
        self.taken: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.timers, name)

    def cancel(self, entry: Any) -> bool:
        if self.taken is None:
            self.taken = entry
            self.timers.cancel(entry)  # out of the wheel: the other worker holds it
            return False  # "it fired"
        return bool(self.timers.cancel(entry))


def test_a_wheel_timer_fired_by_another_worker_as_the_loop_repoints_it_leaves_no_timer_armed() -> (
    None
):
    async def main() -> tuple[int, int, int]:
        loop: Any = asyncio.get_running_loop()
        timers = loop._timers
        before = timers.armed()
        late = loop.call_later(3600, lambda: None)  # the wheel's timer points here
        race = loop._timers = _FiredElsewhere(timers)
        try:
            sooner = loop.call_later(1800, lambda: None)  # the new earliest: the loop re-points
            assert race.taken is not None
            loop._wheel_fired()  # the other worker's callback lands only now
        finally:
            loop._timers = timers
        await asyncio.sleep(0)  # the drainer takes what is due (nothing) and re-points
        await asyncio.sleep(0)
        pointed = timers.armed() - before
        sooner.cancel()
        late.cancel()  # no timer left: none may stay in rt's wheel
        return pointed, timers.armed(), before

    pointed, armed, before = run(main)
    assert pointed == 1  # one wheel timer per loop, for the earliest deadline
    assert armed == before
