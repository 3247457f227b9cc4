"""What the ``tls`` suite's peers share: certificates, the fixed client, the per-unit costs.

Every peer runs the same server (same certificate, same ``ssl.SSLContext`` settings, TLS 1.3)
in its cell's process, and the same load comes from one fixed client in child processes
(stdlib ``ssl`` sockets in a ``selectors`` loop), so the peers differ only in their server. A
peer's server is a function ``serve(workload, ctx, n, ca)`` returning the server CPU seconds
(``time.process_time()`` of the cell's process while the load runs); :func:`workloads` turns
it into the suite's rows.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ._common import Size

CONNS = 50
HS_PROCS = 4
# The suite's rows -> the workload each serves (its sizes: {"n": connections, requests or MiB}).
ROWS = {
    "tlshandshake": "handshake",
    "tlsecho64": "echo64",
    "tlsecho16k": "echo16k",
    "tlsbulk": "bulk",
}
Serve = Callable[[str, ssl.SSLContext, int, str], float]

CLIENT = r"""
import selectors, socket, ssl, sys
mode, ca = sys.argv[1], sys.argv[6]
port, conns, size, total = map(int, sys.argv[2:6])
ctx = ssl.create_default_context(cafile=ca)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3

def connect():
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ctx.wrap_socket(raw, server_hostname="localhost")

def recv_exact(s, n):
    got = 0
    while got < n:
        d = s.recv(n - got)
        if not d:
            raise SystemExit("server closed early")
        got += len(d)

if mode == "handshake":
    msg = b"x" * 64
    for _ in range(total):
        s = connect()
        s.sendall(msg)
        recv_exact(s, 64)
        s.close()
elif mode == "bulk":
    s = connect()
    chunk = b"x" * (1 << 20)
    for _ in range(total):
        s.sendall(chunk)
    recv_exact(s, 1)
    s.close()
else:
    msg = b"x" * size
    sel = selectors.DefaultSelector()
    left = total
    pending = {}
    for _ in range(conns):
        s = connect()
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        pending[s] = 0
    def send(s):
        s.setblocking(True); s.sendall(msg); s.setblocking(False)
    for s in list(pending):
        if left:
            send(s); left -= 1; pending[s] = size
    while any(pending.values()):
        for key, _ in sel.select():
            s = key.fileobj
            while True:
                try:
                    data = s.recv(1 << 20)
                except ssl.SSLWantReadError:
                    break
                if not data:
                    raise SystemExit("server closed a connection early")
                pending[s] -= len(data)
                if not s.pending():
                    break
            if pending[s] == 0 and left:
                send(s); left -= 1; pending[s] = size
    for s in pending:
        s.setblocking(True)
        s.close()
"""


def certs(tmp: Path) -> tuple[ssl.SSLContext, str]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    ca_pem = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    cert.configure_cert(ctx)
    return ctx, str(ca_pem)


def listener() -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    return s


class Load:
    """The client processes for one run, and how many connections the server will see."""

    def __init__(self, workload: str, port: int, n: int, ca: str) -> None:
        self.workload = workload
        if workload == "handshake":
            per = n // HS_PROCS
            self.conns = per * HS_PROCS
            args = [("handshake", per, 64)] * HS_PROCS
        elif workload == "bulk":
            self.conns = 1
            args = [("bulk", n, 0)]
        else:
            self.conns = CONNS
            args = [("echo", n, 64 if workload == "echo64" else 16384)]
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-c", CLIENT, mode, *map(str, (port, CONNS, size, total)), ca]
            )
            for mode, total, size in args
        ]

    def wait(self) -> None:
        for p in self.procs:
            if p.wait(timeout=600) != 0:
                raise SystemExit(f"the benchmark client failed ({p.returncode})")


def per_unit(workload: str, cpu: float, n: int) -> float:
    """Server CPU µs per connection (handshake), per request (echo) or per MiB (bulk)."""
    if workload == "handshake":
        n = (n // HS_PROCS) * HS_PROCS
    return cpu / n * 1e6


def workloads(serve: Serve) -> dict[str, Callable[[Size], float]]:
    """The suite's rows, each running ``serve`` under its load with fresh certificates."""

    def row(workload: str) -> Callable[[Size], float]:
        def cell(size: Size) -> float:
            with tempfile.TemporaryDirectory() as tmp:
                ctx, ca = certs(Path(tmp))
                cpu = serve(workload, ctx, size["n"], ca)
            return per_unit(workload, cpu, size["n"])

        return cell

    return {name: row(workload) for name, workload in ROWS.items()}
