"""What one echoed request costs an owned loop's server in reactor calls and wake-ups.

The TCP echo rows of the asyncio benchmark were profiled for extra system calls (re-arming an fd
with ``epoll_ctl`` per read, a wake-up write to the eventfd when the loop's own thread queues
work, a non-blocking poll before each blocking one): there were none, and these tests keep it
so. What the server did pay per request was a wake-up of the drainer task (``reschedule``, a
task step, a park): an idle owned loop now waits in the runtime's drivers from the drainer
(``rt.lowlevel.idle_parker``), so an event is queued without one. A plain blocking client in a
thread (it never touches the loop) echoes through a ``Protocol`` server on rt's loop; the
reactor's methods and the loop's ``reschedule`` calls are counted while it does.
"""

from __future__ import annotations

import asyncio
import select
import socket
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from loop_helpers import LIMIT, run

import rt.asyncio._loop
import rt.lowlevel
from rt._core import _backends
from rt.lowlevel import IoDriver

REQUESTS = 200


def count_calls(monkeypatch: pytest.MonkeyPatch, cls: type, name: str, calls: Counter[str]) -> None:
    """Count the calls of ``cls.name`` in ``calls`` (``park`` as a poll or a blocking park)."""
    original: Callable[..., Any] = getattr(cls, name)

    def counted(self: Any, *args: Any) -> Any:
        key = name
        if name == "park":
            key = "park(0)" if args[0] == 0 else "park(blocking)"
        calls[key] += 1
        return original(self, *args)

    monkeypatch.setattr(cls, name, counted)


def counting_reschedule(calls: Counter[str]) -> Callable[..., None]:
    """rt's ``reschedule``, counting its calls in ``calls``."""
    reschedule = rt.lowlevel.reschedule  # what the loop module imported

    def counted(task: Any, exc: BaseException | None = None) -> None:
        calls["reschedule"] += 1
        reschedule(task, exc)

    return counted


def echo_requests(requests: int) -> None:
    """Serve ``requests`` 64-byte round trips of one client on an owned rt loop."""

    async def main() -> None:
        class Echo(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                self.t = transport

            def data_received(self, data: bytes) -> None:
                self.t.write(data)

        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        failed: list[BaseException] = []

        def client() -> None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=LIMIT) as s:
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    for _ in range(requests):
                        s.sendall(b"x" * 64)
                        got = b""
                        while len(got) < 64:
                            chunk = s.recv(64 - len(got))
                            assert chunk, "the server closed the connection"
                            got += chunk
            except BaseException as exc:  # reported by the test
                failed.append(exc)

        thread = threading.Thread(target=client)
        done = loop.create_future()
        thread.start()

        # Wait for the client without a thread-safe wake-up per request (what is counted):
        # one call_soon_threadsafe at the end.
        def wait_for_client() -> None:
            thread.join()
            loop.call_soon_threadsafe(done.set_result, None)

        waiter = threading.Thread(target=wait_for_client)
        waiter.start()
        await done  # no timer: an idle loop with one waits as before (see the loop)
        waiter.join()
        server.close()
        await server.wait_closed()
        assert not failed, failed

    run(main)


@pytest.mark.skipif(not hasattr(select, "epoll"), reason="counts the epoll backend's calls (Linux)")
def test_an_echoed_request_costs_no_rearm_no_wakeup_write_and_no_extra_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    costs: list[Counter[str]] = []
    for requests in (REQUESTS, 2 * REQUESTS):
        calls: Counter[str] = Counter()
        with monkeypatch.context() as m:
            for name in ("on_ready", "unpark", "park"):
                count_calls(m, IoDriver, name, calls)
            for name in ("register", "modify", "unregister"):
                count_calls(m, _backends._EpollBackend, name, calls)
            m.setattr(rt.asyncio._loop, "reschedule", counting_reschedule(calls))
            echo_requests(requests)
        costs.append(calls)
    small, large = costs
    per_request = {k: (large[k] - small[k]) / REQUESTS for k in set(small) | set(large)}
    # Readiness callbacks stay armed: no on_ready (and no epoll_ctl) per request.
    for name in ("on_ready", "register", "modify", "unregister"):
        assert per_request.get(name, 0) <= 0, (name, small, large)
    # The drainer waits in the drivers itself: an event is queued without rescheduling it.
    assert per_request.get("reschedule", 0) <= 0, (small, large)
    # Work queued by the loop's own thread never writes to the reactor's wake-up fd: the one
    # write a run may make is the client's end, reported with call_soon_threadsafe.
    assert small["unpark"] <= 1 and large["unpark"] <= 1, (small, large)
    # At most one poll per request, a blocking one: no poll without blocking before it. (A
    # few parks more or less come with setting the connection up and closing it.)
    assert per_request.get("park(0)", 0) <= 0, (small, large)
    assert large["park(blocking)"] - small["park(blocking)"] <= REQUESTS + 10, (small, large)


def test_call_soon_threadsafe_ends_the_idle_wait_of_an_owned_loop() -> None:
    # The drainer of an idle owned loop waits in the drivers, not parked: a callback queued
    # from another thread must end that wait (no timer is armed: a lost wake-up hangs until
    # the test's timeout). Repeated to land in the wait often.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        for i in range(50):
            fut: asyncio.Future[int] = loop.create_future()
            go = threading.Event()

            def other_thread(
                fut: asyncio.Future[int] = fut, go: threading.Event = go, i: int = i
            ) -> None:
                go.wait()
                loop.call_soon_threadsafe(fut.set_result, i)

            thread = threading.Thread(target=other_thread)
            thread.start()
            loop.call_soon(go.set)  # from the loop, just before it goes idle
            assert await fut == i
            thread.join()

    run(main)


def test_stop_from_another_thread_ends_the_idle_wait_of_an_owned_loop() -> None:
    loop = rt.asyncio.new_event_loop()
    try:
        for _ in range(20):
            go = threading.Event()

            def other_thread(go: threading.Event = go) -> None:
                go.wait()
                loop.call_soon_threadsafe(loop.stop)

            thread = threading.Thread(target=other_thread)
            thread.start()
            loop.call_soon(go.set)
            loop.run_forever()  # returns once the stop arrives (or the test times out)
            thread.join()
    finally:
        loop.close()


def test_a_timer_due_as_the_idle_wait_starts_still_fires() -> None:
    # The handle below keeps the drainer busy until the timer's deadline has passed, so the
    # wheel fires it only when the drainer next waits in the drivers: as rt-time's park
    # starts, after which it blocks unless something ends the wait (nothing else is armed:
    # a timer slept through hangs until the test's timeout).
    async def main() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(20):
            fired: asyncio.Future[None] = loop.create_future()
            deadline = loop.time() + 0.001
            loop.call_at(deadline, fired.set_result, None)

            def busy_until_due(deadline: float = deadline) -> None:
                while loop.time() < deadline:  # the clock itself, not a sleep
                    pass

            loop.call_soon(busy_until_due)
            await fired

    run(main)


def test_timers_of_an_owned_loop_fire_without_writing_the_reactors_wakeup_fd(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The wheel's timer fires on the loop's own thread inside the drainer's idle wait
    # (rt-time's park): before the reactor's wait it makes that wait a poll, after it nothing
    # is needed. Either way no unpark (an eventfd write, and a read to drain it).
    calls: Counter[str] = Counter()

    async def main() -> None:
        async def sleeper(i: int) -> None:
            await asyncio.sleep(0.0005 * (i % 5))

        for _ in range(20):
            await asyncio.gather(*(sleeper(i) for i in range(10)))

    with monkeypatch.context() as m:
        count_calls(m, IoDriver, "unpark", calls)
        count_calls(m, IoDriver, "unpark_local", calls)
        run(main)
    assert calls["unpark_local"] > 0, calls  # the path under test was taken
    assert calls["unpark"] == 0, calls
