"""uvloop's own test suite, its asyncio-loop side run on rt's loop (a judge we did not write).

The sdist of the installed uvloop version is downloaded at test time (``pip download``; the
wheel has no tests) into pytest's cache directory, and ``uvloop_suite.py`` runs the
``AIOTestCase`` classes of the modules that hold a loop to asyncio's contract
(``uvloop_suite.MODULES``: the loop's API, TCP, Unix and UDP transports with TLS, sock_*
methods, DNS, executors, contexts, pipes, subprocesses, signals) in a subprocess, with rt's
loop behind every loop those tests build.

The tests that fail on rt's loop are then run again, on rt's loop and on the default asyncio
loop: the test fails when a uvloop test fails on rt's loop both times, passes on the default
one, and ``uvloop_expected_failures.txt`` does not list it with its reason. A test failing on
both loops says nothing about rt's loop, nor does one that passes when run again: both are only
reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from suite_harness import triage

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from uvloop_suite import MODULES, fetch_tests  # noqa: E402

sys.path.remove(str(HERE))

# Seconds for the run on rt's loop (about 30 s here, 60 s with two busy processes beside it),
# and for each rerun of its failures: the runner's own watchdog then prints every thread's stack
# and exits. The subprocess gets SLACK seconds more, so that a slow start (the watchdog is armed
# once the runner's imports are done) cannot turn a hang into a timeout that shows nothing.
BOUND = 200
SLACK = 60


@pytest.fixture(scope="module")
def uvloop_tests(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip(
        "uvloop",
        reason="uvloop is not installed here (a test dependency in hatch.toml)",
    )
    cache = getattr(request.config, "cache", None)
    where = cache.mkdir("uvloop-sdist") if cache is not None else tmp_path_factory.mktemp("uv")
    try:
        return fetch_tests(Path(where)).parent.parent
    except RuntimeError as exc:
        pytest.skip(
            f"uvloop's tests cannot be downloaded here (the registry is unreachable): {exc}"
        )


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def _outcomes(
    loop: str, cache: Path, out: Path, targets: list[str]
) -> tuple[dict[str, str], subprocess.CompletedProcess[str]]:
    try:
        proc = subprocess.run(
            [
                sys.executable,
                str(HERE / "uvloop_suite.py"),
                "--loop",
                loop,
                "--cache",
                str(cache),
                "--verbose",
                "--watchdog",
                str(BOUND),
                "--json",
                str(out),
                *targets,
            ],
            capture_output=True,
            stdin=subprocess.DEVNULL,  # no test's child may wait on the terminal
            text=True,
            timeout=BOUND + SLACK,
            cwd=out.parent,
        )
    except subprocess.TimeoutExpired as exc:
        # Its watchdog did not end it: the process was stopped, or could not run at all.
        pytest.fail(
            f"uvloop's suite on the {loop} loop was still running {SLACK} s after its own "
            f"watchdog's {BOUND} s:\n{_text(exc.stdout)[-3000:]}\n{_text(exc.stderr)[-12000:]}"
        )
    assert out.exists(), (
        f"uvloop's suite crashed or hung on the {loop} loop:\n{proc.stdout[-3000:]}\n"
        f"{proc.stderr[-12000:]}"
    )
    result = json.loads(out.read_text())
    if loop == "rt":
        others = {name for name in result["loops"] if not name.startswith("rt.")}
        assert not others, f"uvloop's tests built loops that are not rt's: {others}"
    return result["outcomes"], proc


@pytest.mark.timeout(3 * (BOUND + SLACK) + 30)
def test_uvloop_suite_passes_on_rt_loop_wherever_it_passes_on_the_default_loop(
    uvloop_tests: Path, tmp_path: Path
) -> None:
    on_rt, proc = _outcomes("rt", uvloop_tests, tmp_path / "rt.json", MODULES)
    assert on_rt, f"no uvloop test ran:\n{proc.stderr[-8000:]}"

    def rerun(loop: str, label: str, targets: list[str]) -> dict[str, str]:
        return _outcomes(loop, uvloop_tests, tmp_path / f"{label}.json", targets)[0]

    triage("uvloop", on_rt, proc.stderr, rerun, HERE / "uvloop_expected_failures.txt")
