"""rt's file and child-process workloads (rt.fs, rt.process), for the ``fs`` and ``process``
suites; :mod:`.rt` merges them into its ``WORKLOADS``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from .. import _oswork as w
from .._common import Size


def _timed(body: Callable[[], Coroutine[Any, Any, None]]) -> float:
    from .rt import timed

    return timed(body)


def fsread(size: Size) -> float:
    import rt.fs

    src = w.big_file(size)

    async def body() -> None:
        async with await rt.fs.File.open(src) as f:
            while await f.read(w.CHUNK):
                pass

    return w.median_run(size, lambda: _timed(body))


def fswrite(size: Size) -> float:
    import rt.fs

    data, count = w.block(), (size["mib"] << 20) // w.CHUNK

    def once() -> float:
        dst = w.fresh_output()

        async def body() -> None:
            async with await rt.fs.File.create(dst) as f:
                for _ in range(count):
                    await f.write(data)

        return _timed(body)

    return w.median_run(size, once)


def fscopy(size: Size) -> float:
    import rt.fs

    src = w.big_file(size)

    def once() -> float:
        dst = w.fresh_output()

        async def body() -> None:
            async with await rt.fs.File.open(src) as f, await rt.fs.File.create(dst) as g:
                while chunk := await f.read(w.CHUNK):
                    await g.write(chunk)

        return _timed(body)

    return w.median_run(size, once)


def smallfiles(size: Size) -> float:
    import rt.fs

    src = w.small_files(size)

    async def body() -> None:
        async for entry in rt.fs.read_dir(src):
            await rt.fs.read(entry)

    return w.median_run(size, lambda: _timed(body))


def procspawn(size: Size) -> float:
    import rt
    from rt.process import Command

    async def body() -> None:
        async def worker(count: int) -> None:
            for _ in range(count):
                if await Command("true").status() != 0:
                    raise RuntimeError("true failed")

        width = size["width"]
        handles = [rt.spawn(worker(size["procs"] // width)) for _ in range(width)]
        for h in handles:
            await h

    return _timed(body)


def proccat(size: Size) -> float:
    import rt
    from rt.process import Command, Stdio

    async def body() -> None:
        child = Command("cat").stdin(Stdio.piped()).stdout(Stdio.piped()).spawn()
        assert child.stdin is not None and child.stdout is not None
        stdin, stdout = child.stdin, child.stdout
        data = b"x" * w.BLOCK

        async def feed() -> None:
            for _ in range(size["mib"]):
                await stdin.write_all(data)
            await stdin.shutdown()

        feeder = rt.spawn(feed())
        got = 0
        while chunk := await stdout.read(w.BLOCK):
            got += len(chunk)
        await feeder
        await child.wait()
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
