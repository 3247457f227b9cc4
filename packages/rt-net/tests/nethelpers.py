"""Plain blocking-socket peers run in threads, so rt talks to code that is not rt."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any


class ThreadPeer:
    """Run ``fn`` in a thread; ``join()`` re-raises what it raised and returns its result."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = fn(*args)
            except BaseException as exc:  # handed to join()
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self, timeout: float = 30) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "peer thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def recv_all(sock: socket.socket) -> bytes:
    parts = []
    while chunk := sock.recv(65536):
        parts.append(chunk)
    return b"".join(parts)


def blocking_echo_client(addr: tuple[str, int], payload: bytes) -> bytes:
    with socket.create_connection(addr, timeout=30) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s)
