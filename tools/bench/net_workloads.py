"""Network workloads: TCP echo (server CPU per request) and idle connections (bytes each).

The server runs in the measured process on the peer's event loop; the load comes from one
fixed client for every peer (a ``selectors`` loop over plain non-blocking sockets, in a child
process), so peers differ only in their server. Server CPU is ``time.process_time()`` of the
server process across the run, divided by the number of requests.
"""

from __future__ import annotations

import gc
import os
import resource
import socket
import subprocess
import sys
import time
from typing import Any

ECHO_SIZES = {"echo64": (64, 40_000), "echo16k": (16384, 8_000)}
ECHO_QUICK = {"echo64": (64, 8_000), "echo16k": (16384, 2_000)}
CONNS = 50
IDLE = 10_000
IDLE_QUICK = 2_000

_CLIENT = r"""
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

_IDLE_CLIENT = r"""
import resource, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < n + 200:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(n + 200, hard), hard))
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
print("ready", flush=True)
sys.stdin.read()
"""


def _raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


def _client(port: int, size: int, total: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _CLIENT, str(port), str(CONNS), str(size), str(total)]
    )


def _free_listener() -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    return s


# -- echo --------------------------------------------------------------------------------------


def echo(peer: str, workload: str, quick: bool) -> float | None:
    """Server CPU microseconds per request."""
    size, total = (ECHO_QUICK if quick else ECHO_SIZES)[workload]
    runner = {
        "rt": _echo_rt,
        "asyncio": lambda *a: _echo_asyncio(*a, uvloop=False, protocol=False),
        "uvloop": lambda *a: _echo_asyncio(*a, uvloop=True, protocol=False),
        "asyncio-proto": lambda *a: _echo_asyncio(*a, uvloop=False, protocol=True),
        "uvloop-proto": lambda *a: _echo_asyncio(*a, uvloop=True, protocol=True),
        "trio": _echo_trio,
        "floor": _echo_floor,
    }[peer]
    listener = _free_listener()
    port = listener.getsockname()[1]
    cpu: float = runner(listener, port, size, total)
    return cpu / total * 1e6


def _echo_rt(listener: socket.socket, port: int, size: int, total: int) -> float:
    import rt
    from rt.net import TcpListener, TcpStream

    async def handle(stream: TcpStream) -> None:
        async with stream:
            while data := await stream.read():
                await stream.write_all(data)

    async def main() -> float:
        lst = TcpListener.from_socket(listener)
        client = _client(port, size, total)
        t0 = time.process_time()
        tasks = []
        for _ in range(CONNS):
            s, _ = await lst.accept()
            tasks.append(rt.spawn(handle(s)))
        for t in tasks:
            await t
        cpu = time.process_time() - t0
        client.wait()
        lst.close()
        return cpu

    return rt.run(main())


def _echo_asyncio(
    listener: socket.socket, port: int, size: int, total: int, *, uvloop: bool, protocol: bool
) -> float:
    import asyncio

    async def main() -> float:
        done = 0
        all_done = asyncio.Event()

        def finished() -> None:
            nonlocal done
            done += 1
            if done == CONNS:
                all_done.set()

        if protocol:

            class Echo(asyncio.Protocol):
                def connection_made(self, transport: Any) -> None:
                    self.t = transport

                def data_received(self, data: bytes) -> None:
                    self.t.write(data)

                def connection_lost(self, exc: Exception | None) -> None:
                    finished()

            server = await asyncio.get_running_loop().create_server(Echo, sock=listener)
        else:

            async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
                w.close()
                finished()

            server = await asyncio.start_server(handle, sock=listener)
        client = _client(port, size, total)
        t0 = time.process_time()
        await all_done.wait()
        cpu = time.process_time() - t0
        client.wait()
        server.close()
        return cpu

    if uvloop:
        import uvloop as uv

        return float(uv.run(main()))
    return asyncio.run(main())


def _echo_trio(listener: socket.socket, port: int, size: int, total: int) -> float:
    import trio

    async def main() -> float:
        lst = trio.SocketListener(trio.socket.from_stdlib_socket(listener))
        client = _client(port, size, total)
        t0 = time.process_time()
        async with trio.open_nursery() as nursery:
            for _ in range(CONNS):
                stream = await lst.accept()

                async def handle(s: Any = stream) -> None:
                    async with s:
                        while data := await s.receive_some(65536):
                            await s.send_all(data)

                nursery.start_soon(handle)
        cpu = time.process_time() - t0
        client.wait()
        return cpu

    return float(trio.run(main))


def _echo_floor(listener: socket.socket, port: int, size: int, total: int) -> float:
    """A bare epoll loop calling recv/send: what the syscalls alone cost from Python."""
    import select

    listener.setblocking(False)
    ep = select.epoll()
    client = _client(port, size, total)
    t0 = time.process_time()
    conns: dict[int, socket.socket] = {}
    accepted = closed = 0
    ep.register(listener.fileno(), select.EPOLLIN)
    while closed < CONNS:
        for fd, _ev in ep.poll():
            if fd == listener.fileno():
                while accepted < CONNS:
                    try:
                        c, _ = listener.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    conns[c.fileno()] = c
                    ep.register(c.fileno(), select.EPOLLIN)
                    accepted += 1
                continue
            c = conns[fd]
            try:
                data = c.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                ep.unregister(fd)
                c.close()
                closed += 1
                continue
            sent = c.send(data)
            if sent < len(data):  # rare on loopback: finish blocking
                c.setblocking(True)
                c.sendall(data[sent:])
                c.setblocking(False)
    cpu = time.process_time() - t0
    client.wait()
    ep.close()
    return cpu


# -- idle connections --------------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def idle(peer: str, quick: bool) -> float | None:
    """Bytes of server memory per idle connection (each with a task waiting to read)."""
    n = IDLE_QUICK if quick else IDLE
    _raise_nofile(n + 200)
    if peer == "floor":
        return None
    listener = _free_listener()
    port = listener.getsockname()[1]

    def start_client() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", _IDLE_CLIENT, str(port), str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    # Each runner measures RSS from just before its clients connect (after its event loop exists).
    if peer == "rt":
        used = _idle_rt(listener, n, start_client)
    elif peer == "trio":
        used = _idle_trio(listener, n, start_client)
    else:
        used = _idle_asyncio(
            listener,
            n,
            start_client,
            uvloop=peer.startswith("uvloop"),
            protocol=peer.endswith("-proto"),
        )
    return used / n


def _idle_rt(listener: socket.socket, n: int, start_client: Any) -> float:
    import rt
    from rt.net import TcpListener, TcpStream

    async def handle(stream: TcpStream) -> None:
        async with stream:
            while await stream.read():
                pass

    async def main() -> float:
        lst = TcpListener.from_socket(listener)
        base = _rss()
        client = start_client()
        tasks = []
        for _ in range(n):
            s, _ = await lst.accept()
            tasks.append(rt.spawn(handle(s)))
        client.stdout.readline()
        await rt.yield_now()
        gc.collect()
        used = _rss() - base
        client.stdin.close()
        for t in tasks:
            await t
        client.wait()
        return float(used)

    return rt.run(main())


def _idle_asyncio(
    listener: socket.socket, n: int, start_client: Any, *, uvloop: bool, protocol: bool
) -> float:
    import asyncio

    async def main() -> float:
        count = 0
        all_in = asyncio.Event()
        closed = 0
        all_out = asyncio.Event()

        def opened() -> None:
            nonlocal count
            count += 1
            if count == n:
                all_in.set()

        def gone() -> None:
            nonlocal closed
            closed += 1
            if closed == n:
                all_out.set()

        if protocol:

            class Sink(asyncio.Protocol):
                def connection_made(self, transport: Any) -> None:
                    self.t = transport
                    opened()

                def data_received(self, data: bytes) -> None:
                    pass

                def connection_lost(self, exc: Exception | None) -> None:
                    gone()

            base = _rss()
            server = await asyncio.get_running_loop().create_server(Sink, sock=listener)
        else:

            async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                opened()
                while await r.read(65536):
                    pass
                w.close()
                gone()

            base = _rss()
            server = await asyncio.start_server(handle, sock=listener)
        client = start_client()
        await all_in.wait()
        client.stdout.readline()
        await asyncio.sleep(0)
        gc.collect()
        used = _rss() - base
        client.stdin.close()
        await all_out.wait()
        client.wait()
        server.close()
        return float(used)

    if uvloop:
        import uvloop as uv

        return float(uv.run(main()))
    return asyncio.run(main())


def _idle_trio(listener: socket.socket, n: int, start_client: Any) -> float:
    import trio

    async def main() -> float:
        lst = trio.SocketListener(trio.socket.from_stdlib_socket(listener))
        base = _rss()
        client = start_client()
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                stream = await lst.accept()

                async def handle(s: Any = stream) -> None:
                    async with s:
                        while await s.receive_some(65536):
                            pass

                nursery.start_soon(handle)
            await trio.to_thread.run_sync(client.stdout.readline)
            await trio.sleep(0)
            gc.collect()
            used = _rss() - base
            client.stdin.close()
        client.wait()
        return float(used)

    return float(trio.run(main))


def run_cell(peer: str, workload: str, quick: bool) -> float | None:
    if workload in ("echo64", "echo16k", "echo64p", "echo16kp"):
        base = workload.rstrip("p") if workload.endswith("p") else workload
        if workload.endswith("p") and peer in ("asyncio", "uvloop"):
            peer = f"{peer}-proto"
        if workload.endswith("p") and peer in ("trio", "floor"):
            return None
        return echo(peer, base, quick)
    if workload in ("idle", "idlep"):
        if workload == "idlep":
            if peer in ("asyncio", "uvloop"):
                peer = f"{peer}-proto"
            elif peer != "rt":
                return None
        return idle(peer, quick)
    raise KeyError(workload)


if __name__ == "__main__":
    print(run_cell(sys.argv[1], sys.argv[2], len(sys.argv) > 3))
