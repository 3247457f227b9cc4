"""rt.lowlevel.idle_parker: a task that is an event loop waits in the drivers itself.

rt-asyncio's drainer uses it when its queue is empty: the scheduler's idle wait, from inside
the task, so an event costs no park, wake-up and scheduler turn of the task.
"""

from __future__ import annotations

import socket
import threading

import pytest
from rtcore_helpers import Gate

import rt
from rt.lowlevel import READ, current_io, idle_parker


def test_idle_parker_outside_a_task_says_where_it_must_be_called() -> None:
    with pytest.raises(RuntimeError, match=r"idle_parker\(\) must be called from a task"):
        idle_parker()


def test_idle_parker_is_offered_by_the_current_thread_flavor_only(flavor: str | None) -> None:
    async def main() -> bool:
        return idle_parker() is not None

    offered = rt.run(main(), flavor=flavor)
    assert offered is (flavor in (None, "current_thread"))


def test_the_idle_park_does_not_wait_while_another_task_is_runnable() -> None:
    async def other() -> None:
        pass

    async def main() -> object:
        park = idle_parker()
        assert park is not None
        task = rt.spawn(other())  # runnable, not run yet
        got = park()
        await task
        return got

    assert rt.run(main(), flavor="current_thread") is None


def test_the_idle_park_dispatches_readiness_and_reports_nothing_else_runnable() -> None:
    async def main() -> tuple[object, list[str]]:
        park = idle_parker()
        assert park is not None
        a, b = socket.socketpair()
        seen: list[str] = []
        try:
            current_io().on_ready(a.fileno(), READ, lambda: seen.append("readable"))
            b.send(b"x")
            got = park()  # the fd is ready: the wait ends in the dispatch that calls back
            current_io().notify_closing(a.fileno())
        finally:
            a.close()
            b.close()
        return got, seen

    assert rt.run(main(), flavor="current_thread") == (False, ["readable"])


def test_a_wake_up_from_another_thread_ends_the_idle_park() -> None:
    # The other thread reschedules a parked task while the main task waits in the drivers:
    # the wait must end (else the test times out) and report the woken task as runnable, or,
    # when the wake-up came first, not wait at all. Repeated to land in the wait often.
    async def main() -> set[object]:
        park = idle_parker()
        assert park is not None
        results: set[object] = set()
        for _ in range(20):
            gate = Gate()
            waiter = rt.spawn(gate.wait())
            await rt.yield_now()  # the waiter parks on the gate
            go = threading.Event()

            def other_thread(go: threading.Event = go, gate: Gate = gate) -> None:
                go.wait()
                gate.open()

            thread = threading.Thread(target=other_thread)
            thread.start()
            go.set()
            results.add(park())
            await waiter
            thread.join()
        return results

    results = rt.run(main(), flavor="current_thread")
    assert results <= {True, None}


def test_a_task_spawned_from_another_thread_ends_the_idle_park() -> None:
    async def main() -> list[object]:
        park = idle_parker()
        assert park is not None
        handle = rt.Handle.current()
        ran: list[str] = []

        async def spawned() -> None:
            ran.append("ran")

        got: list[object] = []
        thread = threading.Thread(target=lambda: handle.spawn(spawned()))
        thread.start()
        while not ran:
            result = park()
            got.append(result)
            if result is not False:
                await rt.yield_now()  # what the caller must do: let the others run
        thread.join()
        return got

    got = rt.run(main(), flavor="current_thread")
    assert True in got or None in got
