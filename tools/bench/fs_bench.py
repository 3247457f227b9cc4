"""File I/O on rt.fs beside asyncio + aiofiles, uvloop + aiofiles, trio's file API and plain
synchronous Python.

    python3 tools/bench/fs_bench.py [--quick] [--out DIR]

Workloads (the files sit in the page cache: this measures the runtimes, not the disk):

* ``read``: read a 256 MiB file in 64 KiB chunks;
* ``write``: write 256 MiB in 64 KiB chunks to a new file, and close it (no fsync);
* ``copy``: read the 256 MiB file in 64 KiB chunks and write each chunk back to a new file;
* ``small files``: list a directory of 10,000 files (100 B to 4 KiB) and read each whole.

Each (workload, peer) cell runs in a fresh process: the workload three times on one event loop,
timing only the workload (not imports or start-up), the median kept. Before every run the
output is removed and ``sync`` run, so no run pays for the previous one's writeback. Rounds
interleave the peers so that noise on the shared machine hits them alike; the table shows the
median over rounds, and each ratio is the median over rounds of the ratio within a round.
Writes ``docs/bench/fs.json`` and ``docs/bench/fs.md``. Needs the bench environment (aiofiles,
trio, uvloop): ``.hatch/bench/bin/python tools/bench/fs_bench.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "docs" / "bench"
PEERS = ["rt", "asyncio+aiofiles", "uvloop+aiofiles", "trio", "sync"]
WORKLOADS = ["read", "write", "copy", "small files"]
CHUNK = 65536


# -- the workloads, one function per peer ------------------------------------------------------


def _sync(workload: str, src: str, dst: str, block: bytes, total: int) -> None:
    if workload == "read":
        with open(src, "rb") as f:
            while f.read(CHUNK):
                pass
    elif workload == "write":
        with open(dst, "wb") as f:
            for _ in range(total // CHUNK):
                f.write(block)
    elif workload == "copy":
        with open(src, "rb") as f, open(dst, "wb") as g:
            while chunk := f.read(CHUNK):
                g.write(chunk)
    else:
        for entry in os.scandir(src):
            with open(entry.path, "rb") as f:
                f.read()


async def _rt(workload: str, src: str, dst: str, block: bytes, total: int) -> None:
    import rt.fs

    if workload == "read":
        async with await rt.fs.File.open(src) as f:
            while await f.read(CHUNK):
                pass
    elif workload == "write":
        async with await rt.fs.File.create(dst) as f:
            for _ in range(total // CHUNK):
                await f.write(block)
    elif workload == "copy":
        async with await rt.fs.File.open(src) as f, await rt.fs.File.create(dst) as g:
            while chunk := await f.read(CHUNK):
                await g.write(chunk)
    else:
        async for entry in rt.fs.read_dir(src):
            await rt.fs.read(entry)


async def _aiofiles(workload: str, src: str, dst: str, block: bytes, total: int) -> None:
    import aiofiles
    import aiofiles.os

    if workload == "read":
        async with aiofiles.open(src, "rb") as f:
            while await f.read(CHUNK):
                pass
    elif workload == "write":
        async with aiofiles.open(dst, "wb") as f:
            for _ in range(total // CHUNK):
                await f.write(block)
    elif workload == "copy":
        async with aiofiles.open(src, "rb") as f, aiofiles.open(dst, "wb") as g:
            while chunk := await f.read(CHUNK):
                await g.write(chunk)
    else:
        for name in await aiofiles.os.listdir(src):
            async with aiofiles.open(os.path.join(src, name), "rb") as f:
                await f.read()


async def _trio(workload: str, src: str, dst: str, block: bytes, total: int) -> None:
    import trio

    if workload == "read":
        async with await trio.open_file(src, "rb") as f:
            while await f.read(CHUNK):
                pass
    elif workload == "write":
        async with await trio.open_file(dst, "wb") as f:
            for _ in range(total // CHUNK):
                await f.write(block)
    elif workload == "copy":
        async with await trio.open_file(src, "rb") as f, await trio.open_file(dst, "wb") as g:
            while chunk := await f.read(CHUNK):
                await g.write(chunk)
    else:
        for path in await trio.Path(src).iterdir():
            await path.read_bytes()


REPEATS = 3


def _clean(dst: str) -> None:
    try:
        os.remove(dst)
    except FileNotFoundError:
        pass
    # Start every run with no dirty pages: otherwise the previous run's writeback throttles
    # the next writer (a swing of up to 10x on this machine), whoever it is.
    os.sync()


def run_cell(peer: str, workload: str, src: str, dst: str, total: int) -> float:
    """Run one workload ``REPEATS`` times on one peer in this process (one event loop);
    return the median seconds of a run."""
    block = os.urandom(CHUNK)
    args = (workload, src, dst, block, total)
    # Imports happen before the clock starts: each workload function imports its peer.
    if peer == "rt":
        import rt.fs
    elif peer == "trio":
        import trio
    elif peer != "sync":
        import aiofiles
        import aiofiles.os  # noqa: F401

    def timed(fn: Callable[..., Awaitable[None]]) -> Callable[[], Coroutine[Any, Any, float]]:
        async def go() -> float:
            times = []
            for _ in range(REPEATS):
                _clean(dst)
                start = time.perf_counter()
                await fn(*args)
                times.append(time.perf_counter() - start)
            _clean(dst)
            return statistics.median(times)

        return go

    if peer == "sync":
        times = []
        for _ in range(REPEATS):
            _clean(dst)
            start = time.perf_counter()
            _sync(*args)
            times.append(time.perf_counter() - start)
        _clean(dst)
        return statistics.median(times)
    if peer == "rt":
        import rt

        return float(rt.run(timed(_rt)()))
    if peer == "trio":
        import trio

        return float(trio.run(timed(_trio)))
    import asyncio

    if peer == "uvloop+aiofiles":
        import uvloop

        return float(uvloop.run(timed(_aiofiles)()))
    return float(asyncio.run(timed(_aiofiles)()))


# -- the driver -------------------------------------------------------------------------------


def prepare(base: Path, total: int, files: int) -> tuple[Path, Path]:
    big = base / "big.bin"
    with open(big, "wb") as f:
        for _ in range(total // (1 << 20)):
            f.write(os.urandom(1 << 20))
    small = base / "small"
    small.mkdir()
    for i in range(files):
        (small / f"file{i:05d}").write_bytes(os.urandom(100 + (i * 397) % 4000))
    return big, small


def cell_in_subprocess(peer: str, workload: str, files: dict[str, Path], total: int) -> float:
    src = str(files["small"] if workload == "small files" else files["big"])
    dst = str(files["base"] / "out.bin")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import fs_bench as b; "
        "print(b.run_cell(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])))"
    )
    cmd = [
        sys.executable,
        "-c",
        code,
        str(Path(__file__).parent),
        peer,
        workload,
        src,
        dst,
        str(total),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{peer} / {workload} failed:\n{out.stderr}")
    return float(out.stdout.strip().splitlines()[-1])


def versions() -> dict[str, str]:
    import importlib.metadata as md

    found = {"python": platform.python_version()}
    for dist in ("rt-fs", "aiofiles", "trio", "uvloop"):
        try:
            found[dist] = md.version(dist)
        except md.PackageNotFoundError:
            found[dist] = "missing"
    return found


def _ratio(samples: dict[str, list[float]], top: str, bottom: str) -> float:
    return statistics.median(a / b for a, b in zip(samples[top], samples[bottom], strict=True))


def write_markdown(
    results: dict[str, dict[str, float]],
    samples: dict[str, dict[str, list[float]]],
    meta: dict[str, Any],
) -> str:
    mib = meta["total_bytes"] >> 20
    lines = [
        "# File I/O: rt.fs beside aiofiles, trio and synchronous Python",
        "",
        f"Run {meta['date']}; {meta['rounds']} round(s); each cell is the median of "
        f"{meta['repeats']} runs in one process, the table the median over rounds, in seconds "
        "(lower is better). "
        f"`read`: a {mib} MiB file in 64 KiB chunks; `write`: {mib} MiB in 64 KiB chunks to a "
        f"new file, closed (no fsync); `copy`: read the {mib} MiB file in 64 KiB chunks and "
        f"write each back to a new file; `small files`: list a directory of {meta['files']:,} "
        "files (100 B to 4 KiB) and read each whole. Files are in the page cache. "
        "`asyncio+aiofiles` and `uvloop+aiofiles` use aiofiles (each call a thread-pool "
        "round trip), `trio` its `open_file` / `Path` API, `sync` plain `open()` with no event "
        "loop. Ratios are peer/rt (the median over rounds of the ratio within a round): above "
        "1.00 means rt is faster; **rt/sync** is rt's time over plain Python's (the target on "
        "`read` is at most 1.5). Before every run the output file is removed and `sync` run.",
        "",
        "| workload | "
        + " | ".join(PEERS)
        + " | aiofiles/rt | uvloop+aiofiles/rt | trio/rt | rt/sync |",
        "|---" * (len(PEERS) + 5) + "|",
    ]
    for workload, row in results.items():
        cells = [f"{row[p]:.3f} s" for p in PEERS]
        per_round = samples[workload]
        ratios = [
            f"{_ratio(per_round, 'asyncio+aiofiles', 'rt'):.2f}",
            f"{_ratio(per_round, 'uvloop+aiofiles', 'rt'):.2f}",
            f"{_ratio(per_round, 'trio', 'rt'):.2f}",
            f"{_ratio(per_round, 'rt', 'sync'):.2f}",
        ]
        lines.append(f"| {workload} | " + " | ".join(cells + ratios) + " |")
    lines += [
        "",
        f"Python {meta['versions']['python']}, aiofiles {meta['versions']['aiofiles']}, "
        f"trio {meta['versions']['trio']}, uvloop {meta['versions']['uvloop']}; "
        f"{meta['machine']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB, 2,000 files, 1 round")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    total = (64 if args.quick else 256) << 20
    files = 2_000 if args.quick else 10_000
    rounds = args.rounds or (1 if args.quick else 5)
    samples: dict[str, dict[str, list[float]]] = {w: {p: [] for p in PEERS} for w in WORKLOADS}
    with tempfile.TemporaryDirectory(prefix="rt-fs-bench-") as tmp:
        base = Path(tmp)
        big, small = prepare(base, total, files)
        paths = {"big": big, "small": small, "base": base}
        _sync("read", str(big), "", b"", total)  # warm the page cache
        os.sync()
        for r in range(rounds):
            order = PEERS if r % 2 == 0 else PEERS[::-1]
            for workload in WORKLOADS:
                for peer in order:
                    t = cell_in_subprocess(peer, workload, paths, total)
                    samples[workload][peer].append(t)
                    print(f"round {r + 1}/{rounds} {workload:12} {peer:18} {t:.3f} s", flush=True)
    results = {w: {p: statistics.median(v) for p, v in row.items()} for w, row in samples.items()}
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "rounds": rounds,
        "quick": args.quick,
        "total_bytes": total,
        "files": files,
        "chunk": CHUNK,
        "repeats": REPEATS,
        "versions": versions(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fs.json").write_text(
        json.dumps({"meta": meta, "results": results, "samples": samples}, indent=1)
    )
    (out / "fs.md").write_text(write_markdown(results, samples, meta))
    print((out / "fs.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
