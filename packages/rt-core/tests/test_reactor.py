"""The I/O reactor: wait_readable / wait_writable / notify_closing."""

from __future__ import annotations

import errno
import os
import select
import socket
import tempfile
import threading
import time
from typing import TYPE_CHECKING

import pytest

import rt
from rt.lowlevel import (
    READ,
    WRITE,
    IoDriver,
    current_io,
    notify_closing,
    wait_readable,
    wait_writable,
)

if TYPE_CHECKING:
    from rt._core._reactor import Registration


def test_wait_readable_wakes_when_a_plain_thread_writes(flavor: str | None) -> None:
    a, b = socket.socketpair()
    a.setblocking(False)

    async def main() -> bytes:
        t = threading.Thread(target=b.send, args=(b"ping",))
        t.start()
        await wait_readable(a)
        t.join()
        return a.recv(16)

    try:
        assert rt.run(main(), flavor=flavor) == b"ping"
    finally:
        a.close()
        b.close()


def test_wait_readable_returns_at_once_when_data_is_already_there(flavor: str | None) -> None:
    a, b = socket.socketpair()
    b.send(b"x")

    async def main() -> bytes:
        await wait_readable(a.fileno())
        await wait_readable(a.fileno())  # level-triggered: still readable, no hang
        return a.recv(1)

    try:
        assert rt.run(main(), flavor=flavor) == b"x"
    finally:
        a.close()
        b.close()


def test_wait_writable_on_a_fresh_socket_is_immediate(flavor: str | None) -> None:
    a, b = socket.socketpair()

    async def main() -> None:
        await wait_writable(a)

    try:
        rt.run(main(), flavor=flavor)
    finally:
        a.close()
        b.close()


def test_notify_closing_wakes_a_waiting_reader_with_ebadf(flavor: str | None) -> None:
    a, b = socket.socketpair()

    async def reader() -> None:
        await wait_readable(a)

    async def main() -> int | None:
        h = rt.spawn(reader())
        await rt.yield_now()
        notify_closing(a)
        a.close()
        with pytest.raises(rt.JoinError) as info:
            await h
        exc = info.value.exception
        assert isinstance(exc, OSError)
        return exc.errno

    try:
        assert rt.run(main(), flavor=flavor) == errno.EBADF
    finally:
        b.close()


def test_two_readers_on_one_fd_is_an_error_naming_the_fd(flavor: str | None) -> None:
    a, b = socket.socketpair()

    async def main() -> None:
        first = rt.spawn(wait_readable(a))
        await rt.yield_now()
        with pytest.raises(RuntimeError, match=f"fd {a.fileno()}"):
            await wait_readable(a)
        first.abort()
        with pytest.raises(rt.JoinError):
            await first

    try:
        rt.run(main(), flavor=flavor)
    finally:
        a.close()
        b.close()


def test_cancelled_wait_readable_loses_no_data_and_can_wait_again(flavor: str | None) -> None:
    a, b = socket.socketpair()
    a.setblocking(False)

    async def main() -> bytes:
        with rt.CancelScope() as scope:
            rt.spawn(_cancel(scope))
            await wait_readable(a)
        assert scope.cancelled_caught
        b.send(b"after")
        await wait_readable(a)
        return a.recv(16)

    try:
        assert rt.run(main(), flavor=flavor) == b"after"
    finally:
        a.close()
        b.close()


async def _cancel(scope: rt.CancelScope) -> None:
    scope.cancel()


def test_many_sockets_ready_out_of_order_each_wake_their_own_task(flavor: str | None) -> None:
    pairs = [socket.socketpair() for _ in range(20)]

    async def reader(i: int) -> tuple[int, bytes]:
        s = pairs[i][0]
        await wait_readable(s)
        return i, s.recv(8)

    async def main() -> list[tuple[int, bytes]]:
        hs = [rt.spawn(reader(i)) for i in range(20)]
        await rt.yield_now()
        for i in reversed(range(20)):
            pairs[i][1].send(str(i).encode())
        return [await h for h in hs]

    try:
        assert rt.run(main(), flavor=flavor) == [(i, str(i).encode()) for i in range(20)]
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_waiting_on_a_regular_file_explains_what_to_do(flavor: str | None) -> None:
    with tempfile.TemporaryFile() as f:

        async def main() -> None:
            with pytest.raises(OSError, match="spawn_blocking"):
                await wait_readable(f)

        rt.run(main(), flavor=flavor)


async def test_bad_fd_arguments_are_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="-1"):
        await wait_readable(-1)
    with pytest.raises(TypeError, match="fileno"):
        await wait_readable("not an fd")


def test_wait_readable_without_io_driver_says_so(flavor: str | None) -> None:
    async def main() -> None:
        r, w = os.pipe()
        try:
            with pytest.raises(RuntimeError, match="enable_io=False"):
                await wait_readable(r)
        finally:
            os.close(r)
            os.close(w)

    rt.run(main(), enable_io=False, flavor=flavor)


async def test_a_socket_closed_behind_the_reactors_back_does_not_hang_the_next_fd_owner() -> None:
    a, b = socket.socketpair()
    b.send(b"x")
    await wait_readable(a)  # registers interest in a's fd number
    assert a.recv(1) == b"x"
    fd = a.fileno()
    a.close()  # no notify_closing: the kernel silently drops the fd from epoll
    b.close()
    # The OS hands out the lowest free fd numbers: make a new pair until one reuses `fd`.
    spare: list[socket.socket] = []
    try:
        while True:
            c, d = socket.socketpair()
            if fd in (c.fileno(), d.fileno()):
                break
            spare += [c, d]
        reader, writer = (c, d) if c.fileno() == fd else (d, c)
        t = threading.Thread(target=writer.send, args=(b"y",))
        t.start()
        await wait_readable(reader)  # would never wake if the stale interest were trusted
        t.join()
        assert reader.recv(1) == b"y"
    finally:
        for s in [*spare, c, d]:
            s.close()


async def test_io_driver_close_from_another_thread_wakes_the_waiter_with_ebadf() -> None:
    a, b = socket.socketpair()
    io = current_io()
    try:

        async def reader() -> None:
            await io.wait(a, READ)

        h = rt.spawn(reader())
        await rt.yield_now()
        t = threading.Thread(target=io.close, args=(a,))
        t.start()
        with pytest.raises(rt.JoinError) as info:
            await h
        t.join()
        assert isinstance(info.value.exception, OSError)
        assert info.value.exception.errno == errno.EBADF
        assert a.fileno() == -1
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
def test_io_driver_close_from_another_thread_between_block_on_calls_closes_at_once(
    flavor: str,
) -> None:
    # No thread drives the runtime: the close cannot be posted to one, so it happens in the
    # calling thread, before close() returns, and the reactor forgets the fd.
    a, b = socket.socketpair()
    b.send(b"x")

    async def register() -> IoDriver:
        io = current_io()
        await io.wait(a, READ)  # ready at once; the interest stays registered
        assert a.recv(1) == b"x"  # drained: no idle readiness makes the reactor drop it
        return io

    try:
        with rt.Runtime(flavor=flavor) as runtime:
            io = runtime.block_on(register())
            if flavor == "current_thread":
                # Nothing polls between block_on calls, so the interest is still there. (A
                # multi-thread worker may poll after the wake-up and before the recv, see the
                # fd readable with nobody waiting, and drop the interest.)
                assert io.registered_fds() == 1
            t = threading.Thread(target=io.close, args=(a,))
            t.start()
            t.join()
            assert a.fileno() == -1
            assert io.registered_fds() == 0

            async def still_runs() -> str:
                await rt.yield_now()
                return "ok"

            assert runtime.block_on(still_runs()) == "ok"
    finally:
        a.close()
        b.close()


async def test_notify_closing_from_a_blocking_thread_wakes_the_waiter() -> None:
    a, b = socket.socketpair()
    try:
        reader = rt.spawn(wait_readable(a))
        await rt.yield_now()
        await rt.spawn_blocking(notify_closing, a)
        with pytest.raises(rt.JoinError) as info:
            await reader
        assert isinstance(info.value.exception, OSError)
        assert info.value.exception.errno == errno.EBADF
    finally:
        a.close()
        b.close()


async def test_a_registration_closed_behind_the_reactors_back_raises_ebadf_not_a_hang() -> None:
    io = current_io()
    a, b = socket.socketpair()
    reg = io.register(a)
    b.send(b"x")
    await reg.wait(READ)  # the registration now holds a's state in the reactor
    assert a.recv(1) == b"x"
    fd = a.fileno()
    a.close()  # no notify_closing: the kernel silently drops the fd from epoll
    b.close()
    spare: list[socket.socket] = []
    try:
        while True:  # hand a's fd number to a new socket, which registers its own interest
            c, d = socket.socketpair()
            if fd in (c.fileno(), d.fileno()):
                break
            spare += [c, d]
        reader, writer = (c, d) if c.fileno() == fd else (d, c)
        t = threading.Thread(target=writer.send, args=(b"y",))
        t.start()
        await io.register(reader).wait(READ)
        t.join()
        assert reader.recv(1) == b"y"
        with pytest.raises(OSError) as info:
            await reg.wait(READ)  # the old registration must not wait on the new fd
        assert info.value.errno == errno.EBADF
    finally:
        for s in [*spare, c, d]:
            s.close()


def test_a_registration_waits_again_after_the_reactor_dropped_its_idle_interest() -> None:
    # Pinned to current-thread: the count below is the reactor's state right after the park
    # that saw both fds; on multi-thread another worker's poll may come in between.
    flavor = "current_thread"
    a, b = socket.socketpair()
    c, d = socket.socketpair()

    async def main() -> bytes:
        io = current_io()
        reg = io.register(a)
        b.send(b"x")
        await reg.wait(READ)
        assert io.registered_fds() == 1
        # Park on another socket while `a` stays readable with nobody waiting on it: the
        # reactor drops that idle interest (and the state the registration holds).
        t = threading.Thread(target=d.send, args=(b"y",))
        t.start()
        await io.register(c).wait(READ)
        t.join()
        assert io.registered_fds() == 1  # only c: a's interest is gone
        await reg.wait(READ)  # registers again, and returns at once: the byte is still there
        return a.recv(1)

    try:
        assert rt.run(main(), flavor=flavor) == b"x"
    finally:
        for s in (a, b, c, d):
            s.close()


async def test_a_wait_direction_other_than_read_or_write_is_rejected() -> None:
    a, b = socket.socketpair()
    try:
        with pytest.raises(ValueError, match="READ or WRITE"):
            await current_io().wait(a, READ | WRITE)
    finally:
        a.close()
        b.close()


def test_a_registration_kept_past_its_runtimes_shutdown_is_refused_clearly(
    flavor: str | None,
) -> None:
    a, b = socket.socketpair()
    b.send(b"x")

    async def register() -> Registration:
        reg = current_io().register(a)
        await reg.wait(READ)  # holds a's state in the reactor when the runtime shuts down
        return reg

    async def wait_on(reg: Registration) -> None:
        await reg.wait(READ)

    try:
        reg = rt.run(register(), flavor=flavor)  # rt.run shuts its runtime down on return
        with pytest.raises(RuntimeError, match="shut down"):
            rt.run(wait_on(reg), flavor=flavor)
    finally:
        a.close()
        b.close()


def test_an_unpark_racing_shutdown_never_writes_into_an_fd_that_reused_the_wakeup_fd() -> None:
    # A plain thread unparks (a wake-up for a task) while the runtime closes its reactor: the
    # wake-up fd's number is free again, and a socket opened right then may get it. The
    # unpark's write must land in the wake-up fd or nowhere, never in that socket. (It did:
    # the closed check and the write were two steps; ~2 in 3 rounds under this switch rate.)
    import sys

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads between almost any two bytecodes
    try:
        for _ in range(300):
            io = IoDriver(lambda task: None)
            stop = threading.Event()

            def unpark_until_stopped(io: IoDriver = io, stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    io.unpark()

            t = threading.Thread(target=unpark_until_stopped, name="test-rt-unpark")
            t.start()
            io.shutdown()
            a, b = socket.socketpair()  # takes the lowest free numbers: the reactor's, often
            stop.set()
            t.join()
            a.setblocking(False)
            b.setblocking(False)
            for end in (a, b):
                with pytest.raises(BlockingIOError):
                    end.recv(64)  # nothing was written into either end
            a.close()
            b.close()
    finally:
        sys.setswitchinterval(interval)


def _parks_end(io: IoDriver, parks: int, unpark_each: bool) -> bool:
    """Park ``io`` ``parks`` times without a timeout on a thread of its own; whether every park
    ended within the (generous) wait. ``unpark_each``: unpark twice before each park."""

    def park_many() -> None:
        for _ in range(parks):
            if unpark_each:
                io.unpark()
                io.unpark()  # nothing to add to the first: skipped, and must not be lost later
            io.park(None)

    t = threading.Thread(target=park_many, name="test-rt-parker", daemon=True)
    t.start()
    t.join(timeout=30)  # a lost wake-up leaves it parked for ever (a daemon, so not a hang)
    return not t.is_alive()


_BACKENDS = [
    pytest.param(
        True,
        id="epoll",
        marks=pytest.mark.skipif(not hasattr(select, "epoll"), reason="Linux's backend"),
    ),
    pytest.param(False, id="selectors"),  # the backend where epoll does not exist
]


@pytest.mark.parametrize("use_epoll", _BACKENDS)
def test_watching_the_reactors_own_wakeup_fds_is_refused_on_either_backend(
    use_epoll: bool,
) -> None:
    # A caller holding a stale fd number the runtime reused for its own wake-up fd or signal
    # wake-up fd is refused with EBADF and what to do (the selectors backend raised a bare
    # KeyError), and the reactor's wake-ups still end its parks.
    from rt._core._wakeup import SignalWakeup

    io = IoDriver(lambda task: None, use_epoll=use_epoll)
    signals = SignalWakeup()  # not installed: only its fd, watched as a driven runtime does
    try:
        io.watch_signals(signals)
        for fd in (io._waker.fd, signals.fd):
            for direction in (READ, WRITE):
                with pytest.raises(OSError, match="runtime's own wake-up fd") as info:
                    io.on_ready(fd, direction, lambda: None)
                assert info.value.errno == errno.EBADF
                assert "stop watching an fd before closing it" in str(info.value)
        assert io.registered_fds() == 0
        assert _parks_end(io, 3, unpark_each=True)
    finally:
        io.shutdown()
        signals.close()


def test_each_park_after_unparks_ends_also_when_a_second_unpark_added_nothing() -> None:
    io = IoDriver(lambda task: None)
    try:
        assert _parks_end(io, 50, unpark_each=True)
    finally:
        io.shutdown()


@pytest.mark.skipif(not hasattr(os, "eventfd"), reason="the wake-up fd is an eventfd on Linux")
def test_an_unpark_landing_while_a_park_drains_the_wakeup_fd_is_not_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The drain reads the fd, then forgets that a wake-up was pending: in the other order, an
    # unpark landing in between would be read away and leave the flag set, and every later
    # unpark would skip its write (the next park would never end).
    io = IoDriver(lambda task: None)
    read = os.eventfd_read

    def read_as_an_unpark_lands(fd: int) -> int:
        io.unpark()  # another thread's wake-up, arriving while the park drains
        return read(fd)

    monkeypatch.setattr(os, "eventfd_read", read_as_an_unpark_lands)
    try:
        assert _parks_end(io, 3, unpark_each=True)
    finally:
        io.shutdown()


@pytest.mark.parametrize("use_epoll", _BACKENDS)
def test_unpark_local_before_the_wait_makes_the_wait_a_poll_without_an_epoll_wakeup_write(
    use_epoll: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A callback the park runs on its own thread before the wait (a timer's, fired as the
    # time driver's park starts) calls unpark_local: the wait that follows polls and returns
    # (a blocking wait with nothing armed would never end). On epoll with no write to the
    # wake-up fd; the selectors backend writes it (its wrapper may run a finalizer late).
    from rt._core._wakeup import _Waker

    writes = []
    wake = _Waker.wake

    def counted(self: _Waker) -> None:
        writes.append(self)
        wake(self)

    monkeypatch.setattr(_Waker, "wake", counted)
    io = IoDriver(lambda task: None, use_epoll=use_epoll)

    def park_once() -> None:
        io.about_to_park()  # as a scheduler flags it when it starts to park
        io.unpark_local()
        io.park(None)

    try:
        t = threading.Thread(target=park_once, name="test-rt-parker", daemon=True)
        t.start()
        t.join(timeout=30)  # a lost wake-up leaves it parked for ever (a daemon, not a hang)
        assert not t.is_alive()
        assert len(writes) == (0 if use_epoll else 1)
        assert not io._pre_block and not io._woken  # the wait is over: nothing left marked
    finally:
        io.unpark()
        io.shutdown()


def test_unparks_from_another_thread_racing_the_parks_drain_end_every_park() -> None:
    # A plain thread unparks without pause while this one parks again and again: an unpark
    # lands before, during and after each park's drain of the wake-up fd. An unpark skipped
    # because one was pending must never leave the next park without a wake-up.
    import sys

    io = IoDriver(lambda task: None)
    stop = threading.Event()

    def unpark_until_stopped() -> None:
        while not stop.is_set():
            io.unpark()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads between almost any two bytecodes
    t = threading.Thread(target=unpark_until_stopped, name="test-rt-unpark")
    t.start()
    try:
        assert _parks_end(io, 3000, unpark_each=False)
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(interval)
        io.shutdown()


@pytest.mark.parametrize("mode", ["select", "whole milliseconds"])
@pytest.mark.skipif(not hasattr(select, "epoll"), reason="the epoll backend is Linux-only")
def test_a_timed_epoll_park_never_ends_before_its_timeout(mode: str) -> None:
    from rt._core._backends import _EpollBackend

    backend = _EpollBackend()
    if mode == "whole milliseconds":
        backend._readers = None  # an epoll fd at or above FD_SETSIZE waits this way
    try:
        for timeout in (0.00002, 0.0003, 0.0017, 0.012):
            start = time.monotonic()
            assert backend.poll(timeout) == []
            # A park may end early only to let the caller park again for the rest, and only
            # for a wait too long to poll out; these end at their timeout or after it.
            if timeout < 0.01:
                assert time.monotonic() - start >= timeout
    finally:
        backend.close()


@pytest.mark.skipif(not hasattr(select, "epoll"), reason="the epoll backend is Linux-only")
def test_a_timed_epoll_park_returns_the_event_that_ends_it() -> None:
    from rt._core._backends import READ, _EpollBackend

    backend = _EpollBackend()
    a, b = socket.socketpair()
    try:
        backend.register(a.fileno(), READ)
        b.send(b"x")
        events = backend.poll(30.0)  # ends with the event, long before the timeout
        assert [fd for fd, mask in events if mask & backend.rbits] == [a.fileno()]
    finally:
        backend.close()
        a.close()
        b.close()


# -- readiness callbacks (IoDriver.on_ready) --------------------------------------------------


async def _poll_through(c: socket.socket) -> None:
    """Make the reactor poll at least once more: wait for ``c`` (which has data) to be read."""
    await wait_readable(c)
    c.recv(16)


async def test_on_ready_calls_the_callback_once_per_arming_on_a_runtime_thread() -> None:
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    io = current_io()
    calls: list[int] = []
    called = threading.Event()

    def ready() -> None:
        calls.append(threading.get_ident())
        called.set()

    try:
        io.on_ready(a.fileno(), READ, ready)
        b.send(b"x")
        assert await rt.to_thread(called.wait, 10)
        # Still readable (nobody read it), but the callback is not armed any more: a later
        # poll that sees the fd ready again does not call it.
        d.send(b"y")
        await _poll_through(c)
        assert len(calls) == 1
        called.clear()
        io.on_ready(a.fileno(), READ, ready)  # armed again: level-triggered, fires at once
        assert await rt.to_thread(called.wait, 10)
        assert len(calls) == 2
        assert a.recv(16) == b"x"
    finally:
        for s in (a, b, c, d):
            io.close(s)


async def test_an_on_ready_callback_returning_true_stays_armed_until_it_returns_false() -> None:
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    io = current_io()
    calls: list[int] = []
    twice = threading.Event()

    def ready() -> bool:
        calls.append(1)
        if len(calls) == 2:
            twice.set()
        return len(calls) < 2  # True once (stays armed), then False (dropped)

    try:
        io.on_ready(a.fileno(), READ, ready)
        b.send(b"x")  # never read: a's readiness stays, each poll reports it
        assert await rt.to_thread(twice.wait, 10)  # called again without a new arming
        for _ in range(3):  # later polls see a still ready, but the callback was dropped
            d.send(b"y")
            await _poll_through(c)
        assert len(calls) == 2
        io.on_ready(a.fileno(), READ, ready)  # and it can be armed afresh
    finally:
        for s in (a, b, c, d):
            io.close(s)


async def test_on_ready_write_callback_fires_for_a_writable_socket() -> None:
    a, b = socket.socketpair()
    io = current_io()
    called = threading.Event()
    try:
        io.on_ready(a.fileno(), WRITE, called.set)
        assert await rt.to_thread(called.wait, 10)
    finally:
        io.close(a)
        io.close(b)


async def test_notify_closing_drops_an_armed_callback_uncalled() -> None:
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    io = current_io()
    calls: list[str] = []
    try:
        io.on_ready(a.fileno(), READ, lambda: calls.append("dropped"))
        notify_closing(a)
        b.send(b"x")
        d.send(b"y")
        await _poll_through(c)
        assert calls == []
        # A new arming registers the fd afresh.
        called = threading.Event()
        io.on_ready(a.fileno(), READ, called.set)
        assert await rt.to_thread(called.wait, 10)
        assert calls == []
    finally:
        for s in (a, b, c, d):
            io.close(s)


async def test_a_task_waiting_in_the_same_direction_is_woken_first_the_callback_stays_armed() -> (
    None
):
    a, b = socket.socketpair()
    io = current_io()
    called = threading.Event()
    try:
        io.on_ready(a.fileno(), READ, called.set)
        b.send(b"x")
        await wait_readable(a)  # the task gets this readiness; the callback may get the next
        assert await rt.to_thread(called.wait, 10)
    finally:
        io.close(a)
        io.close(b)


async def test_on_ready_refuses_a_second_callback_a_bad_direction_and_a_regular_file() -> None:
    a, b = socket.socketpair()
    io = current_io()
    try:
        io.on_ready(a.fileno(), READ, lambda: None)
        with pytest.raises(RuntimeError, match=f"already armed for fd {a.fileno()}"):
            io.on_ready(a.fileno(), READ, lambda: None)
        with pytest.raises(ValueError, match="READ or WRITE"):
            io.on_ready(b.fileno(), 3, lambda: None)
        with (
            tempfile.TemporaryFile() as f,
            pytest.raises(OSError, match="regular files are always ready"),
        ):
            io.on_ready(f.fileno(), READ, lambda: None)
        closed = os.open(os.devnull, os.O_RDONLY)
        os.close(closed)
        with pytest.raises(OSError) as info:
            io.on_ready(closed, READ, lambda: None)
        assert info.value.errno == errno.EBADF
    finally:
        io.close(a)
        io.close(b)


async def test_on_ready_refusing_a_bad_direction_leaves_the_fd_out_of_the_table() -> None:
    a, b = socket.socketpair()
    io = current_io()
    before = io.registered_fds()
    try:
        with pytest.raises(ValueError, match="READ or WRITE"):
            io.on_ready(a.fileno(), 3, lambda: None)
        assert io.registered_fds() == before
    finally:
        a.close()
        b.close()


def test_shutdown_drops_armed_callbacks_uncalled(flavor: str | None) -> None:
    a, b = socket.socketpair()
    calls: list[str] = []

    async def main() -> None:
        current_io().on_ready(a.fileno(), READ, lambda: calls.append("called"))

    try:
        rt.run(main(), flavor=flavor)
        b.send(b"x")  # after shutdown: the reactor is gone, nothing may call back
        assert calls == []
    finally:
        a.close()
        b.close()


def test_readiness_is_seen_while_a_task_keeps_the_run_queue_from_running_dry(
    flavor: str | None,
) -> None:
    # A task that yields for ever leaves exactly one task queued after each step, so the
    # scheduler never goes idle: the reactor must still be polled (every event_interval
    # steps), or the reader below would never wake.
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)

    async def main() -> bytes:
        stop = False

        async def spinner() -> int:
            spins = 0
            while not stop:
                if spins == 1:
                    b.send(b"ready")  # after main parked on the reactor
                spins += 1
                await rt.yield_now()
            return spins

        handle = rt.spawn(spinner())
        await wait_readable(a)
        stop = True
        assert await handle > 1
        return a.recv(16)

    try:
        assert rt.run(main(), flavor=flavor) == b"ready"
    finally:
        a.close()
        b.close()


def test_current_thread_polls_count_every_step_of_tasks_that_hand_off_one_at_a_time() -> None:
    # The current-thread loop runs such tasks in segments of one step each and counts each
    # segment's steps as it ends; block_on returns after its loop stopped, so the count is
    # final. (A multi-thread worker adds its batch's steps after waking block_on's caller.)
    async def link(n: int) -> int:
        if n == 0:
            return 0
        return await rt.spawn(link(n - 1)) + 1

    async def main() -> int:
        await rt.yield_now()
        return await link(300)

    with rt.Runtime(flavor="current_thread") as runtime:
        before = runtime.metrics().polls
        assert runtime.block_on(main()) == 300
        # main: 3 steps (yield; run link(300) up to its spawn and park; resume and return);
        # each of the 299 spawned links that spawn in turn: 2 (spawn and park; resume);
        # the last link: 1.
        assert runtime.metrics().polls - before == 3 + 299 * 2 + 1
