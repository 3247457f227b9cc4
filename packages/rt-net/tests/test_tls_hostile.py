"""rt.net.tls against hostile and clumsy peers: Python's own ``ssl`` on blocking sockets in a
thread, which can hang up, reset, stall or pack records as it likes.

Every wait is bounded (``rt.time.timeout`` on rt's side, a socket timeout on the peer's), so a
lost wake-up fails a test instead of hanging the suite; the bounds are never asserted.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tlshelpers import client_context, server_context

import rt
import rt.io
import rt.time
from rt.io import duplex
from rt.net import TcpListener, TcpStream
from rt.net.tls import TlsAcceptor, TlsConnector
from rt.sync import Event

LIMIT = 20.0  # bounds every wait; a loaded 2-core machine, never asserted


def _fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


class Peer:
    """A TCP peer on a blocking socket in a thread, running ``behaviour(sock)`` once."""

    def __init__(self, behaviour: Callable[[socket.socket], Any]) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.addr = self._listener.getsockname()
        self.result: Any = None
        self.error: BaseException | None = None
        self.sock: socket.socket | None = None
        self._behaviour = behaviour
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._listener.settimeout(LIMIT)
        try:
            sock, _ = self._listener.accept()
        except OSError as exc:
            self.error = exc
            return
        finally:
            self._listener.close()
        self.sock = sock
        sock.settimeout(LIMIT)
        try:
            self.result = self._behaviour(sock)
        except BaseException as exc:  # reported by join()
            self.error = exc

    async def join(self) -> Any:
        await rt.spawn_blocking(self._thread.join, LIMIT)
        assert not self._thread.is_alive(), "the peer thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


@contextmanager
def peer(behaviour: Callable[[socket.socket], Any]) -> Iterator[Peer]:
    p = Peer(behaviour)
    try:
        yield p
    finally:
        p.close()


def reset(sock: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class BioServer:
    """A TLS server on memory BIOs over a blocking socket: the test decides what goes out in
    which segment (records, ``close_notify``, nothing at all)."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext | None = None) -> None:
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = (ctx or server_context()).wrap_bio(self.inc, self.out, server_side=True)
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.send_pending()
                self.feed()
        self.send_pending()

    def send_pending(self) -> None:
        if self.out.pending:
            self.sock.sendall(self.out.read())

    def feed(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            self.inc.write_eof()
            return False
        self.inc.write(data)
        return True

    def queue_close_notify(self) -> None:
        try:
            self.obj.unwrap()
        except ssl.SSLWantReadError:
            pass

    def read_until_close_notify(self) -> bytes:
        got = bytearray()
        while True:
            try:
                data = self.obj.read(65536)
            except ssl.SSLWantReadError:
                if not self.feed():
                    raise EOFError("the transport ended before close_notify") from None
                continue
            except ssl.SSLZeroReturnError:
                return bytes(got)
            if not data:  # SSLObject.read says close_notify so
                return bytes(got)
            got += data


def _connect(addr: Any, **kw: Any) -> Any:
    ctx = kw.pop("ssl_context", None) or client_context()
    return TcpStream.connect_tls(addr, server_hostname="localhost", ssl_context=ctx, **kw)


# ----------------------------------------------------------------- handshakes that go wrong


@pytest.mark.parametrize("how", ["fin", "rst"])
async def test_a_server_hanging_up_mid_handshake_fails_connect_with_advice_and_no_fd_left(
    how: str,
) -> None:
    def hang_up(sock: socket.socket) -> None:
        assert sock.recv(65536)  # the ClientHello
        if how == "rst":
            reset(sock)
        else:
            sock.close()

    before = _fds()
    with peer(hang_up) as p:
        with pytest.raises(OSError) as info:  # SSLEOFError after a FIN, a reset after a RST
            await rt.time.timeout(LIMIT, _connect(p.addr))
        await p.join()
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "closed the connection during the TLS handshake" in notes
    assert "may not speak TLS on this port" in notes
    assert _fds() == before


async def test_plaintext_on_either_end_of_a_handshake_is_named_as_such() -> None:
    # A plaintext server answers the ClientHello with an HTTP error.
    def http_server(sock: socket.socket) -> None:
        sock.recv(65536)
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    with peer(http_server) as p:
        with pytest.raises(ssl.SSLError) as info:
            await rt.time.timeout(LIMIT, _connect(p.addr))
        await p.join()
    assert "not TLS: this port may serve plaintext" in " ".join(info.value.__notes__)

    # A plaintext HTTP client on rt's TLS port.
    async with await TcpListener.bind("127.0.0.1:0") as listener:

        def http_client() -> bytes:
            with socket.create_connection(listener.local_addr(), timeout=LIMIT) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                return sock.recv(100)

        client = rt.spawn_blocking(http_client)
        stream, _ = await listener.accept()
        with pytest.raises(ssl.SSLError) as info:
            await rt.time.timeout(LIMIT, TlsAcceptor(server_context()).accept(stream))
        assert not (await client).startswith(b"HTTP")
    assert "https://" in " ".join(info.value.__notes__)


async def test_no_tls_version_in_common_says_which_range_this_side_accepts() -> None:
    def tls12_server(sock: socket.socket) -> None:
        with pytest.raises(ssl.SSLError):
            server_context(maximum_version=ssl.TLSVersion.TLSv1_2).wrap_socket(
                sock, server_side=True
            )

    with peer(tls12_server) as p:
        with pytest.raises(ssl.SSLError) as info:
            await rt.time.timeout(
                LIMIT,
                _connect(
                    p.addr, ssl_context=client_context(minimum_version=ssl.TLSVersion.TLSv1_3)
                ),
            )
        await p.join()
    notes = " ".join(info.value.__notes__)
    assert "no TLS version in common" in notes and "accepts TLSv1.3 to" in notes

    # The server's side of the same refusal.
    async with await TcpListener.bind("127.0.0.1:0") as listener:

        def tls13_client() -> None:
            ctx = client_context(minimum_version=ssl.TLSVersion.TLSv1_3)
            with (
                socket.create_connection(listener.local_addr(), timeout=LIMIT) as sock,
                pytest.raises(ssl.SSLError),
            ):
                ctx.wrap_socket(sock, server_hostname="localhost")

        client = rt.spawn_blocking(tls13_client)
        stream, _ = await listener.accept()
        acceptor = TlsAcceptor(server_context(maximum_version=ssl.TLSVersion.TLSv1_2))
        with pytest.raises(ssl.SSLError) as info:
            await rt.time.timeout(LIMIT, acceptor.accept(stream))
        await client
    assert "to TLSv1.2" in " ".join(info.value.__notes__)


async def test_a_client_rejecting_the_servers_certificate_tells_the_server_why() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:

        def distrustful_client() -> None:  # trusts the system's CAs, not the test CA
            ctx = ssl.create_default_context()
            with (
                socket.create_connection(listener.local_addr(), timeout=LIMIT) as sock,
                pytest.raises(ssl.SSLCertVerificationError),
            ):
                ctx.wrap_socket(sock, server_hostname="localhost")

        client = rt.spawn_blocking(distrustful_client)
        stream, _ = await listener.accept()
        with pytest.raises(ssl.SSLError, match="UNKNOWN_CA") as info:
            await rt.time.timeout(LIMIT, TlsAcceptor(server_context()).accept(stream))
        await client
    assert "does not trust the CA that issued this side's certificate" in " ".join(
        info.value.__notes__
    )


async def test_a_tls_1_3_client_refused_for_lack_of_a_certificate_is_told_to_load_one() -> None:
    from tlshelpers import ca

    def strict_server(sock: socket.socket) -> None:
        ctx = server_context(verify_mode=ssl.CERT_REQUIRED)
        ca().configure_trust(ctx)
        with pytest.raises(ssl.SSLError, match="PEER_DID_NOT_RETURN_A_CERTIFICATE"):
            ctx.wrap_socket(sock, server_side=True)

    with peer(strict_server) as p:
        # TLS 1.3: the client's handshake completes; the refusal comes with its first read.
        async with await rt.time.timeout(LIMIT, _connect(p.addr)) as tls:
            with pytest.raises(ssl.SSLError) as info:
                await rt.time.timeout(LIMIT, tls.read())
        await p.join()
    assert "load_cert_chain()" in " ".join(info.value.__notes__)


async def test_cancelling_a_handshake_with_a_real_peer_closes_the_socket_at_once() -> None:
    heard = threading.Event()

    def silent_after_hello(sock: socket.socket) -> bytes:
        assert sock.recv(65536)  # the ClientHello
        heard.set()
        return sock.recv(65536)  # then the client's FIN: b""

    before = _fds()
    with peer(silent_after_hello) as p:
        task = rt.spawn(_connect(p.addr))
        assert await rt.spawn_blocking(heard.wait, LIMIT)
        task.abort()
        with pytest.raises(rt.JoinError) as info:
            await task
        assert info.value.is_cancelled()
        assert await p.join() == b""  # closed, not left half-open
    assert _fds() == before


# ----------------------------------------------------------------- data in, data out


SIZES = [1, 16383, 16384, 16385, 5, 100_000, 7]


@pytest.mark.parametrize("reads", ["read(7)", "read_exact_at_boundaries", "read(16384)"])
async def test_records_of_every_size_with_close_notify_in_the_same_segment_arrive_whole(
    reads: str,
) -> None:
    blob = os.urandom(sum(SIZES))

    def one_segment(sock: socket.socket) -> bytes:
        server = BioServer(sock)
        offset = 0
        for n in SIZES:  # one TLS record per write (the largest split at 16 KiB)
            server.obj.write(blob[offset : offset + n])
            offset += n
        server.queue_close_notify()
        server.send_pending()  # every record and close_notify in one sendall
        return server.read_until_close_notify()

    with peer(one_segment) as p:
        async with await rt.time.timeout(LIMIT, _connect(p.addr)) as tls:
            got = bytearray()
            if reads == "read_exact_at_boundaries":
                for n in SIZES:
                    got += await rt.time.timeout(LIMIT, tls.read_exact(n))
            else:
                size = 7 if reads == "read(7)" else 16384
                while data := await rt.time.timeout(LIMIT, tls.read(size)):
                    assert len(data) <= size
                    got += data
            assert bytes(got) == blob
            assert await tls.read() == b""  # EOF stays EOF
            await tls.shutdown()
        assert await p.join() == b""


async def test_a_bare_fin_after_data_keeps_every_byte_then_reports_the_ragged_eof() -> None:
    blob = os.urandom(200_000)

    def data_then_fin(sock: socket.socket) -> None:
        server = BioServer(sock)
        server.obj.write(blob)
        server.send_pending()
        sock.shutdown(socket.SHUT_WR)  # no close_notify
        while sock.recv(65536):
            pass

    with peer(data_then_fin) as p:
        stream = await rt.time.timeout(LIMIT, TcpStream.connect(p.addr))
        connector = TlsConnector(client_context(), suppress_ragged_eofs=False)
        async with await rt.time.timeout(LIMIT, connector.connect("localhost", stream)) as tls:
            got = bytearray()
            with pytest.raises(ssl.SSLEOFError):
                while True:
                    got += await rt.time.timeout(LIMIT, tls.read(1000))
            assert bytes(got) == blob
        await p.join()


async def test_many_small_writes_reach_a_python_ssl_peer_whole_and_in_order() -> None:
    def python_ssl_reader(sock: socket.socket) -> tuple[int, str]:
        ctx = server_context()
        with ctx.wrap_socket(sock, server_side=True) as tls:
            digest = hashlib.sha256()
            total = 0
            while data := tls.recv(65536):  # b"" at close_notify
                digest.update(data)
                total += len(data)
            tls.sendall(b"%d" % total)
            tls.unwrap()
            return total, digest.hexdigest()

    digest = hashlib.sha256()
    with peer(python_ssl_reader) as p:
        async with await rt.time.timeout(LIMIT, _connect(p.addr)) as tls:
            for i in range(3000):
                chunk = bytes([i % 251]) * (i % 97 + 1)
                digest.update(chunk)
                await tls.write_all(chunk) if i % 2 else await tls.write(chunk)
            await tls.shutdown()  # a half-close: the peer's answer still comes in
            total = await rt.time.timeout(LIMIT, tls.read())
            assert await rt.time.timeout(LIMIT, tls.read()) == b""
        assert await p.join() == (int(total), digest.hexdigest())


async def test_unwrap_against_a_peer_that_hangs_up_without_close_notify_says_so() -> None:
    def hang_up_at_close_notify(sock: socket.socket) -> None:
        BioServer(sock).read_until_close_notify()  # answered with a bare FIN
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass

    with peer(hang_up_at_close_notify) as p:
        async with await rt.time.timeout(LIMIT, _connect(p.addr)) as tls:
            with pytest.raises(ssl.SSLEOFError) as info:
                await rt.time.timeout(LIMIT, tls.unwrap())
        await p.join()
    assert "no plain stream left" in " ".join(info.value.__notes__)


# ----------------------------------------------------------------- peers that stop or vanish


async def test_a_peer_that_stops_reading_then_resets_fails_a_large_write_instead_of_hanging() -> (
    None
):
    def stall_then_reset(sock: socket.socket) -> None:
        BioServer(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert sock.recv(1)  # the write has begun; nothing more is read
        reset(sock)

    before = _fds()
    with peer(stall_then_reset) as p:
        async with await rt.time.timeout(LIMIT, _connect(p.addr)) as tls:
            with pytest.raises((ConnectionResetError, BrokenPipeError)) as info:
                await rt.time.timeout(LIMIT, tls.write_all(b"x" * (64 << 20)))
            assert 0 < rt.io.bytes_written(info.value) < 64 << 20  # type: ignore[operator]
            with pytest.raises(OSError):  # the connection is gone for the next write too
                await rt.time.timeout(LIMIT, tls.write_all(b"more"))
        await p.join()
    assert _fds() == before


class _Signalling:
    """A transport that sets ``writing`` once a send is under way."""

    def __init__(self, inner: rt.io.DuplexStream) -> None:
        self.inner = inner
        self.writing = Event()

    async def read(self, n: int = 65536) -> bytes:
        return await self.inner.read(n)

    async def write_all(self, data: bytes | bytearray | memoryview) -> None:
        self.writing.set()
        await self.inner.write_all(data)

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    def close(self) -> None:
        self.inner.close()


async def test_close_from_another_task_ends_a_waiting_handshake_naming_it() -> None:
    a, b = duplex(1 << 14)  # nobody answers at b
    transport = _Signalling(a)
    tls = await TlsConnector(client_context()).connect(
        "localhost", transport, do_handshake_on_connect=False
    )
    handshake = rt.spawn(tls.do_handshake())
    await rt.time.timeout(LIMIT, transport.writing.wait())  # the ClientHello is out
    tls.close()
    with pytest.raises(rt.JoinError) as info:
        await rt.time.timeout(LIMIT, handshake)
    assert "do_handshake() on a closed TlsStream" in str(info.value.__cause__)
    b.close()


async def test_close_from_another_task_wakes_a_blocked_write_naming_the_tls_stream() -> None:
    a, b = duplex(1 << 14)
    transport = _Signalling(a)
    client, server = await rt.join(
        TlsConnector(client_context()).connect("localhost", transport),
        TlsAcceptor(server_context()).accept(b),
    )
    transport.writing = Event()
    # Nobody reads the server end: the write fills the duplex and waits in the transport.
    writer = rt.spawn(client.write_all(b"x" * (4 << 20)))
    await rt.time.timeout(LIMIT, transport.writing.wait())
    client.close()
    with pytest.raises(rt.JoinError) as info:
        await rt.time.timeout(LIMIT, writer)
    err = info.value.__cause__
    assert isinstance(err, OSError)
    assert "write_all() on a closed TlsStream" in str(err)
    assert client.closed
    server.close()


async def test_closing_a_write_half_while_its_write_waits_fails_that_write_instead_of_hanging() -> (
    None
):
    heard, cut = threading.Event(), threading.Event()

    def stalled(sock: socket.socket) -> str:
        BioServer(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert sock.recv(1)  # the write has begun; nothing more is read until it failed
        heard.set()
        assert cut.wait(LIMIT)
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:  # closed with the session tickets unread
            pass
        return "ended"

    with peer(stalled) as p:
        tls = await rt.time.timeout(LIMIT, _connect(p.addr))
        read_half, write_half = tls.into_split()
        writer = rt.spawn(write_half.write_all(b"x" * (64 << 20)))
        assert await rt.spawn_blocking(heard.wait, LIMIT)
        write_half.close()  # as a TcpStream write half's close wakes its waiting write
        with pytest.raises(rt.JoinError) as info:
            await rt.time.timeout(LIMIT, writer)
        assert isinstance(info.value.__cause__, BrokenPipeError)
        cut.set()
        read_half.close()
        assert await p.join() == "ended"


async def _duplex_pair(
    client_end: Any, server_end: Any, *, version: ssl.TLSVersion | None = None
) -> tuple[Any, Any]:
    """A TLS client and server (rt's own, both) over two duplex ends; the client treats an
    EOF without ``close_notify`` as an error, so a truncation cannot pass for a clean close."""
    cctx = client_context()
    if version is not None:
        cctx.minimum_version = cctx.maximum_version = version
    return await rt.join(
        TlsConnector(cctx, suppress_ragged_eofs=False).connect("localhost", client_end),
        TlsAcceptor(server_context()).accept(server_end),
    )


@pytest.mark.parametrize("how", ["closed", "dropped"])
async def test_a_tls_write_half_over_a_duplex_closed_idle_sends_close_notify(how: str) -> None:
    # The duplex had no try_write, so the close sent nothing: the peer waited for as long as
    # the read half lived, and then read a ragged EOF.
    a, b = duplex(1 << 16)
    client, server = await _duplex_pair(a, b)
    read_half, write_half = server.into_split()
    del server
    await write_half.write_all(b"hello")
    if how == "closed":
        write_half.close()
    del write_half
    assert await rt.time.timeout(LIMIT, client.read_exact(5)) == b"hello"
    assert await rt.time.timeout(LIMIT, client.read()) == b""  # close_notify, not SSLEOFError
    await client.write_all(b"back")  # the other direction goes on
    assert await rt.time.timeout(LIMIT, read_half.read_exact(4)) == b"back"
    await client.shutdown()
    assert await rt.time.timeout(LIMIT, read_half.read()) == b""
    read_half.close()
    client.close()


async def test_a_tls_stream_over_a_duplex_closed_idle_sends_close_notify() -> None:
    a, b = duplex(1 << 16)
    client, server = await _duplex_pair(a, b)
    await server.write_all(b"bye")
    server.close()
    assert await rt.time.timeout(LIMIT, client.read_exact(3)) == b"bye"
    assert await rt.time.timeout(LIMIT, client.read()) == b""  # close_notify, not SSLEOFError
    client.close()


async def _read_half_goes_on(client: Any, read_half: Any, reader: rt.JoinHandle[bytes]) -> None:
    """After the write half's close: the read under way gets the client's next bytes, the
    read half sees the client's close_notify, and both are closed."""
    await client.write_all(b"ping")  # the read half was not harmed
    assert await rt.time.timeout(LIMIT, reader) == b"ping"
    await client.shutdown()
    assert await rt.time.timeout(LIMIT, read_half.read()) == b""
    read_half.close()
    client.close()


class _Hooked:
    """A duplex end whose ``try_write`` runs ``hook`` once before it sends (a sender's first
    look at the transport), with the duplex's ``_shut_write_now`` passed through."""

    def __init__(self, inner: rt.io.DuplexStream) -> None:
        self.inner = inner
        self.hook: Callable[[], object] | None = None

    async def read(self, n: int = 65536) -> bytes:
        return await self.inner.read(n)

    async def write_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.write_all(data)

    def try_write(self, data: bytes | bytearray | memoryview) -> int:
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        return self.inner.try_write(data)

    def _shut_write_now(self) -> None:
        self.inner._shut_write_now()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    def close(self) -> None:
        self.inner.close()


async def test_a_write_half_closed_while_the_read_half_sends_ends_cleanly_after_that_send() -> None:
    # A TLS 1.3 server's session tickets go out with its first read that waits: that read
    # holds the send lock while it sends them. Closing the write half then cut the writing
    # direction under the read (as for a write on the closed half, which must not hang):
    # the read failed, and the peer saw a truncated record and no close_notify. (The close
    # comes as the read's send begins; one that finds that send waiting for a peer that does
    # not read cuts it: the next test.)
    a, b = duplex(1 << 16)
    server_end = _Hooked(b)
    client, server = await _duplex_pair(a, server_end, version=ssl.TLSVersion.TLSv1_3)
    read_half, write_half = server.into_split()
    del server
    server_end.hook = write_half.close  # as the read's send of its tickets begins
    reader = rt.spawn(read_half.read())  # sends the tickets first
    assert await rt.time.timeout(LIMIT, client.read()) == b""  # tickets, then close_notify
    assert server_end.hook is None  # the close did come in the read's send
    await _read_half_goes_on(client, read_half, reader)


async def test_a_write_half_closed_as_the_reads_send_waits_on_a_writing_peer_frees_the_read() -> (
    None
):
    # The read's send (its session tickets) waits: the peer does not read. The write half's
    # close queued close_notify behind that send and left the read waiting, so a peer that
    # only writes, and reads once it is answered, waited for ever on a read waiting on it.
    # The close cuts the writing direction there, as under a write that waits.
    a, b = duplex(64)  # the tickets do not fit: the read's send waits for the client
    client, server = await _duplex_pair(a, b, version=ssl.TLSVersion.TLSv1_3)
    read_half, write_half = server.into_split()
    reader = rt.spawn(read_half.read())
    with rt.time.timeout(LIMIT):
        while not server._rwait:  # the read's send waits for room
            await rt.yield_now()
    del server
    write_half.close()
    await client.write_all(b"ping")  # the peer writes, and reads only after an answer
    assert await rt.time.timeout(LIMIT, reader) == b"ping"
    with pytest.raises(ssl.SSLEOFError):  # cut: part of a ticket, then no close_notify
        await rt.time.timeout(LIMIT, client.read())
    read_half.close()
    client.close()


class _CollectsInRead:
    """An outgoing BIO whose ``read`` runs the collector first (once armed): what an
    allocation may do there, inside the ``_mutex`` section that takes the stream's output."""

    def __init__(self, real: ssl.MemoryBIO, mutex: Any) -> None:
        self.real = real
        self.stream_mutex = mutex
        self.armed = False
        self.mutex_held: bool | None = None

    @property
    def pending(self) -> int:
        return self.real.pending

    def read(self, *n: int) -> bytes:
        if self.armed:
            self.armed = False
            self.mutex_held = self.stream_mutex.locked()
            gc.collect()
        return self.real.read(*n)

    def write(self, data: bytes) -> int:
        return self.real.write(data)


def test_a_dropped_write_half_finalized_inside_the_reads_send_never_waits_for_the_streams_lock(
    flavor: str | None,
) -> None:
    # The write half's finalizer sent close_notify under the stream's plain _mutex; run by the
    # collector on the thread that held it (the read's send taking the session tickets out of
    # the BIO), it waited for its own lock for ever and the runtime stopped.
    from rescued_run import run_or_rescue

    state: dict[str, Any] = {}

    async def main() -> None:
        a, b = duplex(1 << 16)
        cctx = client_context()
        cctx.minimum_version = cctx.maximum_version = ssl.TLSVersion.TLSv1_3
        client, server = await rt.join(
            TlsConnector(cctx).connect("localhost", a),
            TlsAcceptor(server_context()).accept(b),
        )
        state["mutex"] = server._mutex
        out = _CollectsInRead(server._out, server._mutex)
        server._out = out  # type: ignore[assignment]
        read_half, write_half = server.into_split()
        del server
        cycle: list[Any] = [write_half]
        cycle.append(cycle)  # only the collector frees the dropped write half
        del write_half, cycle
        out.armed = True
        reader = rt.spawn(read_half.read())  # sends the TLS 1.3 tickets first
        # The write half was finalized: the writing direction ended (cut, as for a write
        # under way: the finalizer does not wait for the lock its own thread holds).
        assert await rt.time.timeout(LIMIT, client.read()) == b""
        assert out.mutex_held is True  # the collector did run inside the _mutex section
        client.close()
        assert await rt.time.timeout(LIMIT, reader) == b""  # the read went on to the end
        read_half.close()

    def free() -> None:
        with contextlib.suppress(RuntimeError):
            state["mutex"].release()  # a plain lock may be freed by any thread

    enabled = gc.isenabled()
    gc.disable()  # the collector runs where the test makes it run
    try:
        run_or_rescue(
            main, flavor, free, "a write half finalized inside a _mutex section deadlocked"
        )
    finally:
        if enabled:
            gc.enable()


class _TellsContention:
    """The stream's ``_mutex`` with a note: ``contended`` is set when an ``acquire`` finds it
    taken (just before that acquire waits)."""

    def __init__(self, contended: threading.Event) -> None:
        self.real = threading.Lock()
        self.contended = contended

    def acquire(self, blocking: bool = True) -> bool:
        if self.real.acquire(False):
            return True
        if not blocking:
            return False
        self.contended.set()
        return self.real.acquire()

    def release(self) -> None:
        self.real.release()

    def locked(self) -> bool:
        return self.real.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


async def test_a_write_half_closed_elsewhere_as_the_read_takes_the_send_lock_ends_cleanly() -> None:
    # The read took the send lock, then marked itself (_rsend) as its holder: a close from
    # another thread in between found the lock taken and no mark, took it for a write under
    # way and cut the writing direction under the read's session tickets (the peer read a
    # truncated record, no close_notify).
    from rt.net._tls import _Lock

    a, b = duplex(1 << 16)
    client, server = await _duplex_pair(a, b, version=ssl.TLSVersion.TLSv1_3)
    settled = threading.Event()  # the close ended, or waits for the read's _mutex
    server._mutex = _TellsContention(settled)
    read_half, write_half = server.into_split()
    closed = threading.Event()

    def close_elsewhere() -> None:
        write_half.close()
        closed.set()
        settled.set()

    class Hooked(_Lock):
        armed = True

        def try_acquire(self) -> bool:
            got = super().try_acquire()
            if got and self.armed:
                self.armed = False
                # The close runs now on another thread; let it run until it ends or waits
                # for the _mutex this read holds.
                threading.Thread(target=close_elsewhere, daemon=True).start()
                settled.wait(LIMIT)
            return got

    server._slock = Hooked()
    del server
    reader = rt.spawn(read_half.read())  # sends the TLS 1.3 tickets first
    assert await rt.time.timeout(LIMIT, client.read()) == b""  # tickets, then close_notify
    assert await rt.spawn_blocking(closed.wait, LIMIT)
    await _read_half_goes_on(client, read_half, reader)


def test_runtime_shutdown_ends_tasks_blocked_in_tls_and_leaves_no_fd(flavor: str | None) -> None:
    before = _fds()
    stop = threading.Event()

    def idle_tls_peer(sock: socket.socket) -> None:
        BioServer(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stop.wait(LIMIT)

    def silent_peer(sock: socket.socket) -> None:
        sock.recv(65536)
        stop.wait(LIMIT)

    peers = [Peer(idle_tls_peer), Peer(idle_tls_peer), Peer(silent_peer)]
    runtime = rt.Runtime(flavor=flavor) if flavor else rt.Runtime()
    try:

        async def main() -> None:
            # Each job says when its handshake is done; the silent peer's never is.
            started = [Event(), Event()]

            async def reader() -> None:
                async with await _connect(peers[0].addr) as tls:
                    started[0].set()
                    await tls.read()

            async def writer() -> None:
                async with await _connect(peers[1].addr) as tls:
                    started[1].set()
                    await tls.write_all(b"x" * (64 << 20))

            async def handshaker() -> None:
                async with await _connect(peers[2].addr):
                    pass

            for job in (reader, writer, handshaker):
                runtime.spawn(job())
            for event in started:
                await event.wait()

        runtime.block_on(rt.time.timeout(LIMIT, main()))
    finally:
        runtime.shutdown(timeout=LIMIT)
        stop.set()
        for p in peers:
            p._thread.join(LIMIT)
            p.close()
    assert runtime.metrics().alive_tasks == 0
    gc.collect()
    assert _fds() == before
