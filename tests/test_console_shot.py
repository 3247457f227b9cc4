"""tools/console_shot.py, which takes the console screenshot in docs/guides/diagnostics.md: its
capture-to-SVG rendering on canned terminal output, and the whole shot (mini-redis under
redis-benchmark, the console in tmux) where tmux and redis-benchmark are installed."""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from console_shot import ansi_to_svg, shoot, view_is_ready

BOLD, RED, RESET = "\x1b[1m", "\x1b[31m", "\x1b[0m"
CANNED = f"{BOLD}rt console{RESET} — pid 42\n{RED}...{RESET} plain\n\n\n"


def _svg_lines(svg: str) -> list[str]:
    """The text of each terminal row drawn in ``svg`` (rich draws one ``<text>`` per run)."""
    rows: dict[str, str] = {}
    for row, text in re.findall(r'clip-path="url\(#[\w-]+-line-(\d+)\)">([^<]*)<', svg):
        rows[row] = rows.get(row, "") + html.unescape(text).replace("\xa0", " ")
    return [rows[k].rstrip("\n") for k in sorted(rows, key=int)]


def test_capture_renders_its_text_styles_and_title_as_svg() -> None:
    svg = ansi_to_svg(CANNED, width=40, title="python -m rt console")
    assert svg.startswith("<svg")
    assert "python -m rt console" in html.unescape(svg).replace("\xa0", " ")
    assert _svg_lines(svg) == ["rt console — pid 42", "... plain"]
    assert "font-weight: bold" in svg  # the SGR bold
    assert re.search(r"fill: #[0-9a-f]{6}", svg.split("... plain")[0])
    reds = {m for m in re.findall(r"fill: (#[0-9a-f]{6})", svg) if m != "#c5c8c6"}
    assert reds  # the red run got a colour of its own, not the default foreground


def test_capture_drops_trailing_blank_rows_and_crops_long_lines() -> None:
    svg = ansi_to_svg("x" * 50 + "\n\n   \n", width=20)
    assert _svg_lines(svg) == ["x" * 20]


def test_svg_loads_no_web_font_and_is_the_same_for_the_same_capture() -> None:
    svg = ansi_to_svg(CANNED, width=40)
    assert "@font-face" not in svg
    assert "url(" not in svg.replace("url(#", "")  # only references inside the document
    assert svg == ansi_to_svg(CANNED, width=40)


def test_svg_of_zero_columns_is_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="positive number of columns"):
        ansi_to_svg(CANNED, width=0)


SCREEN = """\
rt console — pid 7, current_thread, 23 live tasks
polls/s                31657  ▃▅▅▆
task #5 await chain:
  Server._connection (examples/mini-redis/mini_redis/server.py:169)
tasks (busiest first)
│ 20 │ │ parked │ 6399 │ 103.9ms │ 1.4ms │ fd 25 readable│ examples/mini-redis/mini_redis/server.… │
│ 21 │ │ runnable │ 6311 │ 101.2ms │ 0.1ms │ │ examples/mini-redis/mini_redis/server.… │
│ 22 │ │ parked │ 6290 │ 100.8ms │ 1.2ms │ fd 27 readable│ examples/mini-redis/mini_redis/server.… │
│ 23 │ │ parked │ 6203 │ 99.7ms │ 1.3ms │ fd 28 readable│ examples/mini-redis/mini_redis/server.… │
│ 24 │ │ parked │ 6188 │ 99.1ms │ 1.1ms │ fd 29 readable│ examples/mini-redis/mini_redis/server.… │
"""


def test_view_is_ready_once_connection_tasks_chain_and_sparkline_show() -> None:
    assert view_is_ready(SCREEN)
    assert not view_is_ready(SCREEN.replace("▃▅▅▆", "▃▅"))  # too few refreshes yet
    assert not view_is_ready(SCREEN.replace("Server._connection", "Server.run"))
    assert not view_is_ready(SCREEN.partition("│ 20")[0])  # no task rows yet
    assert not view_is_ready("")


def test_view_is_ready_waits_for_five_connection_rows_and_one_waiting_on_its_socket() -> None:
    # (the screenshot test reads these from the picture: a capture taken before they show,
    # or a later capture than the one checked, failed it)
    assert not view_is_ready(SCREEN.partition("│ 24")[0])  # four connection rows
    assert not view_is_ready(re.sub(r"fd \d+ readable", "", SCREEN))  # none on a socket
    assert view_is_ready(SCREEN.replace("fd 25 readable", "fd 25 (woken)"))


def test_view_is_ready_reads_a_coloured_capture_as_its_text() -> None:
    coloured = SCREEN.replace("parked", "\x1b[33mparked\x1b[0m").replace(
        "rt console", "\x1b[1mrt console\x1b[0m"
    )
    assert view_is_ready(coloured)
    assert not view_is_ready(coloured.partition("│ 22")[0])


@pytest.mark.skipif(
    shutil.which("tmux") is None or shutil.which("redis-benchmark") is None,
    reason="needs tmux and redis-benchmark (python3 tools/dev.py test installs both)",
)
def test_shot_of_mini_redis_under_load_shows_its_connection_tasks_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []

    def mkdtemp(**kwargs: str) -> str:
        made.append(real_mkdtemp(**kwargs))
        return made[-1]

    real_mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    out = tmp_path / "console.svg"
    shoot(out, columns=140, rows=48, clients=20, timeout=60)
    lines = _svg_lines(out.read_text())
    assert lines[0].startswith("rt console — pid ")
    assert any(line.strip().startswith("Server._connection (") for line in lines)
    rows = [ln for ln in lines if ln.startswith("│") and "mini_redis/server.py:" in ln]
    assert len(rows) >= 5  # the busiest connection tasks, as many as the screen holds
    assert any(re.search(r"│ fd \d+ (readable|\(woken\))", row) for row in rows)  # on sockets
    # its sockets, the tmux server's and the server's console endpoint, went with the directory
    assert made
    assert not any(Path(d).exists() for d in made)
    assert not _children()  # mini-redis and redis-benchmark were stopped and reaped


def _children() -> list[str]:
    """The command lines of this process's live child processes."""
    me, found = str(os.getpid()), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited meanwhile
        if fields[1] == me and fields[0] != "Z":
            found.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
    return found
