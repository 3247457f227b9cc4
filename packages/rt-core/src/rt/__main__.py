"""``python -m rt``: look inside a running rt program from another terminal.

    python -m rt ps TARGET        # one line per live task: id, name, state, what it waits on
    python -m rt pstree TARGET    # the task tree with each task's await chain
    python -m rt console TARGET   # a live view (needs rt-console: pip install 'rt[console]')

TARGET is the process id of a program started with ``RT_CONSOLE=1`` (or
``Runtime(console=True)``), or the socket path given as ``RT_CONSOLE=/some/path``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _ps(dump: dict[str, Any]) -> str:
    from ._core._dump import NAME_LIMIT, printable

    # Each cell on one line and a name cut to NAME_LIMIT: the columns are padded to the widest
    # cell, so one huge or multi-line name would otherwise blow up or split every row.
    rows = [("ID", "NAME", "STATE", "WAITING ON", "SPAWNED AT")]
    for t in dump["tasks"]:
        rows.append(
            (
                str(t["id"]),
                printable(t["name"], NAME_LIMIT) if t["name"] else "-",
                printable(t["state"]),
                printable(t["waiting_on"], 2 * NAME_LIMIT) if t["waiting_on"] else "-",
                printable(t["location"]) if t["location"] else "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    out = [f"rt runtime (pid {dump['pid']}, {dump['flavor']}): {len(dump['tasks'])} live tasks"]
    for r in rows:
        out.append("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    return "\n".join(line.rstrip() for line in out)


def _seconds(text: str) -> float:
    """``--interval``: a positive, finite number of seconds (argparse reports anything else)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the ``python -m rt`` command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m rt", description="Look inside a running rt program."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("ps", "list the live tasks"),
        ("pstree", "print the task tree with await chains"),
        ("console", "open the live console (rt-console)"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("target", help="process id or diagnostics socket path")
        if name == "console":
            p.add_argument("--interval", type=_seconds, default=1.0, help="refresh period (s), > 0")
            p.add_argument("--once", action="store_true", help="print one frame and exit")
            p.add_argument("--task", type=int, default=None, help="show this task's await chain")
    args = parser.parse_args(argv)

    from ._core._console import request
    from ._core._dump import render_tree

    try:
        if args.command == "console":
            try:
                from rt.console import run_console
            except ModuleNotFoundError:
                print(
                    "python -m rt console needs the rt-console distribution: "
                    "pip install 'rt[console]' (ps and pstree work without it)",
                    file=sys.stderr,
                )
                return 2
            return run_console(args.target, interval=args.interval, once=args.once, task=args.task)
        dump = request(args.target, "dump")["dump"]
    except (ConnectionError, RuntimeError, OSError) as exc:
        print(f"python -m rt {args.command}: {exc}", file=sys.stderr)
        return 1
    print(_ps(dump) if args.command == "ps" else render_tree(dump))
    return 0


if __name__ == "__main__":
    sys.exit(main())
