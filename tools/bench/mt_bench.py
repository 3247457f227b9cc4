"""The multi-thread scheduler against the current-thread one, in one run.

    .hatch/bench/bin/python tools/bench/mt_bench.py [--quick] [--rounds N] [--out DIR]

(``python3 tools/dev.py bench`` runs it as part of the full suite.) Three variants of rt, each
cell in a fresh process selected with ``RT_FLAVOR`` / ``RT_WORKER_THREADS``:

* ``ct``: ``flavor="current_thread"``;
* ``mt1``: ``flavor="multi_thread"`` with one worker: the cost of the machinery (state
  transitions, stealing checks) on the scheduling workloads of ``run.py``;
* ``mt2``: two workers (this machine has two cores).

Each cell runs twice in its process and the second run is reported (see ``run_cell``). The
scaling workloads (``hash``, ``zlib``) do work that releases the GIL, so two workers can
overlap it: speedup = mt1 time / mt2 time. The overhead workloads report mt1 / ct (above 1.00
= the multi-thread flavor is slower). Writes ``multi_thread.{json,md,png}`` under ``--out``.
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

VARIANTS = {
    "ct": {"RT_FLAVOR": "current_thread"},
    "mt1": {"RT_FLAVOR": "multi_thread", "RT_WORKER_THREADS": "1"},
    "mt2": {"RT_FLAVOR": "multi_thread", "RT_WORKER_THREADS": "2"},
}
OVERHEAD = {
    "spawn": "spawn 100k tasks, await each",
    "yield": "1,000 tasks x 1,000 yields",
    "chain": "chain of 10k tasks, each spawns the next",
    "pingpong": "ping-pong between two tasks (100k round trips)",
    "channel16": "bounded channel 4->1, capacity 16",
    "channel1024": "bounded channel 4->1, capacity 1024",
    "chanping": "ping-pong through two channels",
}
SCALING = {
    "hash": "16 tasks x 48 rounds of sha256 over 1 MiB",
    "zlib": "16 tasks x 12 rounds of zlib level 6 over 1 MiB",
}


def run_cell(variant: str, workload: str, quick: bool) -> float | None:
    if workload in SCALING:
        call = f"w.scaling_rt({workload!r}, {quick})"
    else:
        call = f"w.run_cell('rt', {workload!r}, {quick})"
    # Each process runs the cell twice and reports the second run, for every variant: the
    # first run of a process on a new worker thread was consistently slower here (up to 1.8x
    # on `yield`) while later runtimes in the same process were not; a service runs warm.
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import workloads as w; "
        f"{call}; print(json.dumps({call}))"
    )
    env = {**os.environ, **VARIANTS[variant]}
    out = subprocess.run(
        [sys.executable, "-c", code, str(HERE)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    if out.returncode != 0:
        print(f"  {workload}/{variant} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def write_markdown(results: dict[str, dict[str, float | None]], meta: dict[str, Any]) -> str:
    def ms(v: float | None) -> str:
        return "n/a" if v is None else f"{v * 1000:.1f} ms"

    lines = [
        "# rt: multi-thread flavor vs current-thread",
        "",
        f"Run {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs), Python "
        f"{meta['python']}; {meta['rounds']} rounds, median"
        f"{', quick sizes' if meta['quick'] else ''}; every cell is the second run of its "
        "process (one warm-up run first, for every variant). Regenerate with "
        "`python3 tools/dev.py bench` (or `tools/bench/mt_bench.py`).",
        "",
        "## Scaling: work that releases the GIL",
        "",
        "| workload | current_thread | multi_thread, 1 worker | 2 workers | speedup 2 vs 1 |",
        "|---|---|---|---|---|",
    ]
    for w, desc in SCALING.items():
        r = results.get(w)
        if r:
            lines.append(
                f"| {w}: {desc} | {ms(r['ct'])} | {ms(r['mt1'])} | {ms(r['mt2'])} "
                f"| {_ratio(r['mt1'], r['mt2'])}x |"
            )
    lines += [
        "",
        "## Overhead: scheduling workloads of `run.py`",
        "",
        "| workload | current_thread | multi_thread, 1 worker | 2 workers "
        "| 1 worker / current_thread | 2 workers / current_thread |",
        "|---|---|---|---|---|---|",
    ]
    for w, desc in OVERHEAD.items():
        r = results.get(w)
        if r:
            lines.append(
                f"| {w}: {desc} | {ms(r['ct'])} | {ms(r['mt1'])} | {ms(r['mt2'])} "
                f"| {_ratio(r['mt1'], r['ct'])} | {_ratio(r['mt2'], r['ct'])} |"
            )
    lines.append("")
    return "\n".join(lines)


def write_chart(results: dict[str, dict[str, float | None]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no chart", file=sys.stderr)
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 3]})

    def rel(a: float | None, b: float | None) -> float:
        return a / b if a is not None and b else 0.0

    scal = [w for w in SCALING if results.get(w)]
    left.bar(scal, [rel(results[w]["mt1"], results[w]["mt2"]) for w in scal])
    left.axhline(1.7, color="black", linestyle="--", linewidth=0.8, label="target 1.7x")
    left.set_ylabel("speedup, 2 workers vs 1")
    left.set_title("GIL-releasing work")
    left.legend()
    over = [w for w in OVERHEAD if results.get(w)]
    width = 0.38
    for i, variant in enumerate(("mt1", "mt2")):
        vals = [rel(results[w][variant], results[w]["ct"]) for w in over]
        right.bar([x + (i - 0.5) * width for x in range(len(over))], vals, width, label=variant)
    right.axhline(1.0, color="black", linewidth=0.8)
    right.axhline(1.3, color="black", linestyle="--", linewidth=0.8, label="1.3x budget")
    right.set_xticks(range(len(over)))
    right.set_xticklabels(over, rotation=20, ha="right")
    right.set_ylabel("time / current_thread time")
    right.set_title("scheduling overhead (lower is better)")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 5)
    results: dict[str, dict[str, float | None]] = {}
    for workload in [*SCALING, *OVERHEAD]:
        samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for _ in range(rounds):
            for variant in VARIANTS:  # interleaved, so machine noise hits every variant alike
                value = run_cell(variant, workload, args.quick)
                if value is not None:
                    samples[variant].append(value)
        results[workload] = {v: statistics.median(s) if s else None for v, s in samples.items()}
        r = results[workload]
        print(
            f"{workload}: ct={r['ct']} mt1={r['mt1']} mt2={r['mt2']} "
            f"mt1/ct={_ratio(r['mt1'], r['ct'])} speedup={_ratio(r['mt1'], r['mt2'])}",
            flush=True,
        )
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "rounds": rounds,
        "quick": args.quick,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "multi_thread.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (out / "multi_thread.md").write_text(write_markdown(results, meta))
    write_chart(results, out / "multi_thread.png")
    print((out / "multi_thread.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
