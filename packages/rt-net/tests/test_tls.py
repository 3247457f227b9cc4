"""rt.net.tls against itself: TCP, Unix and duplex transports, the stream API, cancel safety."""

from __future__ import annotations

import contextlib
import os
import ssl
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from rescued_run import run_or_rescue
from tlshelpers import client_context, server_context

import rt
import rt.io
import rt.time
from rt.io import BufReader, copy, copy_bidirectional, duplex
from rt.net import TcpListener, TcpStream, UnixStream
from rt.net.tls import TlsAcceptor, TlsConnector, TlsStream

TLS_VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


async def _pair(
    version: ssl.TLSVersion | None = None,
    *,
    client_kw: dict[str, Any] | None = None,
    server_kw: dict[str, Any] | None = None,
    max_buf: int = 1 << 20,
) -> tuple[TlsStream[rt.io.DuplexStream], TlsStream[rt.io.DuplexStream]]:
    """A connected (client, server) pair over an in-memory duplex."""
    a, b = duplex(max_buf)
    cctx = client_context(**(client_kw or {}))
    if version is not None:
        cctx.minimum_version = cctx.maximum_version = version
    acceptor = TlsAcceptor(server_context(**(server_kw or {})))
    connector = TlsConnector(cctx)
    client, server = await rt.join(connector.connect("localhost", a), acceptor.accept(b))
    return client, server


async def _echo(stream: TlsStream[Any]) -> None:
    async with stream:
        while data := await stream.read():
            await stream.write_all(data)
        await stream.shutdown()


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=["tls1.2", "tls1.3"])
async def test_tcp_echo_round_trips_every_byte_on_tls_1_2_and_1_3(
    version: ssl.TLSVersion,
) -> None:
    acceptor = TlsAcceptor(server_context())
    cctx = client_context()
    cctx.minimum_version = cctx.maximum_version = version
    async with await TcpListener.bind("127.0.0.1:0") as listener:

        async def serve() -> None:
            stream, _ = await listener.accept()
            await _echo(await acceptor.accept(stream))

        server = rt.spawn(serve())
        payload = os.urandom(3 * 1024 * 1024 + 17)
        async with await TcpStream.connect_tls(listener.local_addr(), ssl_context=cctx) as stream:
            assert (
                stream.version()
                == {
                    ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                    ssl.TLSVersion.TLSv1_3: "TLSv1.3",
                }[version]
            )
            assert stream.peer_addr() == listener.local_addr()
            cipher = stream.cipher()
            assert cipher is not None and cipher[2] >= 128
            sender = rt.spawn(stream.write_all(payload))
            got = bytearray()
            while len(got) < len(payload):
                chunk = await stream.read()
                assert chunk
                got += chunk
            await sender
            assert bytes(got) == payload
            await stream.shutdown()
            assert await stream.read() == b""  # the server's close_notify
        await server


class _Transport:
    """A duplex end that counts its sends (a socket's syscalls) and can hold them back."""

    def __init__(self, inner: rt.io.DuplexStream) -> None:
        self.inner = inner
        self.sends: list[int] = []
        self.cork_after_first_read = False
        self.corked: bytearray | None = None

    async def read(self, n: int = 65536, /) -> bytes:
        data = await self.inner.read(n)
        if self.cork_after_first_read and self.corked is None:
            self.corked = bytearray()
        return data

    async def write_all(self, data: bytes | bytearray | memoryview, /) -> None:
        if self.corked is not None:
            self.corked += data
            return
        self.sends.append(len(data))
        await self.inner.write_all(data)

    async def uncork(self) -> None:
        held, self.corked, self.cork_after_first_read = self.corked, None, False
        assert held
        await self.write_all(held)

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    def close(self) -> None:
        self.inner.close()


async def test_a_tls_1_3_server_sends_its_session_tickets_with_its_first_write() -> None:
    a, b = duplex(1 << 16)
    client_end, server_end = _Transport(a), _Transport(b)
    # The client's Finished and its first request reach the server in one piece, as they
    # usually do over TCP: the client holds its sends from the server's flight on.
    client_end.cork_after_first_read = True
    client = await TlsConnector(client_context()).connect(
        "localhost", client_end, do_handshake_on_connect=False
    )
    server = await TlsAcceptor(server_context()).accept(server_end, do_handshake_on_connect=False)
    handshake = rt.spawn(server.do_handshake())
    await client.do_handshake()
    await client.write_all(b"request")
    await client_end.uncork()
    await handshake
    assert server.version() == "TLSv1.3"
    assert len(server_end.sends) == 1  # ServerHello .. Finished; the tickets wait
    assert await server.read_exact(7) == b"request"  # decrypted without waiting
    await server.write_all(b"response")
    assert len(server_end.sends) == 2  # the tickets and the response went in one send
    assert await client.read_exact(8) == b"response"
    assert client.session is not None and client.session.has_ticket


async def test_connect_tls_checks_the_host_part_of_the_address_by_default() -> None:
    acceptor = TlsAcceptor(server_context())
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        port = listener.local_addr()[1]

        async def serve() -> None:
            stream, _ = await listener.accept()
            await _echo(await acceptor.accept(stream))

        server = rt.spawn(serve())
        async with await TcpStream.connect_tls(
            f"localhost:{port}", ssl_context=client_context()
        ) as stream:
            assert stream.server_hostname == "localhost"
            cert = stream.getpeercert()
            assert ("DNS", "localhost") in cert["subjectAltName"]
            await stream.write_all(b"ping")
            assert await stream.read_exact(4) == b"ping"
        await server


async def test_tls_works_over_a_unix_stream_and_a_duplex() -> None:
    a, b = UnixStream.pair()
    client, server = await rt.join(
        TlsConnector(client_context()).connect("localhost", a),
        TlsAcceptor(server_context()).accept(b),
    )
    async with client, server:
        await client.write_all(b"over unix")
        assert await server.read_exact(9) == b"over unix"
    c2, s2 = await _pair()
    async with c2, s2:
        await s2.write_all(b"over duplex")
        assert await c2.read_exact(11) == b"over duplex"
        assert c2.server_side is False and s2.server_side is True


async def test_buf_reader_copy_and_copy_bidirectional_work_unchanged() -> None:
    client, server = await _pair()
    await client.write_all(b"line one\r\nline two\nrest")
    await client.shutdown()
    reader = BufReader(server)
    assert await reader.read_line() == b"line one\r\n"
    assert [line async for line in reader.lines()] == [b"line two", b"rest"]

    # copy: a TLS stream into a plain duplex.
    client, server = await _pair()
    sink_w, sink_r = duplex(1 << 22)
    payload = os.urandom(500_000)

    async def send() -> None:
        await client.write_all(payload)
        await client.shutdown()

    sender = rt.spawn(send())
    assert await copy(server, sink_w) == len(payload)
    await sink_w.shutdown()
    assert await sink_r.read_exact(len(payload)) == payload
    await sender

    # copy_bidirectional: a plain proxy in front of a TLS echo server.
    client, server = await _pair()
    plain_user, plain_proxy = duplex(1 << 16)
    proxy = rt.spawn(copy_bidirectional(plain_proxy, client))
    echo = rt.spawn(_echo(server))
    await plain_user.write_all(b"through the proxy")
    await plain_user.shutdown()
    assert await plain_user.read_exact(17) == b"through the proxy"
    assert await plain_user.read() == b""
    assert await proxy == (17, 17)
    await echo


async def test_split_halves_read_and_write_at_once_without_deadlock() -> None:
    # Both sides write 4 MiB before reading anything: only concurrent halves get through
    # (the duplex buffer holds 64 KiB).
    client, server = await _pair(max_buf=1 << 16)
    payload_c, payload_s = os.urandom(4 << 20), os.urandom(4 << 20)

    async def side(stream: TlsStream[Any], payload: bytes) -> bytes:
        rd, wr = stream.into_split()
        async with rd, wr:

            async def send() -> None:
                await wr.write_all(payload)
                await wr.shutdown()

            sender = rt.spawn(send())
            got = bytearray()
            while chunk := await rd.read():
                got += chunk
            await sender
            return bytes(got)

    got_s, got_c = await rt.join(side(client, payload_c), side(server, payload_s))
    assert got_s == payload_s and got_c == payload_c


async def test_shutdown_is_a_half_close_the_other_direction_keeps_flowing() -> None:
    # Both ends refuse ragged EOFs: each b"" below is the peer's close_notify, not the
    # transport's EOF that follows it.
    a, b = duplex(1 << 20)
    client, server = await rt.join(
        TlsConnector(client_context(), suppress_ragged_eofs=False).connect("localhost", a),
        TlsAcceptor(server_context(), suppress_ragged_eofs=False).accept(b),
    )
    await client.write_all(b"request")
    await client.shutdown()
    await client.shutdown()  # idempotent
    assert await server.read_exact(7) == b"request"
    assert await server.read() == b""
    await server.write_all(b"response after the client's close_notify")
    await server.shutdown()
    assert await client.read() == b"response after the client's close_notify"
    assert await client.read() == b""
    with pytest.raises(BrokenPipeError, match="after shutdown"):
        await client.write(b"x")


async def test_handshake_runs_on_first_use_or_explicitly() -> None:
    a, b = duplex(1 << 16)
    client = await TlsConnector(client_context()).connect(
        "localhost", a, do_handshake_on_connect=False
    )
    server = await TlsAcceptor(server_context()).accept(b, do_handshake_on_connect=False)
    assert client.version() is None
    with pytest.raises(ValueError, match="handshake"):
        client.getpeercert()

    async def server_side() -> bytes:
        await server.do_handshake()
        await server.do_handshake()  # no-op once done
        return await server.read_exact(5)

    srv = rt.spawn(server_side())
    await client.write_all(b"first")  # the handshake happens here
    assert await srv == b"first"
    assert client.version() == "TLSv1.3"


async def test_alpn_client_certificates_and_peer_certificates() -> None:
    from tlshelpers import ca

    client_cert = ca().issue_cert("client@example.com")
    cctx = client_context()
    cctx.set_alpn_protocols(["h2", "http/1.1"])
    client_cert.configure_cert(cctx)
    sctx = server_context(verify_mode=ssl.CERT_REQUIRED)
    ca().configure_trust(sctx)
    sctx.set_alpn_protocols(["http/1.1"])
    a, b = duplex(1 << 16)
    client, server = await rt.join(
        TlsConnector(cctx).connect("localhost", a), TlsAcceptor(sctx).accept(b)
    )
    assert client.selected_alpn_protocol() == "http/1.1"
    assert server.selected_alpn_protocol() == "http/1.1"
    peer = server.getpeercert()
    assert ("email", "client@example.com") in peer["subjectAltName"]
    assert isinstance(server.getpeercert(binary_form=True), bytes)


async def test_server_requiring_a_client_certificate_rejects_a_client_without_one() -> None:
    from tlshelpers import ca

    sctx = server_context(verify_mode=ssl.CERT_REQUIRED)
    ca().configure_trust(sctx)
    a, b = duplex(1 << 16)

    async def client_side() -> bytes:
        stream = await TlsConnector(client_context()).connect("localhost", a)
        # TLS 1.3: the client finishes first and learns of the rejection on its next read.
        try:
            return await stream.read()
        except (ssl.SSLError, OSError) as exc:
            return repr(exc).encode()

    cli = rt.spawn(client_side())
    with pytest.raises(ssl.SSLError, match="certificate"):
        await TlsAcceptor(sctx).accept(b)
    assert b"certificate required" in (await cli).lower().replace(b"_", b" ")


async def test_a_cancelled_read_loses_no_decrypted_bytes() -> None:
    client, server = await _pair()
    # A read cancelled while it waits takes nothing.
    with rt.CancelScope() as scope:
        reader = rt.spawn(server.read())
        await rt.yield_now()
        reader.abort()
        with pytest.raises(rt.JoinError):
            await reader
        scope.cancel()
    # read_exact cancelled half-way puts back the bytes it had decrypted.
    rt.time.pause()
    await client.write_all(b"A" * 50)
    with pytest.raises(rt.time.Elapsed):
        await rt.time.timeout(5, server.read_exact(100))
    rt.time.resume()
    await client.write_all(b"B" * 50)
    assert await server.read_exact(100) == b"A" * 50 + b"B" * 50


async def test_reads_cancelled_over_and_over_never_drop_a_record() -> None:
    client, server = await _pair()
    messages = [os.urandom(n) for n in (1, 100, 20_000, 70_000, 5)]
    got = bytearray()

    async def read_once_then_abort() -> bool:
        """One read gets one scheduler turn and is then aborted; True if it was cancelled."""
        reader = rt.spawn(server.read(4096))
        await rt.yield_now()
        reader.abort()
        try:
            got.extend(await reader)  # it finished first: its bytes come back
        except rt.JoinError as err:
            assert err.is_cancelled()
            return True
        return False

    for i, message in enumerate(messages):
        if len(got) == sum(map(len, messages[:i])):
            assert await read_once_then_abort()  # nothing to read: cancelled while waiting
        await client.write_all(message)
        while len(got) < sum(map(len, messages[: i + 1])):
            await read_once_then_abort()
    assert bytes(got) == b"".join(messages)


async def test_a_cancelled_write_all_reports_what_it_committed_and_the_rest_flows_in_order() -> (
    None
):
    client, server = await _pair(max_buf=4096)
    payload = os.urandom(1 << 20)
    committed: int | None = None
    rt.time.pause()
    with pytest.raises(rt.time.Elapsed), rt.time.timeout(5):
        try:
            await client.write_all(payload)  # nobody reads: it stalls
        except rt.Cancelled as exc:
            committed = rt.io.bytes_written(exc)
            raise
    rt.time.resume()
    assert committed is not None and 0 < committed < len(payload)

    async def finish() -> None:
        await client.write_all(payload[committed:])
        await client.shutdown()

    sender = rt.spawn(finish())
    got = bytearray()
    while chunk := await server.read():
        got += chunk
    await sender
    assert bytes(got) == payload


async def test_cancelled_write_flush_and_shutdown_lose_or_duplicate_nothing() -> None:
    client, server = await _pair(max_buf=4096)
    payload = os.urandom(200_000)
    committed: int | None = None
    rt.time.pause()
    # write: stalls sending its own ciphertext (nobody reads): its bytes count as written.
    with pytest.raises(rt.time.Elapsed), rt.time.timeout(5):
        try:
            await client.write(payload)
        except rt.Cancelled as exc:
            committed = rt.io.bytes_written(exc)
            raise
    assert committed == len(payload)
    # write: cancelled while earlier ciphertext drains: it took nothing.
    with pytest.raises(rt.time.Elapsed), rt.time.timeout(5):
        try:
            await client.write(b"never sent")
        except rt.Cancelled as exc:
            assert rt.io.bytes_written(exc) is None
            raise
    # flush and shutdown: cancelled half-way, they finish when called again.
    with pytest.raises(rt.time.Elapsed):
        await rt.time.timeout(5, client.flush())
    with pytest.raises(rt.time.Elapsed):
        await rt.time.timeout(5, client.shutdown())
    rt.time.resume()

    async def finish() -> None:
        await client.write_all(b"and the end")  # after shutdown: refused, nothing queued
        await client.shutdown()

    reader = rt.spawn(_read_to_eof(server))
    with pytest.raises(BrokenPipeError):
        await finish()
    await client.shutdown()  # completes the cancelled one
    assert await reader == payload


async def test_split_halves_keep_the_cancel_safety_of_the_stream() -> None:
    client, server = await _pair(max_buf=4096)
    rd, wr = server.into_split()
    rt.time.pause()
    # The read half: read_exact cancelled half-way puts back what it had decrypted.
    await client.write_all(b"A" * 10)
    with pytest.raises(rt.time.Elapsed):
        await rt.time.timeout(5, rd.read_exact(20))
    await client.write_all(b"B" * 10)
    assert await rd.read_exact(20) == b"A" * 10 + b"B" * 10
    # The write half: write_all cancelled while it stalls (nobody reads) says what it
    # committed, and the rest follows in order.
    payload = os.urandom(1 << 20)
    committed: int | None = None
    with pytest.raises(rt.time.Elapsed), rt.time.timeout(5):
        try:
            await wr.write_all(payload)
        except rt.Cancelled as exc:
            committed = rt.io.bytes_written(exc)
            raise
    # flush cancelled while the committed ciphertext still cannot drain: it stays queued.
    with pytest.raises(rt.time.Elapsed):
        await rt.time.timeout(5, wr.flush())
    rt.time.resume()
    assert committed is not None and 0 < committed < len(payload)

    async def finish() -> None:
        await wr.write_all(payload[committed:])
        await wr.shutdown()

    sender = rt.spawn(finish())
    assert await _read_to_eof(client) == payload
    await sender
    rd.close()
    wr.close()
    assert server.closed


async def _read_to_eof(stream: TlsStream[Any]) -> bytes:
    got = bytearray()
    while chunk := await stream.read():
        got += chunk
    return bytes(got)


async def test_a_cancelled_handshake_leaves_the_stream_closed_not_half_open() -> None:
    a, b = duplex(1 << 16)  # nobody ever answers on b
    rt.time.pause()
    connector = TlsConnector(client_context())
    stream = await connector.connect("localhost", a, do_handshake_on_connect=False)
    with pytest.raises(rt.time.Elapsed):
        await rt.time.timeout(10, stream.do_handshake())
    assert stream.closed
    assert await b.read(1 << 16)  # the ClientHello went out
    assert await b.read() == b""  # and then the transport was closed
    with pytest.raises(OSError, match="handshake was interrupted"):
        await stream.read()
    with pytest.raises(OSError, match="handshake was interrupted"):
        await stream.write_all(b"x")


async def test_close_sends_close_notify_when_the_socket_takes_it() -> None:
    acceptor = TlsAcceptor(server_context(), suppress_ragged_eofs=False)
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        client_task = rt.spawn(
            TcpStream.connect_tls(listener.local_addr(), ssl_context=client_context())
        )
        raw, _ = await listener.accept()
        server = await acceptor.accept(raw)
        client = await client_task
        await client.write_all(b"bye")
        client.close()
        client.close()  # idempotent
        assert await server.read_exact(3) == b"bye"
        assert await server.read() == b""  # close_notify, not a ragged EOF
        server.close()
        with pytest.raises(OSError, match="closed"):
            await client.read()


async def test_ragged_eof_is_eof_or_ssl_eof_error_as_the_user_chooses() -> None:
    for ragged in (True, False):
        a, b = duplex(1 << 16)
        client, server = await rt.join(
            TlsConnector(client_context(), suppress_ragged_eofs=ragged).connect("localhost", a),
            TlsAcceptor(server_context()).accept(b),
        )
        await server.write_all(b"partial")
        server.get_ref().close()  # the transport goes away: no close_notify
        assert await client.read_exact(7) == b"partial"
        if ragged:
            assert await client.read() == b""
            await client.shutdown()  # quiet: nobody is there to hear close_notify
        else:
            with pytest.raises(ssl.SSLEOFError):
                await client.read()
    # A TLS 1.3 server's first read flushes the session tickets: the client being gone
    # already is that read's EOF, not a BrokenPipeError.
    a, b = duplex(1 << 16)
    client, server = await rt.join(
        TlsConnector(client_context()).connect("localhost", a),
        TlsAcceptor(server_context()).accept(b),
    )
    await client.write_all(b"last words")
    a.close()
    assert await server.read() == b"last words"
    assert await server.read() == b""


async def test_bad_arguments_get_clear_errors() -> None:
    with pytest.raises(TypeError, match="SSLContext"):
        TlsConnector("not a context")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="SSLContext"):
        TlsAcceptor(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="connect"):
        TlsStream()
    a, _b = duplex(16)
    with pytest.raises(ValueError, match="server_hostname"):
        await TlsConnector(client_context()).connect(None, a)
    client, _server = await _pair()
    with pytest.raises(ValueError, match="read size"):
        await client.read(-1)
    assert await client.read(0) == b""
    with pytest.raises(TypeError, match="peer_addr"):
        client.peer_addr()
    assert "TlsStream client TLSv1.3 over DuplexStream" in repr(client)


async def test_a_context_for_the_wrong_side_or_without_a_certificate_says_what_to_do() -> None:
    with pytest.raises(ValueError, match=r"Purpose.CLIENT_AUTH\), then load_cert_chain"):
        TlsAcceptor(ssl.create_default_context())
    with pytest.raises(ValueError, match="needs a client context"):
        TlsConnector(server_context())
    # A server context nobody loaded a certificate into: OpenSSL only says "no shared cipher".
    a, b = duplex(1 << 16)
    client = rt.spawn(TlsConnector(client_context()).connect("localhost", a))
    with pytest.raises(ssl.SSLError, match="NO_SHARED_CIPHER") as info:
        await TlsAcceptor(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)).accept(b)
    assert "load_cert_chain()" in "".join(info.value.__notes__)
    with pytest.raises(rt.JoinError) as joined:
        await client
    assert isinstance(joined.value.exception, ssl.SSLError)
    assert "handshake failure" in str(joined.value.exception)


# ----------------------------------------------------------------- STARTTLS, SNI, resumption


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=["tls1.2", "tls1.3"])
async def test_starttls_up_and_back_down_over_one_tcp_connection(version: ssl.TLSVersion) -> None:
    cctx = client_context()
    cctx.minimum_version = cctx.maximum_version = version
    acceptor = TlsAcceptor(server_context())
    async with await TcpListener.bind("127.0.0.1:0") as listener:

        async def server_side() -> None:
            plain, _ = await listener.accept()
            assert await plain.read_exact(10) == b"STARTTLS\r\n"
            await plain.write_all(b"OK\r\n")
            tls = await acceptor.accept(plain)
            assert await tls.read_exact(6) == b"secret"
            await tls.write_all(b"terces")
            assert await tls.read() == b""  # the client's close_notify: it wants out of TLS
            plain_again, trailing = await tls.unwrap()
            assert trailing == b""
            assert plain_again is plain
            await plain.write_all(b"plain again\r\n")  # may arrive with the close_notify
            assert await plain.read_exact(5) == b"thx\r\n"
            plain.close()

        server = rt.spawn(server_side())
        plain = await TcpStream.connect(listener.local_addr())
        await plain.write_all(b"STARTTLS\r\n")
        assert await plain.read_exact(4) == b"OK\r\n"
        tls = await TlsConnector(cctx).connect("localhost", plain)
        await tls.write_all(b"secret")
        assert await tls.read_exact(6) == b"terces"
        back, trailing = await tls.unwrap()
        assert back is plain and tls.closed and not plain.closed
        rest = trailing + await back.read_exact(13 - len(trailing))
        assert rest == b"plain again\r\n"
        await back.write_all(b"thx\r\n")
        await server
        back.close()


async def test_unwrap_keeps_tls_data_that_arrives_before_the_peers_close_notify() -> None:
    client, server = await _pair()
    await server.write_all(b"late data")
    with pytest.raises(ssl.SSLError, match="before its close_notify"):
        await client.unwrap()
    assert await client.read() == b"late data"

    async def server_unwrap() -> bytes:
        assert await server.read() == b""
        _plain, trailing = await server.unwrap()
        return trailing

    srv = rt.spawn(server_unwrap())
    _plain, trailing = await client.unwrap()
    assert trailing == b"" and await srv == b""
    with pytest.raises(OSError, match="after unwrap"):
        await client.read()


async def test_a_cancelled_unwrap_finishes_when_called_again_or_closes_cleanly() -> None:
    for again in (True, False):
        client, server = await _pair()
        rt.time.pause()
        # The server has not answered with its close_notify: unwrap waits, and is cancelled.
        with pytest.raises(rt.time.Elapsed):
            await rt.time.timeout(5, client.unwrap())
        rt.time.resume()
        assert not client.closed
        assert await server.read() == b""  # the client's close_notify went out before the wait
        if again:
            srv = rt.spawn(server.unwrap())
            plain, trailing = await client.unwrap()
            assert trailing == b"" and plain is client.get_ref()
            with pytest.raises(OSError, match="after unwrap"):
                await client.read()
            server_plain, _ = await srv
            await plain.write_all(b"plain")
            assert await server_plain.read_exact(5) == b"plain"
        else:
            client.close()
            with pytest.raises(OSError, match="closed"):
                await client.read()
            assert await server.get_ref().read() == b""  # the transport is closed too


@pytest.mark.parametrize("version", TLS_VERSIONS, ids=["tls1.2", "tls1.3"])
async def test_sessions_resume_between_rt_peers(version: ssl.TLSVersion) -> None:
    cctx = client_context()
    cctx.minimum_version = cctx.maximum_version = version
    connector = TlsConnector(cctx)
    acceptor = TlsAcceptor(server_context())
    session = None
    reused = []
    for _ in range(2):
        a, b = duplex(1 << 16)
        client, server = await rt.join(
            connector.connect("localhost", a, session=session), acceptor.accept(b)
        )
        reused.append((client.session_reused, server.session_reused))
        await server.write_all(b"hi")  # TLS 1.3 tickets arrive before it
        assert await client.read_exact(2) == b"hi"
        session = client.session
        client.close()
        server.close()
    assert reused == [(False, False), (True, True)]


async def test_sni_callback_picks_the_certificate_for_the_requested_name() -> None:
    from tlshelpers import ca

    other = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca().issue_cert("other.example").configure_cert(other)
    seen: list[str | None] = []

    def pick(obj: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext) -> None:
        seen.append(name)
        if name == "other.example":
            obj.context = other

    sctx = server_context()
    sctx.sni_callback = pick
    acceptor = TlsAcceptor(sctx)
    for name in ("other.example", "localhost"):
        a, b = duplex(1 << 16)
        client, _server = await rt.join(
            TlsConnector(client_context()).connect(name, a), acceptor.accept(b)
        )
        assert client.server_hostname == name
        assert ("DNS", name) in client.getpeercert()["subjectAltName"]
    assert seen == ["other.example", "localhost"]


# ----------------------------------------------------------------- many connections

_TLS_CLIENTS = r"""
import hashlib, ssl, sys
import rt
from rt.net import TcpStream

async def main(port: int, n: int, ca: str) -> None:
    ctx = ssl.create_default_context(cafile=ca)

    async def connect(i: int):
        return await TcpStream.connect_tls(("127.0.0.1", port), server_hostname="localhost",
                                           ssl_context=ctx)

    # Phase 1: all n TLS connections open (handshakes done) at once.
    streams = [await h for h in [rt.spawn(connect(i)) for i in range(n)]]

    async def talk(i: int, s) -> bool:
        payload = hashlib.sha256(str(i).encode()).digest() * (64 + i % 64)
        await s.write_all(payload)
        await s.shutdown()
        got = bytearray()
        while chunk := await s.read():
            got += chunk
        s.close()
        return bytes(got) == payload

    handles = [rt.spawn(talk(i, s)) for i, s in enumerate(streams)]
    print(sum([await h for h in handles]))

rt.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
"""


async def test_1000_concurrent_tls_connections_to_one_server_every_byte_verified(
    tmp_path: Any,
) -> None:
    import resource
    import subprocess
    import sys

    from tlshelpers import write_pem_files

    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * n + 500
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    ca_pem, _cert, _key = write_pem_files(tmp_path)
    acceptor = TlsAcceptor(server_context())

    async def serve(stream: TcpStream) -> None:
        await _echo(await acceptor.accept(stream))

    try:
        async with await TcpListener.bind("127.0.0.1:0", backlog=4096) as listener:
            port = listener.local_addr()[1]
            client = rt.spawn_blocking(
                lambda: subprocess.run(
                    [sys.executable, "-c", _TLS_CLIENTS, str(port), str(n), str(ca_pem)],
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
            )
            async with rt.TaskGroup() as tg:
                for _ in range(n):
                    stream, _peer = await listener.accept()
                    tg.spawn(serve(stream))
            done = await client
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip() == str(n)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


_SEAMS = r"""
import os, ssl, sys
sys.setswitchinterval(1e-6)
import rt, trustme
from rt.io import duplex
from rt.net.tls import TlsAcceptor, TlsConnector

ca = trustme.CA()
sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ca.issue_cert("localhost").configure_cert(sctx)
cctx = ssl.create_default_context()
ca.configure_trust(cctx)
acceptor, connector = TlsAcceptor(sctx), TlsConnector(cctx)

async def side(stream, payload):
    rd, wr = stream.into_split()
    async with rd, wr:
        async def send():
            for i in range(0, len(payload), 7000):
                await wr.write_all(payload[i : i + 7000])
            await wr.shutdown()
        sender = rt.spawn(send())
        got = bytearray()
        while chunk := await rd.read(5000):
            got += chunk
        await sender
        return bytes(got)

async def main():
    for i in range(60):
        a, b = duplex(4096)
        client, server = await rt.join(connector.connect("localhost", a), acceptor.accept(b))
        to_server, to_client = os.urandom(300_000), os.urandom(200_000)
        by_client, by_server = await rt.join(side(client, to_server), side(server, to_client))
        if by_server != to_server or by_client != to_client:
            raise SystemExit(f"round {i}: a direction lost or reordered bytes")
    print("intact")

if sys.argv[1] == "multi_thread":
    rt.run(main(), flavor="multi_thread", worker_threads=2)
else:
    rt.run(main(), flavor="current_thread")
"""


@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
def test_split_halves_under_a_tiny_switch_interval_keep_both_directions_intact(
    flavor: str,
) -> None:
    # The seams between the read half, the write half (whose shutdown drains OpenSSL) and the
    # transport, with threads switching every microsecond, so workers really interleave on
    # the multi-thread flavor. A fresh process: the switch interval is process-wide.
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _SEAMS, flavor], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "intact"


async def test_the_send_and_receive_lock_serialises_tasks_and_survives_cancellation() -> None:
    from rt.net._tls import _Lock

    lock = _Lock()
    inside = 0
    entered = 0

    async def critical(i: int) -> None:
        nonlocal inside, entered
        if not lock.try_acquire():
            await lock.acquire()
        try:
            inside += 1
            assert inside == 1
            entered += 1
            for _ in range(i % 3):
                await rt.yield_now()
        finally:
            inside -= 1
            lock.release()

    handles = [rt.spawn(critical(i)) for i in range(300)]
    await rt.yield_now()
    for h in handles[::7]:
        h.abort()  # some are cancelled while they wait, some while they hold the lock
    cancelled = 0
    for h in handles:
        try:
            await h
        except rt.JoinError as err:
            assert err.is_cancelled()
            cancelled += 1
    assert entered >= 300 - cancelled and inside == 0
    assert lock.try_acquire()  # free at the end: no hand-off was lost
    lock.release()


class _ReleasesInside(deque[Any]):
    """A TLS lock's waiter queue that runs ``release()`` on the waiting thread once, right
    after it queues a waiter (``on="append"``) or as the abort withdraws one
    (``on="remove"``): inside the lock's guarded lines, where a finalizer run by the collector
    or a signal handler could end the holder's critical section."""

    def __init__(self, release: Callable[[], object], on: str) -> None:
        super().__init__()
        self.release: Callable[[], object] | None = release
        self.on = on

    def _fire(self, where: str) -> None:
        release, self.release = self.release, None
        if where == self.on and release is not None:
            release()
        elif release is not None:
            self.release = release

    def append(self, x: Any) -> None:
        super().append(x)
        self._fire("append")

    def remove(self, x: Any) -> None:
        self._fire("remove")
        super().remove(x)


def _run_or_rescue(
    main: Callable[[], Coroutine[Any, Any, None]], flavor: str | None, guard: Any
) -> None:
    """``rt.run(main())`` on a helper thread; if it is still running after 10 s (deadlocked on
    the lock's guard), free the guard from here so that the thread ends, and fail."""

    def free() -> None:
        with contextlib.suppress(RuntimeError):
            guard.release()  # a plain lock may be freed by any thread

    run_or_rescue(
        main, flavor, free, "a release made inside the lock's guarded lines deadlocked its thread"
    )


def test_the_tls_lock_goes_to_a_waiter_freed_for_as_it_queues_itself(flavor: str | None) -> None:
    from rt.net._tls import _Lock

    lock = _Lock()
    guard = lock._guard
    got: list[bool] = []

    async def main() -> None:
        assert lock.try_acquire()  # the holder, whose release runs while the waiter queues
        lock._waiters = _ReleasesInside(lock.release, on="append")
        with rt.time.timeout(10):
            await lock.acquire()
        got.append(True)
        assert not lock.try_acquire()  # the waiter holds it
        lock.release()

    _run_or_rescue(main, flavor, guard)
    assert got
    assert lock.try_acquire()  # free again, nobody queued
    assert not lock._waiters


def test_the_tls_lock_handed_to_a_waiter_as_its_cancel_withdraws_it_is_released_after(
    flavor: str | None,
) -> None:
    from rt.net._tls import _Lock

    lock = _Lock()
    guard = lock._guard
    outcome: list[str] = []

    async def main() -> None:
        assert lock.try_acquire()
        lock._waiters = _ReleasesInside(lock.release, on="remove")

        async def waiter() -> None:
            await lock.acquire()
            try:
                outcome.append("acquired")
            finally:
                lock.release()

        h = rt.spawn(waiter())
        with rt.time.timeout(10):
            while not lock._waiters:
                await rt.yield_now()
        h.abort()  # the abort withdraws the waiter; the release runs inside it
        with contextlib.suppress(rt.JoinError), rt.time.timeout(10):
            await h

    _run_or_rescue(main, flavor, guard)
    assert lock.try_acquire()  # whoever got it released it; no hand-off was lost
    assert not lock._waiters


async def test_tls_1_3_post_handshake_client_authentication_flows_through_reads() -> None:
    # The client's certificate is asked for after the handshake: the client answers while it
    # reads, and its answer goes out before its next data (or before a read that waits).
    from tlshelpers import ca

    cctx = client_context()
    ca().issue_cert("late@example.com").configure_cert(cctx)
    cctx.post_handshake_auth = True
    sctx = server_context(verify_mode=ssl.CERT_OPTIONAL, post_handshake_auth=True)
    ca().configure_trust(sctx)
    a, b = duplex(1 << 16)
    client, server = await rt.join(
        TlsConnector(cctx).connect("localhost", a), TlsAcceptor(sctx).accept(b)
    )
    assert server.getpeercert() is None  # none yet

    async def client_side() -> None:
        assert await client.read_exact(13) == b"who are you?\n"
        await client.write_all(b"me\n")
        assert await client.read_exact(3) == b"ok\n"

    cli = rt.spawn(client_side())
    server.ssl_object.verify_client_post_handshake()
    await server.write_all(b"who are you?\n")
    assert await server.read_exact(3) == b"me\n"
    assert ("email", "late@example.com") in server.getpeercert()["subjectAltName"]
    await server.write_all(b"ok\n")
    await cli

    # A client that only reads answers too: its read sends the answer before it waits.
    a, b = duplex(1 << 16)
    client, server = await rt.join(
        TlsConnector(cctx).connect("localhost", a), TlsAcceptor(sctx).accept(b)
    )

    async def reading_client() -> None:
        assert await client.read_exact(4) == b"bye\n"
        assert await client.read() == b""  # waits: the certificate goes out first
        await client.shutdown()

    cli = rt.spawn(reading_client())
    server.ssl_object.verify_client_post_handshake()
    await server.write_all(b"bye\n")
    rt.time.pause()  # the read below times out once both sides wait
    with pytest.raises(rt.time.Elapsed):
        await rt.time.timeout(5, server.read())
    rt.time.resume()
    assert ("email", "late@example.com") in server.getpeercert()["subjectAltName"]
    await server.shutdown()
    await cli
