"""Child processes on rt against asyncio, uvloop and trio, in one run.

    .hatch/bench/bin/python tools/bench/process_bench.py [--quick] [--rounds N] [--out DIR]

Workloads (each cell in a fresh interpreter, rounds interleaved, the median reported):

* ``spawn``: spawn and wait for 1,000 ``true`` processes, one after the other;
* ``spawn32``: the same 1,000, 32 at a time (exit notification under load: rt's pidfds in
  the reactor, asyncio's child watcher, uvloop's SIGCHLD handling in libuv, trio's pidfd);
* ``cat``: pipe 256 MiB through ``cat`` (write 1 MiB blocks to its stdin while reading its
  stdout).

Peers: rt (``rt.process``, current-thread flavor), asyncio (``create_subprocess_exec`` on the
default loop), uvloop (the same code on uvloop's loop), trio (``trio.run_process`` and
``trio.lowlevel.open_process``). Writes ``process.json`` and ``process.md`` under ``--out``
(default ``docs/bench``). ``--quick`` runs 200 processes, 32 MiB and one round.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE.parent.parent / "docs" / "bench"
PEERS = ("rt", "asyncio", "uvloop", "trio")
WORKLOADS = {
    "spawn": "spawn and wait 1,000 `true`, one at a time",
    "spawn32": "spawn and wait 1,000 `true`, 32 at a time",
    "cat": "pipe 256 MiB through `cat` (1 MiB writes)",
}
BLOCK = 1 << 20


def sizes(quick: bool) -> tuple[int, int]:
    """(number of processes, MiB through cat)."""
    return (200, 32) if quick else (1000, 256)


# -- rt -----------------------------------------------------------------------------------


def rt_cell(workload: str, quick: bool) -> float:
    import rt
    from rt.process import Command, Stdio

    procs, mib = sizes(quick)

    async def spawn(n: int, width: int) -> None:
        async def worker(count: int) -> None:
            for _ in range(count):
                if await Command("true").status() != 0:
                    raise RuntimeError("true failed")

        handles = [rt.spawn(worker(n // width)) for _ in range(width)]
        for h in handles:
            await h

    async def cat() -> None:
        child = Command("cat").stdin(Stdio.piped()).stdout(Stdio.piped()).spawn()
        assert child.stdin is not None and child.stdout is not None
        stdin, stdout = child.stdin, child.stdout
        block = b"x" * BLOCK

        async def feed() -> None:
            for _ in range(mib):
                await stdin.write_all(block)
            await stdin.shutdown()

        feeder = rt.spawn(feed())
        got = 0
        while chunk := await stdout.read(BLOCK):
            got += len(chunk)
        await feeder
        await child.wait()
        assert got == mib * BLOCK

    async def main() -> float:
        t0 = time.perf_counter()
        if workload == "cat":
            await cat()
        else:
            await spawn(procs, 1 if workload == "spawn" else 32)
        return time.perf_counter() - t0

    return rt.run(main(), flavor="current_thread")


# -- asyncio / uvloop -----------------------------------------------------------------------


def asyncio_cell(workload: str, quick: bool, use_uvloop: bool) -> float:
    import asyncio

    procs, mib = sizes(quick)

    async def spawn(n: int, width: int) -> None:
        async def worker(count: int) -> None:
            for _ in range(count):
                proc = await asyncio.create_subprocess_exec("true")
                if await proc.wait() != 0:
                    raise RuntimeError("true failed")

        await asyncio.gather(*(worker(n // width) for _ in range(width)))

    async def cat() -> None:
        proc = await asyncio.create_subprocess_exec(
            "cat", stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=BLOCK
        )
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout
        block = b"x" * BLOCK

        async def feed() -> None:
            for _ in range(mib):
                stdin.write(block)
                await stdin.drain()
            stdin.close()

        feeder = asyncio.ensure_future(feed())
        got = 0
        while chunk := await stdout.read(BLOCK):
            got += len(chunk)
        await feeder
        await proc.wait()
        assert got == mib * BLOCK

    async def main() -> float:
        t0 = time.perf_counter()
        if workload == "cat":
            await cat()
        else:
            await spawn(procs, 1 if workload == "spawn" else 32)
        return time.perf_counter() - t0

    if use_uvloop:
        import uvloop

        return float(uvloop.run(main()))
    return asyncio.run(main())


# -- trio -----------------------------------------------------------------------------------


def trio_cell(workload: str, quick: bool) -> float:
    import trio

    procs, mib = sizes(quick)

    async def spawn(n: int, width: int) -> None:
        async def worker(count: int) -> None:
            for _ in range(count):
                await trio.run_process(["true"])

        async with trio.open_nursery() as nursery:
            for _ in range(width):
                nursery.start_soon(worker, n // width)

    async def cat() -> None:
        proc = await trio.lowlevel.open_process(
            ["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        block = b"x" * BLOCK
        got = 0

        stdin, stdout = proc.stdin, proc.stdout
        assert stdin is not None and stdout is not None

        async def feed() -> None:
            for _ in range(mib):
                await stdin.send_all(block)
            await stdin.aclose()

        async def drain() -> None:
            nonlocal got
            while chunk := await stdout.receive_some(BLOCK):
                got += len(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed)
            nursery.start_soon(drain)
        await proc.wait()
        assert got == mib * BLOCK

    async def main() -> float:
        t0 = time.perf_counter()
        if workload == "cat":
            await cat()
        else:
            await spawn(procs, 1 if workload == "spawn" else 32)
        return time.perf_counter() - t0

    return float(trio.run(main))


def run_here(peer: str, workload: str, quick: bool) -> float:
    if peer == "rt":
        return rt_cell(workload, quick)
    if peer in ("asyncio", "uvloop"):
        return asyncio_cell(workload, quick, peer == "uvloop")
    return trio_cell(workload, quick)


def run_cell(peer: str, workload: str, quick: bool) -> float | None:
    """One cell in a fresh interpreter; ``None`` when the peer is missing or failed."""
    out = subprocess.run(
        [sys.executable, __file__, "--cell", peer, workload] + (["--quick"] if quick else []),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        print(f"  {workload}/{peer} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return float(out.stdout.strip().splitlines()[-1])


def write_results(results: dict[str, dict[str, float | None]], quick: bool, out: Path) -> None:
    procs, mib = sizes(quick)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "quick": quick,
        "processes": procs,
        "mib": mib,
    }
    (out / "process.json").write_text(
        json.dumps({"meta": meta, "seconds": results}, indent=2) + "\n"
    )
    lines = [
        "# Child processes: rt against asyncio, uvloop and trio",
        "",
        f"`tools/bench/process_bench.py{' --quick' if quick else ''}`; Python "
        f"{meta['python']} on {meta['cpus']} CPUs. Median seconds over the rounds, each cell "
        "in a fresh interpreter; the ratio columns are *peer time / rt time* (above 1.00: rt "
        "is faster).",
        "",
        "| workload | " + " | ".join(PEERS) + " | asyncio/rt | uvloop/rt | trio/rt |",
        "|---|" + "---:|" * (len(PEERS) + 3),
    ]
    for workload, desc in WORKLOADS.items():
        row = results.get(workload, {})
        label = desc.replace("1,000", f"{procs:,}").replace("256 MiB", f"{mib} MiB")
        cells = [f"{row[p]:.3f}" if row.get(p) is not None else "—" for p in PEERS]
        base = row.get("rt")
        ratios = []
        for peer in ("asyncio", "uvloop", "trio"):
            value = row.get(peer)
            ratios.append(f"{value / base:.2f}" if value is not None and base else "—")
        lines.append(f"| {label} | " + " | ".join(cells + ratios) + " |")
    lines += [
        "",
        "How each runtime learns that a child exited: rt registers the child's pidfd with its "
        "reactor (one `epoll` wake-up per exit, no thread); asyncio's default watcher on "
        "Python 3.11 is `ThreadedChildWatcher` (a thread per child blocked in `waitpid`); "
        "uvloop goes through libuv's SIGCHLD handling; trio waits on the pidfd. How they "
        "spawn: rt's `status()` / `output()` call `subprocess.Popen` (which releases the GIL "
        "while it spawns) on the blocking pool, so concurrent spawns overlap and the scheduler "
        "keeps running (`Command.spawn()` itself is synchronous, as in Tokio, and uses "
        "`os.posix_spawn` on the task's thread); asyncio calls `subprocess.Popen` on the loop; "
        "trio calls it in a worker thread; uvloop uses libuv's `uv_spawn`, which forks.",
        "",
    ]
    (out / "process.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5; quick 1)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--cell", nargs=2, metavar=("PEER", "WORKLOAD"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--render", action="store_true", help="rewrite process.md from process.json only"
    )
    args = parser.parse_args()
    if args.cell:
        print(run_here(args.cell[0], args.cell[1], args.quick))
        return
    if args.render:
        saved = json.loads((args.out / "process.json").read_text())
        write_results(saved["seconds"], saved["meta"]["quick"], args.out)
        return
    rounds = args.rounds or (1 if args.quick else 5)
    samples: dict[str, dict[str, list[float]]] = {w: {p: [] for p in PEERS} for w in WORKLOADS}
    for r in range(rounds):
        for workload in WORKLOADS:
            for peer in PEERS:
                value = run_cell(peer, workload, args.quick)
                if value is not None:
                    samples[workload][peer].append(value)
                shown = "failed" if value is None else f"{value:.3f}s"
                print(f"round {r + 1}/{rounds} {workload:8} {peer:8} {shown}", flush=True)
    results: dict[str, dict[str, Any]] = {
        w: {p: (statistics.median(v) if v else None) for p, v in row.items()}
        for w, row in samples.items()
    }
    write_results(results, args.quick, args.out)
    print((args.out / "process.md").read_text())


if __name__ == "__main__":
    main()
