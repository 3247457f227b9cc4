"""TCP: rt servers and clients against plain blocking sockets in threads, and against each other."""

from __future__ import annotations

import errno
import os
import resource
import socket
import struct
import threading

import pytest
from nethelpers import ThreadPeer, blocking_echo_client, recv_all

import rt
import rt.io
from rt.net import TcpListener, TcpSocket, TcpStream, lookup_host


async def _echo(stream: TcpStream) -> None:
    async with stream:
        while data := await stream.read():
            await stream.write_all(data)
        await stream.shutdown()


async def test_rt_echo_server_serves_plain_blocking_clients_byte_for_byte() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        addr = listener.local_addr()
        payloads = [os.urandom(n) for n in (0, 1, 1000, 300_000)]
        peers = [ThreadPeer(blocking_echo_client, addr, p) for p in payloads]
        async with rt.TaskGroup() as tg:
            for _ in payloads:
                stream, peer = await listener.accept()
                assert peer[0] == "127.0.0.1"
                tg.spawn(_echo(stream))
        results = [await rt.spawn_blocking(p.join) for p in peers]
    assert results == payloads


async def test_rt_client_talks_to_a_plain_blocking_server() -> None:
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> bytes:
        conn, _ = srv.accept()
        with conn:
            data = recv_all(conn)
            conn.sendall(data[::-1])
        return data

    peer = ThreadPeer(serve)
    try:
        async with await TcpStream.connect(srv.getsockname()) as stream:
            assert stream.peer_addr() == srv.getsockname()
            assert stream.local_addr()[0] == "127.0.0.1"
            assert stream.nodelay()
            await stream.write_all(b"hello world")
            await stream.shutdown()
            assert await stream.read_exact(11) == b"dlrow olleh"
            assert await stream.read() == b""
        assert await rt.spawn_blocking(peer.join) == b"hello world"
    finally:
        srv.close()


_CLIENT = r"""
import resource, struct, sys
import rt
from rt.net import TcpStream

async def main(port: int, n: int) -> None:
    streams = []
    for i in range(n):  # phase 1: all n connections open at once
        streams.append(await TcpStream.connect(("127.0.0.1", port)))

    async def talk(i: int, s: TcpStream) -> bool:
        payload = struct.pack("!I", i) * 16
        await s.write_all(payload)
        ok = await s.read_exact(len(payload)) == payload
        await s.shutdown()
        ok = ok and await s.read() == b""
        s.close()
        return ok

    handles = [rt.spawn(talk(i, s)) for i, s in enumerate(streams)]
    results = [await h for h in handles]
    print(sum(results))

n = int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < n + 500:
    resource.setrlimit(resource.RLIMIT_NOFILE, (n + 500, hard))
rt.run(main(int(sys.argv[1]), n))
"""


async def test_10k_concurrent_connections_every_byte_verified() -> None:
    import subprocess
    import sys

    n = 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = n + 500
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    try:
        async with await TcpListener.bind("127.0.0.1:0", backlog=4096) as listener:
            port = listener.local_addr()[1]
            # The clients run in another process (each side needs its own 10k fds and raises
            # its own limit).
            client = rt.spawn_blocking(
                lambda: subprocess.run(
                    [sys.executable, "-c", _CLIENT, str(port), str(n)],
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
            )
            async with rt.TaskGroup() as tg:
                for _ in range(n):
                    stream, _peer = await listener.accept()
                    tg.spawn(_echo(stream))
            done = await client
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip() == str(n)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_connect_refused_is_a_connection_refused_error_naming_the_address() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectionRefusedError, match=f"127.0.0.1:{port}"):
        await TcpStream.connect(f"127.0.0.1:{port}")


async def test_connect_tries_every_address_from_lookup_until_one_answers() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        port = listener.local_addr()[1]
        addrs = await lookup_host(f"localhost:{port}")
        assert ("127.0.0.1", port) in addrs
        # "localhost" may resolve to ::1 first, where nothing listens: connect must go on.
        async with await TcpStream.connect(("localhost", port)) as stream:
            accepted, _ = await listener.accept()
            await stream.write_all(b"x")
            assert await accepted.read() == b"x"
            accepted.close()


async def test_ipv6_listener_and_stream() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        listener = await TcpListener.bind("[::1]:0")
    except OSError as exc:
        pytest.skip(f"cannot bind ::1: {exc}")
    async with listener:
        addr = listener.local_addr()
        assert addr[0] == "::1"
        async with await TcpStream.connect(f"[::1]:{addr[1]}") as stream:
            accepted, peer = await listener.accept()
            assert peer[0] == "::1"
            await stream.write_all(b"six")
            assert await accepted.read_exact(3) == b"six"
            accepted.close()


async def test_peer_reset_surfaces_as_connection_reset_error() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        c = socket.create_connection(listener.local_addr())
        stream, _ = await listener.accept()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()  # RST
        with pytest.raises(ConnectionResetError):
            while await stream.read():
                pass
            await stream.write_all(b"x" * 100)  # EOF-first kernels: the write sees the reset
        stream.close()


async def test_writing_to_a_peer_that_went_away_raises_broken_pipe_or_reset() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        c = socket.create_connection(listener.local_addr())
        stream, _ = await listener.accept()
        c.close()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for _ in range(100):
                await stream.write_all(b"x" * 65536)
        stream.close()


async def test_write_after_shutdown_is_a_broken_pipe_error_saying_so_and_read_still_works() -> None:
    listener = await TcpListener.bind("127.0.0.1:0")
    async with listener, await TcpStream.connect(listener.local_addr()) as a:
        b, _ = await listener.accept()
        await a.shutdown()
        await a.shutdown()  # idempotent
        assert await b.read() == b""  # half-close reached the peer
        with pytest.raises(BrokenPipeError, match="after shutdown"):
            await a.write(b"late")
        await b.write_all(b"still flowing")
        assert await a.read_exact(13) == b"still flowing"
        b.close()


async def test_reading_a_closed_stream_is_an_ebadf_error_saying_it_was_closed() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        a = await TcpStream.connect(listener.local_addr())
        b, _ = await listener.accept()
        a.close()
        a.close()  # idempotent
        with pytest.raises(OSError, match="closed") as info:
            await a.read()
        assert info.value.errno == errno.EBADF
        with pytest.raises(OSError, match="closed"):
            await a.write_all(b"x")
        b.close()


async def test_closing_a_stream_wakes_the_task_reading_it_with_ebadf() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        a = await TcpStream.connect(listener.local_addr())
        b, _ = await listener.accept()
        reader = rt.spawn(a.read())
        await rt.yield_now()
        a.close()
        with pytest.raises(rt.JoinError) as info:
            await reader
        assert isinstance(info.value.exception, OSError)
        assert info.value.exception.errno == errno.EBADF
        b.close()


async def test_closing_from_another_thread_wakes_the_reader() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        a = await TcpStream.connect(listener.local_addr())
        b, _ = await listener.accept()
        reader = rt.spawn(b.read())
        await rt.yield_now()
        await rt.spawn_blocking(b.close)
        with pytest.raises(rt.JoinError) as info:
            await reader
        assert isinstance(info.value.exception, OSError)
        a.close()


async def test_cancelled_read_loses_no_bytes() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        a = await TcpStream.connect(listener.local_addr())
        b, _ = await listener.accept()
        with rt.CancelScope() as scope:
            h = rt.spawn(b.read())
            await rt.yield_now()
            h.abort()
            with pytest.raises(rt.JoinError):
                await h
        assert not scope.cancel_called
        await a.write_all(b"kept")
        assert await b.read_exact(4) == b"kept"
        a.close()
        b.close()


async def test_cancelled_read_exact_puts_its_partial_bytes_back() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        a = await TcpStream.connect(listener.local_addr())
        b, _ = await listener.accept()
        await a.write_all(b"abc")
        h = rt.spawn(b.read_exact(10))
        await rt.yield_now()  # its first poll reads "abc" (already on loopback), then parks
        assert not h.is_finished()
        h.abort()
        with pytest.raises(rt.JoinError) as info:
            await h
        assert info.value.is_cancelled()
        await a.write_all(b"defghij")
        assert await b.read_exact(10) == b"abcdefghij"
        a.close()
        b.close()


async def test_read_exact_at_early_eof_is_an_eof_error_with_the_partial_bytes() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        a = await TcpStream.connect(listener.local_addr())
        b, _ = await listener.accept()
        await a.write_all(b"abc")
        a.close()
        with pytest.raises(EOFError) as info:
            await b.read_exact(5)
        assert isinstance(info.value, rt.io.IncompleteReadError)
        assert info.value.partial == b"abc" and info.value.expected == 5
        b.close()


async def test_cancelled_write_all_reports_how_many_bytes_were_written() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        a = await TcpStream.connect(listener.local_addr())
        b, _ = await listener.accept()
        a.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        payload = b"z" * 10_000_000  # far more than the kernel buffers hold: it must wait
        caught: list[BaseException] = []

        async def writer() -> None:
            try:
                await a.write_all(payload)
            except rt.Cancelled as exc:
                caught.append(exc)
                raise

        h = rt.spawn(writer())
        await rt.yield_now()
        h.abort()
        with pytest.raises(rt.JoinError):
            await h
        sent = rt.io.bytes_written(caught[0])
        assert sent is not None and 0 < sent < len(payload)
        assert any("write_all wrote" in note for note in caught[0].__notes__)
        await a.shutdown()
        received = 0
        while chunk := await b.read():
            received += len(chunk)
        assert received == sent
        a.close()
        b.close()


async def test_split_halves_read_and_write_from_two_tasks_at_once() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        client = await TcpStream.connect(listener.local_addr())
        server, _ = await listener.accept()
        rd, wr = client.into_split()
        n = 2_000_000

        async def pump() -> None:
            for _ in range(n // 10_000):
                await wr.write_all(b"q" * 10_000)
            wr.close()  # shuts down writing: the server sees EOF

        async def drain() -> int:
            total = 0
            while chunk := await rd.read():
                total += len(chunk)
            return total

        srv = rt.spawn(_echo(server))
        p = rt.spawn(pump())
        got = await drain()
        await p
        await srv
        rd.close()
        assert got == n
        assert client.closed


async def test_accept_at_emfile_raises_a_clear_error_and_the_listener_keeps_serving() -> None:
    listener = await TcpListener.bind("127.0.0.1:0")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hog: list[int] = []
    client = socket.create_connection(listener.local_addr())
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 4096), hard))
        with pytest.raises(OSError) as info:
            while True:
                hog.append(os.open(os.devnull, os.O_RDONLY))
        assert info.value.errno == errno.EMFILE
        with pytest.raises(OSError, match="listener stays usable") as info2:
            await listener.accept()
        assert info2.value.errno == errno.EMFILE
    finally:
        for fd in hog:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    stream, _ = await listener.accept()  # the queued connection was not lost
    client.sendall(b"hi")
    assert await stream.read_exact(2) == b"hi"
    stream.close()
    client.close()
    listener.close()


async def test_incoming_yields_streams_until_the_task_stops() -> None:
    async with await TcpListener.bind(("127.0.0.1", 0)) as listener:
        clients = [socket.create_connection(listener.local_addr()) for _ in range(3)]
        seen = 0
        async for stream in listener.incoming():
            stream.close()
            seen += 1
            if seen == 3:
                break
        for c in clients:
            c.close()
    assert seen == 3


async def test_bind_address_in_use_names_the_address() -> None:
    async with await TcpListener.bind("127.0.0.1:0", reuse_address=False) as listener:
        port = listener.local_addr()[1]
        with pytest.raises(OSError, match=f"127.0.0.1:{port}") as info:
            await TcpListener.bind(("127.0.0.1", port), reuse_address=False)
        assert info.value.errno == errno.EADDRINUSE


async def test_tcp_socket_sets_options_before_listen_and_connect() -> None:
    s = TcpSocket.new_v4()
    s.set_reuseaddr(True)
    s.set_reuseport(True)
    s.bind("127.0.0.1:0")
    addr = s.local_addr()
    listener = s.listen(16)
    with pytest.raises(OSError, match="used or closed"):
        s.listen()
    c = TcpSocket.new_v4()
    c.set_nodelay(True)
    stream = await c.connect(addr)
    accepted, _ = await listener.accept()
    await stream.write_all(b"opt")
    assert await accepted.read_exact(3) == b"opt"
    for r in (stream, accepted, listener):
        r.close()


async def test_idle_connections_do_not_wake_the_runtime() -> None:
    """1,000 idle readers: while a plain thread waits on nothing, the loop must not spin."""
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        addr = listener.local_addr()
        clients = [socket.create_connection(addr) for _ in range(1000)]
        servers = [(await listener.accept())[0] for _ in clients]
        readers = [rt.spawn(s.read()) for s in servers]
        await rt.yield_now()
        before = rt.Handle.current().metrics()
        # Idle for a while: a blocking job occupies a thread; the runtime has nothing to do
        # but wait for it. A reactor that spun on ready-but-unwanted fds would park and wake
        # again and again meanwhile; ours parks once and wakes once, when the job is done.
        await rt.spawn_blocking(threading.Event().wait, 0.2)
        after = rt.Handle.current().metrics()
        # a few parks per worker (a spinning reactor would park thousands of times)
        assert after.park_count - before.park_count <= 3 * after.workers
        for c in clients:
            c.sendall(b"!")
        assert [await r for r in readers] == [b"!"] * 1000
        for s in servers:
            s.close()
        for c in clients:
            c.close()


async def test_try_read_and_try_write_never_wait() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        a = await TcpStream.connect(listener.local_addr())
        b, _ = await listener.accept()
        with pytest.raises(BlockingIOError):
            b.try_read()
        assert a.try_write(b"now") == 3
        assert await b.read_exact(3) == b"now"
        a.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        with pytest.raises(BlockingIOError):
            while True:
                a.try_write(b"x" * 65536)
        rd, wr = b.into_split()
        await a.shutdown()
        total = 0
        while chunk := await rd.read():
            total += len(chunk)
        assert rd.try_read() == b""  # EOF is not "would block"
        assert wr.try_write(b"back") == 4
        rd.close()
        wr.close()
        a.close()


def _fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


def test_runtime_shutdown_mid_traffic_leaves_no_fd_or_thread_behind(flavor: str | None) -> None:
    before = _fds()
    threads_before = set(threading.enumerate())

    async def main() -> None:
        listener = await TcpListener.bind("127.0.0.1:0")
        addr = listener.local_addr()

        async def serve() -> None:
            async with listener:
                while True:
                    stream, _ = await listener.accept()
                    rt.spawn(_echo(stream))

        async def chatter() -> None:
            async with await TcpStream.connect(addr) as s:
                while True:
                    await s.write_all(b"ping")
                    await s.read_exact(4)

        rt.spawn(serve())
        for _ in range(20):
            rt.spawn(chatter())
        await lookup_host("localhost:80")  # a blocking-pool thread exists now
        for _ in range(50):
            await rt.yield_now()
        # return with everything still running: rt.run shuts the runtime down

    rt.run(main(), flavor=flavor)
    import gc

    gc.collect()
    assert _fds() - before == set()
    assert {t for t in threading.enumerate() if t.name.startswith("rt-")} - threads_before == set()


async def test_bad_sizes_are_value_errors_and_read_zero_is_not_eof() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        a = await TcpStream.connect(listener.local_addr())
        b, _ = await listener.accept()
        with pytest.raises(ValueError, match="read size"):
            await a.read(-1)
        with pytest.raises(ValueError, match="read_exact size"):
            await a.read_exact(-5)
        assert await a.read(0) == b""
        await b.write_all(b"still open")
        assert await a.read_exact(10) == b"still open"
        with pytest.raises(TypeError):
            await a.write("text")  # type: ignore[arg-type]
        a.close()
        b.close()


def test_using_a_stream_after_its_runtime_shut_down_says_so(flavor: str | None) -> None:
    async def make() -> tuple[TcpListener, TcpStream]:
        listener = await TcpListener.bind("127.0.0.1:0")
        return listener, await TcpStream.connect(listener.local_addr())

    listener, stream = rt.run(make(), flavor=flavor)

    async def use() -> bytes:
        return await stream.read()

    with pytest.raises(RuntimeError, match="shut down"):
        rt.run(use(), flavor=flavor)
    stream.close()
    listener.close()


async def test_cancelled_accept_takes_no_connection_from_the_queue() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        h = rt.spawn(listener.accept())
        await rt.yield_now()
        h.abort()
        with pytest.raises(rt.JoinError):
            await h
        client = socket.create_connection(listener.local_addr())
        stream, peer = await listener.accept()  # the connection made after the cancel
        assert peer == client.getsockname()
        stream.close()
        client.close()


async def test_cancelled_connect_leaves_no_socket_open() -> None:
    before = _fds()
    # A listener whose backlog is full makes connect() wait (SYNs are dropped, not refused).
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(8):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(listener.getsockname())
        fillers.append(f)
    h = rt.spawn(TcpStream.connect(listener.getsockname()))
    await rt.yield_now()
    h.abort()
    with pytest.raises(rt.JoinError) as info:
        await h
    assert info.value.is_cancelled()
    for f in fillers:
        f.close()
    listener.close()
    assert _fds() - before == set()


async def test_cancelled_write_wrote_nothing_and_counts_add_up() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        a = await TcpStream.connect(listener.local_addr())
        b, _ = await listener.accept()
        a.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        written = 0
        while True:  # fill the pipe: from now on a write has to wait
            try:
                written += a.try_write(b"w" * 65536)
            except BlockingIOError:
                break
        h = rt.spawn(a.write(b"w" * 65536))
        await rt.yield_now()
        h.abort()
        with pytest.raises(rt.JoinError) as info:
            await h
        assert info.value.is_cancelled()  # it was waiting for room: nothing was sent
        await a.shutdown()
        received = 0
        while chunk := await b.read():
            received += len(chunk)
        assert received == written
        a.close()
        b.close()


def test_binding_outside_a_runtime_says_how_to_start_one_and_leaks_nothing() -> None:
    import asyncio

    before = _fds()
    with pytest.raises(RuntimeError, match=r"rt\.run"):
        asyncio.run(TcpListener.bind("127.0.0.1:0"))
    assert _fds() - before == set()


@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
def test_a_socket_awaited_from_another_runtime_raises_instead_of_hanging(flavor: str) -> None:
    # A listener is registered with the reactor of the runtime that made it, the only one that
    # watches its fd: a task of another runtime that waited on it parked for ever.
    with rt.Runtime(flavor=flavor) as owner:

        async def bind() -> TcpListener:
            return await TcpListener.bind("127.0.0.1:0")

        listener = owner.block_on(bind())

        async def accept_elsewhere() -> str:
            with pytest.raises(RuntimeError, match="another rt runtime") as info:
                await listener.accept()
            return str(info.value)

        assert "Handle.spawn" in rt.run(accept_elsewhere(), flavor=flavor)

        # Its own runtime still serves it: nothing was left registered by the refused wait.
        async def accept_here() -> bytes:
            async with listener:
                with socket.create_connection(listener.local_addr()) as client:
                    client.sendall(b"ok")
                    stream, _ = await listener.accept()
                    async with stream:
                        return await stream.read_exact(2)

        assert owner.block_on(accept_here()) == b"ok"
