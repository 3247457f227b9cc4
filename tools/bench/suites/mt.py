"""The multi-thread flavor against the current-thread one, on rt's own workloads.

Three columns, all the ``rt`` peer with its flavor picked by environment variables: ``ct``
(``current_thread``), ``mt1`` (``multi_thread``, one worker: the machinery's cost) and ``mt2``
(two workers). ``hash`` and ``zlib`` do work that releases the GIL, so two workers can overlap
it (speedup = mt1 / mt2); the other rows are scheduling workloads (mt / ct above 1.00 = the
multi-thread flavor is slower). Every cell runs its workload twice in its process and reports
the second run: the first run on a new worker thread was consistently slower here (up to 1.8x
on ``yield``) while later runtimes in the same process were not; a service runs warm.
"""

from __future__ import annotations

from typing import Any

from ..harness import Row, fmt, ratio
from .sched import ROWS as SCHED

NAME = "mt"
TITLE = "Multi-thread flavor against current-thread"
PEERS = ["rt"]
COLUMNS = {
    "ct": ("rt", {"RT_FLAVOR": "current_thread"}),
    "mt1": ("rt", {"RT_FLAVOR": "multi_thread", "RT_WORKER_THREADS": "1"}),
    "mt2": ("rt", {"RT_FLAVOR": "multi_thread", "RT_WORKER_THREADS": "2"}),
}
REPEAT = 2
SCALING = {
    "hash": Row(
        "16 tasks x 48 rounds of sha256 over 1 MiB",
        {"tasks": 16, "rounds": 48},
        {"tasks": 8, "rounds": 12},
    ),
    "zlib": Row(
        "16 tasks x 12 rounds of zlib level 6 over 1 MiB",
        {"tasks": 16, "rounds": 12},
        {"tasks": 8, "rounds": 4},
    ),
}
OVERHEAD = ["spawn", "yield", "chain", "pingpong", "channel16", "channel1024", "chanping"]
ROWS: dict[str, Row] = {**SCALING, **{name: SCHED[name] for name in OVERHEAD}}


def markdown(doc: dict[str, Any]) -> str:
    m = doc["meta"]
    res = doc["results"]
    lines = [
        f"## {TITLE}",
        "",
        f"`python -m tools.bench mt{' --quick' if m['quick'] else ''}`: {m['date']}, "
        f"{m['machine']} ({m['cpus']} CPUs), Python {m['versions']['python']}; {m['rounds']} "
        f"rounds, median{', quick sizes' if m['quick'] else ''}; every cell is the second run "
        "of its process (one warm-up run first, for every column).",
        "",
        "### Scaling: work that releases the GIL",
        "",
        "| workload | current_thread | multi_thread, 1 worker | 2 workers | speedup 2 vs 1 |",
        "|---|---|---|---|---|",
    ]
    for name in SCALING:
        r = res.get(name)
        if r:
            lines.append(
                f"| {name}: {doc['rows'][name]['description']} | {fmt('time', r.get('ct'))} | "
                f"{fmt('time', r.get('mt1'))} | {fmt('time', r.get('mt2'))} | "
                f"{ratio(r.get('mt1'), r.get('mt2'))}x |"
            )
    lines += [
        "",
        "### Overhead: scheduling workloads",
        "",
        "| workload | current_thread | multi_thread, 1 worker | 2 workers "
        "| 1 worker / current_thread | 2 workers / current_thread |",
        "|---|---|---|---|---|---|",
    ]
    for name in OVERHEAD:
        r = res.get(name)
        if r:
            lines.append(
                f"| {name}: {doc['rows'][name]['description']} | {fmt('time', r.get('ct'))} | "
                f"{fmt('time', r.get('mt1'))} | {fmt('time', r.get('mt2'))} | "
                f"{ratio(r.get('mt1'), r.get('ct'))} | {ratio(r.get('mt2'), r.get('ct'))} |"
            )
    lines += [
        "",
        "mini-redis under `redis-benchmark` on each flavor and worker count is in the "
        "mini-redis section.",
        "",
    ]
    return "\n".join(lines)
