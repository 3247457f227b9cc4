"""Starting a runtime loads only rt-signal's driver layer; the handlers load on first use.

Without cached bytecode, importing the handlers and ``rt.signal.unix`` cost about 7 ms at every
runtime start. Each check runs in a fresh interpreter, where nothing imported them before.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

ON_FIRST_USE = ["rt.signal._handlers", "rt.signal.unix"]

_TRIVIAL = """
import json, sys
import rt

async def main():
    await rt.yield_now()

rt.run(main(), flavor=sys.argv[1])
print(json.dumps({"loaded": sorted(m for m in %r if m in sys.modules),
                  "layer": "rt.signal._registry" in sys.modules}))
"""

_SIGCHLD_WAIT = """
import json, sys
import rt
from rt.process import Command, _reaper

_reaper._force_sigchld = True  # the SIGCHLD watcher, which registers with rt.signal

async def main():
    assert "rt.signal._handlers" not in sys.modules
    return await Command(sys.executable).args(["-c", "raise SystemExit(3)"]).spawn().wait()

code = rt.run(main(), flavor=sys.argv[1])
print(json.dumps({"code": code, "loaded": "rt.signal._handlers" in sys.modules}))
"""


def _run(program: str, flavor: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", program, flavor],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
def test_running_a_trivial_coroutine_does_not_import_the_signal_handlers(flavor: str) -> None:
    # The layer itself (with the main-thread doorbell) is still built for every runtime.
    assert _run(_TRIVIAL % (ON_FIRST_USE,), flavor) == {"loaded": [], "layer": True}


@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
def test_a_child_wait_through_the_sigchld_watcher_loads_the_handlers_and_works(
    flavor: str,
) -> None:
    assert _run(_SIGCHLD_WAIT, flavor) == {"code": 3, "loaded": True}
