"""Plain synchronous Python, no event loop: ``open()`` and ``subprocess``, the floor the file
rows are held to (rt's 256 MiB read is to stay within 1.5x of it)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

from .. import _oswork as w
from .._common import Size

NAME = "sync"


def _timed(body: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    body()
    return time.perf_counter() - t0


def fsread(size: Size) -> float:
    src = w.big_file(size)

    def body() -> None:
        with open(src, "rb") as f:
            while f.read(w.CHUNK):
                pass

    return w.median_run(size, lambda: _timed(body))


def fswrite(size: Size) -> float:
    data, count = w.block(), (size["mib"] << 20) // w.CHUNK

    def once() -> float:
        dst = w.fresh_output()

        def body() -> None:
            with open(dst, "wb") as f:
                for _ in range(count):
                    f.write(data)

        return _timed(body)

    return w.median_run(size, once)


def fscopy(size: Size) -> float:
    src = w.big_file(size)

    def once() -> float:
        dst = w.fresh_output()

        def body() -> None:
            with open(src, "rb") as f, open(dst, "wb") as g:
                while chunk := f.read(w.CHUNK):
                    g.write(chunk)

        return _timed(body)

    return w.median_run(size, once)


def smallfiles(size: Size) -> float:
    src = w.small_files(size)

    def body() -> None:
        for entry in os.scandir(src):
            with open(entry.path, "rb") as f:
                f.read()

    return w.median_run(size, lambda: _timed(body))


def procspawn(size: Size) -> float:
    def body() -> None:
        for _ in range(size["procs"]):
            if subprocess.run(["true"], check=False).returncode != 0:
                raise RuntimeError("true failed")

    return _timed(body)


# One child at a time only: the concurrent rows need threads, which is another program.
WORKLOADS: dict[str, Callable[[Size], Any]] = {
    "fsread": fsread,
    "fswrite": fswrite,
    "fscopy": fscopy,
    "smallfiles": smallfiles,
    "procspawn": procspawn,
}
