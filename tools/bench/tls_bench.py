"""TLS benchmark: rt.net.tls against asyncio ``ssl=``, uvloop ``ssl=`` and trio ``SSLStream``.

    python tools/bench/tls_bench.py [--quick] [--peers rt,asyncio,uvloop,trio] [--rounds N]

Writes ``docs/bench/tls.json`` and ``docs/bench/tls.md``. Every peer runs the same server
(same certificate, same ``ssl.SSLContext`` settings, TLS 1.3) in this process, and the same
load comes from one fixed client in a child process (stdlib ``ssl`` sockets in a ``selectors``
loop), so peers differ only in their server. Rows:

* ``handshake``: a new TLS connection per request (connect, handshake, 64 B echo, close) from
  4 client processes at once; server CPU µs per connection, and connections per server CPU
  second.
* ``echo64`` / ``echo16k``: 50 connections echoing 64 B / 16 KiB messages; server CPU µs per
  request.
* ``bulk``: one connection uploads 256 MiB (32 MiB with ``--quick``) that the server reads and
  drops; server CPU ns per KiB, and MiB per server CPU second.

OpenSSL does the cryptography for every peer; the gap between them is the overhead around it.
Server CPU is ``time.process_time()`` of this process while the load runs. Peers are run
interleaved, ``--rounds`` times (median kept), so machine noise hits them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
CONNS = 50
HS_PROCS = 4
FULL = {"handshake": 2_000, "echo64": 20_000, "echo16k": 4_000, "bulk": 256}
QUICK = {"handshake": 400, "echo64": 4_000, "echo16k": 1_000, "bulk": 32}
PEERS = ["rt", "asyncio", "uvloop", "trio"]

_CLIENT = r"""
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


def _certs(tmp: Path) -> tuple[ssl.SSLContext, str]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    ca_pem = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    cert.configure_cert(ctx)
    return ctx, str(ca_pem)


def _listener() -> socket.socket:
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
                [sys.executable, "-c", _CLIENT, mode, *map(str, (port, CONNS, size, total)), ca]
            )
            for mode, total, size in args
        ]

    def wait(self) -> None:
        for p in self.procs:
            if p.wait(timeout=600) != 0:
                raise SystemExit(f"the benchmark client failed ({p.returncode})")


# -- servers: each returns server CPU seconds for the whole load ----------------------------


def run_rt(workload: str, ctx: ssl.SSLContext, n: int, ca: str) -> float:
    import rt
    from rt.net import TcpListener, TcpStream
    from rt.net.tls import TlsAcceptor

    acceptor = TlsAcceptor(ctx)
    sock = _listener()

    async def handle(stream: TcpStream) -> None:
        tls = await acceptor.accept(stream)
        async with tls:
            if workload == "bulk":
                left = n << 20
                while left:
                    left -= len(await tls.read(1 << 18))
                await tls.write_all(b"!")
            else:
                while data := await tls.read():
                    await tls.write_all(data)

    async def main() -> float:
        lst = TcpListener.from_socket(sock)
        load = Load(workload, sock.getsockname()[1], n, ca)
        t0 = time.process_time()
        async with rt.TaskGroup() as tg:
            for _ in range(load.conns):
                s, _ = await lst.accept()
                tg.spawn(handle(s))
        cpu = time.process_time() - t0
        load.wait()
        lst.close()
        return cpu

    return float(rt.run(main()))


def run_asyncio(workload: str, ctx: ssl.SSLContext, n: int, ca: str, *, uv: bool) -> float:
    import asyncio

    async def main() -> float:
        sock = _listener()
        load: Load | None = None
        done = 0
        all_done = asyncio.Event()

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            nonlocal done
            if workload == "bulk":
                left = n << 20
                while left:
                    left -= len(await r.read(1 << 18))
                w.write(b"!")
                await w.drain()
            else:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            w.close()
            done += 1
            if load is not None and done == load.conns:
                all_done.set()

        server = await asyncio.start_server(handle, sock=sock, ssl=ctx)
        load = Load(workload, sock.getsockname()[1], n, ca)
        t0 = time.process_time()
        await all_done.wait()
        cpu = time.process_time() - t0
        load.wait()
        server.close()
        return cpu

    if uv:
        import uvloop

        return float(uvloop.run(main()))
    return asyncio.run(main())


def run_trio(workload: str, ctx: ssl.SSLContext, n: int, ca: str) -> float:
    import trio

    async def main() -> float:
        sock = _listener()
        lst = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        load = Load(workload, sock.getsockname()[1], n, ca)
        t0 = time.process_time()
        async with trio.open_nursery() as nursery:
            for _ in range(load.conns):
                raw = await lst.accept()

                async def handle(raw: Any = raw) -> None:
                    async with trio.SSLStream(
                        raw, ctx, server_side=True, https_compatible=True
                    ) as s:
                        if workload == "bulk":
                            left = n << 20
                            while left:
                                left -= len(await s.receive_some(1 << 18))
                            await s.send_all(b"!")
                        else:
                            while data := await s.receive_some(65536):
                                await s.send_all(data)

                nursery.start_soon(handle)
        cpu = time.process_time() - t0
        load.wait()
        return cpu

    return float(trio.run(main))


def measure(peer: str, workload: str, quick: bool, tmp: Path) -> float:
    """Server CPU seconds for one run of ``workload`` on ``peer``, in a fresh process."""
    out = subprocess.run(
        [sys.executable, __file__, "--one", peer, workload, str(tmp)]
        + (["--quick"] if quick else []),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        raise SystemExit(f"{peer} {workload} failed:\n{out.stderr[-3000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def one(peer: str, workload: str, tmp: Path, quick: bool) -> None:
    ctx, ca = _certs(tmp)
    n = (QUICK if quick else FULL)[workload]
    if peer == "rt":
        cpu = run_rt(workload, ctx, n, ca)
    elif peer in ("asyncio", "uvloop"):
        cpu = run_asyncio(workload, ctx, n, ca, uv=peer == "uvloop")
    elif peer == "trio":
        cpu = run_trio(workload, ctx, n, ca)
    else:
        raise SystemExit(f"unknown peer {peer!r}")
    print(cpu)


def per_unit(workload: str, cpu: float, quick: bool) -> float:
    """µs per connection / request, or ns per KiB for bulk."""
    n = (QUICK if quick else FULL)[workload]
    if workload == "handshake":
        n = (n // HS_PROCS) * HS_PROCS
        return cpu / n * 1e6
    if workload == "bulk":
        return cpu / (n * 1024) * 1e9
    return cpu / n * 1e6


UNITS = {
    "handshake": "server CPU µs / new connection",
    "echo64": "server CPU µs / request",
    "echo16k": "server CPU µs / request",
    "bulk": "server CPU ns / KiB",
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="TLS benchmark (see the module docstring)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--workloads", default="handshake,echo64,echo16k,bulk")
    parser.add_argument("--one", nargs=3, metavar=("PEER", "WORKLOAD", "TMP"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "bench"))
    args = parser.parse_args(argv)
    if args.one:
        peer, workload, tmp = args.one
        one(peer, workload, Path(tmp), args.quick)
        return 0
    rounds = args.rounds or (1 if args.quick else 3)
    peers = [p for p in args.peers.split(",") if p]
    workloads = [w for w in args.workloads.split(",") if w]
    samples: dict[str, dict[str, list[float]]] = {w: {p: [] for p in peers} for w in workloads}
    with tempfile.TemporaryDirectory() as tmpdir:
        for r in range(rounds):
            for workload in workloads:
                for peer in peers:  # interleaved: noise hits every peer alike
                    value = per_unit(
                        workload, measure(peer, workload, args.quick, Path(tmpdir)), args.quick
                    )
                    samples[workload][peer].append(value)
                    print(
                        f"round {r + 1}/{rounds} {workload:9s} {peer:8s} {value:10.1f}", flush=True
                    )
    results = {w: {p: statistics.median(v) for p, v in by.items()} for w, by in samples.items()}
    write(results, samples, args, rounds, Path(args.out))
    return 0


def write(
    results: dict[str, dict[str, float]],
    samples: dict[str, dict[str, list[float]]],
    args: argparse.Namespace,
    rounds: int,
    out: Path,
) -> None:
    import importlib.metadata as md

    def version(dist: str) -> str:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return "-"

    meta = {
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "quick": args.quick,
        "rounds": rounds,
        "uvloop": version("uvloop"),
        "trio": version("trio"),
        "sizes": QUICK if args.quick else FULL,
    }
    ratios = {
        w: {p: (by[p] / by["rt"] if by.get("rt") else None) for p in by}
        for w, by in results.items()
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "tls.json").write_text(
        json.dumps(
            {"meta": meta, "median": results, "samples": samples, "peer_over_rt": ratios},
            indent=2,
        )
        + "\n"
    )
    peers = list(next(iter(results.values())).keys())
    lines = [
        "# TLS benchmark",
        "",
        "Written by `tools/bench/tls_bench.py`"
        + (" --quick" if args.quick else "")
        + f" ({rounds} interleaved round(s), median). Python {meta['python']}, "
        + f"{meta['openssl']}, {meta['machine']}; uvloop {meta['uvloop']}, trio {meta['trio']}.",
        "",
        "Lower is better. In brackets: the peer's cost over rt's (above 1.00: rt is ahead).",
        "",
        "| row | unit | " + " | ".join(peers) + " |",
        "|---|---|" + "---|" * len(peers),
    ]
    for w, by in results.items():
        cells = []
        for p in peers:
            ratio = ratios[w][p]
            cells.append(f"{by[p]:.1f}" + ("" if p == "rt" or ratio is None else f" ({ratio:.2f})"))
        lines.append(f"| {w} | {UNITS[w]} | " + " | ".join(cells) + " |")
    if "handshake" in results:
        lines += [
            "",
            "Handshakes per server CPU second: "
            + ", ".join(f"{p} {1e6 / results['handshake'][p]:.0f}" for p in peers)
            + ".",
        ]
    if "bulk" in results:
        lines += [
            "",
            "Bulk upload, MiB per server CPU second: "
            + ", ".join(f"{p} {1e9 / 1024 / results['bulk'][p]:.0f}" for p in peers)
            + ".",
        ]
    (out / "tls.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
