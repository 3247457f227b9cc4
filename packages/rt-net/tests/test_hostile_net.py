"""A hostile pass on rt.net and rt.net.tls: what a Tokio, asyncio or trio user would try.

Huge read sizes, buffers whose items are wider than a byte, two tasks on one socket, a
shutdown or close racing a parked writer, and things that are not streams handed to TLS.
Every test runs on both scheduler flavors and counts ``/proc/self/fd`` where it opens sockets.
"""

from __future__ import annotations

import array
import contextlib
import errno
import os
import socket
import ssl
import threading
from typing import Any

import pytest
from nethelpers import ThreadPeer
from tlshelpers import client_context, server_context

import rt
import rt.io
import rt.sync
import rt.time
from rt.net import TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream
from rt.net.tls import TlsAcceptor, TlsConnector, TlsStream

LIMIT = 10.0
HUGE = 1 << 40  # a size no machine could allocate at once


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _tcp_pair() -> tuple[TcpStream, TcpStream]:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        client = await TcpStream.connect(listener.local_addr())
        server, _ = await listener.accept()
    return client, server


async def _tls_pair(
    *, small_buffers: bool = False
) -> tuple[TlsStream[TcpStream], TlsStream[TcpStream]]:
    client, server = await _tcp_pair()
    if small_buffers:  # so that a few hundred KiB fill the connection and the writer parks
        client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    acceptor = TlsAcceptor(server_context())
    connector = TlsConnector(client_context())
    tc, ts = await rt.join(connector.connect("localhost", client), acceptor.accept(server))
    return tc, ts


async def _read_to_eof(stream: Any) -> bytes:
    out = bytearray()
    while data := await stream.read():
        out += data
    return bytes(out)


# ----------------------------------------------------------------- huge read sizes


async def test_reads_of_a_huge_size_return_what_arrived_instead_of_a_memory_error() -> None:
    before = _fds()
    client, server = await _tcp_pair()
    async with client, server:
        await client.write_all(b"tcp")
        assert await server.read(HUGE) == b"tcp"

    a, b = UnixStream.pair()
    async with a, b:
        await a.write_all(b"unix")
        assert await b.read(HUGE) == b"unix"

    async with await UdpSocket.bind("127.0.0.1:0") as udp:
        await udp.send_to(b"udp", udp.local_addr())
        data, _addr = await udp.recv_from(HUGE)
        assert data == b"udp"
        await udp.connect(udp.local_addr())
        await udp.send(b"connected")
        assert await udp.recv(HUGE) == b"connected"

    d1, d2 = UnixDatagram.pair()
    async with d1, d2:
        await d1.send(b"dgram")
        assert await d2.recv(HUGE) == b"dgram"

    tc, ts = await _tls_pair()
    async with tc, ts:
        await tc.write_all(b"tls")
        assert await ts.read(HUGE) == b"tls"
    assert _fds() == before


async def test_try_read_of_a_huge_size_returns_what_arrived() -> None:
    client, server = await _tcp_pair()
    async with client, server:
        await client.write_all(b"now")  # one segment: it arrives whole
        got = await server.read(1)
        assert got + server.try_read(HUGE) == b"now"


# ----------------------------------------------------------------- buffers of wide items


async def test_tcp_write_all_of_an_int_array_sends_every_byte_even_in_partial_sends() -> None:
    # 8 MB: far more than the socket buffers hold, so the kernel takes it in many pieces.
    payload = array.array("i", range(2_000_000))
    client, server = await _tcp_pair()
    async with client, server:
        reader = rt.spawn(_read_to_eof(server))
        await client.write_all(memoryview(payload))
        await client.shutdown()
        got = await rt.time.timeout(LIMIT, reader)
    assert len(got) == len(payload.tobytes())
    assert got == payload.tobytes()


async def test_tls_write_all_of_an_int_array_sends_every_byte() -> None:
    payload = array.array("i", range(300_000))  # 1.2 MB: several 256 KiB chunks
    tc, ts = await _tls_pair()
    async with tc, ts:
        reader = rt.spawn(_read_to_eof(ts))
        await tc.write_all(memoryview(payload))
        await tc.write_all(memoryview(payload))
        await tc.shutdown()
        got = await rt.time.timeout(LIMIT, reader)
    assert len(got) == 2 * len(payload.tobytes())
    assert got == payload.tobytes() * 2


async def test_tls_write_returns_bytes_not_items() -> None:
    small = array.array("i", range(10))
    tc, ts = await _tls_pair()
    async with tc, ts:
        assert await tc.write(memoryview(small)) == 40
        assert await ts.read_exact(40) == small.tobytes()
        big = array.array("q", range(100_000))  # 800 KB: more than one write takes
        n = await tc.write(memoryview(big))
        assert n == 256 * 1024
        assert await ts.read_exact(n) == big.tobytes()[:n]


# ----------------------------------------------------------------- two tasks, one socket


async def _second_waiter_error(first: Any, second: Any) -> RuntimeError:
    """Run both waits as tasks: whichever parks second must get the error (on the
    multi-thread flavor either may be first), and the other keeps waiting."""
    errors: list[RuntimeError] = []
    failed = rt.sync.Event()

    async def wait(aw: Any) -> None:
        try:
            await aw
        except RuntimeError as exc:
            errors.append(exc)
            failed.set()

    tasks = [rt.spawn(wait(first)), rt.spawn(wait(second))]
    try:
        await rt.time.timeout(LIMIT, failed.wait())
    finally:
        for task in tasks:
            task.abort()
        for task in tasks:
            with contextlib.suppress(rt.JoinError):
                await task
    assert len(errors) == 1, errors
    return errors[0]


async def test_a_second_task_reading_or_accepting_at_once_is_told_what_to_do() -> None:
    before = _fds()
    client, server = await _tcp_pair()
    async with client, server:
        err = await _second_waiter_error(server.read(), server.read())
        msg = str(err)
        assert "TcpStream" in msg and "another task" in msg and "into_split" in msg, msg
        assert "fd" not in msg.split(), msg
        # the stream still works once the first reader is gone
        await client.write_all(b"ok")
        assert await server.read() == b"ok"

    client, server = await _tcp_pair()
    async with client, server:
        big = b"w" * 50_000_000  # more than the connection holds: both writers park
        err = await _second_waiter_error(client.write_all(big), client.write_all(big))
        msg = str(err)
        assert "write_all() on a TcpStream that another task is already writing" in msg, msg
        assert "rt.sync" in msg, msg

    async with await TcpListener.bind("127.0.0.1:0") as listener:
        err = await _second_waiter_error(listener.accept(), listener.accept())
        msg = str(err)
        assert "TcpListener" in msg and "another task" in msg and "spawn" in msg, msg

    async with await UdpSocket.bind("127.0.0.1:0") as udp:
        err = await _second_waiter_error(udp.recv_from(), udp.recv_from())
        msg = str(err)
        assert "UdpSocket" in msg and "another task" in msg, msg
    assert _fds() == before


# ----------------------------------------------------------------- shutdown / close racing a writer


async def test_tcp_write_all_parked_when_another_task_shuts_down_says_shutdown() -> None:
    client, server = await _tcp_pair()
    async with client, server:
        writer = rt.spawn(client.write_all(b"x" * 50_000_000))
        assert await server.read(1) == b"x"  # the writer has started sending
        await client.shutdown()
        with pytest.raises(rt.JoinError) as info:
            await rt.time.timeout(LIMIT, writer)
    err = info.value.exception
    assert isinstance(err, BrokenPipeError), repr(err)
    assert "shutdown()" in str(err), str(err)
    assert rt.io.bytes_written(err) is not None


@pytest.mark.parametrize("how", ["task", "thread"])
async def test_closing_a_tcp_stream_under_a_parked_writer_names_the_stream(how: str) -> None:
    before = _fds()
    client, server = await _tcp_pair()
    writer = rt.spawn(client.write_all(b"x" * 50_000_000))
    for _ in range(5):
        await rt.yield_now()
    if how == "thread":
        closer = threading.Thread(target=client.close)
        closer.start()
        await rt.spawn_blocking(closer.join, LIMIT)
    else:
        client.close()
    with pytest.raises(rt.JoinError) as info:
        await rt.time.timeout(LIMIT, writer)
    server.close()
    err = info.value.exception
    assert isinstance(err, OSError) and err.errno == errno.EBADF, repr(err)
    assert "write_all() on a closed TcpStream" in str(err), str(err)
    assert _fds() == before


async def test_a_tls_write_all_racing_shutdown_is_a_broken_pipe_and_the_peer_gets_its_prefix() -> (
    None
):
    payload = os.urandom(3 * 1024 * 1024)  # several 256 KiB chunks
    tc, ts = await _tls_pair(small_buffers=True)
    async with tc, ts:
        writer = rt.spawn(tc.write_all(payload))
        first = await ts.read(1)  # the writer has encrypted its first chunk and sends it
        closer = rt.spawn(tc.shutdown())
        got = first + await rt.time.timeout(LIMIT, _read_to_eof(ts))
        await rt.time.timeout(LIMIT, closer)
        with pytest.raises(rt.JoinError) as info:
            await rt.time.timeout(LIMIT, writer)
    err = info.value.exception
    assert isinstance(err, BrokenPipeError), repr(err)
    assert "shutdown()" in str(err), str(err)
    written = rt.io.bytes_written(err)
    assert written is not None and got == payload[:written]


async def test_a_tls_write_all_under_a_close_from_a_thread_is_an_os_error_not_an_ssl_error() -> (
    None
):
    before = _fds()
    tc, ts = await _tls_pair(small_buffers=True)
    for _ in range(20):
        writer = rt.spawn(tc.write_all(b"y" * 2_000_000))
        for _ in range(3):
            await rt.yield_now()
        if writer.is_finished():
            await writer
            continue
        closer = threading.Thread(target=tc.close)
        closer.start()
        await rt.spawn_blocking(closer.join, LIMIT)
        with pytest.raises(rt.JoinError) as info:
            await rt.time.timeout(LIMIT, writer)
        err = info.value.exception
        assert isinstance(err, OSError) and not isinstance(err, ssl.SSLError), repr(err)
        assert err.errno == errno.EBADF, repr(err)
        break
    ts.close()
    tc.close()
    assert _fds() == before


# ----------------------------------------------------------------- bad input to TLS


@pytest.mark.parametrize("size", ["x", 1.5, None, -1, True])
async def test_a_tls_read_of_a_bad_size_is_a_value_error_like_tcps(size: Any) -> None:
    tc, ts = await _tls_pair()
    async with tc, ts:
        with pytest.raises(ValueError, match="read size must be an int >= 0"):
            await rt.time.timeout(LIMIT, ts.read(size))
        await tc.write_all(b"still fine")
        assert await ts.read_exact(10) == b"still fine"


async def test_tls_over_something_that_is_not_a_stream_says_what_a_transport_needs() -> None:
    before = _fds()
    connector = TlsConnector(client_context())
    acceptor = TlsAcceptor(server_context())
    client, server = await _tcp_pair()
    async with client, server:
        # the asyncio order (stream first) by mistake
        with pytest.raises(TypeError, match=r"connect\(server_hostname, stream\)"):
            await connector.connect(client, "localhost")  # type: ignore[arg-type, type-var]
        assert not client.closed  # not taken over: still the caller's
        with pytest.raises(TypeError, match="write_all"):
            await acceptor.accept(None)  # type: ignore[type-var]
        raw = socket.socket()
        try:
            with pytest.raises(TypeError, match=r"TcpStream\.from_socket"):
                await connector.connect("localhost", raw)  # type: ignore[type-var]
            with pytest.raises(TypeError, match=r"TcpStream\.from_socket"):
                await acceptor.accept(raw)  # type: ignore[type-var]
        finally:
            raw.close()
        # the plain streams were left alone and still talk
        await client.write_all(b"plain")
        assert await server.read_exact(5) == b"plain"
    assert _fds() == before


# ----------------------------------------------------------------- adopting sockets, Unix paths


async def test_from_socket_refuses_a_socket_of_another_kind_or_one_not_listening() -> None:
    before = _fds()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with pytest.raises(ValueError, match="takes IPv4 or IPv6 stream sockets; this one is IPv4"):
            TcpStream.from_socket(udp)
        with pytest.raises(ValueError, match="takes IPv4 or IPv6 datagram sockets"):
            UdpSocket.from_socket(tcp)
        with pytest.raises(ValueError, match="takes Unix stream sockets"):
            UnixStream.from_socket(tcp)
        with pytest.raises(ValueError, match="takes IPv4 or IPv6 stream sockets; this one is Unix"):
            TcpListener.from_socket(unix)
        with pytest.raises(ValueError, match=r"needs a listening socket: call bind\(\) and listen"):
            TcpListener.from_socket(tcp)
        # refused sockets stay the caller's, open and unchanged
        assert udp.fileno() >= 0 and tcp.fileno() >= 0 and tcp.getblocking()
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        async with TcpListener.from_socket(tcp) as listener:
            raw = socket.create_connection(listener.local_addr())
            async with TcpStream.from_socket(raw) as client:
                server, _ = await listener.accept()
                async with server:
                    await client.write_all(b"adopted")
                    assert await server.read_exact(7) == b"adopted"
    finally:
        udp.close()
        tcp.close()
        unix.close()
    assert _fds() == before


async def test_a_unix_socket_path_too_long_says_how_long_it_may_be(tmp_path: Any) -> None:
    long = str(tmp_path / ("x" * 200))
    with pytest.raises(OSError, match="holds at most 107 bytes") as info:
        await UnixStream.connect(long)
    assert info.value.errno == errno.ENAMETOOLONG
    assert "None" not in str(info.value)
    with pytest.raises(OSError, match="holds at most 107 bytes"):
        UnixListener.bind(long)
    with pytest.raises(OSError, match="holds at most 107 bytes"):
        UnixDatagram.bind(long)


async def test_binding_a_unix_path_in_use_says_to_remove_a_stale_socket(tmp_path: Any) -> None:
    path = str(tmp_path / "sock")
    UnixListener.bind(path).close()  # the file stays behind, as after a crash
    with pytest.raises(OSError) as info:
        UnixListener.bind(path)
    assert info.value.errno == errno.EADDRINUSE
    assert any("os.unlink" in note for note in getattr(info.value, "__notes__", []))
    os.unlink(path)
    UnixListener.bind(path).close()


# ----------------------------------------------------------------- dropped halves


async def test_a_dropped_write_half_gives_the_peer_eof_and_dropping_both_closes_the_socket() -> (
    None
):
    before = _fds()
    client, server = await _tcp_pair()
    async with client:
        read_half, write_half = server.into_split()
        del server

        async def send_and_forget(half: Any) -> None:
            await half.write_all(b"hello")  # and the half is dropped, never closed

        await rt.spawn(send_and_forget(write_half))
        del write_half
        assert await rt.time.timeout(LIMIT, client.read_exact(5)) == b"hello"
        assert await rt.time.timeout(LIMIT, client.read()) == b""  # EOF, not a wait for ever
        await client.write_all(b"back")  # the read half still reads
        assert await rt.time.timeout(LIMIT, read_half.read_exact(4)) == b"back"
        del read_half  # both halves gone: the socket is closed, without a ResourceWarning
        assert _fds() == before + 1
    assert _fds() == before


# ----------------------------------------------------------------- a peer hanging up mid-handshake


async def test_a_peer_hanging_up_mid_handshake_is_an_eof_error_saying_who_left_and_why() -> None:
    before = _fds()
    srv = socket.create_server(("127.0.0.1", 0))

    def hang_up_after_the_client_hello() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)  # the whole ClientHello (one write): a close then is a FIN

    peer = ThreadPeer(hang_up_after_the_client_hello)
    try:
        stream = await TcpStream.connect(srv.getsockname())
        with pytest.raises(ssl.SSLEOFError) as info:
            await rt.time.timeout(
                LIMIT, TlsConnector(client_context()).connect("localhost", stream)
            )
        assert stream.closed
        notes = " ".join(getattr(info.value, "__notes__", []))
        assert "the server closed the connection during the TLS handshake" in notes, notes
    finally:
        await rt.spawn_blocking(peer.join)
        srv.close()

    async with await TcpListener.bind("127.0.0.1:0") as listener:
        probe = socket.create_connection(listener.local_addr())  # a health check: connect, leave
        probe.close()
        accepted, _ = await listener.accept()
        with pytest.raises(ssl.SSLEOFError) as info:
            await rt.time.timeout(LIMIT, TlsAcceptor(server_context()).accept(accepted))
        notes = " ".join(getattr(info.value, "__notes__", []))
        assert "the client closed the connection during the TLS handshake" in notes, notes
    assert _fds() == before


# ----------------------------------------------------------------- datagrams too long


async def test_a_datagram_too_long_says_how_long_it_was_and_what_fits() -> None:
    async with await UdpSocket.bind("127.0.0.1:0") as udp:
        with pytest.raises(OSError, match="a datagram of 70000 bytes is too long") as info:
            await udp.send_to(b"x" * 70000, udp.local_addr())
        assert info.value.errno == errno.EMSGSIZE
        assert "65507" in str(info.value)
        await udp.connect(udp.local_addr())
        with pytest.raises(OSError, match=r"send\(\): a datagram of 70000 bytes"):
            await udp.send(b"x" * 70000)
        assert await udp.send(b"fits") == 4
        assert await udp.recv() == b"fits"
    a, b = UnixDatagram.pair()
    async with a, b:
        big = a.socket.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) * 4
        with pytest.raises(OSError, match="SO_SNDBUF"):
            await a.send(b"x" * big)


@pytest.mark.parametrize("how", ["closed", "dropped"])
async def test_a_tls_write_half_closed_or_dropped_gives_the_peer_eof_while_the_read_half_reads(
    how: str,
) -> None:
    before = _fds()
    tc, ts = await _tls_pair()
    async with tc:
        read_half, write_half = ts.into_split()
        del ts

        async def send_and_close(half: Any) -> None:
            if how == "closed":
                async with half:
                    await half.write_all(b"hello")
            else:
                await half.write_all(b"hello")  # and the half is dropped

        await rt.spawn(send_and_close(write_half))
        del write_half
        assert await rt.time.timeout(LIMIT, tc.read_exact(5)) == b"hello"
        assert await rt.time.timeout(LIMIT, tc.read()) == b""  # close_notify, not a wait
        await tc.write_all(b"back")  # the other direction goes on
        assert await rt.time.timeout(LIMIT, read_half.read_exact(4)) == b"back"
        read_half.close()
    assert _fds() == before


async def test_a_ragged_eof_the_user_asked_to_see_says_what_it_means() -> None:
    a, b = rt.io.duplex(1 << 16)
    client, server = await rt.join(
        TlsConnector(client_context(), suppress_ragged_eofs=False).connect("localhost", a),
        TlsAcceptor(server_context()).accept(b),
    )
    await server.write_all(b"cut")
    server.get_ref().close()  # the transport goes away: no close_notify
    assert await client.read_exact(3) == b"cut"
    with pytest.raises(ssl.SSLEOFError) as info:
        await rt.time.timeout(LIMIT, client.read())
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "without close_notify" in notes and "suppress_ragged_eofs=True" in notes, notes
    client.close()


async def test_writing_a_str_says_to_encode_it() -> None:
    client, server = await _tcp_pair()
    async with client, server:
        with pytest.raises(TypeError, match=r"write_all\(\) takes bytes, got a str: encode it"):
            await client.write_all("text")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="takes bytes, a bytearray or another buffer, got int"):
            await client.write_all(42)  # type: ignore[arg-type]
        strided = memoryview(b"abcdef")[::2]
        with pytest.raises(TypeError, match=r"not contiguous: copy it first \(bytes\(view\)\)"):
            await client.write_all(strided)
    tc, ts = await _tls_pair()
    async with tc, ts:
        with pytest.raises(TypeError, match=r"write\(\) takes bytes, got a str: encode it"):
            await tc.write("text")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"write_all\(\) takes bytes, got a str: encode it"):
            await tc.write_all("text")  # type: ignore[arg-type]
        await tc.write_all(b"fine")
        assert await ts.read_exact(4) == b"fine"
