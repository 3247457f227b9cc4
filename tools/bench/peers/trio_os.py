"""trio's file and child-process workloads (``trio.open_file`` / ``trio.Path``,
``trio.run_process`` / ``trio.lowlevel.open_process``); :mod:`.trio_` merges them."""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable
from typing import Any

from .. import _oswork as w
from .._common import Size


def _timed(body: Callable[[], Awaitable[None]]) -> float:
    from .trio_ import timed

    return timed(body)


def fsread(size: Size) -> float:
    import trio

    src = w.big_file(size)

    async def body() -> None:
        async with await trio.open_file(src, "rb") as f:
            while await f.read(w.CHUNK):
                pass

    return w.median_run(size, lambda: _timed(body))


def fswrite(size: Size) -> float:
    import trio

    data, count = w.block(), (size["mib"] << 20) // w.CHUNK

    def once() -> float:
        dst = w.fresh_output()

        async def body() -> None:
            async with await trio.open_file(dst, "wb") as f:
                for _ in range(count):
                    await f.write(data)

        return _timed(body)

    return w.median_run(size, once)


def fscopy(size: Size) -> float:
    import trio

    src = w.big_file(size)

    def once() -> float:
        dst = w.fresh_output()

        async def body() -> None:
            async with await trio.open_file(src, "rb") as f, await trio.open_file(dst, "wb") as g:
                while chunk := await f.read(w.CHUNK):
                    await g.write(chunk)

        return _timed(body)

    return w.median_run(size, once)


def smallfiles(size: Size) -> float:
    import trio

    src = w.small_files(size)

    async def body() -> None:
        for path in await trio.Path(src).iterdir():
            await path.read_bytes()

    return w.median_run(size, lambda: _timed(body))


def procspawn(size: Size) -> float:
    import trio

    async def body() -> None:
        async def worker(count: int) -> None:
            for _ in range(count):
                await trio.run_process(["true"])

        width = size["width"]
        async with trio.open_nursery() as nursery:
            for _ in range(width):
                nursery.start_soon(worker, size["procs"] // width)

    return _timed(body)


def proccat(size: Size) -> float:
    import trio

    async def body() -> None:
        proc = await trio.lowlevel.open_process(
            ["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        stdin, stdout = proc.stdin, proc.stdout
        assert stdin is not None and stdout is not None
        data = b"x" * w.BLOCK
        got = 0

        async def feed() -> None:
            for _ in range(size["mib"]):
                await stdin.send_all(data)
            await stdin.aclose()

        async def drain() -> None:
            nonlocal got
            while chunk := await stdout.receive_some(w.BLOCK):
                got += len(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed)
            nursery.start_soon(drain)
        await proc.wait()
        assert got == size["mib"] * w.BLOCK

    return _timed(body)


WORKLOADS: dict[str, Callable[[Size], Any]] = {
    "fsread": fsread,
    "fswrite": fswrite,
    "fscopy": fscopy,
    "smallfiles": smallfiles,
    "procspawn": procspawn,
    "procspawn32": procspawn,
    "proccat": proccat,
}
