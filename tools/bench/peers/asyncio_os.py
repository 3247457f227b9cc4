"""The file and child-process workloads against the asyncio API, for the asyncio, uvloop and
rloop peers: files through aiofiles (each call a thread-pool round trip), children through
``asyncio.create_subprocess_exec``."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable, Coroutine
from typing import Any

from .. import _oswork as w
from .._common import Size

Runner = Callable[[Coroutine[Any, Any, Any]], Any]


def workloads(run: Runner) -> dict[str, Callable[[Size], Any]]:
    """The workloads, each running on the event loop ``run`` starts."""

    def timed(body: Callable[[], Coroutine[Any, Any, None]]) -> float:
        import time

        async def main() -> float:
            t0 = time.perf_counter()
            await body()
            return time.perf_counter() - t0

        return float(run(main()))

    def fsread(size: Size) -> float:
        import aiofiles

        src = w.big_file(size)

        async def body() -> None:
            async with aiofiles.open(src, "rb") as f:
                while await f.read(w.CHUNK):
                    pass

        return w.median_run(size, lambda: timed(body))

    def fswrite(size: Size) -> float:
        import aiofiles

        data, count = w.block(), (size["mib"] << 20) // w.CHUNK

        def once() -> float:
            dst = w.fresh_output()

            async def body() -> None:
                async with aiofiles.open(dst, "wb") as f:
                    for _ in range(count):
                        await f.write(data)

            return timed(body)

        return w.median_run(size, once)

    def fscopy(size: Size) -> float:
        import aiofiles

        src = w.big_file(size)

        def once() -> float:
            dst = w.fresh_output()

            async def body() -> None:
                async with aiofiles.open(src, "rb") as f, aiofiles.open(dst, "wb") as g:
                    while chunk := await f.read(w.CHUNK):
                        await g.write(chunk)

            return timed(body)

        return w.median_run(size, once)

    def smallfiles(size: Size) -> float:
        import aiofiles
        import aiofiles.os

        src = w.small_files(size)

        async def body() -> None:
            for name in await aiofiles.os.listdir(src):
                async with aiofiles.open(os.path.join(src, name), "rb") as f:
                    await f.read()

        return w.median_run(size, lambda: timed(body))

    def procspawn(size: Size) -> float:
        async def body() -> None:
            async def worker(count: int) -> None:
                for _ in range(count):
                    proc = await asyncio.create_subprocess_exec("true")
                    if await proc.wait() != 0:
                        raise RuntimeError("true failed")

            width = size["width"]
            await asyncio.gather(*(worker(size["procs"] // width) for _ in range(width)))

        return timed(body)

    def proccat(size: Size) -> float:
        async def body() -> None:
            proc = await asyncio.create_subprocess_exec(
                "cat", stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=w.BLOCK
            )
            assert proc.stdin is not None and proc.stdout is not None
            stdin, stdout = proc.stdin, proc.stdout
            data = b"x" * w.BLOCK

            async def feed() -> None:
                for _ in range(size["mib"]):
                    stdin.write(data)
                    await stdin.drain()
                stdin.close()

            feeder = asyncio.ensure_future(feed())
            got = 0
            while chunk := await stdout.read(w.BLOCK):
                got += len(chunk)
            await feeder
            await proc.wait()
            assert got == size["mib"] * w.BLOCK

        return timed(body)

    return {
        "fsread": fsread,
        "fswrite": fswrite,
        "fscopy": fscopy,
        "smallfiles": smallfiles,
        "procspawn": procspawn,
        "procspawn32": procspawn,
        "proccat": proccat,
    }
