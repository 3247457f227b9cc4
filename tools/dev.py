#!/usr/bin/env python3
"""Set up the development tools and run a project task, on a machine that only has python3.

    python3 tools/dev.py demo      # the demo (README's first command)
    python3 tools/dev.py test      # the test suite (README's second command)
    python3 tools/dev.py check     # tests + mypy --strict + ruff (what .ci/run runs)
    python3 tools/dev.py bench     # the benchmark suite (rt vs asyncio, uvloop, trio)

It creates ``.venv-tools`` (a virtualenv holding hatch) on first use; hatch then builds the
workspace environments declared in ``hatch.toml`` under ``.hatch/``, with every package of
``packages/`` installed editable. Extra arguments are passed on to the task.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".venv-tools"
HATCH_REQ = "hatch>=1.16,<2"

TASKS: dict[str, list[list[str]]] = {
    "demo": [["run", "demo"]],
    "test": [["run", "test"]],
    "types": [["run", "types"]],
    "lint": [["run", "lint"]],
    "check": [["run", "test"], ["run", "types"], ["run", "lint"]],
    "bench": [["run", "bench:all"]],
}


def _bin(name: str) -> Path:
    sub = "Scripts" if os.name == "nt" else "bin"
    return TOOLS / sub / (name + (".exe" if os.name == "nt" else ""))


def ensure_hatch() -> Path:
    hatch = _bin("hatch")
    if hatch.exists():
        return hatch
    print(f"dev.py: creating {TOOLS.name} with {HATCH_REQ} ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
    subprocess.run(
        [
            str(_bin("python")),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            HATCH_REQ,
        ],
        check=True,
    )
    return hatch


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in TASKS:
        print(__doc__)
        print(f"tasks: {', '.join(TASKS)}")
        return 2
    task, extra = argv[0], argv[1:]
    hatch = ensure_hatch()
    env = dict(os.environ)
    rc = 0
    for i, step in enumerate(TASKS[task]):
        cmd = [str(hatch), *step, *(extra if i == 0 else [])]
        print(f"dev.py: {' '.join(step)}", flush=True)
        rc = subprocess.run(cmd, cwd=ROOT, env=env).returncode
        if rc != 0:
            return rc
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
