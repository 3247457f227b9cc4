"""Run rt beside asyncio, uvloop, trio and a pure-Python floor; write docs/bench/.

    python3 tools/dev.py bench            # full run (about 30 minutes on 2 cores)
    python3 tools/dev.py bench --quick    # about a minute

Every (workload, peer) cell runs in a fresh process; rounds interleave the peers so that noise
on this shared machine hits them alike; the median of the rounds is reported. When the
optional mypyc build of rt-core is built and current (``dev.py bench`` builds it first), an
``rt-mypyc`` peer runs the same rt code against it. Outputs:
``docs/bench/results.json`` (raw, with machine and versions), ``docs/bench/results.md`` (ratios
to asyncio and uvloop; below 1.00 means rt is faster) and ``docs/bench/chart.png``; a full run
then runs ``mt_bench.py`` (multi-thread vs current-thread flavor, ``docs/bench/multi_thread.md``)
and ``redis_bench.py`` (mini-redis under redis-benchmark, ``docs/bench/redis.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = ROOT / "docs" / "bench"

PEERS = ["rt", "asyncio", "uvloop", "trio", "floor"]
# rt again, with rt-core from the optional mypyc build (tools/compiled.py) when it is built and
# current; the same workload code, only the import path differs.
COMPILED_PEER = "rt-mypyc"
WORKLOADS: dict[str, str] = {
    "spawn": "spawn 100k tasks, await each",
    "yield": "1,000 tasks x 1,000 yields",
    "chain": "chain of 10k tasks, each spawns the next",
    "pingpong": "ping-pong between two tasks (100k round trips)",
    "channel16": "bounded channel 4->1, capacity 16 (200k messages)",
    "channel128": "bounded channel 4->1, capacity 128 (200k messages)",
    "channel1024": "bounded channel 4->1, capacity 1024 (200k messages)",
    "chanping": "ping-pong through two channels (50k round trips)",
    "timers": "1,000 timers over 0-200 ms: lateness p50 / p99",
    "timeouts": "arm and cancel 1M timeouts",
    "blocking": "spawn_blocking round trip x 2,000",
    "million": "1M concurrent coroutines, each sleeps 0, all joined",
    "echo64": "TCP echo 64 B, 50 conns: server CPU per request (streams)",
    "echo64p": "TCP echo 64 B: rt streams vs asyncio/uvloop Protocols",
    "echo16k": "TCP echo 16 KiB, 50 conns: server CPU per request (streams)",
    "echo16kp": "TCP echo 16 KiB: rt streams vs asyncio/uvloop Protocols",
    "idle": "10k idle connections: server memory per connection (streams)",
    "idlep": "10k idle connections: rt streams vs asyncio/uvloop Protocols",
}
NET = {"echo64", "echo64p", "echo16k", "echo16kp", "idle", "idlep"}


def compiled_site() -> Path | None:
    """The unpacked mypyc build of rt-core, if it exists and matches the current sources."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import compiled
    finally:
        sys.path.pop(0)
    if compiled.STAMP.exists() and compiled.STAMP.read_text() == compiled.source_hash():
        return compiled.SITE
    print(
        "run.py: no current mypyc build of rt-core (`python3 tools/dev.py bench` builds it "
        "first): the rt-mypyc column is left out",
        file=sys.stderr,
    )
    return None


def run_cell(peer: str, workload: str, quick: bool, site: Path | None = None) -> Any:
    module = "net_workloads" if workload in NET else "workloads"
    code = (
        f"import json, sys; sys.path.insert(0, sys.argv[1]); import {module} as w; "
        "print(json.dumps(w.run_cell(sys.argv[2], sys.argv[3], sys.argv[4] == '1')))"
    )
    env = None
    if peer == COMPILED_PEER:
        assert site is not None
        peer = "rt"
        env = {**os.environ, "PYTHONPATH": str(site), "RT_EXPECT_COMPILED": "1"}
        code = (
            "import rt._core._task as t; "
            "assert t.COMPILED, 'rt-mypyc cell imported the pure sources'; " + code
        )
    out = subprocess.run(
        [sys.executable, "-c", code, str(HERE), peer, workload, "1" if quick else "0"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    if out.returncode != 0:
        print(f"  {workload}/{peer} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(values: list[Any]) -> Any:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return None
    if isinstance(values[0], dict):
        return {k: statistics.median(v[k] for v in values) for k in values[0]}
    return statistics.median(values)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("uvloop", "trio"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            out[mod] = "missing"
    import rt

    out["rt"] = rt.__version__
    return out


def metric(value: Any) -> float | None:
    """The number compared across peers (lower is better): seconds, or p99 lateness."""
    if value is None:
        return None
    if isinstance(value, dict):
        return float(value["p99_ms"])
    return float(value)


def fmt(workload: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, dict):
        return f"{value['p50_ms']:.2f} / {value['p99_ms']:.2f} ms"
    if workload.startswith("echo"):
        return f"{value:.1f} µs"
    if workload.startswith("idle"):
        return f"{value / 1024:.2f} KiB"
    return f"{value * 1000:.1f} ms"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def write_markdown(results: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# rt benchmarks",
        "",
        f"Run {meta['date']} on {meta['machine']} ({meta['cpus']} CPUs), "
        f"Python {meta['versions']['python']}, uvloop {meta['versions']['uvloop']}, "
        f"trio {meta['versions']['trio']}; {meta['rounds']} rounds, median"
        f"{', quick sizes' if meta['quick'] else ''}.",
        "",
        "Lower is better everywhere. **rt/asyncio** and **rt/uvloop** below 1.00 mean rt is "
        "faster. `floor` is a bare deque + `coro.send` loop: the cost of pure Python.",
        "",
        "| workload | rt | asyncio | uvloop | trio | floor | rt/asyncio | rt/uvloop | rt/trio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for w, desc in WORKLOADS.items():
        row = results.get(w)
        if row is None:
            continue
        m = {p: metric(row.get(p)) for p in PEERS}
        lines.append(
            f"| {desc} | "
            + " | ".join(fmt(w, row.get(p)) for p in PEERS)
            + f" | {ratio(m['rt'], m['asyncio'])} | {ratio(m['rt'], m['uvloop'])}"
            f" | {ratio(m['rt'], m['trio'])} |"
        )
    lines += [
        "",
        "Timers compare the p99 lateness; the cell shows p50 / p99. TCP echo cells are server "
        "CPU time per request (one fixed `selectors` client in another process drives every "
        "peer); idle cells are server memory (RSS) per connection, each with a task or "
        "protocol waiting to read. In the `...p` rows the asyncio and uvloop columns use "
        "Protocols instead of streams; rt always uses its stream API.",
        "",
    ]
    if any(row.get(COMPILED_PEER) is not None for row in results.values()):
        lines += [
            "## The optional compiled build",
            "",
            "`rt-mypyc` is the same rt with rt-core compiled by mypyc (`tools/compiled.py`), "
            "measured in the same run. **mypyc/rt** below 1.00 means the compiled build is "
            "faster than pure-Python rt.",
            "",
            "| workload | rt | rt-mypyc | mypyc/rt | mypyc/asyncio | mypyc/uvloop |",
            "|---|---|---|---|---|---|",
        ]
        for w, desc in WORKLOADS.items():
            row = results.get(w)
            if row is None or row.get(COMPILED_PEER) is None:
                continue
            c = metric(row.get(COMPILED_PEER))
            lines.append(
                f"| {desc} | {fmt(w, row.get('rt'))} | {fmt(w, row.get(COMPILED_PEER))} | "
                f"{ratio(c, metric(row.get('rt')))} | {ratio(c, metric(row.get('asyncio')))} | "
                f"{ratio(c, metric(row.get('uvloop')))} |"
            )
    return "\n".join(lines)


def write_chart(results: dict[str, dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no chart", file=sys.stderr)
        return False
    names = [w for w in WORKLOADS if w in results]
    peers = ["asyncio", "uvloop", "trio"]
    fig, ax = plt.subplots(figsize=(10, 4.8))
    width = 0.26
    for i, peer in enumerate(peers):
        vals = []
        for w in names:
            r, p = metric(results[w].get("rt")), metric(results[w].get(peer))
            vals.append(p / r if r and p else 0)
        ax.bar([x + (i - 1) * width for x in range(len(names))], vals, width, label=peer)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=25, ha="right")
    ax.set_ylabel("peer time / rt time (log; above 1 = rt faster)")
    ax.set_title("rt speedup over each peer, same run")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--only", default="", help="comma-separated workloads")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument(
        "--chart-only", action="store_true", help="redraw the chart from results.json"
    )
    args = parser.parse_args()
    if args.chart_only:
        saved = json.loads((Path(args.out) / "results.json").read_text())
        write_chart(saved["results"], Path(args.out) / "chart.png")
        return 0
    rounds = args.rounds or (3 if args.quick else 5)
    only = [w for w in args.only.split(",") if w] or list(WORKLOADS)
    site = compiled_site()
    peers = [*PEERS, COMPILED_PEER] if site is not None else PEERS
    results: dict[str, dict[str, Any]] = {}
    for workload in only:
        per_peer: dict[str, list[Any]] = {p: [] for p in peers}
        for r in range(rounds):
            for peer in peers:
                per_peer[peer].append(run_cell(peer, workload, args.quick, site))
            print(f"{workload}: round {r + 1}/{rounds}", flush=True)
        results[workload] = {p: median_of(v) for p, v in per_peer.items()}
        row = results[workload]
        print(
            "  " + "  ".join(f"{p}={fmt(workload, row[p])}" for p in peers),
            f"rt/uvloop={ratio(metric(row['rt']), metric(row['uvloop']))}",
            flush=True,
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "versions": versions(),
        "rounds": rounds,
        "quick": args.quick,
    }
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (out / "results.md").write_text(write_markdown(results, meta))
    write_chart(results, out / "chart.png")
    print((out / "results.md").read_text())
    if not args.only:
        # Part of the same command: the multi-thread flavor against the current-thread one
        # (docs/bench/multi_thread.md), and mini-redis under redis-benchmark (redis.md).
        for script in ("mt_bench.py", "redis_bench.py"):
            cmd = [sys.executable, str(HERE / script), "--out", str(out)]
            subprocess.run([*cmd, "--quick"] if args.quick else cmd, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
