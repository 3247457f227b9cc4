"""The ``tls`` suite's server on trio: ``trio.SSLStream`` over a ``trio.SocketListener``."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from .. import _tls
from .._common import Size


def serve(workload: str, ctx: ssl.SSLContext, n: int, ca: str) -> float:
    """Serve ``workload``'s load; the server CPU seconds it took."""
    import trio

    async def main() -> float:
        sock: socket.socket = _tls.listener()
        lst = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        load = _tls.Load(workload, sock.getsockname()[1], n, ca)
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


WORKLOADS: dict[str, Callable[[Size], Any]] = _tls.workloads(serve)
