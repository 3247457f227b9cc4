"""rt from the optional compiled build (every distribution compiled by mypyc where it can be;
``tools/compiled.py``): the rt workloads unchanged, only the import path differs."""

from __future__ import annotations

import sys
from pathlib import Path

from . import rt

NAME = "rt-mypyc"
WORKLOADS = rt.WORKLOADS
TOOLS = Path(__file__).resolve().parents[2]


def _compiled() -> object:
    sys.path.insert(0, str(TOOLS))
    try:
        import compiled
    finally:
        sys.path.remove(str(TOOLS))
    return compiled


def unavailable() -> str | None:
    """Why the column cannot run now (no current build), or None."""
    compiled = _compiled()
    stamp: Path = compiled.STAMP  # type: ignore[attr-defined]
    if stamp.exists() and stamp.read_text() == compiled.source_hash():  # type: ignore[attr-defined]
        return None
    return "no current compiled build (`python3 tools/dev.py compiled` builds it)"


def env() -> dict[str, str]:
    """The cell's environment: the compiled tree first on ``PYTHONPATH``."""
    compiled = _compiled()
    out: dict[str, str] = compiled.compiled_env(compiled.SITE)  # type: ignore[attr-defined]
    return out


def check() -> None:
    """Refuse to measure the pure sources under this column's name."""
    import rt._core._task
    import rt.sync._event

    assert rt._core._task.COMPILED, "rt-mypyc cell imported rt-core's pure sources"
    assert not str(rt.sync._event.__file__).endswith(".py"), "rt-sync's pure sources imported"
