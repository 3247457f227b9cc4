"""``call_soon`` on the loop's own thread while the drainer of an owned loop starts to wait in
the runtime's drivers: what a finalizer run there by the cyclic collector (a dropped
``StreamWriter`` closing its transport, which queues ``connection_lost``) or a signal handler
does. No token is out and nobody else will wake the loop: the handle must still run then,
not at the next unrelated event (see the design notes, "Same-thread wake-ups outside
rt-sync"). Each run is bounded (``LIMIT``: the loop stops), so a lost wake-up fails."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from loop_helpers import LIMIT

import rt.asyncio
import rt.asyncio._loop
import rt.lowlevel
from rt.lowlevel import IoDriver


def _run_until(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[str]) -> str:
    """Run ``fut``'s loop; fail if it took the guard's timer (``LIMIT``) to get it done."""
    expired: list[None] = []

    def guard() -> None:  # only a lost wake-up waits this long
        expired.append(None)
        loop.stop()

    # From a thread, not a loop timer: the wheel's timer would wake the loop on its own.
    timer = threading.Timer(LIMIT, loop.call_soon_threadsafe, (guard,))
    timer.start()
    try:
        result = loop.run_until_complete(fut)
    finally:
        timer.cancel()
        timer.join()
    assert not expired, "the handle queued on the loop's thread waited for the next event"
    return result


def test_a_call_soon_on_the_loops_thread_as_the_drainer_starts_to_wait_runs_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = rt.asyncio.new_event_loop()
    try:
        fut: asyncio.Future[str] = loop.create_future()
        original = rt.lowlevel.idle_parker  # what the loop module imported
        calls: list[None] = []

        def idle_parker() -> Callable[[], Any] | None:
            park = original()
            if park is None:
                return None

            def parked() -> Any:
                # After the drainer's last look at its ready queue, before the drivers'.
                if not calls:
                    calls.append(None)
                    loop.call_soon(fut.set_result, "ran")
                return park()

            return parked

        monkeypatch.setattr(rt.asyncio._loop, "idle_parker", idle_parker)
        assert _run_until(loop, fut) == "ran"
        assert calls, "the drainer never waited in the drivers"
    finally:
        loop.close()


def test_a_call_soon_on_the_loops_thread_inside_the_drivers_wait_runs_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = rt.asyncio.new_event_loop()
    try:
        fut: asyncio.Future[str] = loop.create_future()
        original = IoDriver.park
        calls: list[None] = []

        def park(self: IoDriver, timeout: float | None) -> None:
            # The reactor's wait about to begin (the time layer above may run a finalizer
            # there: it allocates as it fires what is due).
            if not calls and timeout != 0:
                calls.append(None)
                loop.call_soon(fut.set_result, "ran")
            original(self, timeout)

        monkeypatch.setattr(IoDriver, "park", park)
        assert _run_until(loop, fut) == "ran"
        assert calls, "the drainer never waited in the drivers"
    finally:
        loop.close()
