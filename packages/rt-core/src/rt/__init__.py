"""rt: Tokio's model of asynchronous programming, for Python.

``import rt`` loads rt-core only: the runtime, tasks, cancel scopes and the blocking pool.
The other distributions add ``rt.time``, ``rt.sync``, ``rt.net``/``rt.io`` and ``rt.macros``;
their most used names are reachable from here lazily (``rt.sleep``, ``rt.main``, ``rt.select``,
``rt.join``, ``rt.try_join``, ``rt.test``), with an ``ImportError`` naming the extra to install
when the distribution is missing.
"""

from __future__ import annotations

import pkgutil
from typing import TYPE_CHECKING, Any

__path__ = pkgutil.extend_path(__path__, __name__)

from ._core._cancel import CancelScope
from ._core._exceptions import Cancelled, JoinError
from ._core._groups import JoinSet, TaskGroup
from ._core._local import LocalSet, spawn_local
from ._core._runtime import Handle, Runtime, current_task, run, spawn, spawn_blocking
from ._core._task import AbortHandle, JoinHandle, Task
from ._core._traps import yield_now

__version__ = "0.1.0"

_LAZY_CORE = ("RuntimeMetrics", "WorkerMetrics")

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
    "TaskGroup",
    "current_task",
    "run",
    "spawn",
    "spawn_blocking",
    "spawn_local",
    "WorkerMetrics",
    "yield_now",
]

for _name in __all__:
    if _name in _LAZY_CORE:
        continue
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("rt._core"):
        _obj.__module__ = __name__
del _name, _obj

if TYPE_CHECKING:
    # Type checkers see the lazy names with their real types (when those distributions are
    # installed); at run time they resolve in __getattr__ below.
    from rt.macros import join as join
    from rt.macros import main as main
    from rt.macros import select as select
    from rt.macros import test as test
    from rt.macros import try_join as try_join
    from rt.time import sleep as sleep

    from ._core._metrics import RuntimeMetrics, WorkerMetrics

# name -> (module, attribute, extra); an empty extra means rt-core itself (loaded on first use
# only because importing it is not free).
_LAZY: dict[str, tuple[str, str, str]] = {
    "RuntimeMetrics": ("rt._core._metrics", "RuntimeMetrics", ""),
    "WorkerMetrics": ("rt._core._metrics", "WorkerMetrics", ""),
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
        raise AttributeError(f"module 'rt' has no attribute {name!r}")
    module_name, attr, extra = target
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name not in (module_name, module_name.rpartition(".")[0]):
            raise
        raise ImportError(
            f"rt.{name} lives in the rt-{extra} distribution, which is not installed: "
            f"pip install 'rt[{extra}]'"
        ) from None
    value = getattr(module, attr)
    if not extra:
        value.__module__ = __name__
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
