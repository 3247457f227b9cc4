"""The suites: ``python -m tools.bench NAME`` runs ``suites/NAME.py`` (see README.md)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType


def names() -> list[str]:
    """Every suite, by module name."""
    here = Path(__file__).parent
    return sorted(p.stem for p in here.glob("*.py") if not p.stem.startswith("_"))


def load(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name}")
