"""fd readiness on rt's asyncio loop: add_reader / add_writer through rt's reactor callbacks.

Readiness reaches the loop as asyncio's selector loop has it: the reactor calls the fd's watch
(``IoDriver.on_ready``), the handle joins the ready queue, and the direction is armed again
after the batch that ran it. These tests run on an owned loop (a current-thread runtime of its
own) and, through ``aio_as_rt``, on a loop attached to each flavor's runtime (on the
multi-thread flavor another worker may be the one that sees the fd ready).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import threading
from typing import Any

import pytest
from loop_helpers import LIMIT, pair, run

import rt
import rt.asyncio
import rt.lowlevel


async def reader_fires_and_removal_stops_it() -> list[bytes]:
    loop = asyncio.get_running_loop()
    a, b = pair()
    c, d = pair()  # a second fd, to know a poll has seen both
    got: list[bytes] = []
    first = loop.create_future()
    marker = loop.create_future()
    try:

        def on_a() -> None:
            got.append(a.recv(100))
            if not first.done():
                first.set_result(None)

        loop.add_reader(a, on_a)
        b.send(b"one")
        await asyncio.wait_for(first, LIMIT)
        assert loop.remove_reader(a) is True
        assert loop.remove_reader(a) is False  # asyncio's answer for an fd not watched

        # Both fds ready for the same poll: a's callback would run in the batch c's runs in.
        def on_c() -> None:
            if not marker.done():
                marker.set_result(c.recv(100))

        loop.add_reader(c, on_c)
        b.send(b"two")
        d.send(b"mark")
        assert await asyncio.wait_for(marker, LIMIT) == b"mark"
        await asyncio.sleep(0)
        loop.remove_reader(c)
        assert a.recv(100) == b"two"  # still there: nobody read it
        return got
    finally:
        for s in (a, b, c, d):
            s.close()


def test_a_reader_callback_fires_for_a_socketpair_and_removing_it_stops_it() -> None:
    assert run(reader_fires_and_removal_stops_it) == [b"one"]


async def test_a_reader_callback_fires_on_a_loop_attached_to_either_flavor() -> None:
    assert await rt.asyncio.aio_as_rt(reader_fires_and_removal_stops_it()) == [b"one"]


async def writer_fires_until_removed() -> int:
    loop = asyncio.get_running_loop()
    a, b = pair()
    done = loop.create_future()
    calls = 0
    try:

        def on_writable() -> None:
            nonlocal calls
            calls += 1
            if calls == 3:  # level-triggered: a writable fd keeps firing while watched
                loop.remove_writer(a)
                done.set_result(None)

        loop.add_writer(a, on_writable)
        await asyncio.wait_for(done, LIMIT)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return calls
    finally:
        a.close()
        b.close()


def test_a_writer_callback_fires_while_writable_until_removed() -> None:
    assert run(writer_fires_until_removed) == 3


async def test_a_writer_callback_fires_on_a_loop_attached_to_either_flavor() -> None:
    assert await rt.asyncio.aio_as_rt(writer_fires_until_removed()) == 3


def test_a_reader_added_from_another_thread_fires_on_the_loops_thread() -> None:
    async def main() -> tuple[bytes, bool]:
        loop = asyncio.get_running_loop()
        a, b = pair()
        got: asyncio.Future[tuple[bytes, bool]] = loop.create_future()
        loop_thread = threading.get_ident()
        try:

            def on_a() -> None:
                if not got.done():
                    got.set_result((a.recv(100), threading.get_ident() == loop_thread))

            added = threading.Event()

            def register() -> None:
                loop.add_reader(a, on_a)
                added.set()

            t = threading.Thread(target=register)
            t.start()
            await loop.run_in_executor(None, t.join)
            assert added.is_set()
            b.send(b"from afar")
            return await asyncio.wait_for(got, LIMIT)
        finally:
            loop.remove_reader(a)
            a.close()
            b.close()

    assert run(main) == (b"from afar", True)


def test_an_fd_closed_while_watched_is_removed_as_asyncio_does_and_its_number_works_again() -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        a, b = pair()
        fd = a.fileno()
        loop.add_reader(fd, lambda: None)
        a.close()  # behind the loop's back: the kernel forgets the epoll interest
        b.close()
        assert loop.remove_reader(fd) is True  # asyncio's answer too
        # The OS hands the number out again: the new socket is watched afresh.
        c, d = pair()
        for _ in range(8):
            if fd in (c.fileno(), d.fileno()):
                break
            c.close()
            d.close()
            c, d = pair()
        got: asyncio.Future[bytes] = loop.create_future()

        def on_c() -> None:
            if not got.done():
                got.set_result(c.recv(100))

        try:
            loop.add_reader(c, on_c)
            d.send(b"again")
            return await asyncio.wait_for(got, LIMIT)
        finally:
            loop.remove_reader(c)
            c.close()
            d.close()

    assert run(main) == b"again"


async def socket_closed_while_watched_is_removed_by_the_socket() -> list[object]:
    """anyio's raw-socket streams close the socket, then remove its reader or writer."""
    loop = asyncio.get_running_loop()
    seen: list[object] = []
    for add, remove in (
        (loop.add_reader, loop.remove_reader),
        (loop.add_writer, loop.remove_writer),
    ):
        a, b = pair()
        waiting: asyncio.Future[None] = loop.create_future()
        add(a, waiting.set_result, None)
        a.close()  # its fileno() is -1 from here on
        seen.append(remove(a))  # found by identity, as asyncio's selector finds its key
        with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
            remove(a)  # nothing watches it any more: asyncio's error for a closed socket
        b.close()
    return seen


def test_remove_reader_and_writer_of_a_socket_closed_while_watched_drop_it_as_asyncio_does() -> (
    None
):
    assert run(socket_closed_while_watched_is_removed_by_the_socket) == [True, True]


async def test_a_socket_closed_while_watched_leaves_no_fd_in_rts_reactor_once_removed() -> None:
    io = rt.lowlevel.current_io()
    before = io.registered_fds()
    seen = await rt.asyncio.aio_as_rt(socket_closed_while_watched_is_removed_by_the_socket())
    assert seen == [True, True]
    assert io.registered_fds() == before


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_a_task_spinning_on_sleep_zero_sees_io_within_one_budget_of_handles(debug: bool) -> None:
    # anyio's test_send_after_eof spins on checkpoint() until a server's reply arrives. Left
    # to rt's scheduler, a loop that is never idle saw I/O only every event_interval (61)
    # budgets of handles, and the test's 1 s ran out on a loaded machine.
    async def main() -> int:
        loop = asyncio.get_running_loop()
        a, b = pair()
        readable: asyncio.Future[None] = loop.create_future()

        def on_a() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(a, on_a)
        b.send(b"x")
        spins = 0
        try:
            while not readable.done():
                spins += 1
                await asyncio.sleep(0)
        finally:
            loop.remove_reader(a)
            a.close()
            b.close()
        return spins

    assert rt.asyncio.run(main(), debug=debug) <= 2 * rt.lowlevel.COOP_BUDGET


def test_add_reader_for_a_closed_fd_raises_as_asyncio_does() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = pair()
        fd = a.fileno()
        a.close()
        b.close()
        with pytest.raises(OSError) as info:
            loop.add_reader(fd, lambda: None)
        assert info.value.errno == errno.EBADF
        assert loop.remove_reader(fd) is False  # nothing was left registered

    run(main)


def test_a_reader_that_raises_is_reported_and_stays_registered() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        a, b = pair()
        reported: list[str] = []
        second = loop.create_future()
        loop.set_exception_handler(lambda _loop, ctx: reported.append(str(ctx["exception"])))
        calls = 0

        def on_a() -> None:
            nonlocal calls
            calls += 1
            a.recv(100)
            if calls == 1:
                raise ValueError("boom")
            second.set_result(None)

        try:
            loop.add_reader(a, on_a)
            b.send(b"1")
            async with asyncio.timeout(LIMIT):
                while not reported:
                    await asyncio.sleep(0)
            b.send(b"2")
            await asyncio.wait_for(second, LIMIT)
            return reported
        finally:
            loop.remove_reader(a)
            a.close()
            b.close()

    assert run(main) == ["boom"]


def test_an_io_callback_runs_after_the_callbacks_queued_before_the_poll_and_before_the_next() -> (
    None
):
    # asyncio's order: one iteration polls, then runs what was queued before the poll, then the
    # I/O callbacks the poll readied; what those queue runs in the next iteration.
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        a, b = pair()
        order: list[str] = []
        done = loop.create_future()
        b.send(b"x")  # readable before the loop polls again

        def on_a() -> None:
            a.recv(1)
            loop.remove_reader(a)
            order.append("io")
            loop.call_soon(order.append, "queued by io")
            loop.call_soon(done.set_result, None)

        loop.add_reader(a, on_a)
        loop.call_soon(order.append, "queued before")
        await asyncio.wait_for(done, LIMIT)
        a.close()
        b.close()
        return order

    assert run(main) == ["queued before", "io", "queued by io"]


def test_transport_reads_of_one_poll_all_run_before_what_they_queue() -> None:
    # The same order for transports, whose reads run where the poll reports them while the
    # loop waits in rt's drivers: every read of the poll first, then what the reads queued.
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        done = loop.create_future()

        class P(asyncio.Protocol):
            def __init__(self, name: str) -> None:
                self.name = name

            def data_received(self, data: bytes) -> None:
                order.append(f"read {self.name}")
                loop.call_soon(order.append, f"queued by {self.name}")
                loop.call_soon(self.check)

            def check(self) -> None:
                if len(order) == 4:
                    done.set_result(None)

        socks = [pair(), pair()]
        transports = []
        for name, (a, _) in zip("xy", socks, strict=True):
            t, _ = await loop.create_connection(functools.partial(P, name), sock=a)
            transports.append(t)
        await asyncio.sleep(0)
        for _, b in socks:
            b.send(b"!")  # both readable before the loop polls again
        await asyncio.wait_for(done, LIMIT)
        for t in transports:
            t.close()
        for _, b in socks:
            b.close()
        return order

    order = run(main)
    assert sorted(order[:2]) == ["read x", "read y"]
    assert [o.split()[-1] for o in order[2:]] == [o.split()[-1] for o in order[:2]]
    assert all(o.startswith("queued by") for o in order[2:])


def test_a_transport_survives_pause_and_resume_reading_and_echoes() -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        a, b = pair()
        got = bytearray()
        done = loop.create_future()

        class P(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                self.t = transport

            def data_received(self, data: bytes) -> None:
                got.extend(data)
                self.t.pause_reading()  # drops the fd's read interest
                loop.call_soon(self.t.resume_reading)  # and takes it again
                if len(got) >= 6:
                    done.set_result(None)

        t, _ = await loop.create_connection(P, sock=a)
        for chunk in (b"ab", b"cd", b"ef"):
            b.send(chunk)
            async with asyncio.timeout(LIMIT):
                while len(got) < {b"ab": 2, b"cd": 4, b"ef": 6}[chunk]:
                    await asyncio.sleep(0)
        await asyncio.wait_for(done, LIMIT)
        t.close()
        b.close()
        return bytes(got)

    assert run(main) == b"abcdef"


async def readiness_seen_again_before_the_handle_ran() -> list[str]:
    loop = asyncio.get_running_loop()
    a, b = pair()
    seq: list[str] = []
    stop = False

    def tick() -> None:  # once per batch: each run queues the next batch's
        seq.append("T")
        if not stop:
            loop.call_soon(tick)

    async def spin() -> None:  # rt tasks ahead of the drainer: the runtime polls between them
        while not stop:
            await rt.yield_now()

    try:
        spinners = [rt.spawn(spin()) for _ in range(100)]
        loop.add_reader(a, seq.append, "R")  # never read: a stays readable
        b.send(b"x")
        loop.call_soon(tick)
        while seq.count("R") < 200:
            await asyncio.sleep(0)
        stop = True
        loop.remove_reader(a)
        for h in spinners:
            await rt.asyncio.rt_as_aio(h)
        return seq
    finally:
        a.close()
        b.close()


def test_a_readable_fd_reported_again_before_its_handle_ran_is_queued_once_per_batch() -> None:
    # asyncio runs an fd's callback at most once per iteration; a poll that sees the fd ready
    # again before the batch holding its handle ran (rt tasks ran in between) adds no copy.
    seq = run(readiness_seen_again_before_the_handle_ran)
    assert "RR" not in "".join(seq)


def test_the_read_and_write_readiness_callbacks_are_the_same_code_for_their_direction() -> None:
    # _FdWatch.read_ready and write_ready are written out twice, for speed: every
    # readiness event of every connection runs one of them. They must not drift apart. Only
    # their first branch differs: a transport's callback run where it fires (the read one
    # reads for a plain Protocol itself).
    import ast
    import inspect
    import textwrap

    from rt.asyncio._loop import _FdWatch

    def body(method: Any, rename: dict[str, str]) -> str:
        func = ast.parse(textwrap.dedent(inspect.getsource(method))).body[0]
        assert isinstance(func, ast.FunctionDef)
        func.name = "callback"
        stmts = func.body[1:]  # the docstring
        inline = next(i for i, st in enumerate(stmts) if isinstance(st, ast.If))
        first = stmts[inline]
        assert isinstance(first, ast.If) and "loop._polling" in ast.unparse(first.test)
        func.body = stmts[:1] + stmts[inline + 1 :]  # loop = self.loop, then the rest
        code = ast.unparse(func)
        for old, new in rename.items():
            code = code.replace(old, new)
        return code

    read = body(
        _FdWatch.read_ready,
        {"rbatch": "DIR_batch", "rstate": "DIR_state", "rinline": "DIR_inline"},
    )
    write = body(
        _FdWatch.write_ready,
        {"wbatch": "DIR_batch", "wstate": "DIR_state", "winline": "DIR_inline"},
    )
    read = read.replace("self.reader", "self.DIR_handle")
    write = write.replace("self.writer", "self.DIR_handle")
    assert read == write
