"""anyio's own test suite, run on its asyncio backend with rt's loop (a judge we did not write).

The sdist of the installed anyio version is downloaded at test time (``pip download``; the
wheel has no tests) into pytest's cache directory, and ``anyio_suite.py`` runs the test
modules that exercise the event loop (``anyio_suite.MODULES``: sockets and TLS streams,
subprocesses, task groups and cancellation, synchronization, ``to_thread`` and
``from_thread`` portals, signals, file I/O, the loop's entry points) in a subprocess, with
rt's loop behind every loop anyio and its tests build, and anyio's own configuration.

The tests that fail on rt's loop are then run again, on rt's loop and on the default asyncio
loop: the test fails when an anyio test fails on rt's loop both times, passes on the default
one, and ``anyio_expected_failures.txt`` does not list it with its reason. A test failing on
both loops (say, ``localhost`` without an IPv6 address on this machine) says nothing about
rt's loop, nor does one that passes when run again on rt's loop (a few of anyio's tests count
the process's threads or wait for the collector, and fail now and then on the default loop
too): both are only reported.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from suite_harness import triage

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from anyio_suite import MODULES, fetch_tests, run  # noqa: E402

sys.path.remove(str(HERE))

# Seconds for the run on rt's loop (about 30 s on a busy 2-core machine; anyio's own
# configuration bounds each test at 20 s), and for each rerun of its failures.
BOUND = 200


@pytest.fixture(scope="module")
def anyio_tests(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("anyio", reason="anyio is a test dependency (hatch.toml)")
    cache = getattr(request.config, "cache", None)
    where = cache.mkdir("anyio-sdist") if cache is not None else tmp_path_factory.mktemp("anyio")
    try:
        return fetch_tests(Path(where))
    except RuntimeError as exc:
        pytest.skip(f"anyio's tests cannot be downloaded here (the registry is unreachable): {exc}")


def _outcomes(
    loop: str, root: Path, out: Path, targets: list[str]
) -> tuple[dict[str, str], subprocess.CompletedProcess[str]]:
    proc = run(loop, root, out, targets, timeout=BOUND)
    assert out.exists(), (
        f"anyio's suite crashed on the {loop} loop:\n{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}"
    )
    result = json.loads(out.read_text())
    if loop == "rt":
        others = {
            name for name in result["loops"] if not name.startswith(("rt.", "cpython_suite."))
        }
        assert not others, f"anyio's tests built loops that are not rt's: {others}"
    return result["outcomes"], proc


@pytest.mark.timeout(3 * BOUND + 30)
def test_anyio_suite_passes_on_rt_loop_wherever_it_passes_on_the_default_loop(
    anyio_tests: Path, tmp_path: Path
) -> None:
    pytest_major = int(importlib.metadata.version("pytest").split(".")[0])
    if pytest_major < 9:
        pytest.skip("anyio's tests keep their pytest configuration in [tool.pytest]: pytest 9+")
    on_rt, proc = _outcomes("rt", anyio_tests, tmp_path / "rt.json", MODULES)
    assert on_rt, f"no anyio test ran:\n{proc.stdout[-8000:]}\n{proc.stderr[-4000:]}"

    def rerun(loop: str, label: str, targets: list[str]) -> dict[str, str]:
        return _outcomes(loop, anyio_tests, tmp_path / f"{label}.json", targets)[0]

    triage("anyio", on_rt, proc.stdout, rerun, HERE / "anyio_expected_failures.txt")
