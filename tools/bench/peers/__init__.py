"""The peers: one module each, named in :data:`PEERS` (column name -> module).

A peer module defines ``NAME`` (its column) and ``WORKLOADS`` (row name -> function taking
the row's sizes and returning its measurement: seconds, a dict of metrics, or None for "no such
workload here"), and may define ``unavailable()`` (a reason to leave the column out, or None),
``env()`` (extra environment for its cell processes) and ``check()`` (called in the cell
process before the workload). A peer needing a package names it in :data:`REQUIRES`; without
it the column is left out and the run says why. Workloads are written once per
API: ``rt`` (also run by ``rt-mypyc``), ``asyncio_api`` (run by asyncio, uvloop and rloop,
each with its own loop), ``trio_`` and ``floor``; the ``fs`` and ``process`` suites' rows in
``rt_os``, ``asyncio_os`` and ``trio_os``, and ``sync`` (plain Python, no event loop).
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

PEERS: dict[str, str] = {
    "rt": "rt",
    "rt-mypyc": "rt_mypyc",
    "rt-asyncio": "rt_asyncio",
    "rt-select": "rt_select",
    "asyncio": "asyncio_",
    "uvloop": "uvloop_",
    "rloop": "rloop_",
    "trio": "trio_",
    "floor": "floor",
    "sync": "sync",
}
REQUIRES: dict[str, str] = {"uvloop": "uvloop", "rloop": "rloop", "trio": "trio"}


def load(name: str) -> ModuleType:
    """The module of peer ``name``."""
    return importlib.import_module(f"{__name__}.{PEERS[name]}")


def unavailable(name: str) -> str | None:
    """Why peer ``name`` cannot run here (a missing package, no compiled build), or None."""
    need = REQUIRES.get(name)
    if need is not None and importlib.util.find_spec(need) is None:
        return f"{need} is not installed (the bench environment has it: hatch.toml)"
    reason = getattr(load(name), "unavailable", None)
    return None if reason is None else reason()
