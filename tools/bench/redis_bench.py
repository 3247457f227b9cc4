"""redis-benchmark against mini-redis on rt, on asyncio and uvloop, and the real redis-server.

    python3 tools/bench/redis_bench.py [--quick]

50 clients, ``-t ping,set,get,incr``, without and with pipelining (``-P 16``). Each server runs
in its own process; the rounds interleave the servers and the median requests/s is reported.
Writes ``docs/bench/redis.json`` and ``docs/bench/redis.md``. Needs ``redis-benchmark`` (and
``redis-server`` for the anchor row); ``tools/dev.py bench`` installs them where it can.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE = ROOT / "examples" / "mini-redis"
OUT = ROOT / "docs" / "bench"
TESTS = ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR"]
SERVERS = ["rt", "asyncio", "uvloop", "redis-server"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(server: str, port: int) -> subprocess.Popen[bytes] | None:
    if server == "redis-server":
        exe = shutil.which("redis-server")
        if exe is None:
            return None
        cmd = [exe, "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
    elif server == "rt":
        cmd = [sys.executable, "-m", "mini_redis.server", "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "mini_redis.asyncio_server", "--port", str(port)]
        if server == "uvloop":
            cmd.append("--uvloop")
    proc = subprocess.Popen(cmd, cwd=EXAMPLE, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)  # waiting for another process to listen: nothing to await on
    proc.kill()
    raise RuntimeError(f"{server} did not start listening on port {port}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(port: int, pipeline: int, requests: int, pid: int) -> dict[str, float]:
    """Requests/s per command, and the server's CPU µs per request over the whole run."""
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(
        [
            "redis-benchmark",
            "-p",
            str(port),
            "-c",
            "50",
            "-n",
            str(requests),
            "-P",
            str(pipeline),
            "-t",
            "ping,set,get,incr",
            "--csv",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    cpu = cpu_seconds(pid) - cpu0
    rows = list(csv.reader(io.StringIO(out)))
    result = {r[0]: float(r[1]) for r in rows[1:] if r and r[0] in TESTS}
    result["cpu_us"] = cpu / (requests * len(TESTS)) * 1e6
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args()
    if shutil.which("redis-benchmark") is None:
        print("redis_bench: redis-benchmark not installed; skipped", file=sys.stderr)
        return 0
    rounds = args.rounds or (1 if args.quick else 3)
    sizes = {1: 20_000 if args.quick else 100_000, 16: 100_000 if args.quick else 500_000}
    raw: dict[str, dict[str, list[dict[str, float]]]] = {
        str(pl): {s: [] for s in SERVERS} for pl in sizes
    }
    for r in range(rounds):
        for server in SERVERS:
            port = free_port()
            proc = start(server, port)
            if proc is None:
                continue
            try:
                for pl, n in sizes.items():
                    raw[str(pl)][server].append(bench(port, pl, n, proc.pid))
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        print(f"redis round {r + 1}/{rounds}", flush=True)
    med: dict[str, dict[str, dict[str, float]]] = {}
    for plk, per in raw.items():
        med[plk] = {}
        for server, runs in per.items():
            if runs:
                med[plk][server] = {
                    t: statistics.median(x[t] for x in runs) for t in [*TESTS, "cpu_us"]
                }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d"), "rounds": rounds, "quick": args.quick}
    (out / "redis.json").write_text(json.dumps({"meta": meta, "results": med}, indent=1))
    (out / "redis.md").write_text(markdown(med, meta))
    print((out / "redis.md").read_text())
    return 0


def markdown(med: dict[str, dict[str, dict[str, float]]], meta: dict[str, Any]) -> str:
    lines = [
        "# mini-redis under redis-benchmark",
        "",
        f"Run {meta['date']}; 50 clients, `-t ping,set,get,incr`, {meta['rounds']} round(s), "
        "median requests/s (higher is better). `rt` is examples/mini-redis on rt; `asyncio` and "
        "`uvloop` run the same protocol code on asyncio streams; `redis-server` is the real one "
        "(the physical limit on this machine). **rt/asyncio** and **rt/uvloop** above 1.00 mean "
        "rt serves more requests per second. On 2 cores `redis-benchmark` itself takes one, so "
        "requests/s are partly client-bound: the *server CPU per request* rows (all commands, "
        "from /proc) compare the servers' own cost; their ratios are also peer/rt, so above "
        "1.00 means rt spends less.",
        "",
        "| pipeline | command | rt | asyncio | uvloop | redis-server | rt/asyncio | rt/uvloop |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for pl, per in med.items():
        for t in [*TESTS, "cpu_us"]:
            vals = {s: per.get(s, {}).get(t) for s in SERVERS}
            cpu = t == "cpu_us"

            def f(v: float | None, cpu: bool = cpu) -> str:
                return "n/a" if v is None else (f"{v:.1f} µs" if cpu else f"{v:,.0f}")

            def r(a: float | None, b: float | None, cpu: bool = cpu) -> str:
                if not a or not b:
                    return "n/a"
                return f"{b / a:.2f}" if cpu else f"{a / b:.2f}"

            lines.append(
                f"| {'none' if pl == '1' else '-P ' + pl} | "
                f"{'server CPU per request' if cpu else t} | "
                + " | ".join(f(vals[s]) for s in SERVERS)
                + f" | {r(vals['rt'], vals['asyncio'])} | {r(vals['rt'], vals['uvloop'])} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
