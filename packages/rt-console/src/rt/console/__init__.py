"""rt-console: a live view of a running rt program, in the spirit of tokio-console and ``top``.

Start the program with ``RT_CONSOLE=1`` (or ``Runtime(console=True)``), then, from another
terminal, ``python -m rt console PID``. The view refreshes every second: runtime and
per-worker metrics, then the live tasks sorted by busy time with their polls, idle time and
what each waits on; ``--task ID`` adds that task's await chain. The data comes from the
runtime's diagnostics endpoint (see ``rt.lowlevel``); this distribution only draws it, with
`rich <https://rich.readthedocs.io>`_, so rt-core stays dependency-free.
"""

from __future__ import annotations

from rt._exports import public

from ._view import render, run_console

__all__ = ["render", "run_console"]

public(globals())
