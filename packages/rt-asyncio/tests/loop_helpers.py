"""What rt-asyncio's tests share: how they run a coroutine on rt's loop, a socket pair, the
bound on each wait (a lost readiness fails the test instead of hanging it), and how the outside
suites (CPython's, anyio's) read their lists of expected failures."""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
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


def expected_failures(path: Path) -> dict[str, str]:
    """The test ids listed in ``path`` that apply to this Python, with their reasons.

    A line is ``[3.12:] TEST_ID  # reason``: with a version prefix it applies to that minor
    version only. Lines starting with ``#`` are comments.
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # A version prefix, not the "::" of a pytest node id.
        only = re.match(r"(\d+\.\d+):\s*", line)
        if only is not None:
            if only.group(1) != version:
                continue
            line = line[only.end() :]
        test_id, _, reason = line.partition("#")
        out[test_id.strip()] = reason.strip()
    return out
