"""The TLS examples run against local peers: the echo server and the hand-made HTTPS GET."""

from __future__ import annotations

import ssl

import https_get
import pytest
import tls_echo
import trustme

import rt
from rt.io import BufReader
from rt.net import TcpListener, TcpStream
from rt.net.tls import TlsAcceptor, TlsStream

CA = trustme.CA()
CERT = CA.issue_cert("localhost", "127.0.0.1")


def _server_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    CERT.configure_cert(ctx)
    return ctx


def _client_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    CA.configure_trust(ctx)
    return ctx


async def test_tls_echo_example_echoes_for_many_clients_and_survives_a_plaintext_one() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        server = rt.spawn(tls_echo.serve(listener, _server_ctx()))
        addr = listener.local_addr()
        async with await TcpStream.connect(addr) as plain:  # not TLS: turned away
            await plain.write_all(b"hello?\r\n")
            assert not (await plain.read()).startswith(b"hello")

        async def client(i: int) -> bytes:
            async with await TcpStream.connect_tls(
                addr, server_hostname="localhost", ssl_context=_client_ctx()
            ) as tls:
                payload = bytes([i]) * (1000 * i + 1)
                await tls.write_all(payload)
                await tls.shutdown()
                got = bytearray()
                while chunk := await tls.read():
                    got += chunk
                return bytes(got) if bytes(got) == payload else b"mismatch"

        results = await rt.join(*(client(i) for i in range(8)))
        assert [len(r) for r in results] == [1000 * i + 1 for i in range(8)]
        server.abort()
        with pytest.raises(rt.JoinError):
            await server


async def _http_server(listener: TcpListener, chunked: bool) -> None:
    acceptor = TlsAcceptor(_server_ctx())
    stream, _ = await listener.accept()
    tls: TlsStream[TcpStream] = await acceptor.accept(stream)
    async with tls:
        reader = BufReader(tls)
        request = [await reader.read_line()]
        while request[-1] not in (b"\r\n", b""):
            request.append(await reader.read_line())
        assert request[0] == b"GET /hello?x=1 HTTP/1.1\r\n"
        assert any(line.lower().startswith(b"host: localhost:") for line in request)
        if chunked:
            await tls.write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n"
                b"\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
            )
        else:
            await tls.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nContent-Type: text/plain\r\n"
                b"\r\nnot here\n"
            )
        await tls.shutdown()
        assert await reader.read() == b""  # the client's close_notify


async def test_https_get_example_reads_chunked_and_content_length_bodies() -> None:
    for chunked, expected in ((True, (200, b"hello world")), (False, (404, b"not here\n"))):
        async with await TcpListener.bind("127.0.0.1:0") as listener:
            port = listener.local_addr()[1]
            server = rt.spawn(_http_server(listener, chunked))
            status, headers, body = await https_get.https_get(
                f"https://localhost:{port}/hello?x=1", ssl_context=_client_ctx()
            )
            await server
        assert (status, body) == expected
        assert headers["content-type"] == "text/plain"
