"""rt-console: the live view, drawn from a real runtime's diagnostics endpoint."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

import rt
from rt.console import render, run_console
from rt.lowlevel import diagnostics_request


def _rt_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rt", *args], capture_output=True, text=True, timeout=60
    )


def test_python_m_rt_console_draws_tasks_and_metrics(tmp_path: Path, flavor: str | None) -> None:
    path = str(tmp_path / "rt.sock")
    out: list[subprocess.CompletedProcess[str]] = []

    async def busy() -> None:
        while True:
            await rt.yield_now()

    async def main() -> None:
        t = rt.spawn(busy(), name="busy-one")
        await rt.sleep(0.01)
        out.append(await rt.to_thread(_rt_cli, "console", path, "--once", "--task", str(t.id)))
        t.abort()

    rt.run(main(), console=path, flavor=flavor)
    (result,) = out
    assert result.returncode == 0, result.stderr
    assert "busy-one" in result.stdout
    assert "alive_tasks" in result.stdout
    assert "await chain" in result.stdout and "busy" in result.stdout


def test_render_sorts_tasks_by_busy_time_and_shows_the_chosen_chain(
    tmp_path: Path, flavor: str | None
) -> None:
    path = str(tmp_path / "rt.sock")
    frames: list[str] = []

    async def spin(n: int) -> None:
        for _ in range(n):
            await rt.yield_now()
        await rt.sleep(3600)

    async def main() -> None:
        # rt.time's first use imports its module (compiled from source when Python writes no
        # bytecode cache: milliseconds): not in a step of "light", or it outweighs "heavy".
        await rt.sleep(0)
        # Attached first: the runtime times steps (busy time) from a console's first attach.
        assert diagnostics_request(path, "hello")["ok"]
        light = rt.spawn(spin(1), name="light")
        heavy = rt.spawn(spin(2000), name="heavy")
        while (
            diagnostics_request(path, "stats")["stats"].get(str(heavy.id), {}).get("polls", 0)
            < 2000
        ):
            await rt.yield_now()
        dump = diagnostics_request(path, "dump")["dump"]
        metrics = diagnostics_request(path, "metrics")["metrics"]
        stats = diagnostics_request(path, "stats")["stats"]
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(render(dump, metrics, stats, task=light.id, history=[1.0, 5.0, 3.0]))
        frames.append(console.export_text())
        frames.append(str(light.id))
        light.abort()
        heavy.abort()

    rt.run(main(), console=path, flavor=flavor)
    text, light_id = frames
    assert text.index("heavy") < text.index("light")  # busiest first
    assert f"task #{light_id} await chain" in text
    assert "await chain" in text and "spin" in text
    assert "polls/s" in text


@pytest.mark.parametrize("interval", ["-1", "nan", "0"])
def test_python_m_rt_console_refuses_an_interval_that_is_not_a_positive_number(
    tmp_path: Path, interval: str
) -> None:
    # Before: -1 and nan drew one frame, then ended in time.sleep's traceback; 0 redrew
    # without pause, asking the program's endpoint for three answers per frame, forever.
    path = str(tmp_path / "rt.sock")
    with rt.Runtime(console=path):
        result = _rt_cli("console", path, "--interval", interval)
    assert result.returncode == 2
    assert "--interval: must be a positive number of seconds" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(ValueError, match="interval must be a positive, finite number"):
        run_console(path, interval=float(interval))


def test_python_m_rt_console_draws_a_task_whose_name_looks_like_markup_or_has_escapes(
    tmp_path: Path, flavor: str | None
) -> None:
    # Before: a name such as "conn [/]" was read as rich markup: the view ended in a
    # MarkupError traceback; an escape sequence in a name restyled the reader's terminal.
    path = str(tmp_path / "rt.sock")
    out: list[subprocess.CompletedProcess[str]] = []

    async def sleeper() -> None:
        await rt.sleep(3600)

    async def main() -> None:
        t = rt.spawn(sleeper(), name="conn [/] \x1b[31mred")
        await rt.yield_now()
        out.append(await rt.to_thread(_rt_cli, "console", path, "--once"))
        t.abort()

    rt.run(main(), console=path, flavor=flavor)
    (result,) = out
    assert result.returncode == 0, result.stderr
    assert "conn [/]" in result.stdout
    assert "\x1b" not in result.stdout


def test_run_console_reports_an_endpoint_that_does_not_answer_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: only ConnectionError and RuntimeError were caught; a read that timed out (an
    # endpoint that accepts but does not answer) ended the view in a TimeoutError traceback.
    import rt.console._view as view

    def stuck(target: str, cmd: str, timeout: float = 5.0) -> dict[str, object]:
        raise TimeoutError("timed out")

    monkeypatch.setattr(view, "diagnostics_request", stuck)
    printed = io.StringIO()
    monkeypatch.setattr(view, "Console", lambda: Console(file=printed, width=200))
    assert run_console("unused.sock", once=True) == 1
    assert "python -m rt console: timed out" in printed.getvalue()
