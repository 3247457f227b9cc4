"""``select(recv, sleep)`` against a plain receive under a timer: microseconds per call.

Issue #27's row: ``await rt.select(rx.recv(), rt.sleep(10))`` should cost at most 3x what the
same receive costs with a timer armed around it (``with rt.time.timeout(10): await
rx.recv()``, the cheapest way to bound a receive). Two columns, both the ``rt-select`` peer
(rt's current-thread flavor) with the form picked by ``RT_BENCH_SELECT``, and two rows:
``ready`` (the value is already in the channel: select's fast path, nothing armed) and
``wait`` (a producer task refills the channel, capacity 1, once the receiver parks, so every
call arms its wake-ups, parks and is woken). The ratio is select / timeout: target at most 3.
"""

from __future__ import annotations

from typing import Any

from ..harness import Row, fmt, ratio

NAME = "select"
TITLE = "select(recv, sleep) against recv under a timeout"
PEERS = ["rt-select"]
COLUMNS = {
    "select": ("rt-select", {"RT_FLAVOR": "current_thread", "RT_BENCH_SELECT": "select"}),
    "timeout": ("rt-select", {"RT_FLAVOR": "current_thread", "RT_BENCH_SELECT": "timeout"}),
}
ROWS: dict[str, Row] = {
    "ready": Row(
        "the value is already in the channel", {"calls": 100_000}, {"calls": 20_000}, "us"
    ),
    "wait": Row(
        "the receiver parks until a producer task sends",
        {"calls": 100_000},
        {"calls": 20_000},
        "us",
    ),
}


def markdown(doc: dict[str, Any]) -> str:
    m = doc["meta"]
    res = doc["results"]
    calls = ROWS["ready"].quick["calls"] if m["quick"] else ROWS["ready"].size["calls"]
    lines = [
        f"## {TITLE}",
        "",
        f"`python -m tools.bench select{' --quick' if m['quick'] else ''}`: {m['date']}, "
        f"{m['machine']} ({m['cpus']} CPUs), Python {m['versions']['python']}; {m['rounds']} "
        f"rounds, median, {calls:,} calls per cell.",
        "",
        "| situation | `select(rx.recv(), rt.sleep(10))` | `with timeout(10): await rx.recv()` "
        "| select / timeout (target <= 3) |",
        "|---|---:|---:|---:|",
    ]
    for name in ROWS:
        r = res.get(name)
        if r:
            lines.append(
                f"| {name}: {doc['rows'][name]['description']} | {fmt('us', r.get('select'))} "
                f"| {fmt('us', r.get('timeout'))} | {ratio(r.get('select'), r.get('timeout'))} |"
            )
    lines += ["", (__doc__ or "").split("\n\n", 1)[1].strip(), ""]
    return "\n".join(lines)
