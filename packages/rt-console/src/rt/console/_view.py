"""Draw a running runtime's diagnostics with rich: metrics over time, tasks, one task's chain."""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from rt.lowlevel import diagnostics_request

_SPARK = "▁▂▃▄▅▆▇█"


def _spark(values: list[float]) -> str:
    if not values:
        return ""
    top = max(values) or 1.0
    return "".join(_SPARK[min(len(_SPARK) - 1, int(v / top * (len(_SPARK) - 1)))] for v in values)


def _short(where: str | None) -> str:
    """A ``file:line`` under the current directory, relative to it (shorter columns)."""
    if not where:
        return ""
    here = os.path.join(os.getcwd(), "")
    return where[len(here) :] if where.startswith(here) else where


def _cell(text: str | None) -> Text:
    """A table cell of text the program chose (a task name, what it waits on, a path): plain
    ``Text``, never read as rich markup (a name like ``conn [/]`` is not a closing tag), with
    line breaks and control characters shown as escapes, so each task stays one row."""
    text = text or ""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return Text(text)


def _seconds(s: float) -> str:
    if s >= 1:
        return f"{s:.2f}s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f}ms"
    return f"{s * 1e6:.0f}µs"


def render(
    dump: dict[str, Any],
    metrics: dict[str, Any],
    stats: dict[str, Any],
    *,
    task: int | None = None,
    history: list[float] | None = None,
    limit: int = 40,
) -> RenderableType:
    """Build one frame of the console from the endpoint's ``dump``, ``metrics`` and ``stats``.

    Args:
        dump: ``TaskDump.to_dict()`` as the endpoint sends it.
        metrics: ``RuntimeMetrics`` as a dict.
        stats: per-task ``{"polls", "busy", "idle", "age"}`` keyed by task id (as text).
        task: a task id whose await chain is shown below the table.
        history: polls per second over the last refreshes, drawn as a sparkline.
        limit: how many tasks the table shows (the busiest first).

    Returns:
        A rich renderable.
    """
    head = Text(
        f"rt console — pid {dump['pid']}, {dump['flavor']}, {len(dump['tasks'])} live tasks",
        style="bold",
    )
    summary = Table.grid(padding=(0, 2))
    scalars = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float))]
    for k, v in scalars:
        summary.add_row(k, f"{v:.3f}" if isinstance(v, float) else str(v))
    if history:
        summary.add_row("polls/s", f"{history[-1]:.0f}  {_spark(history)}")

    workers = Table(title="workers", title_justify="left")
    rows = metrics.get("worker_metrics") or []
    if rows:
        keys = [k for k, v in rows[0].items() if isinstance(v, (int, float))]
        workers.add_column("#")
        for k in keys:
            workers.add_column(k, justify="right")
        for i, w in enumerate(rows):
            workers.add_row(str(i), *(str(round(w[k], 3)) for k in keys))

    tasks = Table(title="tasks (busiest first)", title_justify="left")
    for col, just in (
        ("id", "right"),
        ("name", "left"),
        ("state", "left"),
        ("polls", "right"),
        ("busy", "right"),
        ("idle", "right"),
        ("waiting on", "left"),
        ("spawned at", "left"),
    ):
        tasks.add_column(col, justify=just)  # type: ignore[arg-type]

    def busy(t: dict[str, Any]) -> float:
        return float(stats.get(str(t["id"]), {}).get("busy", 0.0))

    for t in sorted(dump["tasks"], key=busy, reverse=True)[:limit]:
        s = stats.get(str(t["id"]), {})
        tasks.add_row(
            str(t["id"]),
            _cell(t["name"]),
            _cell(t["state"]),
            str(s.get("polls", "")),
            _seconds(s["busy"]) if "busy" in s else "",
            _seconds(s["idle"]) if "idle" in s else "",
            _cell(t["waiting_on"]),
            _cell(_short(t["location"])),
        )
    parts: list[RenderableType] = [head, summary]
    if rows:
        parts.append(workers)
    if task is not None:  # above the table, which may run past the bottom of the terminal
        chosen = [t for t in dump["tasks"] if t["id"] == task]
        if chosen:
            detail = Text(f"task #{task} await chain:\n", style="bold")
            for f in chosen[0]["frames"]:
                detail.append(f"  {f['function']} ({_short(f['file'])}:{f['line']})\n")
        else:
            detail = Text(f"task #{task} is not alive", style="bold red")
        parts.append(detail)
    parts.append(tasks)
    return Group(*parts)


def run_console(
    target: str, *, interval: float = 1.0, once: bool = False, task: int | None = None
) -> int:
    """Attach to the endpoint at ``target`` (pid or socket path) and draw until Ctrl-C.

    Args:
        target: the process id of a program started with ``RT_CONSOLE=1``, or a socket path.
        interval: seconds between refreshes.
        once: draw one frame and return (for scripts and tests).
        task: show this task's await chain under the table.

    Returns:
        The exit status: 0, or 1 when the endpoint went away.

    Raises:
        ValueError: ``interval`` is not a positive, finite number of seconds.
    """
    if isinstance(interval, bool) or not isinstance(interval, (int, float)):
        raise ValueError(f"interval must be a number of seconds, got {interval!r}")
    if not 0 < interval < float("inf"):
        raise ValueError(f"interval must be a positive, finite number of seconds, got {interval!r}")
    console = Console()
    history: deque[float] = deque(maxlen=60)
    last: tuple[float, int] | None = None

    def frame() -> RenderableType:
        nonlocal last
        dump = diagnostics_request(target, "dump")["dump"]
        metrics = diagnostics_request(target, "metrics")["metrics"]
        stats = diagnostics_request(target, "stats")["stats"]
        now, polls = time.monotonic(), int(metrics.get("polls", 0))
        if last is not None and now > last[0]:
            history.append((polls - last[1]) / (now - last[0]))
        last = (now, polls)
        return render(dump, metrics, stats, task=task, history=list(history))

    try:
        if once:
            console.print(frame())
            return 0
        with Live(frame(), console=console, refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(frame())
    except KeyboardInterrupt:
        return 0
    except (OSError, RuntimeError) as exc:  # OSError: ConnectionError, or a read timed out
        console.print(Text(f"python -m rt console: {exc}"))
        return 1
