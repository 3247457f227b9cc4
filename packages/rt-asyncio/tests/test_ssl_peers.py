"""asyncio's SSL (``ssl=``, streams) on rt's loop against hostile peers, beside asyncio's own
loop: each scenario runs on both and must end the same way, with no fd or task left.

The peer is Python's ``ssl`` on a blocking socket in a thread. Every wait is bounded (``LIMIT``
on the loop's side, a socket timeout on the peer's); the bounds are never asserted.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import rt.asyncio

trustme = pytest.importorskip("trustme", reason="trustme is a test dependency (hatch.toml)")

LIMIT = 20.0
LOOPS: dict[str, Callable[[Coroutine[Any, Any, Any]], Any]] = {
    "asyncio": asyncio.run,
    "rt": rt.asyncio.run,
}

_CA = trustme.CA()
_CERT = _CA.issue_cert("localhost")


def _server_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _CERT.configure_cert(ctx)
    return ctx


def _client_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    _CA.configure_trust(ctx)
    return ctx


def _fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


class _Peer:
    """``behaviour(sock)`` on the first connection to a fresh port, in a thread."""

    def __init__(self, behaviour: Callable[[socket.socket], Any]) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(LIMIT)
        self.port = self._listener.getsockname()[1]
        self.result: Any = None
        self.error: BaseException | None = None
        self._behaviour = behaviour
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            sock, _ = self._listener.accept()
        except OSError as exc:
            self.error = exc
            return
        finally:
            self._listener.close()
        with sock:
            sock.settimeout(LIMIT)
            try:
                self.result = self._behaviour(sock)
            except BaseException as exc:
                self.error = exc

    def join(self) -> Any:
        self._thread.join(LIMIT)
        assert not self._thread.is_alive(), "the peer thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def _open(port: int, **kw: Any) -> Any:
    return asyncio.open_connection(
        "127.0.0.1", port, ssl=_client_ctx(), server_hostname="localhost", **kw
    )


def _bio_handshake(sock: socket.socket) -> tuple[ssl.SSLObject, ssl.MemoryBIO]:
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = _server_ctx().wrap_bio(inc, out, server_side=True)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            if out.pending:
                sock.sendall(out.read())
            data = sock.recv(65536)
            assert data, "the client left during the handshake"
            inc.write(data)
    if out.pending:
        sock.sendall(out.read())
    return obj, out


def _on_both_loops(scenario: Callable[[], Coroutine[Any, Any, Any]]) -> dict[str, Any]:
    """Run ``scenario()`` on each loop; its result per loop, after checking no fd or task
    was left behind."""
    results = {}
    for name, run in LOOPS.items():
        before = _fds()

        async def main() -> Any:
            result = await asyncio.wait_for(scenario(), LIMIT)
            assert asyncio.all_tasks() == {asyncio.current_task()}, "a task was left behind"
            return result

        results[name] = run(main())
        assert _fds() == before, f"{name}'s loop left an fd open"
    return results


SIZES = [1, 16383, 16384, 16385, 5, 100_000, 7]


def test_records_and_close_notify_in_one_segment_read_whole_at_any_size_on_both_loops() -> None:
    blob = os.urandom(sum(SIZES))

    def one_segment(sock: socket.socket) -> None:
        obj, out = _bio_handshake(sock)
        offset = 0
        for n in SIZES:
            obj.write(blob[offset : offset + n])
            offset += n
        try:
            obj.unwrap()  # close_notify, in the same sendall as every record
        except ssl.SSLWantReadError:
            pass
        sock.sendall(out.read())
        while sock.recv(65536):  # until the client closes
            pass

    async def scenario() -> tuple[bool, bool, bytes]:
        results = []
        for how in ("read(7)", "readexactly"):
            peer = _Peer(one_segment)
            reader, writer = await _open(peer.port)
            got = bytearray()
            if how == "readexactly":
                for n in SIZES:
                    got += await reader.readexactly(n)
            else:
                while data := await reader.read(7):
                    got += data
            results.append(bytes(got) == blob)
            tail = await reader.read()
            writer.close()
            await writer.wait_closed()
            await asyncio.to_thread(peer.join)
        return results[0], results[1], tail

    assert _on_both_loops(scenario) == dict.fromkeys(LOOPS, (True, True, b""))


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_a_server_hanging_up_mid_handshake_fails_alike_on_both_loops(how: str) -> None:
    def hang_up(sock: socket.socket) -> None:
        assert sock.recv(65536)  # the ClientHello
        if how == "rst":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    async def scenario() -> str:
        peer = _Peer(hang_up)
        try:
            await _open(peer.port)
        except OSError as exc:  # a reset either way: asyncio's sslproto reports EOF so
            return type(exc).__name__
        finally:
            await asyncio.to_thread(peer.join)
        return "connected"

    assert _on_both_loops(scenario) == dict.fromkeys(LOOPS, "ConnectionResetError")


def test_cancelling_a_connection_mid_handshake_leaves_nothing_on_both_loops() -> None:
    def silent_after_hello(sock: socket.socket) -> bytes:
        assert sock.recv(65536)
        heard.set()
        return sock.recv(65536)  # the client's FIN once it gave up

    heard = threading.Event()

    async def scenario() -> tuple[bool, bytes]:
        heard.clear()
        peer = _Peer(silent_after_hello)
        task = asyncio.ensure_future(_open(peer.port))
        await asyncio.to_thread(heard.wait, LIMIT)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            cancelled = True
        else:
            cancelled = False
        return cancelled, await asyncio.to_thread(peer.join)

    assert _on_both_loops(scenario) == dict.fromkeys(LOOPS, (True, b""))


def test_ssl_handshake_timeout_aborts_a_silent_server_alike_on_both_loops() -> None:
    def silent(sock: socket.socket) -> bytes:
        assert sock.recv(65536)
        return sock.recv(65536)  # the client's FIN once its timeout fired

    async def scenario() -> tuple[str, bytes]:
        peer = _Peer(silent)
        try:
            await _open(peer.port, ssl_handshake_timeout=0.2)
        except OSError as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        else:
            outcome = "connected"
        return outcome, await asyncio.to_thread(peer.join)

    expected = (
        "ConnectionAbortedError: SSL handshake is taking longer than 0.2 seconds: "
        "aborting the connection",
        b"",
    )
    assert _on_both_loops(scenario) == dict.fromkeys(LOOPS, expected)


def test_a_peer_that_stops_reading_then_resets_ends_a_large_write_alike_on_both_loops() -> None:
    def stall_then_reset(sock: socket.socket) -> None:
        _bio_handshake(sock)
        assert sock.recv(1)  # writing has begun; nothing more is read
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    async def scenario() -> str:
        peer = _Peer(stall_then_reset)
        reader, writer = await _open(peer.port)
        writer.write(b"x" * (16 << 20))
        try:
            await writer.drain()  # returns once the connection is lost (both loops)
            await reader.read()
        except OSError:
            pass
        writer.close()
        try:
            await writer.wait_closed()
        except OSError as exc:
            outcome = type(exc).__name__
        else:
            outcome = "closed cleanly"
        await asyncio.to_thread(peer.join)
        return outcome

    assert _on_both_loops(scenario) == dict.fromkeys(LOOPS, "ConnectionResetError")


def test_start_tls_against_a_plaintext_answer_or_cancelled_ends_alike_on_both_loops() -> None:
    def answers_plaintext(sock: socket.socket) -> bytes:
        assert sock.recv(100) == b"STARTTLS\n"
        sock.sendall(b"OK\n")
        assert sock.recv(65536)  # the ClientHello
        sock.sendall(b"-ERR not TLS\r\n")
        return sock.recv(100)

    def silent_after_hello(sock: socket.socket) -> bytes:
        assert sock.recv(100) == b"STARTTLS\n"
        sock.sendall(b"OK\n")
        assert sock.recv(65536)
        heard.set()
        return sock.recv(100)

    heard = threading.Event()

    async def upgrade(behaviour: Callable[[socket.socket], Any], cancel: bool) -> tuple[str, Any]:
        heard.clear()
        peer = _Peer(behaviour)
        reader, writer = await asyncio.open_connection("127.0.0.1", peer.port)
        writer.write(b"STARTTLS\n")
        assert await reader.readline() == b"OK\n"
        task = asyncio.ensure_future(writer.start_tls(_client_ctx(), server_hostname="localhost"))
        if cancel:
            await asyncio.to_thread(heard.wait, LIMIT)
            task.cancel()
        try:
            await task
        except (asyncio.CancelledError, ssl.SSLError) as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        else:
            outcome = "upgraded"
        writer.close()
        # Not wait_closed(): after a failed or cancelled start_tls it never returns on either
        # loop (asyncio's StreamWriter keeps waiting on the replaced transport's protocol).
        # The socket is closed all the same: the peer reads EOF.
        return outcome, await asyncio.to_thread(peer.join)

    async def scenario() -> tuple[tuple[str, Any], tuple[str, Any]]:
        return await upgrade(answers_plaintext, False), await upgrade(silent_after_hello, True)

    results = _on_both_loops(scenario)
    assert results["rt"] == results["asyncio"]
    (refused, eof), cancelled = results["rt"]
    assert refused.startswith("SSLError: [SSL: WRONG_VERSION_NUMBER]") and eof == b""
    assert cancelled == ("CancelledError: ", b"")
