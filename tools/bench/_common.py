"""What every peer's workloads share: the load generators, RSS, lateness percentiles."""

from __future__ import annotations

import gc
import os
import random
import resource
import socket
import subprocess
import sys
from typing import Any

# Each workload gets its sizes as a dict (the suite's row says which keys), and returns its
# measurement: seconds, a dict of metrics, or None where the peer has no such workload.
Size = dict[str, Any]

# The TCP echo client: one fixed ``selectors`` loop over plain non-blocking sockets, in a child
# process, drives every peer's server alike. argv: port, connections, message size, requests.
ECHO_CLIENT = r"""
import selectors, socket, sys
port, conns, size, total = map(int, sys.argv[1:5])
msg = b"x" * size
sel = selectors.DefaultSelector()
left = total
pending = {}
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    pending[s] = 0
for s in list(pending):
    if left:
        s.sendall(msg); left -= 1; pending[s] = size
while any(pending.values()):
    for key, _ in sel.select():
        s = key.fileobj
        data = s.recv(1 << 20)
        if not data:
            raise SystemExit("server closed a connection early")
        pending[s] -= len(data)
        if pending[s] == 0 and left:
            s.setblocking(True); s.sendall(msg); s.setblocking(False)
            left -= 1; pending[s] = size
for s in pending:
    s.close()
"""

# Opens n connections, says "ready", holds them until its stdin closes.
IDLE_CLIENT = r"""
import resource, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < n + 200:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(n + 200, hard), hard))
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
print("ready", flush=True)
sys.stdin.read()
"""


# The HTTP load generator: keep-alive HTTP/1.1 connections over plain blocking sockets, in a
# child process, each with one request in flight; every response is checked. argv: port,
# connections, requests.
HTTP_CLIENT = r"""
import socket, sys
port, conns, total = map(int, sys.argv[1:4])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
for _ in range(total // conns):
    for s in socks:
        s.sendall(request)
    for s in socks:
        buf = b""
        while not buf.endswith(b"hello, world"):
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("server closed a connection early")
            buf += chunk
        if not buf.startswith(b"HTTP/1.1 200 "):
            raise SystemExit(f"unexpected response: {buf[:60]!r}")
for s in socks:
    s.close()
"""


async def http_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The small ASGI app the uvicorn row serves: 200, ``hello, world``."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"12")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello, world"})


def http_client(port: int, size: Size) -> subprocess.Popen[bytes]:
    """Start the HTTP load generator against ``port`` (``size``: conns, requests)."""
    args = [str(port), str(size["conns"]), str(size["requests"])]
    return subprocess.Popen([sys.executable, "-c", HTTP_CLIENT, *args])


def listener() -> socket.socket:
    """A listening TCP socket on a free loopback port."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    return s


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def echo_client(port: int, size: Size) -> subprocess.Popen[bytes]:
    """Start the echo client against ``port`` (``size``: conns, bytes, requests)."""
    args = [str(port), str(size["conns"]), str(size["bytes"]), str(size["requests"])]
    return subprocess.Popen([sys.executable, "-c", ECHO_CLIENT, *args])


def idle_client(port: int, n: int) -> subprocess.Popen[str]:
    """Start the idle-connections client (read its "ready" line, close its stdin to end it)."""
    raise_nofile(n + 200)
    return subprocess.Popen(
        [sys.executable, "-c", IDLE_CLIENT, str(port), str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


def rss() -> int:
    """This process's resident memory in bytes (the same reading for every peer)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak, which only grows in these workloads
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def settled_rss() -> int:
    """RSS after a full collection, so garbage left by set-up is not counted."""
    gc.collect()
    return rss()


def delays(n: int, span: float) -> list[float]:
    """The timers workload's delays: n uniform in [0, span), the same for every peer."""
    rng = random.Random(42)
    return [rng.uniform(0, span) for _ in range(n)]


def percentiles(late: list[float]) -> dict[str, float]:
    late.sort()
    return {
        "p50_ms": late[len(late) // 2] * 1000,
        "p99_ms": late[min(len(late) - 1, int(len(late) * 0.99))] * 1000,
    }


def per_request_us(cpu_seconds: float, size: Size) -> float:
    return cpu_seconds / int(size["requests"]) * 1e6
