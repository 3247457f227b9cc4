"""rt's benchmarks behind one command.

    python -m tools.bench SUITE... [--quick] [--rounds N] [--only ROWS] [--peers PEERS]
    python -m tools.bench all [--quick]      # every suite (what `tools/dev.py bench` runs)
    python -m tools.bench report             # rebuild results.md and the chart from the JSON

Suites: ``sched`` (scheduling, channels, timers, memory per idle task), ``net`` (TCP echo,
idle connections), ``mt`` (multi-thread flavor against current-thread), ``asyncio`` (rt's
asyncio event loop beside the default loop, uvloop and rloop), ``redis`` (mini-redis under
``redis-benchmark`` per flavor and worker count), ``diag`` (what diagnostics cost), ``fs``
(rt.fs against aiofiles, trio's file API and plain Python) and ``process`` (rt.process against
asyncio's subprocess API on each loop, trio and ``subprocess``), ``tls`` (rt.net.tls against
asyncio's and uvloop's ``ssl=`` and trio's ``SSLStream``) and ``select`` (``rt.select(recv,
sleep)`` against a receive under ``rt.time.timeout``); ``tools/bench/README.md`` says how to
add one. Run it with the bench environment (``hatch run bench:all`` or
``python3 tools/dev.py bench``, which also builds the compiled tree for the rt-mypyc column).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import harness, suites


def main(argv: list[str]) -> int:
    known = suites.names()
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("suites", nargs="+", metavar="SUITE", help=f"{known}, all or report")
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer rounds")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per cell")
    parser.add_argument("--only", default="", help="comma-separated rows")
    parser.add_argument("--peers", default="", help="comma-separated columns")
    parser.add_argument("--out", default=str(harness.OUT), help="where the results go")
    args = parser.parse_args(argv)
    opts = harness.Options(
        quick=args.quick,
        rounds=args.rounds,
        only=[r for r in args.only.split(",") if r],
        peers=[p for p in args.peers.split(",") if p],
        out=Path(args.out),
    )
    if args.suites == ["report"]:
        harness.write_results(opts.out)
        return 0
    wanted = args.suites
    if wanted == ["all"]:
        wanted = sorted(known, key=(harness.ORDER + known).index)
    unknown = [s for s in wanted if s not in known]
    if unknown:
        parser.error(f"no suite named {', '.join(unknown)}: choose from {', '.join(known)}")
    status = 0
    for name in wanted:
        status |= harness.run_suite(suites.load(name), opts)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
