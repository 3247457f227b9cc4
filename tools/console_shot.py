"""Regenerate the console screenshot in the docs: ``python -m rt console`` attached to mini-redis
under ``redis-benchmark``, driven in a detached ``tmux`` session and saved as an SVG image.

    python3 tools/dev.py console-shot          # installs tmux and redis-tools where missing
    python tools/console_shot.py [--out PATH] [--size 140x48] [--clients 20] [--timeout 60]

It starts mini-redis with ``RT_CONSOLE`` set to a socket in a temporary directory, puts it under
load with the real ``redis-benchmark``, opens the live console on one of the connection tasks in
a private tmux server of a fixed size, waits until the view shows the connection tasks, captures
the pane with its colours and renders it with rich (``docs/guides/console.svg`` by default).
Everything it started (tmux, the benchmark, the server) is stopped and its temporary directory
removed, also when it fails.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

ROOT = Path(__file__).resolve().parent.parent
MINI_REDIS = ROOT / "examples" / "mini-redis"
DEFAULT_OUT = ROOT / "docs" / "guides" / "console.svg"
TITLE = "python -m rt console"
POLL = 0.1  # seconds between two looks at something being waited for
CONNECTION = "Server._connection"  # the function of mini-redis's per-connection task


class ShotError(RuntimeError):
    """Something the screenshot needs did not happen; the message says what and what to do."""


_WEB_FONT = re.compile(r"@font-face\s*\{[^}]*\}\s*")


def ansi_to_svg(captured: str, *, width: int, title: str = TITLE) -> str:
    """Render a terminal capture (text with ANSI colour codes) as an SVG image.

    Args:
        captured: what ``tmux capture-pane -e -p`` printed: lines of text with SGR escapes.
        width: the terminal's width in columns; longer lines are cropped.
        title: the window title drawn above the capture.

    Returns:
        The SVG document. The same capture always gives the same document.

    Raises:
        ValueError: ``width`` is not a positive number of columns.
    """
    if width <= 0:
        raise ValueError(f"width must be a positive number of columns, got {width}")
    lines = captured.rstrip("\n").split("\n")
    while lines and not Text.from_ansi(lines[-1]).plain.strip():
        lines.pop()  # the empty rows below the view
    console = Console(
        record=True,
        width=width,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        legacy_windows=False,
    )
    for line in lines:
        console.print(Text.from_ansi(line), no_wrap=True, overflow="crop", crop=True)
    svg = console.export_svg(title=title)
    # Without rich's web-font rules the image uses a local monospace font and loads nothing.
    return _WEB_FONT.sub("", svg)


def _wait_for(what: str, check: Callable[[], Any], timeout: float) -> Any:
    """Call ``check`` every ``POLL`` seconds until it returns something true; return that.

    ``check`` may raise ``ShotError`` to stop early (the thing it waits on died)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise ShotError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL)


def _port_of(server: subprocess.Popen[str], timeout: float) -> str:
    """The port in mini-redis's first line (``mini-redis listening on HOST:PORT``), or a
    ``ShotError`` if it exits, stays silent or prints something else."""
    assert server.stdout is not None
    ready, _, _ = select.select([server.stdout], [], [], timeout)
    line = server.stdout.readline() if ready else ""
    found = re.search(r"listening on \S+:(\d+)", line)
    if found is None:
        raise ShotError(f"mini-redis printed no address within {timeout:.0f} s (got {line!r})")
    return found.group(1)


def _stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Tmux:
    """A private tmux server (its own socket and configuration) holding one detached session."""

    SESSION = "console"

    def __init__(self, tmp: Path, *, columns: int, rows: int) -> None:
        self.socket = str(tmp / "tmux.sock")
        self.conf = tmp / "tmux.conf"
        # No status line (every row is the pane's), a pane that stays after its command exits
        # (so its last words can be reported), and a TERM that rich draws colours for.
        self.conf.write_text(
            "set -g status off\n"
            "set -g remain-on-exit on\n"
            'set -g default-terminal "screen-256color"\n'
        )
        self.columns, self.rows = columns, rows

    def _run(self, *args: str) -> str:
        cmd = ["tmux", "-S", self.socket, "-f", str(self.conf), *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise ShotError(f"{' '.join(args[:1])} failed in tmux: {out.stderr.strip()}")
        return out.stdout

    def start(self, command: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        """Run ``command`` in a detached session of the configured size."""
        size = ["-x", str(self.columns), "-y", str(self.rows)]
        args = ["new-session", "-d", "-s", self.SESSION, *size, "-c", str(cwd)]
        cmd = ["tmux", "-S", self.socket, "-f", str(self.conf), *args, *command]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
        if out.returncode != 0:
            raise ShotError(f"tmux could not start a session: {out.stderr.strip()}")

    def capture(self, *, colours: bool = False) -> str:
        """The pane's screen as text; with ``colours``, with its SGR escapes."""
        return self._run("capture-pane", "-p", *(["-e"] if colours else []), "-t", self.SESSION)

    def dead(self) -> bool:
        """Whether the pane's command has exited."""
        return self._run("display-message", "-p", "-t", self.SESSION, "#{pane_dead}").strip() == "1"

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-S", self.socket, "kill-server"], capture_output=True, check=False, timeout=30
        )


#: SGR escapes (colours, bold) in a coloured capture
_SGR = re.compile(r"\x1b\[[0-9;:]*m")


def view_is_ready(screen: str, *, samples: int = 4, rows: int = 5) -> bool:
    """Whether a capture of the console (its SGR escapes are ignored) shows mini-redis at
    work: the header, the chosen connection task's await chain, at least ``rows`` of its
    connection tasks in the table, one of them waiting on its socket (or just woken by it),
    and a polls/s sparkline of at least ``samples`` refreshes."""
    screen = _SGR.sub("", screen)
    spark = re.search(r"^polls/s\s+\d+\s+([▁▂▃▄▅▆▇█]+)", screen, re.M)
    table = [
        line
        for line in screen.partition("tasks (busiest first)")[2].splitlines()
        if line.startswith("│") and "mini_redis/server" in line
    ]
    return (
        "rt console — pid" in screen
        and "await chain:" in screen
        and CONNECTION in screen
        and len(table) >= rows
        and any(re.search(r"│ fd \d+ (readable|\(woken\))", line) for line in table)
        and spark is not None
        and len(spark.group(1)) >= samples
    )


@contextlib.contextmanager
def _mini_redis_under_load(tmp: Path, clients: int, timeout: float) -> Iterator[tuple[str, int]]:
    """mini-redis with its console endpoint, ``clients`` benchmark connections on it; yields
    (the endpoint's socket path, the id of one connection task)."""
    from rt.lowlevel import diagnostics_request

    sock = str(tmp / "mini-redis.sock")
    env = {**os.environ, "RT_CONSOLE": sock}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(MINI_REDIS), env.get("PYTHONPATH")]))
    with contextlib.ExitStack() as stack:
        errors = stack.enter_context((tmp / "mini-redis.err").open("w+"))
        server = subprocess.Popen(
            [sys.executable, "-m", "mini_redis.server", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env,
            cwd=ROOT,
        )
        stack.callback(_stop, server, signal.SIGINT)  # Ctrl-C: its graceful shutdown
        try:
            port = _port_of(server, timeout)
        except ShotError as exc:
            errors.seek(0)
            raise ShotError(f"{exc}; its stderr:\n{errors.read()}") from None
        bench = subprocess.Popen(
            ["redis-benchmark", "-p", port, "-c", str(clients), "-n", "100000000", "-t", "set,get"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stack.callback(_stop, bench)

        def connection_tasks() -> list[int]:
            if bench.poll() is not None:
                raise ShotError(f"redis-benchmark exited early (status {bench.returncode})")
            try:
                tasks = diagnostics_request(sock, "dump")["dump"]["tasks"]
            except (ConnectionError, RuntimeError) as exc:
                raise ShotError(f"mini-redis's console endpoint did not answer: {exc}") from None
            ids = [
                t["id"] for t in tasks if t["frames"] and t["frames"][0]["function"] == CONNECTION
            ]
            return sorted(ids) if len(ids) >= clients else []

        ids = _wait_for(f"{clients} mini-redis connection tasks", connection_tasks, timeout)
        yield sock, ids[0]


def shoot(
    out: Path, *, columns: int = 140, rows: int = 48, clients: int = 20, timeout: float = 60
) -> float:
    """Take the screenshot and write it to ``out``; return how long it took in seconds.

    Args:
        out: where the SVG goes.
        columns: the terminal's width.
        rows: the terminal's height.
        clients: how many connections redis-benchmark opens.
        timeout: seconds to wait for each step (the server, the connections, the view).

    Returns:
        The seconds from start to the file written.

    Raises:
        ShotError: a tool is missing, or a step did not happen in time (the message says which).
    """
    started = time.monotonic()
    missing = [t for t in ("tmux", "redis-benchmark") if shutil.which(t) is None]
    if missing:
        raise ShotError(
            f"{' and '.join(missing)} not found: install tmux and redis-tools "
            "(python3 tools/dev.py console-shot does it with apt-get)"
        )
    with contextlib.ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="rt-console-shot-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        sock, task = stack.enter_context(_mini_redis_under_load(tmp, clients, timeout))
        tmux = Tmux(tmp, columns=columns, rows=rows)
        stack.callback(tmux.kill)
        drop = ("TMUX", "TMUX_PANE", "RT_CONSOLE", "NO_COLOR", "FORCE_COLOR", "COLORTERM")
        env = {
            k: v for k, v in os.environ.items() if k not in drop and k not in ("COLUMNS", "LINES")
        }
        console = [sys.executable, "-m", "rt", "console", sock, "--interval", "0.5"]
        tmux.start([*console, "--task", str(task)], cwd=ROOT, env=env)

        def screen() -> str:
            # One capture, with its colours, is both checked and drawn: the view refreshes
            # between two captures, and the picture must be the screen that was checked.
            text = tmux.capture(colours=True)
            if tmux.dead():
                raise ShotError(f"python -m rt console exited; its terminal showed:\n{text}")
            return text if view_is_ready(text) else ""

        try:
            shown = _wait_for("the console to show the connection tasks", screen, timeout)
        except ShotError as exc:
            raise ShotError(f"{exc}\nlast screen:\n{tmux.capture()}") from None
        svg = ansi_to_svg(shown, width=columns)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(svg)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="console_shot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the SVG to write")
    parser.add_argument("--size", default="140x48", help="terminal COLUMNSxROWS (140x48)")
    parser.add_argument("--clients", type=int, default=20, help="redis-benchmark -c (20)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds per step (60)")
    args = parser.parse_args(argv)
    size = re.fullmatch(r"(\d+)x(\d+)", args.size)
    if size is None or args.clients < 1:
        parser.error("--size is COLUMNSxROWS (like 120x40) and --clients at least 1")
    try:
        took = shoot(
            args.out,
            columns=int(size.group(1)),
            rows=int(size.group(2)),
            clients=args.clients,
            timeout=args.timeout,
        )
    except ShotError as exc:
        print(f"console_shot: {exc}", file=sys.stderr)
        return 1
    shown = args.out.resolve()
    shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
    print(f"console_shot: wrote {shown} in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
