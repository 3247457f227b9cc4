"""What diagnostics cost: rt's scheduling rows with hooks, the detector and the console on.

Three columns, all the ``rt`` peer (current-thread flavor) with diagnostics picked by
environment variables: ``off`` (nothing enabled: the paths every other suite measures),
``hooks+detector`` (a no-op function as each of the four task hooks, and the slow-poll
detector at 0.5 s) and ``console`` (the console endpoint on, and a client in another process
attached and refreshing a dump, the metrics and the task counters every 0.25 s, four times as
often as ``python -m rt console``). Ratios are against ``off``: 1.15 is 15% slower. The
``dump`` row times one ``rt.dump()`` of 100,000 parked tasks (it keeps its size in ``--quick``
runs); in the console column it runs beside the console's own dumps of those tasks.
"""

from __future__ import annotations

from typing import Any

from ..harness import Row, fmt, ratio
from .sched import ROWS as SCHED

NAME = "diag"
TITLE = "Diagnostics: hooks, the slow-poll detector and the console, against nothing enabled"
PEERS = ["rt"]
COLUMNS = {
    "off": ("rt", {"RT_FLAVOR": "current_thread"}),
    "hooks+detector": (
        "rt",
        {"RT_FLAVOR": "current_thread", "RT_BENCH_HOOKS": "1", "RT_SLOW_POLL": "0.5"},
    ),
    "console": ("rt", {"RT_FLAVOR": "current_thread", "RT_BENCH_CONSOLE": "1"}),
}
ROWS: dict[str, Row] = {
    **{name: SCHED[name] for name in ("spawn", "yield", "chain", "pingpong")},
    "dump": Row(
        "rt.dump() of 100k tasks parked on an event", {"tasks": 100_000}, {"tasks": 100_000}
    ),
}


def markdown(doc: dict[str, Any]) -> str:
    m = doc["meta"]
    res = doc["results"]
    lines = [
        f"## {TITLE}",
        "",
        f"`python -m tools.bench diag{' --quick' if m['quick'] else ''}`: {m['date']}, "
        f"{m['machine']} ({m['cpus']} CPUs), Python {m['versions']['python']}; {m['rounds']} "
        f"rounds, median{', quick sizes' if m['quick'] else ''}.",
        "",
        "| workload | off | hooks + detector | console attached | hooks+detector / off "
        "| console / off |",
        "|---|---|---|---|---|---|",
    ]
    for name in ROWS:
        r = res.get(name)
        if r:
            lines.append(
                f"| {name}: {doc['rows'][name]['description']} | {fmt('time', r.get('off'))} | "
                f"{fmt('time', r.get('hooks+detector'))} | {fmt('time', r.get('console'))} | "
                f"{ratio(r.get('hooks+detector'), r.get('off'))} | "
                f"{ratio(r.get('console'), r.get('off'))} |"
            )
    lines += ["", (__doc__ or "").split("\n\n", 1)[1].strip(), ""]
    return "\n".join(lines)
