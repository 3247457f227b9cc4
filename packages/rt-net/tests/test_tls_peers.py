"""rt.net.tls against real peers (OpenSSL's s_server / s_client, curl) and against bad input.

``tools/dev.py test`` installs Debian's ``openssl`` and ``curl`` when they are missing; the
tests that need one are skipped, saying so, only where it cannot be had.
"""

from __future__ import annotations

import queue
import re
import shutil
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from tlshelpers import client_context, expired_server_context, server_context, write_pem_files

import rt
import rt.time
from rt.net import TcpListener, TcpStream
from rt.net.tls import TlsAcceptor, TlsConnector, TlsStream
from rt.sync import Event

needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None,
    reason="the openssl command is missing (tools/dev.py installs Debian's openssl as root)",
)
needs_curl = pytest.mark.skipif(
    shutil.which("curl") is None,
    reason="curl is missing (tools/dev.py installs Debian's curl as root)",
)

# Generous: a handshake on a loaded 2-core machine; it bounds failures, it is never asserted.
HANDSHAKE_TIMEOUT = 20.0


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return write_pem_files(tmp_path_factory.mktemp("tls"))


@contextmanager
def s_server(
    pems: tuple[Path, Path, Path], *args: str, line_buffered: bool = False
) -> Iterator[tuple[int, Any]]:
    """``openssl s_server`` on a free port; yields ``(port, process)``.

    ``line_buffered``: its messages reach the pipe line by line (``stdbuf -oL``), not when its
    stdio buffer fills, so a test can wait for one.
    """
    _ca, cert, key = pems
    proc = subprocess.Popen(
        [
            *(["stdbuf", "-oL"] if line_buffered else []),
            "openssl",
            "s_server",
            "-accept",
            "127.0.0.1:0",
            "-cert",
            str(cert),
            "-key",
            str(key),
            *args,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        port = 0
        for raw in proc.stdout:
            m = re.match(rb"ACCEPT 127\.0\.0\.1:(\d+)", raw)
            if m:
                port = int(m.group(1))
                break
        assert port, "openssl s_server did not say where it listens"
        yield port, proc
    finally:
        proc.kill()
        proc.wait()
        for f in (proc.stdin, proc.stdout):
            if f is not None:
                f.close()


async def _serve_forever(
    listener: TcpListener, acceptor: TlsAcceptor, handler: Any, errors: list[BaseException]
) -> None:
    """The accept loop a TLS server runs: one task per connection, a handshake timeout each."""

    async def one(stream: TcpStream) -> None:
        try:
            tls = await rt.time.timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
        except (OSError, ssl.SSLError, rt.time.Elapsed) as exc:
            errors.append(exc)
            return
        async with tls:
            try:
                await handler(tls)
            except (OSError, ssl.SSLError) as exc:
                errors.append(exc)

    async with rt.TaskGroup() as tg:
        async for stream in listener.incoming():
            tg.spawn(one(stream))


@asynccontextmanager
async def rt_tls_server(
    handler: Any, ctx: ssl.SSLContext | None = None, handshake_timeout: float = HANDSHAKE_TIMEOUT
) -> AsyncIterator[tuple[int, list[BaseException]]]:
    errors: list[BaseException] = []
    acceptor = TlsAcceptor(ctx or server_context())
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        task = rt.spawn(_serve_forever(listener, acceptor, handler, errors))
        try:
            yield listener.local_addr()[1], errors
        finally:
            task.abort()
            with pytest.raises(rt.JoinError):
                await task


async def _line_reverser(tls: TlsStream[Any]) -> None:
    from rt.io import BufReader

    reader = BufReader(tls)
    while line := await reader.read_line():
        if line == b"bye\n":  # s_client -quiet never closes: the server ends the session
            break
        await tls.write_all(line.rstrip(b"\n")[::-1] + b"\n")
    await tls.shutdown()


# ----------------------------------------------------------------- rt client, OpenSSL server


@needs_openssl
@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
async def test_rt_client_talks_to_openssl_s_server(
    pems: tuple[Path, Path, Path], version: str
) -> None:
    with s_server(pems, "-rev", "-naccept", "1", version) as (port, _proc):
        stream = await TcpStream.connect_tls(
            ("127.0.0.1", port), server_hostname="localhost", ssl_context=client_context()
        )
        async with stream:
            assert stream.version() == {"-tls1_2": "TLSv1.2", "-tls1_3": "TLSv1.3"}[version]
            await stream.write_all(b"hello from rt\n")
            assert await stream.read_exact(14) == b"tr morf olleh\n"
            big = b"x" * 10_000 + b"y\n"
            await stream.write_all(big)
            assert await stream.read_exact(len(big)) == big[:-1][::-1] + b"\n"
            await stream.shutdown()


@needs_openssl
async def test_rt_client_sends_a_certificate_openssl_s_server_verifies(
    pems: tuple[Path, Path, Path],
) -> None:
    from tlshelpers import ca

    ca_pem = pems[0]
    cctx = client_context()
    ca().issue_cert("rt-client@example.com").configure_cert(cctx)
    with s_server(pems, "-rev", "-naccept", "1", "-Verify", "1", "-CAfile", str(ca_pem)) as (
        port,
        _proc,
    ):
        async with await TcpStream.connect_tls(
            ("127.0.0.1", port), server_hostname="localhost", ssl_context=cctx
        ) as stream:
            await stream.write_all(b"abc\n")
            assert await stream.read_exact(4) == b"cba\n"


@needs_openssl
async def test_rt_client_resumes_a_session_with_openssl_s_server(
    pems: tuple[Path, Path, Path],
) -> None:
    cctx = client_context()
    connector = TlsConnector(cctx)
    with s_server(pems, "-rev", "-naccept", "2") as (port, _proc):
        first = await connector.connect("localhost", await TcpStream.connect(("127.0.0.1", port)))
        async with first:
            await first.write_all(b"one\n")
            assert await first.read_exact(4) == b"eno\n"  # the tickets came with it
            session = first.session
            assert session is not None and not first.session_reused
        second = await connector.connect(
            "localhost", await TcpStream.connect(("127.0.0.1", port)), session=session
        )
        async with second:
            assert second.session_reused
            await second.write_all(b"two\n")
            assert await second.read_exact(4) == b"owt\n"


@needs_openssl
async def test_rt_client_refuses_renegotiation_cleanly(pems: tuple[Path, Path, Path]) -> None:
    with s_server(pems, "-rev", "-naccept", "1", "-tls1_2") as (port, proc):
        async with await TcpStream.connect_tls(
            ("127.0.0.1", port), server_hostname="localhost", ssl_context=client_context()
        ) as stream:
            await stream.write_all(b"before\n")
            assert await stream.read_exact(7) == b"erofeb\n"
            # s_server's "r" command asks the client to renegotiate (a HelloRequest).
            proc.stdin.write(b"r\n")
            proc.stdin.flush()
            # The client answers no_renegotiation; the connection goes on, or ends with an
            # SSL error naming renegotiation, but never hangs or renegotiates.
            try:
                await stream.write_all(b"after\n")
                answer = await rt.time.timeout(HANDSHAKE_TIMEOUT, stream.read_exact(6))
            except ssl.SSLError as exc:
                assert "renegotiat" in str(exc).lower()
            else:
                assert answer == b"retfa\n"


# ----------------------------------------------------------------- rt server, OpenSSL / curl


_S_CLIENT = ["openssl", "s_client", "-servername", "localhost", "-quiet", "-connect"]
_CURL = ["curl", "--silent", "--show-error", "--http1.1"]


def _s_client(
    port: int, ca_pem: Path, stdin: bytes, *args: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*_S_CLIENT, f"127.0.0.1:{port}", "-CAfile", str(ca_pem), "-verify_return_error", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
    )


@needs_openssl
@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
async def test_openssl_s_client_talks_to_the_rt_server(
    pems: tuple[Path, Path, Path], version: str
) -> None:
    ctx = server_context()
    ctx.set_alpn_protocols(["rt-test", "http/1.1"])
    seen: list[tuple[str | None, str | None]] = []

    async def handler(tls: TlsStream[Any]) -> None:
        seen.append((tls.selected_alpn_protocol(), tls.version()))
        await _line_reverser(tls)

    async with rt_tls_server(handler, ctx) as (port, errors):
        done = await rt.spawn_blocking(
            _s_client, port, pems[0], b"first line\nsecond\nbye\n", version, "-alpn", "rt-test"
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == b"enil tsrif\ndnoces\n"
        assert errors == []
    assert seen == [("rt-test", {"-tls1_2": "TLSv1.2", "-tls1_3": "TLSv1.3"}[version])]


@needs_openssl
@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
async def test_openssl_s_client_sees_close_notify_from_a_closed_write_half_of_the_rt_server(
    pems: tuple[Path, Path, Path], version: str
) -> None:
    # s_client -quiet ignores its stdin's end and leaves when the server's close_notify
    # arrives; the read half is still open then, so only the write half's close can end it.
    ended: list[bytes] = []
    finished = Event()

    async def handler(tls: TlsStream[Any]) -> None:
        read_half, write_half = tls.into_split()
        assert await read_half.read_exact(3) == b"go\n"
        await write_half.write_all(b"hello\n")
        write_half.close()
        ended.append(await read_half.read())  # s_client, gone after close_notify
        read_half.close()
        finished.set()

    async with rt_tls_server(handler) as (port, errors):
        done = await rt.spawn_blocking(_s_client, port, pems[0], b"go\n", version)
        assert done.returncode == 0, done.stderr
        assert done.stdout == b"hello\n"
        await rt.time.timeout(HANDSHAKE_TIMEOUT, finished.wait())  # a bound, not asserted
        assert errors == []
    assert ended == [b""]


def _s_client_renegotiates(port: int, ca_pem: Path) -> tuple[bytes, bytes, int]:
    """Talk, ask for a renegotiation ("R" line), talk again; return (stdout, stderr, rc)."""
    proc = subprocess.Popen(
        [*_S_CLIENT, f"127.0.0.1:{port}", "-CAfile", str(ca_pem), "-tls1_2", "-no_ign_eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"abc\n")
    proc.stdin.flush()
    first = proc.stdout.readline()
    proc.stdin.write(b"R\n")
    proc.stdin.flush()
    try:
        proc.stdin.write(b"def\n")
        proc.stdin.flush()
    except BrokenPipeError:
        pass
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return first + out, err, proc.returncode


@needs_openssl
async def test_rt_server_refuses_renegotiation_from_openssl_s_client(
    pems: tuple[Path, Path, Path],
) -> None:
    async with rt_tls_server(_line_reverser) as (port, errors):
        out, err, rc = await rt.spawn_blocking(_s_client_renegotiates, port, pems[0])
        assert out.startswith(b"cba\n")
        assert b"fed" not in out  # the session did not go on renegotiated
        assert rc != 0 and b"no renegotiation" in err.lower().replace(b"_", b" ")
        # The server is still serving.
        again = await rt.spawn_blocking(_s_client, port, pems[0], b"xyz\nbye\n")
        assert again.stdout == b"zyx\n"
    assert all(isinstance(e, ssl.SSLError | OSError) for e in errors)


def _curl(port: int, ca_pem: Path, path: str = "/") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*_CURL, "--cacert", str(ca_pem), f"https://localhost:{port}{path}"],
        capture_output=True,
        timeout=60,
    )


async def _http_handler(tls: TlsStream[Any]) -> None:
    from rt.io import BufReader

    reader = BufReader(tls)
    request = await reader.read_line()
    while (await reader.read_line()) not in (b"\r\n", b"\n", b""):
        pass
    path = request.split()[1]
    body = b"hello over TLS, you asked for " + path + b"\n"
    await tls.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    await tls.shutdown()


@needs_curl
async def test_curl_fetches_https_from_the_rt_server(pems: tuple[Path, Path, Path]) -> None:
    async with rt_tls_server(_http_handler) as (port, errors):
        done = await rt.spawn_blocking(_curl, port, pems[0], "/some/path")
        assert done.returncode == 0, done.stderr
        assert done.stdout == b"hello over TLS, you asked for /some/path\n"
        assert errors == []


@needs_curl
async def test_curl_without_the_ca_rejects_the_rt_server_which_keeps_serving(
    pems: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    import trustme

    trustme.CA().cert_pem.write_to_path(str(other_ca))
    async with rt_tls_server(_http_handler) as (port, errors):
        bad = await rt.spawn_blocking(_curl, port, other_ca)
        assert bad.returncode == 60, bad.stderr  # "peer certificate cannot be authenticated"
        good = await rt.spawn_blocking(_curl, port, pems[0])
        assert good.returncode == 0 and good.stdout.startswith(b"hello over TLS")
    assert len(errors) == 1 and isinstance(errors[0], ssl.SSLError)  # the client's alert


# ----------------------------------------------------------------- bad input


async def test_untrusted_certificate_fails_verification_with_the_reason() -> None:
    async with rt_tls_server(_line_reverser) as (port, _errors):
        # The default context trusts the system's CAs only, not the test CA.
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await TcpStream.connect_tls(("127.0.0.1", port), server_hostname="localhost")
        assert "unable to get local issuer certificate" in info.value.verify_message


async def test_expired_certificate_fails_verification_with_the_reason() -> None:
    async with rt_tls_server(_line_reverser, expired_server_context()) as (port, _errors):
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await TcpStream.connect_tls(
                ("127.0.0.1", port), server_hostname="localhost", ssl_context=client_context()
            )
        assert "expired" in info.value.verify_message


async def test_wrong_host_name_fails_verification_with_the_reason() -> None:
    async with rt_tls_server(_line_reverser) as (port, _errors):
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await TcpStream.connect_tls(
                ("127.0.0.1", port), server_hostname="example.com", ssl_context=client_context()
            )
        assert "Hostname mismatch" in info.value.verify_message
        assert "example.com" in info.value.verify_message


async def test_plaintext_client_on_the_tls_port_fails_its_handshake_and_the_server_serves_on() -> (
    None
):
    async with rt_tls_server(_line_reverser, handshake_timeout=HANDSHAKE_TIMEOUT) as (
        port,
        errors,
    ):
        # One speaks HTTP in the clear: the server's handshake fails at once.
        async with await TcpStream.connect(("127.0.0.1", port)) as plain:
            await plain.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await plain.shutdown()
            reply = await plain.read()  # an alert or EOF, never a hang
            assert not reply.startswith(b"HTTP")
        # A TLS client is served meanwhile and after.
        async with await TcpStream.connect_tls(
            ("127.0.0.1", port), server_hostname="localhost", ssl_context=client_context()
        ) as tls:
            await tls.write_all(b"still here\n")
            assert await tls.read_exact(11) == b"ereh llits\n"
    assert len(errors) == 1
    assert isinstance(errors[0], ssl.SSLError)
    assert "http request" in str(errors[0]).lower() or "wrong version" in str(errors[0]).lower()


async def test_a_silent_client_is_cut_off_by_the_servers_handshake_timeout() -> None:
    errors: list[BaseException] = []
    acceptor = TlsAcceptor(server_context())
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        silent = await TcpStream.connect(listener.local_addr())
        stream, _ = await listener.accept()
        rt.time.pause()  # the timeout below fires as soon as everything waits
        try:
            await rt.time.timeout(5, acceptor.accept(stream))
        except rt.time.Elapsed as exc:
            errors.append(exc)
        rt.time.resume()
        assert stream.closed
        assert await silent.read() == b""  # closed, not left half-open
        silent.close()
    assert len(errors) == 1


async def test_a_tls_client_on_a_plaintext_port_fails_within_its_timeout() -> None:
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        addr = listener.local_addr()

        # A plaintext server that answers anything with a line of text.
        async def plain_server() -> None:
            stream, _ = await listener.accept()
            async with stream:
                await stream.read()
                await stream.write_all(b"-ERR unknown command\r\n")
                await stream.read()

        server = rt.spawn(plain_server())
        with pytest.raises(ssl.SSLError) as info:
            await rt.time.timeout(
                HANDSHAKE_TIMEOUT,
                TcpStream.connect_tls(
                    addr, server_hostname="localhost", ssl_context=client_context()
                ),
            )
        assert "wrong version number" in str(info.value) or "record" in str(info.value).lower()
        await server

        # A plaintext server that says nothing: the user's timeout ends the handshake.
        async def silent_server() -> TcpStream:
            stream, _ = await listener.accept()
            return stream

        server2 = rt.spawn(silent_server())
        rt.time.pause()
        with pytest.raises(rt.time.Elapsed):
            await rt.time.timeout(
                5,
                TcpStream.connect_tls(
                    addr, server_hostname="localhost", ssl_context=client_context()
                ),
            )
        rt.time.resume()
        async with await server2 as peer:
            assert await peer.read() != b""  # the ClientHello
            assert await peer.read() == b""  # then the client closed: nothing half-open


@needs_openssl
async def test_openssl_s_client_starttls_smtp_upgrades_an_rt_server_connection(
    pems: tuple[Path, Path, Path],
) -> None:
    from rt.io import BufReader

    acceptor = TlsAcceptor(server_context())
    async with await TcpListener.bind("127.0.0.1:0") as listener:
        port = listener.local_addr()[1]

        async def smtp_server() -> list[bytes]:
            plain, _ = await listener.accept()
            said = []
            await plain.write_all(b"220 rt ESMTP ready\r\n")
            reader = BufReader(plain)
            said.append(await reader.read_line())  # EHLO
            await plain.write_all(b"250-rt greets you\r\n250 STARTTLS\r\n")
            said.append(await reader.read_line())  # STARTTLS
            assert reader.buffer() == b""  # nothing may be read past the upgrade point
            await plain.write_all(b"220 go ahead\r\n")
            tls = await acceptor.accept(plain)
            await _line_reverser(tls)
            tls.close()
            return said

        server = rt.spawn(smtp_server())
        done = await rt.spawn_blocking(
            _s_client, port, pems[0], b"secret line\nbye\n", "-starttls", "smtp"
        )
        said = await server
    assert said[0].startswith(b"EHLO ") and said[1] == b"STARTTLS\r\n"
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(b"enil terces\n")


@needs_openssl
@pytest.mark.skipif(shutil.which("stdbuf") is None, reason="stdbuf (coreutils) is missing")
async def test_rt_client_answers_tls_1_3_key_updates_from_openssl_s_server(
    pems: tuple[Path, Path, Path],
) -> None:
    # s_server's "K" command sends a KeyUpdate that asks for one back, "k" one that does not;
    # data keeps flowing both ways after each (rt's read sends the answer OpenSSL queued).
    with s_server(pems, "-naccept", "1", "-tls1_3", line_buffered=True) as (port, proc):
        assert proc.stdin is not None and proc.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        out = proc.stdout

        def pump() -> None:
            for raw in out:
                lines.put(raw)

        threading.Thread(target=pump, daemon=True).start()

        async def server_prints(text: bytes) -> None:
            def wait() -> None:
                while text not in lines.get(timeout=HANDSHAKE_TIMEOUT):
                    pass

            await rt.spawn_blocking(wait)

        def type_in(line: bytes) -> None:  # one line per stdin read: s_server's commands
            assert proc.stdin is not None
            proc.stdin.write(line)
            proc.stdin.flush()

        async with await TcpStream.connect_tls(
            ("127.0.0.1", port), server_hostname="localhost", ssl_context=client_context()
        ) as stream:
            await stream.write_all(b"first\n")
            await server_prints(b"first")
            for i, command in enumerate((b"K\n", b"k\n", b"K\n")):
                type_in(command)
                await server_prints(b"SSL_do_handshake -> 1")
                type_in(b"data %d\n" % i)
                line = await rt.time.timeout(HANDSHAKE_TIMEOUT, stream.read_exact(7))
                assert line == b"data %d\n" % i
                await stream.write_all(b"ping %d\n" % i)
                await server_prints(b"ping %d" % i)
