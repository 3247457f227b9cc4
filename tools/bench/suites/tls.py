"""TLS: rt.net.tls against asyncio ``ssl=``, uvloop ``ssl=`` and trio ``SSLStream``, and
rt-asyncio's ``ssl=`` (the standard library's ``sslproto`` on rt's asyncio loop) beside them.

Every cell runs one peer's server in a fresh process (fresh certificates from ``trustme``, the
same ``ssl.SSLContext`` settings, TLS 1.3) under the load of one fixed client in child
processes (``tools/bench/_tls.py``), and reports the server's CPU time per unit of work.
"""

from __future__ import annotations

import ssl

from .._tls import CONNS, HS_PROCS
from ..harness import Row

NAME = "tls"
TITLE = "TLS servers (rt.net.tls)"
PEERS = ["rt", "asyncio", "uvloop", "trio", "rt-asyncio"]

ROWS: dict[str, Row] = {
    "tlshandshake": Row(
        f"handshake: a new TLS connection per request (connect, handshake, 64 B echo, close), "
        f"{HS_PROCS} clients at once; server CPU per connection",
        {"n": 2_000},
        {"n": 400},
        "us",
    ),
    "tlsecho64": Row(
        f"echo64: {CONNS} connections echoing 64 B messages; server CPU per request",
        {"n": 20_000},
        {"n": 4_000},
        "us",
    ),
    "tlsecho16k": Row(
        f"echo16k: {CONNS} connections echoing 16 KiB messages; server CPU per request",
        {"n": 4_000},
        {"n": 1_000},
        "us",
    ),
    "tlsbulk": Row(
        "bulk: one connection uploads 256 MiB that the server reads and drops; server CPU per MiB",
        {"n": 256},
        {"n": 32},
        "us",
    ),
}

NOTES = f"""
Server CPU is `time.process_time()` of the cell's process while the load runs; the client
(stdlib `ssl` sockets in a `selectors` loop, in child processes) is the same for every peer,
so the peers differ only in their server. The `rt-asyncio` column is the asyncio server of
the `asyncio` and `uvloop` columns on rt's asyncio loop (`rt.asyncio`), whose `ssl=` is the
standard library's `sslproto`, not rt.net.tls. OpenSSL does the cryptography for every peer
({ssl.OPENSSL_VERSION} here); the gap between them is the overhead around it. A `--quick` run
makes 400 connections in the handshake row, 4,000 and 1,000 requests in the echo rows, and
uploads 32 MiB.
"""
