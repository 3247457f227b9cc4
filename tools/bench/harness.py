"""The one harness: cells in fresh processes, interleaved rounds, medians, JSON/Markdown/chart.

A *table suite* (``suites/sched.py``, ``suites/net.py``) lists rows; the harness runs every
(row, peer) cell in a fresh process (``python -m tools.bench._cell``), round after round with
the peers' order reversed every other round so that drift on a shared machine hits them alike,
and keeps the median of the rounds. A *script suite* (``suites/redis.py``, ``suites/mt.py``)
drives its own processes through ``run(options)`` and hands back its section. Either way the
harness writes ``docs/bench/<suite>.json`` and ``<suite>.md``, then rebuilds
``docs/bench/results.md`` (every suite's section found there, in a fixed order) and
``docs/bench/chart.png`` (the peers' time relative to rt on the table suites' rows).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from . import peers

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "bench"
# The order of the sections in results.md; a suite not listed here comes after these.
ORDER = ["sched", "net", "redis", "mt", "asyncio"]
RATIO_PEERS = ["asyncio", "uvloop", "rloop", "trio", "floor", "sync"]

Kind = Literal["time", "lateness", "us", "bytes"]


@dataclass(frozen=True)
class Row:
    """One row of a table suite: what it measures and its sizes (full run, ``--quick``).

    ``kind`` says what a cell returns and how it prints: ``time`` (seconds), ``lateness``
    (``{"p50_ms", "p99_ms"}``, compared on p99), ``us`` (microseconds) or ``bytes``. Lower is
    better for all of them.
    """

    description: str
    size: dict[str, Any]
    quick: dict[str, Any]
    kind: Kind = "time"


@dataclass
class Options:
    """What the command line asked for."""

    quick: bool = False
    rounds: int | None = None
    only: list[str] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    out: Path = OUT


# -- running cells ---------------------------------------------------------------------------------


def run_cell(
    peer: str, row: str, size: dict[str, Any], env: dict[str, str] | None, repeat: int = 1
) -> Any:
    """Run one cell in a fresh interpreter (the workload ``repeat`` times, the last one
    reported); its measurement, or None if it failed."""
    cmd = [sys.executable, "-m", "tools.bench._cell", peer, row, json.dumps(size), str(repeat)]
    try:
        out = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        print(f"  {row}/{peer}: no result after 600 s", file=sys.stderr)
        return None
    if out.returncode != 0:
        print(f"  {row}/{peer} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_of(values: list[Any]) -> Any:
    """The median of a cell's rounds (per key for dict results), ignoring failed rounds."""
    got = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not got:
        return None
    if isinstance(got[0], dict):
        return {k: statistics.median(v[k] for v in got) for k in got[0]}
    return statistics.median(got)


def usable_peers(wanted: list[str]) -> list[str]:
    """The peers of ``wanted`` that can run here; says why each other one is left out."""
    out = []
    for name in wanted:
        reason = peers.unavailable(name)
        if reason is None:
            out.append(name)
        else:
            print(f"bench: the {name} column is left out: {reason}", file=sys.stderr)
    return out


def run_table(suite: ModuleType, opts: Options) -> dict[str, Any]:
    """Run a table suite's rows on its peers; the suite's JSON document."""
    rows: dict[str, Row] = suite.ROWS
    names = [r for r in rows if not opts.only or r in opts.only]
    # A column is a peer, or (COLUMNS) a peer run with extra environment variables.
    spec: dict[str, tuple[str, dict[str, str]]] = getattr(
        suite, "COLUMNS", {p: (p, {}) for p in suite.PEERS}
    )
    wanted = [c for c in spec if not opts.peers or c in opts.peers or spec[c][0] in opts.peers]
    ok = set(usable_peers(sorted({spec[c][0] for c in wanted})))
    columns = [c for c in wanted if spec[c][0] in ok]
    modules = {c: peers.load(spec[c][0]) for c in columns}
    envs: dict[str, dict[str, str] | None] = {}
    for c, mod in modules.items():
        extra: Callable[[], dict[str, str]] | None = getattr(mod, "env", None)
        more = {**(extra() if extra is not None else {}), **spec[c][1]}
        envs[c] = {**os.environ, **more} if more else None
    repeat: int = getattr(suite, "REPEAT", 1)
    rounds = opts.rounds or (3 if opts.quick else 5)
    results: dict[str, dict[str, Any]] = {}
    runs: dict[str, dict[str, list[Any]]] = {}
    for name in names:
        row = rows[name]
        size = row.quick if opts.quick else row.size
        here = [p for p in columns if name in modules[p].WORKLOADS]
        per: dict[str, list[Any]] = {p: [] for p in here}
        for r in range(rounds):
            for p in here if r % 2 == 0 else here[::-1]:
                per[p].append(run_cell(spec[p][0], name, size, envs[p], repeat))
            print(f"{suite.NAME}/{name}: round {r + 1}/{rounds}", flush=True)
        results[name] = {p: median_of(v) for p, v in per.items()}
        runs[name] = per
        got = results[name]
        print("  " + "  ".join(f"{p}={fmt(row, got.get(p))}" for p in here), flush=True)
    return {
        "meta": meta(opts, rounds, columns),
        "rows": {n: {"description": rows[n].description, "kind": rows[n].kind} for n in names},
        "results": results,
        "runs": runs,
    }


def meta(opts: Options, rounds: int, columns: list[str]) -> dict[str, Any]:
    """Where and how a run was made."""
    versions = {"python": platform.python_version()}
    for dist in ("rt-core", "uvloop", "rloop", "trio"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "missing"
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "versions": versions,
        "rounds": rounds,
        "quick": opts.quick,
        "peers": columns,
    }


# -- printing ----------------------------------------------------------------------------------


def metric(value: Any) -> float | None:
    """The number compared across peers (lower is better): p99 for lateness."""
    if value is None:
        return None
    if isinstance(value, dict):
        return float(value["p99_ms"])
    return float(value)


def fmt(row: Row | str, value: Any) -> str:
    """A cell as the tables print it."""
    kind = row.kind if isinstance(row, Row) else row
    if value is None:
        return "n/a"
    if kind == "lateness":
        return f"{value['p50_ms']:.2f} / {value['p99_ms']:.2f} ms"
    if kind == "us":
        return f"{value:.1f} µs"
    if kind == "bytes":
        return f"{value:,.0f} B"
    return f"{value * 1000:.1f} ms"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def table_markdown(suite: ModuleType, doc: dict[str, Any]) -> str:
    """A table suite's section: every peer's cell, then rt's ratio to each peer."""
    m = doc["meta"]
    cols = list(m["peers"])
    others = [p for p in RATIO_PEERS if p in cols]
    v = m["versions"]
    lines = [
        f"## {suite.TITLE}",
        "",
        f"`python -m tools.bench {suite.NAME}{' --quick' if m['quick'] else ''}`: "
        f"{m['date']}, {m['machine']} ({m['cpus']} CPUs), Python {v['python']}, "
        f"uvloop {v['uvloop']}, rloop {v['rloop']}, trio {v['trio']}; "
        f"{m['rounds']} rounds, median{', quick sizes' if m['quick'] else ''}.",
        "",
        "| workload | " + " | ".join(cols) + " | " + " | ".join(f"rt/{p}" for p in others) + " |",
        "|---" * (1 + len(cols) + len(others)) + "|",
    ]
    for name, info in doc["rows"].items():
        got = doc["results"].get(name, {})
        rt = metric(got.get("rt"))
        cells = [fmt(info["kind"], got.get(p)) for p in cols]
        ratios = [ratio(rt, metric(got.get(p))) for p in others]
        lines.append(f"| {info['description']} | " + " | ".join(cells + ratios) + " |")
    lines += ["", suite.NOTES.strip(), ""]
    if "rt-mypyc" in m["peers"]:
        lines += [
            "### The compiled build",
            "",
            "`rt-mypyc` is the same rt with every distribution compiled by mypyc where it can "
            "be (`tools/compiled.py` lists what stays Python and why), measured in the same "
            "run. Below 1.00 the compiled build is faster than the peer.",
            "",
            "| workload | rt | rt-mypyc | mypyc/rt | mypyc/asyncio | mypyc/uvloop | mypyc/rloop |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, info in doc["rows"].items():
            got = doc["results"].get(name, {})
            c = metric(got.get("rt-mypyc"))
            if c is None:
                continue
            rs = [ratio(c, metric(got.get(p))) for p in ("rt", "asyncio", "uvloop", "rloop")]
            lines.append(
                f"| {info['description']} | {fmt(info['kind'], got.get('rt'))} | "
                f"{fmt(info['kind'], got.get('rt-mypyc'))} | " + " | ".join(rs) + " |"
            )
        lines.append("")
    return "\n".join(lines)


def write_suite(name: str, doc: dict[str, Any], markdown: str, out: Path) -> None:
    """Write one suite's JSON and Markdown, then rebuild results.md and the chart."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / f"{name}.md").write_text(markdown.rstrip() + "\n")
    write_results(out)


def write_results(out: Path) -> None:
    """``results.md``: every suite's section present in ``out``, and the chart."""
    found = sorted(
        (p.stem for p in out.glob("*.json") if (out / f"{p.stem}.md").exists()),
        key=lambda s: (ORDER.index(s) if s in ORDER else len(ORDER), s),
    )
    head = [
        "# rt benchmarks",
        "",
        "Written by `python -m tools.bench` (`python3 tools/dev.py bench` runs every suite; "
        "each section says which command and sizes it comes from). Every cell is the median "
        "of several rounds; lower is better everywhere, so an **rt/peer** ratio below 1.00 "
        "means rt is faster. ![rt against each peer](chart.png)",
        "",
    ]
    # A section is a second-level heading under the page's title (a standalone script's
    # output may start at the first level).
    body = [
        "#" + text if text.startswith("# ") else text
        for text in ((out / f"{s}.md").read_text() for s in found)
    ]
    (out / "results.md").write_text("\n".join(head) + "\n" + "\n".join(body))
    docs = {s: json.loads((out / f"{s}.json").read_text()) for s in found}
    # The chart shows the table suites whose columns are rt and its peers (not mt's flavors).
    peered = {s: d for s, d in docs.items() if "rows" in d and "rt" in d["meta"]["peers"]}
    write_chart(peered, out / "chart.png")


def write_chart(docs: dict[str, dict[str, Any]], path: Path) -> bool:
    """Each peer's cell divided by rt's, per row of the table suites (log scale)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("bench: matplotlib missing: no chart", file=sys.stderr)
        return False
    names: list[str] = []
    cells: list[dict[str, Any]] = []
    for doc in docs.values():
        for name in doc["rows"]:
            names.append(name)
            cells.append(doc["results"].get(name, {}))
    if not names:
        return False
    shown = ["rt-mypyc", "asyncio", "uvloop", "rloop", "trio", "floor"]
    fig, ax = plt.subplots(figsize=(max(10.0, len(names) * 0.75), 5.0))
    width = 0.8 / len(shown)
    for i, peer in enumerate(shown):
        vals = []
        for got in cells:
            r, p = metric(got.get("rt")), metric(got.get(peer))
            vals.append(p / r if r and p else 0)
        xs = [x + (i - (len(shown) - 1) / 2) * width for x in range(len(names))]
        ax.bar(xs, vals, width, label=peer)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    plain = matplotlib.ticker.FormatStrFormatter("%.2g")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel("peer / rt (log; above 1 = rt better)")
    ax.set_title("rt against each peer, same run (time, lateness p99, CPU or bytes)")
    ax.legend(ncol=3, fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def run_suite(suite: ModuleType, opts: Options) -> int:
    """Run one suite (table or script) and write its outputs."""
    if not hasattr(suite, "run"):
        # A suite's optional context() wraps its run (the fs suite's scratch directory).
        context: Callable[[], Any] = getattr(suite, "context", contextlib.nullcontext)
        with context():
            doc = run_table(suite, opts)
        custom: Callable[[dict[str, Any]], str] | None = getattr(suite, "markdown", None)
        markdown = table_markdown(suite, doc) if custom is None else custom(doc)
    else:
        got: tuple[dict[str, Any], str] | None = suite.run(opts)
        if got is None:
            return 0  # the suite said why it could not run
        doc, markdown = got
    write_suite(suite.NAME, doc, markdown, opts.out)
    print(markdown, flush=True)
    return 0
