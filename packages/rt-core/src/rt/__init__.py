"""rt: Tokio's model of asynchronous programming, for Python.

``import rt`` loads rt-core only: the runtime, tasks, cancel scopes and the blocking pool.
The other distributions add ``rt.time``, ``rt.sync``, ``rt.net``/``rt.io`` and ``rt.macros``;
their most used names are reachable from here lazily (``rt.sleep``, ``rt.main``, ``rt.select``,
``rt.join``, ``rt.try_join``, ``rt.test``), with an ``ImportError`` naming the extra to install
when the distribution is missing.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any

__path__ = pkgutil.extend_path(__path__, __name__)

from . import _missing
from ._core._cancel import CancelScope
from ._core._exceptions import Cancelled, JoinError
from ._core._groups import JoinSet, TaskGroup
from ._core._local import LocalSet, spawn_local
from ._core._runtime import Handle, Runtime, current_task, dump, run, spawn, spawn_blocking
from ._core._task import AbortHandle, JoinHandle, Task
from ._core._to_thread import to_thread
from ._core._traps import yield_now
from ._exports import public, set_public_module
from ._missing import SUBPACKAGES, missing

__version__ = "0.1.0"

_missing.install()

__all__ = [
    "AbortHandle",
    "CancelScope",
    "Cancelled",
    "Handle",
    "JoinError",
    "JoinHandle",
    "JoinSet",
    "LocalSet",
    "Runtime",
    "RuntimeMetrics",
    "Task",
    "FrameInfo",
    "TaskDump",
    "TaskGroup",
    "TaskInfo",
    "TaskLogFilter",
    "TaskMeta",
    "current_task",
    "dump",
    "run",
    "spawn",
    "spawn_blocking",
    "spawn_local",
    "to_thread",
    "WorkerMetrics",
    "yield_now",
]

if TYPE_CHECKING:
    # Type checkers see the lazy names with their real types (when those distributions are
    # installed); at run time they resolve in __getattr__ below.
    from rt.macros import join as join
    from rt.macros import main as main
    from rt.macros import select as select
    from rt.macros import test as test
    from rt.macros import try_join as try_join
    from rt.time import sleep as sleep

    from ._core._diag import TaskLogFilter, TaskMeta
    from ._core._dump import FrameInfo, TaskDump, TaskInfo
    from ._core._metrics import RuntimeMetrics, WorkerMetrics

# name -> (module, attribute, extra); an empty extra means rt-core itself (loaded on first use
# only because importing it is not free). A missing distribution raises rt._missing's error.
_LAZY: dict[str, tuple[str, str, str]] = {
    "RuntimeMetrics": ("rt._core._metrics", "RuntimeMetrics", ""),
    "WorkerMetrics": ("rt._core._metrics", "WorkerMetrics", ""),
    "TaskLogFilter": ("rt._core._diag", "TaskLogFilter", ""),
    "TaskMeta": ("rt._core._diag", "TaskMeta", ""),
    "TaskDump": ("rt._core._dump", "TaskDump", ""),
    "TaskInfo": ("rt._core._dump", "TaskInfo", ""),
    "FrameInfo": ("rt._core._dump", "FrameInfo", ""),
    "sleep": ("rt.time", "sleep", "time"),
    "main": ("rt.macros", "main", "macros"),
    "test": ("rt.macros", "test", "macros"),
    "select": ("rt.macros", "select", "macros"),
    "join": ("rt.macros", "join", "macros"),
    "try_join": ("rt.macros", "try_join", "macros"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        if name in SUBPACKAGES or name == "lowlevel":
            # ``rt.net`` without ``import rt.net``: import it, or raise the error naming the
            # extra (rt._missing's finder does that for every spelling of the import).
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module 'rt' has no attribute {name!r}")
    module_name, attr, extra = target
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not extra or exc.name != module_name:
            raise
        raise missing(f"rt.{name}", extra) from None
    value = getattr(module, attr)
    set_public_module(value, __name__)
    globals()[name] = value
    return value


def _available() -> list[str]:
    """The subpackages and lazy names usable right now (their distributions are installed)."""
    present = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    lazy = [name for name, (module, _, _) in _LAZY.items() if module.split(".")[1] in present]
    return [*present, *lazy]


public(globals(), extra_dir=_available)
del TYPE_CHECKING, annotations
