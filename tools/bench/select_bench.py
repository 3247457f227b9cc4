"""``select(recv, sleep)`` against a plain ``recv`` under a timer: microseconds per call.

    python3 tools/bench/select_bench.py [--quick] [--rounds N] [--write]

Issue #27's row: ``await rt.select(rx.recv(), rt.sleep(10))`` should cost at most 3x what the
same receive costs with a timer armed around it (``with rt.time.timeout(10): await
rx.recv()``, the cheapest way to bound a receive). Two situations, each a cell of its own:

``ready``
    the value is already in the channel (select's fast path: nothing is armed);
``wait``
    the receiver waits: a producer task refills the channel (capacity 1) once the receiver
    parks, so every call arms its wake-ups, parks and is woken.

Each cell runs in a fresh process (median of interleaved rounds, the harness of
``tools/bench/run.py``); ``--write`` stores ``docs/bench/select.json`` and ``select.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "docs" / "bench"
CALLS = {"full": 100_000, "quick": 20_000}
CELLS = [
    ("select", "ready"),
    ("timeout_recv", "ready"),
    ("select", "wait"),
    ("timeout_recv", "wait"),
]


def cell(form: str, situation: str, calls: int) -> float:
    """Run one cell in this process; return microseconds per call."""
    import rt
    import rt.time
    from rt.sync import mpsc

    async def main() -> float:
        tx, rx = mpsc.channel[int](1)

        if form == "select":

            async def one() -> Any:
                return await rt.select(rx.recv(), rt.sleep(10))

        else:

            async def one() -> Any:
                with rt.time.timeout(10):
                    return await rx.recv()

        if situation == "ready":
            start = time.perf_counter()
            for i in range(calls):
                tx.try_send(i)
                await one()
            return (time.perf_counter() - start) / calls * 1e6

        async def producer() -> None:
            for i in range(calls):
                await tx.send(i)

        start = time.perf_counter()
        h = rt.spawn(producer())
        for _ in range(calls):
            await one()
        await h
        return (time.perf_counter() - start) / calls * 1e6

    return rt.run(main())


def run_cell(form: str, situation: str, calls: int) -> float:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import select_bench as b; "
        "print(b.cell(sys.argv[2], sys.argv[3], int(sys.argv[4])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), form, situation, str(calls)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--write", action="store_true", help="write docs/bench/select.*")
    args = parser.parse_args()
    calls = CALLS["quick" if args.quick else "full"]
    rounds = args.rounds or (3 if args.quick else 5)
    samples: dict[tuple[str, str], list[float]] = {c: [] for c in CELLS}
    for _ in range(rounds):
        for form, situation in CELLS:
            samples[form, situation].append(run_cell(form, situation, calls))
    med = {c: statistics.median(v) for c, v in samples.items()}
    lines = [
        "| situation | `select(rx.recv(), rt.sleep(10))` µs | "
        "`with timeout(10): await rx.recv()` µs | ratio (target <= 3) |",
        "|---|---:|---:|---:|",
    ]
    for situation in ("ready", "wait"):
        s, t = med["select", situation], med["timeout_recv", situation]
        lines.append(f"| {situation} | {s:.2f} | {t:.2f} | {s / t:.2f} |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "select.json").write_text(
            json.dumps(
                {
                    "calls": calls,
                    "rounds": rounds,
                    "samples_us": {f"{f}/{s}": v for (f, s), v in samples.items()},
                },
                indent=2,
            )
            + "\n"
        )
        (OUT / "select.md").write_text(
            "# select(recv, sleep) vs recv under a timeout\n\n"
            f"Median of {rounds} interleaved rounds, {calls:,} calls per cell, one fresh "
            "process per cell (`tools/bench/select_bench.py`).\n\n" + table + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
