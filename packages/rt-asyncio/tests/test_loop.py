"""rt's asyncio loop: the loop contract, on rt's scheduler, reactor, timer wheel and pool."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import rt
import rt.asyncio


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return rt.asyncio.run(main())


def test_new_event_loop_is_an_abstract_event_loop_driven_by_rt() -> None:
    loop = rt.asyncio.new_event_loop()
    try:
        assert isinstance(loop, asyncio.AbstractEventLoop)
        assert type(loop).__module__ == "rt.asyncio"

        async def inside() -> str:
            assert asyncio.get_running_loop() is loop
            # asyncio code reaches the runtime, but is no rt task: awaiting rt primitives
            # directly is refused (rt.asyncio.rt_as_aio is the way).
            with pytest.raises(RuntimeError, match="must be called from a task"):
                rt.lowlevel.current_task()
            return rt.Handle.current().metrics().flavor

        assert loop.run_until_complete(inside()) == "current_thread"
    finally:
        loop.close()


def test_call_soon_runs_callbacks_in_order_and_cancelled_handles_never() -> None:
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        seen: list[int] = []
        done = loop.create_future()
        for i in range(5):
            loop.call_soon(seen.append, i)
        loop.call_soon(seen.append, 99).cancel()
        loop.call_soon(done.set_result, None)
        await done
        return seen

    assert run(main) == [0, 1, 2, 3, 4]


def test_timers_fire_in_deadline_order_not_before_their_time() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fired: list[str] = []
        done = loop.create_future()
        when: dict[str, float] = {}
        for name, delay in [("c", 0.03), ("a", 0.01), ("b", 0.02)]:
            when[name] = loop.call_later(delay, fired.append, name).when()
        loop.call_later(0.015, fired.append, "x").cancel()
        # The deadlines are the handles' own: a stall between two call_later calls (a busy
        # machine) moves the later ones, and the done timer comes after the last of them.
        loop.call_at(max(when.values()) + 0.01, done.set_result, None)
        await done
        assert fired == sorted(when, key=when.__getitem__)
        assert sorted(fired) == ["a", "b", "c"]

    run(main)


def test_loop_timers_hold_one_wheel_slot_freed_when_all_are_cancelled() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        import rt.time

        before = rt.time.statistics().armed_timers
        handles = [loop.call_later(100 + i, lambda: None) for i in range(50)]
        during = rt.time.statistics().armed_timers
        for h in handles:
            h.cancel()
        after = rt.time.statistics().armed_timers
        assert during - before == 1  # the wheel's timer for the earliest deadline
        return after - before

    assert run(main) == 0


def test_cancelling_the_earliest_timer_leaves_the_later_ones_on_time() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        import rt.time

        rt.time.pause()
        seen: list[str] = []
        done = loop.create_future()
        first = loop.call_later(1, seen.append, "first")
        loop.call_later(2, seen.append, "second")
        many = [loop.call_later(3 + i, seen.append, "never") for i in range(300)]
        first.cancel()
        for h in many:  # mostly cancelled: the heap is rebuilt without them
            h.cancel()
        loop.call_later(4, done.set_result, None)
        await done
        assert loop.time() >= first.when() + 3
        return seen

    assert run(main) == ["second"]


def test_cancelling_handles_of_timers_that_ran_never_drops_pending_timers() -> None:
    # asyncio.sleep cancels its timer's handle once it has run; that must not count against
    # the timers still pending.
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        import rt.time

        rt.time.pause()
        seen: list[str] = []
        done = loop.create_future()
        ran = [loop.call_later(0.1, seen.append, "ran") for _ in range(3)]
        loop.call_later(5, done.set_result, None)
        await asyncio.sleep(1)
        for h in ran:
            h.cancel()
            h.cancel()
        assert rt.time.statistics().armed_timers == 1  # the one for done's timer
        await done
        return seen

    assert run(main) == ["ran", "ran", "ran"]


def test_timers_with_equal_deadlines_run_in_the_order_they_were_scheduled() -> None:
    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        seen: list[int] = []
        done = loop.create_future()
        when = loop.time() + 0.01
        for i in range(20):
            loop.call_at(when, seen.append, i)
        loop.call_at(when, done.set_result, None)
        await done
        return seen

    assert run(main) == list(range(20))


def test_call_later_handle_is_due_at_loop_time_plus_delay_and_never_runs_before_it() -> None:
    # Paused time: the clock moves only when the loop has nothing else to do, straight to the
    # next deadline, so "when" and "ran at" are exact readings, not durations.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        import rt.time

        rt.time.pause()
        ran_at: list[float] = []
        done = loop.create_future()
        t0 = loop.time()
        handles = [loop.call_later(d, lambda: ran_at.append(loop.time())) for d in (5, 0.25)]
        assert [h.when() for h in handles] == [t0 + 5, t0 + 0.25]
        loop.call_later(6, done.set_result, None)
        await done
        assert len(ran_at) == 2
        assert ran_at[0] >= handles[1].when()
        assert ran_at[1] >= handles[0].when()

    run(main)


def test_call_later_of_a_passed_delay_runs_after_the_callbacks_already_queued() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        seen: list[str] = []
        done = loop.create_future()
        loop.call_later(-1, seen.append, "due")
        loop.call_soon(seen.append, "soon")
        loop.call_later(0, done.set_result, None)
        await done
        return seen

    # asyncio's own loop: a due timer joins the ready queue after what is already in it.
    assert asyncio.run(main()) == ["soon", "due"]
    assert run(main) == ["soon", "due"]


def test_call_later_refuses_nan_and_takes_inf_as_never_holding_no_wheel_slot() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        import rt.time

        with pytest.raises(ValueError, match="nan"):
            loop.call_later(float("nan"), lambda: None)
        before = rt.time.statistics().armed_timers
        never = loop.call_later(float("inf"), lambda: None)
        assert never.when() == float("inf")
        assert rt.time.statistics().armed_timers == before
        never.cancel()
        with pytest.raises(TypeError):
            loop.call_later(None, lambda: None)  # type: ignore[arg-type]

    run(main)


def test_call_later_on_a_closed_loop_raises_asyncios_error() -> None:
    loop = rt.asyncio.new_event_loop()
    loop.run_until_complete(asyncio.sleep(0.001))  # attached to its wheel: the fast path
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_later(1, lambda: None)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_at(loop.time() + 1, lambda: None)


def test_call_soon_threadsafe_wakes_a_parked_loop_from_another_thread() -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        t = threading.Thread(target=lambda: loop.call_soon_threadsafe(fut.set_result, "woken"))
        t.start()
        try:
            return await fut
        finally:
            t.join()

    assert run(main) == "woken"


def test_run_in_executor_uses_rts_blocking_pool() -> None:
    async def main() -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        name = await loop.run_in_executor(None, lambda: threading.current_thread().name)
        with pytest.raises(ZeroDivisionError):
            await loop.run_in_executor(None, lambda: 1 // 0)
        return name, rt.Handle.current().metrics().blocking_threads

    name, threads = run(main)
    assert name.startswith("rt-")
    assert threads >= 1


def test_close_does_not_wait_for_a_default_executor_job_still_running() -> None:
    # As asyncio's loop (its default executor's shutdown(wait=False)); rt's loop waited in its
    # runtime's shutdown for the blocking pool. Found by uvloop's test_udp.
    loop = rt.asyncio.new_event_loop()
    started = threading.Event()
    release = threading.Event()

    def job() -> int:
        started.set()
        release.wait()
        return 1

    loop.run_in_executor(None, job)
    closer = threading.Thread(target=loop.close)
    try:
        assert started.wait(10)
        closer.start()
        closer.join(10)  # a bound: close() returns at once, or the test fails here
        assert not closer.is_alive(), "close() waited for the executor job"
        assert loop.is_closed()
    finally:
        release.set()
        if closer.is_alive() or closer.ident is not None:
            closer.join()
        if loop._closer is not None:  # the runtime's shutdown, once the job ended
            loop._closer.join()


def test_shutdown_default_executor_waits_for_the_jobs_still_running_and_refuses_new_ones() -> None:
    # As asyncio's loop (its thread pool's shutdown(wait=True)); close() no longer waits.
    release = threading.Event()
    ended = threading.Event()

    def job() -> None:
        release.wait()
        ended.set()

    async def main() -> bool:
        loop = asyncio.get_running_loop()
        loop.run_in_executor(None, job)
        loop.call_soon(release.set)  # runs once shutdown_default_executor waits
        await loop.shutdown_default_executor()
        with pytest.raises(RuntimeError, match="shutdown"):
            loop.run_in_executor(None, job)
        return ended.is_set()

    assert run(main) is True


def test_add_reader_sees_readiness_from_rts_reactor_and_remove_stops_it() -> None:
    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        got: list[bytes] = []
        first = loop.create_future()

        def on_readable() -> None:
            got.append(a.recv(100))
            if not first.done():
                first.set_result(None)

        loop.add_reader(a, on_readable)
        b.send(b"one")
        await first
        assert loop.remove_reader(a) is True
        assert loop.remove_reader(a) is False
        b.send(b"two")
        await asyncio.sleep(0.01)
        rest = a.recv(100)
        a.close()
        b.close()
        return [*got, rest]

    assert run(main) == [b"one", b"two"]


def test_sock_operations_and_tcp_streams_round_trip() -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()
        lsock.setblocking(False)
        client = socket.socket()
        client.setblocking(False)
        await loop.sock_connect(client, lsock.getsockname())
        conn, _ = await loop.sock_accept(lsock)
        conn.setblocking(False)
        await loop.sock_sendall(client, b"x" * 100_000)
        client.shutdown(socket.SHUT_WR)
        chunks = []
        while data := await loop.sock_recv(conn, 65536):
            chunks.append(data)
        for s in (lsock, client, conn):
            s.close()
        return b"".join(chunks)

    assert run(main) == b"x" * 100_000


def test_create_server_and_connection_with_protocols_and_half_close() -> None:
    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data.upper())

        def eof_received(self) -> bool:
            self.transport.write(b"!")
            return False  # close after the answer

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello ")
        writer.write(b"world")
        writer.write_eof()
        data = await reader.read()
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return data

    assert run(main) == b"HELLO WORLD!"


def test_each_read_hands_the_protocol_its_own_bytes_though_the_loop_reuses_one_buffer() -> None:
    chunks = [bytes([i]) * (1000 + i) for i in range(40)] + [b"z" * 300_000]

    class Keep(asyncio.Protocol):
        def __init__(self) -> None:
            loop = asyncio.get_running_loop()
            self.got: list[bytes] = []
            self.total = 0
            self.want = 0
            self.arrived: asyncio.Future[None] = loop.create_future()
            self.done: asyncio.Future[None] = loop.create_future()

        def data_received(self, data: bytes) -> None:
            assert type(data) is bytes
            self.got.append(data)
            self.total += len(data)
            if self.total >= self.want and not self.arrived.done():
                self.arrived.set_result(None)

        def eof_received(self) -> bool:
            self.done.set_result(None)
            return False

    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        b.setblocking(False)
        transport, keep = await loop.create_connection(Keep, sock=a)
        assert transport.max_size == 256 * 1024  # type: ignore[attr-defined]
        with b:
            for chunk in chunks:
                # One chunk at a time, each read before the next is sent: the earlier bytes
                # must survive the reuse of the loop's read buffer.
                keep.want += len(chunk)
                keep.arrived = loop.create_future()
                await loop.sock_sendall(b, chunk)
                await keep.arrived
            b.shutdown(socket.SHUT_WR)
            await keep.done
        transport.close()
        return keep.got

    got = run(main)
    assert b"".join(got) == b"".join(chunks)
    assert got[:40] == chunks[:40]  # one read each
    assert max(map(len, got)) <= 256 * 1024  # never more than asyncio's read size


def test_a_transport_whose_max_size_was_changed_reads_that_many_bytes_at_most() -> None:
    class Keep(asyncio.Protocol):
        def __init__(self) -> None:
            self.got: list[bytes] = []
            self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def data_received(self, data: bytes) -> None:
            self.got.append(data)

        def eof_received(self) -> bool:
            self.done.set_result(None)
            return False

    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with b:
            b.sendall(b"q" * 1000)
            b.shutdown(socket.SHUT_WR)
            transport, keep = await loop.create_connection(Keep, sock=a)
            transport.max_size = 100  # type: ignore[attr-defined]
            await keep.done
        transport.close()
        return keep.got

    got = run(main)
    assert b"".join(got) == b"q" * 1000
    assert max(map(len, got)) <= 100


def test_a_write_the_kernel_takes_part_of_buffers_the_rest_and_pauses_the_protocol() -> None:
    # write() sends at once when nothing is buffered; what the kernel does not take must be
    # buffered as asyncio buffers it (the writer armed, the high-water mark obeyed).
    payload = bytes(range(256)) * (16 * 1024)  # 4 MiB: more than a socket buffer holds

    class Writer(asyncio.Protocol):
        def __init__(self) -> None:
            self.paused = 0
            self.resumed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def pause_writing(self) -> None:
            self.paused += 1

        def resume_writing(self) -> None:
            if not self.resumed.done():
                self.resumed.set_result(None)

    async def main() -> tuple[int, int, bytes]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        b.setblocking(False)
        transport, writer = await loop.create_connection(Writer, sock=a)
        transport.set_write_buffer_limits(high=64 * 1024)
        transport.write(payload)
        buffered = transport.get_write_buffer_size()
        got = bytearray()
        with b:
            async with asyncio.timeout(60):  # a lost rest fails here instead of hanging
                while len(got) < len(payload):
                    got += await loop.sock_recv(b, 1 << 20)
                await writer.resumed
        transport.close()
        return buffered, writer.paused, bytes(got)

    buffered, paused, got = run(main)
    assert 0 < buffered < len(payload)
    assert paused == 1
    assert got == payload


def test_a_transport_switched_to_a_buffered_protocol_reads_into_its_buffer() -> None:
    class Plain(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            raise AssertionError("the plain protocol was replaced before any data arrived")

    class Buffered(asyncio.BufferedProtocol):
        def __init__(self) -> None:
            self.buf = bytearray(16)
            self.got = bytearray()
            self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def get_buffer(self, sizehint: int) -> bytearray:
            return self.buf

        def buffer_updated(self, nbytes: int) -> None:
            self.got += self.buf[:nbytes]

        def eof_received(self) -> bool:
            self.done.set_result(None)
            return False

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with b:
            transport, _ = await loop.create_connection(Plain, sock=a)
            buffered = Buffered()
            transport.set_protocol(buffered)
            b.sendall(b"p" * 100)
            b.shutdown(socket.SHUT_WR)
            async with asyncio.timeout(60):
                await buffered.done
        transport.close()
        return bytes(buffered.got)

    assert run(main) == b"p" * 100


_SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")


async def contexts_seen_by_data_received() -> list[str]:
    """What a plain Protocol's data_received sees of a context variable it also sets, across
    a pause_reading / resume_reading made from another task's context."""
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    arrived: asyncio.Queue[None] = asyncio.Queue()

    class Recorder(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            seen.append(f"{_SEEN.get()} -> {data.decode()}")
            _SEEN.set(f"set by {data.decode()}")
            arrived.put_nowait(None)

    a, b = socket.socketpair()
    _SEEN.set("creator")
    with b:
        transport, _ = await loop.create_connection(Recorder, sock=a)
        _SEEN.set("main")
        for chunk in (b"1", b"2"):
            b.sendall(chunk)
            await asyncio.wait_for(arrived.get(), 60)
        transport.pause_reading()
        b.sendall(b"3")

        async def resume() -> None:
            _SEEN.set("resumer")
            transport.resume_reading()

        await asyncio.create_task(resume())
        await asyncio.wait_for(arrived.get(), 60)  # the 3 sent while paused
        b.sendall(b"4")
        await asyncio.wait_for(arrived.get(), 60)
        seen.append(f"main sees {_SEEN.get()}")
    transport.close()
    return seen


def test_data_received_runs_in_its_transports_context_as_on_asyncios_loop() -> None:
    # The loop reads a plain Protocol's socket where the reactor reports it ready; the
    # protocol must still run in the context asyncio gives it: a copy taken when reading
    # started (when the transport was made, then at resume_reading), kept between reads.
    expected = [
        "creator -> 1",
        "set by 1 -> 2",
        "resumer -> 3",
        "set by 3 -> 4",
        "main sees main",
    ]
    assert asyncio.run(contexts_seen_by_data_received()) == expected
    assert run(contexts_seen_by_data_received) == expected


def test_reading_paused_in_data_received_resumes_with_nothing_lost_or_reordered() -> None:
    # pause_reading drops the fd's reader and resume_reading adds a new one while the loop
    # reads where the fd fires: every byte must still arrive once, in order.
    class Pausing(asyncio.Protocol):
        def __init__(self) -> None:
            self.got = bytearray()
            self.paused = 0
            self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.got += data
            self.paused += 1
            self.transport.pause_reading()
            asyncio.get_running_loop().call_soon(self.transport.resume_reading)

        def eof_received(self) -> bool:
            self.done.set_result(None)
            return False

    payload = bytes(range(256)) * 4096  # 1 MiB: many reads

    async def main() -> tuple[bytes, int]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        b.setblocking(False)
        transport, proto = await loop.create_connection(Pausing, sock=a)
        with b:
            await loop.sock_sendall(b, payload)
            b.shutdown(socket.SHUT_WR)
            await asyncio.wait_for(proto.done, 60)
        transport.close()
        return bytes(proto.got), proto.paused

    got, reads = run(main)
    assert got == payload
    assert reads > 1


def test_a_transports_max_size_set_back_to_asyncios_reads_that_much_again() -> None:
    class Keep(asyncio.Protocol):
        def __init__(self) -> None:
            self.got: list[bytes] = []
            self.total = 0
            self.arrived: asyncio.Future[None] | None = None

        def data_received(self, data: bytes) -> None:
            self.got.append(data)
            self.total += len(data)
            if self.total % 1000 == 0 and self.arrived is not None:
                self.arrived.set_result(None)

    async def main() -> tuple[list[bytes], list[bytes]]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with b:
            transport, keep = await loop.create_connection(Keep, sock=a)
            rounds: list[list[bytes]] = []
            for size in (100, 256 * 1024):
                transport.max_size = size  # type: ignore[attr-defined]
                assert transport.max_size == size  # type: ignore[attr-defined]
                keep.got = []
                keep.arrived = loop.create_future()
                b.sendall(b"m" * 1000)
                await asyncio.wait_for(keep.arrived, 60)
                rounds.append(keep.got)
        transport.close()
        return rounds[0], rounds[1]

    small, whole = run(main)
    assert b"".join(small) == b"m" * 1000
    assert max(map(len, small)) <= 100
    assert whole == [b"m" * 1000]  # one read: asyncio's size again


def test_a_plain_protocols_transport_holds_asyncios_attributes_and_no_bound_read_callback() -> None:
    # What an idle connection costs: the transport keeps the instance attributes asyncio's
    # keeps, and none of them a bound method for reading (a plain Protocol's read is the
    # loop's own).
    async def attributes() -> tuple[list[str], Any]:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with b:
            transport, _ = await loop.create_connection(asyncio.Protocol, sock=a)
            names = sorted(vars(transport))
            callback = vars(transport)["_read_ready_cb"]
            transport.close()
        return names, callback

    names, callback = run(attributes)
    assert names == asyncio.run(attributes())[0]
    assert callback is None


def test_unix_server_and_datagram_endpoint(tmp_path: Any) -> None:
    async def main() -> tuple[bytes, bytes]:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(await r.readline())
            await w.drain()
            w.close()

        path = str(tmp_path / "s.sock")
        server = await asyncio.start_unix_server(handle, path)
        r, w = await asyncio.open_unix_connection(path)
        w.write(b"unix\n")
        line = await r.readline()
        w.close()
        server.close()
        await server.wait_closed()

        loop = asyncio.get_running_loop()
        got: asyncio.Future[bytes] = loop.create_future()

        class Server(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                self.transport.sendto(data[::-1], addr)  # type: ignore[attr-defined]

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                got.set_result(data)

        st, _ = await loop.create_datagram_endpoint(Server, local_addr=("127.0.0.1", 0))
        addr = st.get_extra_info("sockname")
        ct, _ = await loop.create_datagram_endpoint(Client, remote_addr=addr)
        ct.sendto(b"dgram")
        reply = await got
        ct.close()
        st.close()
        return line, reply

    assert run(main) == (b"unix\n", b"margd")


def test_subprocess_exec_pipes_and_exit_code() -> None:
    async def main() -> tuple[bytes, int]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; sys.stdout.write(sys.stdin.read().upper()); sys.exit(3)",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate(b"piped")
        return out, proc.returncode or 0

    assert run(main) == (b"PIPED", 3)


def test_add_signal_handler_runs_on_the_loop() -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[int] = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, got.set_result, signal.SIGUSR1)
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            return await got
        finally:
            assert loop.remove_signal_handler(signal.SIGUSR1)

    assert run(main) == signal.SIGUSR1


def test_a_signal_landing_while_the_loop_starts_running_still_runs_its_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # rt's runtime looks for an application's signal wakeup fd (here asyncio's, installed by
    # add_signal_handler) by putting its own in place for a moment: a signal in that moment
    # must still reach asyncio's handler. The signal is raised exactly then.
    loop = rt.asyncio.new_event_loop()
    caught: list[int] = []
    try:

        def handler() -> None:
            caught.append(signal.SIGUSR1)
            loop.stop()

        loop.add_signal_handler(signal.SIGUSR1, handler)
        real = signal.set_wakeup_fd
        assert loop._csock is not None  # made by add_signal_handler
        asyncios = loop._csock.fileno()

        def racing(fd: int, **kwargs: Any) -> int:
            old = real(fd, **kwargs)
            if fd not in (asyncios, -1):
                signal.raise_signal(signal.SIGUSR1)
            return old

        monkeypatch.setattr(signal, "set_wakeup_fd", racing)
        stopper = loop.call_later(60, loop.stop)  # a lost signal fails the test, not hangs it
        loop.run_forever()
        stopper.cancel()
        monkeypatch.undo()
        assert caught == [signal.SIGUSR1]
    finally:
        monkeypatch.undo()
        loop.remove_signal_handler(signal.SIGUSR1)
        loop.close()


def test_internal_fds_count_the_runtime_wakeup_fd_and_the_signal_pipe_until_close() -> None:
    loop = rt.asyncio.new_event_loop()
    closed = False
    try:
        # An owned loop's own wake-up fd is its runtime's reactor eventfd.
        assert loop._internal_fds == 1

        async def with_signal_handler() -> int:
            loop.add_signal_handler(signal.SIGUSR2, lambda: None)
            try:
                return int(loop._internal_fds)
            finally:
                loop.remove_signal_handler(signal.SIGUSR2)

        # The first signal handler adds asyncio's socket pair (the signal wakeup fd).
        assert loop.run_until_complete(with_signal_handler()) == 2
        loop.close()
        closed = True
        assert loop._internal_fds == 0
        assert loop._ssock is None and loop._csock is None
    finally:
        if not closed:
            loop.close()


def test_a_loop_whose_signal_pipe_the_collector_closed_first_still_closes() -> None:
    # A loop dropped unclosed with a signal handler is collected in a cycle with its
    # self-pipe's reader, and the collector may close the socket pair before the loop's
    # __del__ closes the loop (found by uvloop's test_signals): close() must not fail on it.
    loop = rt.asyncio.new_event_loop()
    closed = False
    try:
        loop.add_signal_handler(signal.SIGUSR2, lambda: None)
        assert loop._ssock is not None
        loop._ssock.close()  # what the collector did first
        loop.close()
        closed = True
        pipe: tuple[Any, Any] = (loop._ssock, loop._csock)  # close() dropped both
        assert pipe == (None, None)
        assert loop._internal_fds == 0
        assert signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL
    finally:
        if not closed:
            loop.remove_signal_handler(signal.SIGUSR2)
            loop._ssock = None
            loop.close()


def test_sigint_while_the_loop_runs_raises_keyboard_interrupt_where_the_code_is() -> None:
    # As on asyncio's loop: run_until_complete leaves Python's SIGINT behaviour alone, so the
    # running coroutine gets KeyboardInterrupt (rt's block_on used to turn it into cancelling
    # the loop's driver, and the interrupt was lost). Found by uvloop's test_signals.
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("the test runner replaced Python's SIGINT handler")

    async def main() -> str:
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            return "interrupted here"
        return "not interrupted"

    loop = rt.asyncio.new_event_loop()
    try:
        outcome = loop.run_until_complete(main())
    except KeyboardInterrupt:
        outcome = "KeyboardInterrupt out of run_until_complete"
    finally:
        loop.close()
    assert outcome == "interrupted here"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_runner_policy_and_run_use_rts_loop() -> None:
    async def kind() -> type:
        return type(asyncio.get_running_loop())

    with asyncio.Runner(loop_factory=rt.asyncio.new_event_loop) as runner:
        assert runner.run(kind()) is rt.asyncio.RtEventLoop
    if sys.version_info >= (3, 12):
        assert asyncio.run(kind(), loop_factory=rt.asyncio.new_event_loop) is rt.asyncio.RtEventLoop
    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(rt.asyncio.EventLoopPolicy())
    try:
        assert asyncio.run(kind()) is rt.asyncio.RtEventLoop
    finally:
        asyncio.set_event_loop_policy(old)
    assert rt.asyncio.run(kind()) is rt.asyncio.RtEventLoop


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are new in Python 3.12")
def test_eager_task_factory_starts_tasks_synchronously() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
        seen: list[str] = []

        async def child() -> None:
            seen.append("child")

        t = asyncio.create_task(child())
        seen.append("parent")
        await t
        return seen

    assert run(main) == ["child", "parent"]


def test_close_leaves_no_thread_or_fd_behind() -> None:
    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    # Threads started earlier (by other tests' libraries) may end meanwhile: none is added.
    threads_before = set(threading.enumerate())
    fds_before = fds()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sum, [1])
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        server.close()
        await server.wait_closed()

    run(main)
    assert fds() == fds_before
    assert set(threading.enumerate()) - threads_before == set()


# -- bad input: asyncio's own errors -----------------------------------------------------


def test_closed_loop_refuses_work_with_asyncios_error() -> None:
    loop = rt.asyncio.new_event_loop()
    loop.close()
    loop.close()  # twice is a no-op
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_soon(print)
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_until_complete(coro)
    coro.close()


def test_run_until_complete_reentered_is_refused_and_the_loop_survives() -> None:
    loop = rt.asyncio.new_event_loop()
    try:

        async def inner() -> None:
            pass

        async def outer() -> str:
            coro = inner()
            with pytest.raises(RuntimeError, match="already running"):
                loop.run_until_complete(coro)
            coro.close()
            await asyncio.sleep(0)
            return "survived"

        assert loop.run_until_complete(outer()) == "survived"
        assert loop.run_until_complete(asyncio.sleep(0, "again")) == "again"
    finally:
        loop.close()


def test_foreign_thread_use_in_debug_mode_is_refused() -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        errors: list[BaseException] = []

        def other() -> None:
            try:
                loop.call_soon(print)
            except RuntimeError as exc:
                errors.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        return str(errors[0])

    assert "thread" in rt.asyncio.run(main(), debug=True)


def test_protocol_that_raises_goes_to_the_exception_handler_and_closes_its_transport() -> None:
    class Bad(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            raise ValueError("protocol bug")

    async def main() -> tuple[str, bytes]:
        loop = asyncio.get_running_loop()
        reported: asyncio.Future[str] = loop.create_future()

        def handler(_loop: Any, ctx: dict[str, Any]) -> None:
            if not reported.done():
                reported.set_result(repr(ctx.get("exception")))

        loop.set_exception_handler(handler)
        server = await loop.create_server(Bad, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"boom")
        what = await reported
        rest = await r.read()  # the server closed the connection
        w.close()
        server.close()
        await server.wait_closed()
        return what, rest

    assert run(main) == ("ValueError('protocol bug')", b"")


def test_transport_written_after_close_is_dropped_as_asyncio_does() -> None:
    async def main() -> bool:
        def on_connection(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.close()

        server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _r, w = await asyncio.open_connection("127.0.0.1", port)
        w.close()
        await w.wait_closed()
        w.write(b"late")  # asyncio ignores it (and logs after a few attempts)
        server.close()
        await server.wait_closed()
        return w.transport.is_closing()

    assert run(main) is True


def test_keyboard_interrupt_in_a_callback_leaves_run_until_complete() -> None:
    loop = rt.asyncio.new_event_loop()
    try:

        def interrupt() -> None:
            raise KeyboardInterrupt

        async def main() -> None:
            loop.call_soon(interrupt)
            await asyncio.sleep(10)

        task = loop.create_task(main())
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(task)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(task)
    finally:
        loop.close()


async def exception_referrers() -> list[str]:
    """The types of what refers to an exception a finished task raised from a future, once
    it is caught.

    The task's frame, kept by the exception's traceback, links back to the frames that ran
    its wake-up handle (whose arguments hold the future, which holds the exception).
    """
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    async def waiter(box: list[asyncio.Future[None]]) -> None:
        await box.pop()  # no frame of ours keeps the future

    task = loop.create_task(waiter([fut]))
    await asyncio.sleep(0)
    fut.set_exception(ValueError("stored in a future"))
    del fut
    exc = None
    try:
        await task
    except ValueError as caught:
        exc = caught
    del task
    return sorted(type(r).__name__ for r in gc.get_referrers(exc))


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_the_loop_leaves_no_reference_cycle_to_an_exception_raised_in_a_callback(
    debug: bool,
) -> None:
    # anyio's refcycle tests: asyncio's own loop drops the handle it ran, so nothing but
    # the catching frame refers to the exception.
    on_asyncio = asyncio.run(exception_referrers(), debug=debug)
    assert rt.asyncio.run(exception_referrers(), debug=debug) == on_asyncio


def test_tls_server_client_and_start_tls_with_stdlib_ssl() -> None:
    trustme = pytest.importorskip("trustme", reason="trustme is a test dependency (hatch.toml)")
    import ssl

    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        line = await r.readline()
        if line == b"STARTTLS\n":  # plain first, then upgrade this connection
            w.write(b"OK\n")
            await w.drain()
            await w.start_tls(server_ctx)
            line = await r.readline()
        w.write(line.upper())
        await w.drain()
        w.close()

    async def main() -> tuple[bytes, bytes, str]:
        tls_server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
        plain_server = await asyncio.start_server(handle, "127.0.0.1", 0)
        tls_port = tls_server.sockets[0].getsockname()[1]
        plain_port = plain_server.sockets[0].getsockname()[1]

        r, w = await asyncio.open_connection(
            "127.0.0.1", tls_port, ssl=client_ctx, server_hostname="localhost"
        )
        w.write(b"over tls\n")
        direct = await r.readline()
        version = w.get_extra_info("ssl_object").version()
        w.close()

        r, w = await asyncio.open_connection("127.0.0.1", plain_port)
        w.write(b"STARTTLS\n")
        assert await r.readline() == b"OK\n"
        await w.start_tls(client_ctx, server_hostname="localhost")
        w.write(b"upgraded\n")
        upgraded = await r.readline()
        w.close()
        for server in (tls_server, plain_server):
            server.close()
            await server.wait_closed()
        return direct, upgraded, version

    direct, upgraded, version = run(main)
    assert (direct, upgraded) == (b"OVER TLS\n", b"UPGRADED\n")
    assert version.startswith("TLS")
