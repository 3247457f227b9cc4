"""The ``tls`` suite's server against the asyncio API (``asyncio.start_server(ssl=...)``), for
the asyncio and uvloop peers, each on its own loop."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Coroutine
from typing import Any

from .. import _tls
from .._common import Size

Runner = Callable[[Coroutine[Any, Any, Any]], Any]


def workloads(run: Runner) -> dict[str, Callable[[Size], float]]:
    """The rows, each serving on the event loop ``run`` starts."""

    def serve(workload: str, ctx: ssl.SSLContext, n: int, ca: str) -> float:
        async def main() -> float:
            sock = _tls.listener()
            load: _tls.Load | None = None
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
            load = _tls.Load(workload, sock.getsockname()[1], n, ca)
            t0 = time.process_time()
            await all_done.wait()
            cpu = time.process_time() - t0
            load.wait()
            server.close()
            return cpu

        return float(run(main()))

    return _tls.workloads(serve)
