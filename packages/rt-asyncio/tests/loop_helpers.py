"""What the readiness tests share: how they run a coroutine on rt's loop, a socket pair, and
the bound on each wait (a lost readiness fails the test instead of hanging it)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Coroutine
from typing import Any

import rt.asyncio

LIMIT = 10


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``main()`` on an owned rt asyncio loop (``rt.asyncio.run``)."""
    return rt.asyncio.run(main())


def pair() -> tuple[socket.socket, socket.socket]:
    """A connected non-blocking socket pair."""
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b
