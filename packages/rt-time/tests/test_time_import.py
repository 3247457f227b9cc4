"""The first ``rt.sleep`` imports nothing heavy (issue 27: a first-use stall of ~10 ms)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["dataclasses", "inspect", "ast", "dis", "tokenize"]

_PROGRAM = """
import json, sys
import rt

async def main():
    await rt.sleep(0.001)
    await rt.time.timeout(1, rt.sleep(0))
    with rt.time.timeout(5):
        await rt.time.sleep_until(rt.time.Instant.now() + 0.001)
    iv = rt.time.interval(0.001)
    await iv.tick()
    await iv.tick()
    rt.time.statistics()

rt.run(main(), flavor=sys.argv[1])
print(json.dumps(sorted(m for m in %r if m in sys.modules)))
"""


@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
def test_the_first_sleep_timeout_and_interval_import_no_heavy_module(flavor: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM % (HEAVY,), flavor],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout) == []
