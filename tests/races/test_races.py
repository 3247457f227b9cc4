"""The race suite: every scenario of ``scenarios.py``, looped under a 1 µs thread switch
interval in a subprocess with a watchdog, on both flavors.

A few seconds each in CI (``RT_RACE_SECONDS`` makes them longer, for a change to a wake-up,
park, shutdown or cancel path). A hang fails within 30 seconds with every thread's stack.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from scenarios import SCENARIOS

HERE = Path(__file__).resolve().parent
SECONDS = os.environ.get("RT_RACE_SECONDS", "1.5")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_race_scenario_stays_clean_under_a_1us_switch_interval(
    scenario: str, flavor: str | None
) -> None:
    out = subprocess.run(
        [sys.executable, str(HERE / "run_race.py"), scenario, flavor or "current_thread", SECONDS],
        capture_output=True,
        text=True,
        timeout=float(SECONDS) + 60,
        cwd=HERE,
    )
    assert out.returncode == 0, f"{scenario} failed:\n{out.stdout[-4000:]}\n{out.stderr[-12000:]}"
