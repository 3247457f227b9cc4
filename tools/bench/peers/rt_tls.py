"""The ``tls`` suite's server on rt: ``rt.net.tls.TlsAcceptor`` over ``rt.net.TcpListener``."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import Any

from .. import _tls
from .._common import Size
from .rt import run


def serve(workload: str, ctx: ssl.SSLContext, n: int, ca: str) -> float:
    """Serve ``workload``'s load; the server CPU seconds it took."""
    import rt
    from rt.net import TcpListener, TcpStream
    from rt.net.tls import TlsAcceptor

    acceptor = TlsAcceptor(ctx)
    sock = _tls.listener()

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
        load = _tls.Load(workload, sock.getsockname()[1], n, ca)
        t0 = time.process_time()
        async with rt.TaskGroup() as tg:
            for _ in range(load.conns):
                s, _ = await lst.accept()
                tg.spawn(handle(s))
        cpu = time.process_time() - t0
        load.wait()
        lst.close()
        return cpu

    return float(run(main))


WORKLOADS: dict[str, Callable[[Size], Any]] = _tls.workloads(serve)
