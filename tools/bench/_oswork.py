"""What the ``fs`` and ``process`` suites' workloads share: the files they read, and sizes.

The files live in one directory per run, made by the ``fs`` suite's :func:`files_dir` context
(``RT_BENCH_FS_DIR`` tells the cells where); a cell creates what its row needs there on first
use, before its clock starts, so the first cell of a row pays for it and no cell is timed on
it. The big file is read once after it is written, so every peer reads it from the page cache.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ._common import Size

CHUNK = 65536  # bytes per read() / write() in the file rows
BLOCK = 1 << 20  # bytes per write to cat's stdin
_ENV = "RT_BENCH_FS_DIR"


@contextlib.contextmanager
def files_dir() -> Iterator[Path]:
    """A scratch directory for one suite run, removed after it; the cells find it by its
    environment variable."""
    path = Path(tempfile.mkdtemp(prefix="rt-bench-fs-"))
    before = os.environ.get(_ENV)
    os.environ[_ENV] = str(path)
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop(_ENV, None)
        else:
            os.environ[_ENV] = before
        shutil.rmtree(path, ignore_errors=True)


def _base() -> Path:
    got = os.environ.get(_ENV)
    if got is None:
        raise RuntimeError("the fs rows run inside `python -m tools.bench fs` (no scratch dir)")
    return Path(got)


def big_file(size: Size) -> str:
    """The path of a ``size["mib"]`` MiB file of random bytes (made and cached on first use)."""
    path = _base() / f"big-{size['mib']}.bin"
    if not path.exists():
        part = path.with_suffix(".part")
        with open(part, "wb") as f:
            for _ in range(size["mib"]):
                f.write(os.urandom(1 << 20))
        os.replace(part, path)
    with open(path, "rb") as f:  # into the page cache
        while f.read(BLOCK):
            pass
    return str(path)


def small_files(size: Size) -> str:
    """A directory of ``size["files"]`` files of 100 B to 4 KiB (made on first use)."""
    path = _base() / f"small-{size['files']}"
    if not path.exists():
        part = path.with_suffix(".part")
        part.mkdir()
        for i in range(size["files"]):
            (part / f"file{i:05d}").write_bytes(os.urandom(100 + (i * 397) % 4000))
        os.replace(part, path)
    for entry in os.scandir(path):  # into the page cache
        with open(entry.path, "rb") as f:
            f.read()
    return str(path)


def fresh_output() -> str:
    """Where a write row writes: removed, and ``sync`` run, so no run pays for the previous
    one's writeback (a swing of up to 10x on a small machine otherwise)."""
    path = _base() / f"out-{os.getpid()}.bin"
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
    os.sync()
    return str(path)


def block() -> bytes:
    """One 64 KiB block of random bytes, for the write rows."""
    return os.urandom(CHUNK)


def median_run(size: Size, once: Callable[[], float]) -> float:
    """The median of ``size["runs"]`` runs of ``once`` (seconds each) in this process: one
    256 MiB pass from the page cache takes tens of milliseconds, which another process on a
    shared machine can double; the median of several keeps the row about the runtimes."""
    return statistics.median(once() for _ in range(size.get("runs", 1)))
