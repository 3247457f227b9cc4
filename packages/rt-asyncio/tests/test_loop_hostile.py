"""rt's asyncio loop misused the way asyncio users misuse asyncio's: edge delays, stale fds,
executor jobs that raise what a future refuses. Each case behaves as on asyncio's default loop
or better (a clear error where asyncio hangs or fails later), and never hangs or leaks."""

from __future__ import annotations

import asyncio
import errno
import inspect
import os
import select
import socket
import threading
from typing import Any

import pytest
from loop_helpers import LIMIT

import rt.asyncio

pytestmark = pytest.mark.timeout(LIMIT * 3)  # a hang outside the bounded waits fails the test


def _open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


def _stale_pair() -> tuple[int, int]:
    """Two fd numbers that were a socket pair's, closed: the next fds made reuse them."""
    a, b = socket.socketpair()
    numbers = a.fileno(), b.fileno()
    a.close()
    b.close()
    return numbers


# -- timers -----------------------------------------------------------------------------------


def test_call_at_of_an_int_beyond_a_floats_range_is_taken_as_asyncios_loop_takes_it() -> None:
    # A NaN check turned 10**400 into a float and raised OverflowError out of rt; asyncio
    # takes the deadline (never due) and one in the far past (due at once).
    loop = rt.asyncio.new_event_loop()
    try:
        ran: list[str] = []

        async def main() -> None:
            never = loop.call_at(10**400, ran.append, "never")
            loop.call_at(-(10**400), ran.append, "past")
            near = loop.create_future()
            loop.call_later(0, near.set_result, None)
            await asyncio.wait_for(near, LIMIT)
            assert never.when() == 10**400
            never.cancel()

        loop.run_until_complete(main())
        assert ran == ["past"]
    finally:
        loop.close()


def test_call_later_and_call_at_far_beyond_the_wheel_wait_on_as_asyncios_loop_does() -> None:
    # 1e300 seconds is finite (asyncio takes it) but its nanoseconds overflow a float: the
    # wheel's timer for it raised OverflowError out of rt, at call_later while the loop ran
    # and at the start of the run for a timer armed before it.
    loop = rt.asyncio.new_event_loop()
    try:
        ran: list[str] = []
        before = loop.call_at(1e300, ran.append, "call_at")

        async def main() -> None:
            later = loop.call_later(1e300, ran.append, "call_later")
            near = loop.create_future()
            loop.call_later(0, near.set_result, None)  # the nearer timer still fires
            await asyncio.wait_for(near, LIMIT)
            assert not later.cancelled()
            later.cancel()

        loop.run_until_complete(main())
        assert ran == []
        assert before.when() == 1e300
        before.cancel()
        assert loop.run_until_complete(asyncio.sleep(0, "again")) == "again"
    finally:
        loop.close()


# -- running ----------------------------------------------------------------------------------


def test_an_owned_loop_run_from_an_rt_task_is_refused_naming_aio_as_rt_and_closes_the_coro() -> (
    None
):
    # It raised rt's block_on error, which names neither the loop nor what to use, and left
    # the coroutine it had made a task of never awaited.
    async def job() -> int:
        return 1

    async def main() -> None:
        loop = rt.asyncio.new_event_loop()
        try:
            coro = job()
            with pytest.raises(RuntimeError, match=r"inside a running rt task.*aio_as_rt"):
                loop.run_until_complete(coro)
            # Closed, never started: no "never awaited" warning.
            assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED
            with pytest.raises(RuntimeError, match=r"inside a running rt task.*aio_as_rt"):
                loop.run_forever()
            assert not loop.is_running()
        finally:
            loop.close()

    rt.run(main())


# -- the executor -----------------------------------------------------------------------------


def test_run_in_executor_of_a_function_raising_stop_iteration_raises_runtime_error() -> None:
    # A future refuses StopIteration: asyncio's loop reports a TypeError from its callback
    # and leaves the awaiting code waiting for ever.
    def stops() -> None:
        raise StopIteration("done")

    async def main() -> BaseException:
        loop = asyncio.get_running_loop()
        with pytest.raises(RuntimeError, match="raised StopIteration") as info:
            await asyncio.wait_for(loop.run_in_executor(None, stops), LIMIT)
        return info.value

    error = rt.asyncio.run(main())
    assert isinstance(error.__cause__, StopIteration)
    assert str(error.__cause__) == "done"


# -- stale fds --------------------------------------------------------------------------------


def test_add_reader_of_a_stale_fd_the_runtime_reused_for_signals_is_refused_and_runs_end() -> None:
    # The fds closed just before a run are reused by the run's signal wake-up pair. Watching
    # such a stale number took the runtime's own fd over, and the run then failed in its
    # shutdown with a bare FileNotFoundError, leaving the pair open.
    loop = rt.asyncio.new_event_loop()
    fds = _open_fds()
    stale = _stale_pair()

    async def main() -> list[str]:
        refused: list[str] = []
        for fd in stale:
            try:
                loop.add_reader(fd, print)
            except OSError as exc:
                assert exc.errno == errno.EBADF
                refused.append(str(exc))
            else:
                assert loop.remove_reader(fd)
        await asyncio.sleep(0)
        return refused

    try:
        refused = loop.run_until_complete(main())
        assert len(refused) == 1
        assert "runtime's own wake-up fd" in refused[0]
        assert "stop watching an fd before closing it" in refused[0]
        assert loop.run_until_complete(asyncio.sleep(0, "again")) == "again"
    finally:
        loop.close()
    assert _open_fds() <= fds


@pytest.mark.parametrize("backend", ["epoll", "selectors"])
def test_add_writer_of_a_stale_fd_the_runtime_reused_for_its_wakeups_keeps_them_working(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fds closed just before a loop is made are reused by its runtime (epoll, eventfd).
    # Watching the eventfd's number took it over and remove_writer then dropped it from the
    # reactor: a call_soon_threadsafe from another thread, made while the loop waited in the
    # reactor, no longer woke it (it ran whenever something else did). Now the number is
    # refused, and a wake-up from another thread still reaches the loop. Where epoll does
    # not exist the reactor runs over the selectors module, which raised a bare KeyError.
    if backend == "selectors":
        monkeypatch.delattr(select, "epoll", raising=False)  # the runtime picks selectors
    stale = _stale_pair()
    loop = rt.asyncio.new_event_loop()

    async def main() -> list[OSError]:
        refused: list[OSError] = []
        for fd in stale:
            try:
                loop.add_writer(fd, print)
            except OSError as exc:
                refused.append(exc)
            else:
                assert loop.remove_writer(fd)
        woken = loop.create_future()
        thread = threading.Thread(target=loop.call_soon_threadsafe, args=(woken.set_result, 1))
        thread.start()
        try:
            await asyncio.wait_for(woken, LIMIT)
        finally:
            thread.join()
        return refused

    try:
        refused: Any = loop.run_until_complete(main())
        own = [exc for exc in refused if exc.errno == errno.EBADF]
        assert own and "runtime's own wake-up fd" in str(own[0])
    finally:
        loop.close()
