"""CPython's own asyncio test suite, run with rt's loop as the default (a judge we did not write).

Each module of ``cpython_suite.MODULES`` runs in a subprocess (``cpython_suite.py``, which makes
every loop those tests build an rt loop) with a time bound; the test fails when a CPython test
fails that ``cpython_expected_failures.txt`` does not list with its reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from loop_helpers import expected_failures

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from cpython_suite import MODULES  # noqa: E402

sys.path.remove(str(HERE))

# Seconds per module: the slowest (test_tasks) takes about 30 s on a busy 2-core machine.
BOUND = 110


def _has_module(name: str) -> bool:
    try:
        __import__(f"test.test_asyncio.{name}")
    except ImportError:
        return False
    return True


@pytest.mark.timeout(BOUND + 30)
@pytest.mark.parametrize("module", MODULES)
def test_cpython_asyncio_module_passes_on_rt_loop_except_listed(
    module: str, tmp_path: Path
) -> None:
    if not _has_module(module):
        pytest.skip(
            f"this Python ships no test.test_asyncio.{module} (a distribution without tests)"
        )
    out = tmp_path / "result.json"
    # Verbose, so a hang's report names the test that was running; the watchdog prints every
    # thread's stack before the bound kills the runner.
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / "cpython_suite.py"),
            "--verbose",
            "--watchdog",
            str(BOUND - 10),
            "--json",
            str(out),
            module,
        ],
        capture_output=True,
        text=True,
        timeout=BOUND,
        cwd=tmp_path,
    )
    assert out.exists(), (
        f"the suite runner crashed or hung:\n{proc.stdout[-3000:]}\n{proc.stderr[-12000:]}"
    )
    result = json.loads(out.read_text())
    outcomes: dict[str, str] = result["outcomes"]
    assert outcomes, f"no test ran:\n{proc.stderr[-3000:]}"
    expected = expected_failures(HERE / "cpython_expected_failures.txt")
    regressions = sorted(
        test_id
        for test_id, outcome in outcomes.items()
        if outcome in ("FAIL", "ERROR") and test_id not in expected
    )
    assert not regressions, (
        f"{len(regressions)} CPython test(s) fail on rt's loop and are not listed in "
        f"cpython_expected_failures.txt: {regressions}\n{proc.stderr[-8000:]}"
    )
