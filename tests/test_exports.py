"""The public surface of rt, pinned: names, modules, lazy names and their errors."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import subprocess
import sys
from typing import Any

import pytest

import rt
import rt.lowlevel
from rt._core._task import COMPILED

# mypyc keeps no docstrings on compiled classes and methods: the docs are checked on the
# pure-Python pass (the sources are the same files).
needs_docstrings = pytest.mark.skipif(
    COMPILED, reason="compiled build: mypyc drops docstrings; the pure-Python pass checks them"
)

CORE_NAMES = {
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
    "WorkerMetrics",
    "current_task",
    "run",
    "spawn",
    "spawn_blocking",
    "spawn_local",
    "yield_now",
}

LOWLEVEL_NAMES = {
    "COOP_BUDGET",
    "ENTRY_POINT_GROUP",
    "Abort",
    "Driver",
    "DriverContext",
    "DriverLayer",
    "IoDriver",
    "READ",
    "WRITE",
    "Scheduler",
    "budget_spent",
    "checkpoint",
    "checkpoint_if_cancelled",
    "consume_budget",
    "outside_task_context",
    "current_driver",
    "current_io",
    "current_task",
    "notify_closing",
    "reschedule",
    "wait_readable",
    "wait_task_rescheduled",
    "wait_writable",
}

LAZY = {
    "sleep": "time",
    "main": "macros",
    "test": "macros",
    "select": "macros",
    "join": "macros",
    "try_join": "macros",
}


def test_rt_all_is_exactly_the_pinned_core_names() -> None:
    assert set(rt.__all__) == CORE_NAMES
    for name in CORE_NAMES:
        assert hasattr(rt, name)


def test_public_classes_report_the_public_module() -> None:
    for name in rt.__all__:
        obj = getattr(rt, name)
        if isinstance(obj, type):
            assert obj.__module__ == "rt", name
    assert rt.lowlevel.Abort.__module__ == "rt.lowlevel"


def test_lowlevel_all_is_pinned() -> None:
    assert set(rt.lowlevel.__all__) == LOWLEVEL_NAMES


@needs_docstrings
def test_every_public_callable_has_a_docstring() -> None:
    for module in (rt, rt.lowlevel):
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj):
                assert (obj.__doc__ or "").strip(), f"{module.__name__}.{name}"


@pytest.mark.parametrize(("name", "extra"), sorted(LAZY.items()))
def test_lazy_names_resolve_or_name_the_extra_to_install(name: str, extra: str) -> None:
    module = "rt." + extra
    if importlib.util.find_spec(module) is not None:
        assert getattr(rt, name) is getattr(importlib.import_module(module), name)
    else:
        with pytest.raises(ImportError, match=rf"pip install 'rt\[{extra}\]'"):
            getattr(rt, name)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        rt.no_such_thing  # noqa: B018


def test_import_rt_loads_only_rt_core() -> None:
    code = (
        "import sys, rt; "
        "extra = sorted(m for m in sys.modules if m.startswith('rt.') and not "
        "(m.startswith('rt._core') or m == 'rt.lowlevel')); "
        "heavy = [m for m in ('asyncio', 'inspect', 'importlib.metadata') if m in sys.modules]; "
        "print(extra, heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[] []"


TIME_NAMES = {
    "Elapsed",
    "Instant",
    "Interval",
    "MissedTickBehavior",
    "Timeout",
    "TimerStatistics",
    "advance",
    "interval",
    "interval_at",
    "is_paused",
    "pause",
    "resume",
    "sleep",
    "sleep_until",
    "statistics",
    "timeout",
    "timeout_at",
}


def test_rt_time_surface_is_pinned_with_clean_modules() -> None:
    time = pytest.importorskip("rt.time", reason="rt-time is not installed in this environment")
    assert set(time.__all__) == TIME_NAMES
    for name in time.__all__:
        obj = getattr(time, name)
        assert (obj.__doc__ or "").strip(), name
        if isinstance(obj, type):
            assert obj.__module__ == "rt.time", name


SYNC_NAMES = {
    "Barrier",
    "BarrierStatistics",
    "BarrierWaitResult",
    "ChannelClosed",
    "ChannelEmpty",
    "ChannelError",
    "ChannelFull",
    "Event",
    "EventStatistics",
    "Lagged",
    "Mutex",
    "MutexGuard",
    "MutexStatistics",
    "Notify",
    "NotifyStatistics",
    "OnceCell",
    "OnceCellStatistics",
    "RwLock",
    "RwLockReadGuard",
    "RwLockStatistics",
    "RwLockWriteGuard",
    "Semaphore",
    "SemaphoreClosed",
    "SemaphorePermit",
    "SemaphoreStatistics",
    "broadcast",
    "mpsc",
    "oneshot",
    "watch",
}


def test_rt_sync_surface_is_pinned_with_clean_modules() -> None:
    sync = pytest.importorskip("rt.sync", reason="rt-sync is not installed in this environment")
    assert set(sync.__all__) == SYNC_NAMES
    for name in sync.__all__:
        obj = getattr(sync, name)
        assert (obj.__doc__ or "").strip(), name
        if isinstance(obj, type):
            assert obj.__module__ == "rt.sync", name
    for mod in (sync.mpsc, sync.oneshot, sync.broadcast, sync.watch):
        for name in mod.__all__:
            obj = getattr(mod, name)
            assert (obj.__doc__ or "").strip(), f"{mod.__name__}.{name}"
            if isinstance(obj, type):
                assert obj.__module__ == mod.__name__, f"{mod.__name__}.{name}"


def test_rt_macros_surface_is_pinned_and_lazy_names_resolve_to_it() -> None:
    macros = pytest.importorskip("rt.macros", reason="rt-macros is not installed")
    assert set(macros.__all__) == {"join", "main", "select", "test", "try_join"}
    for name in macros.__all__:
        assert getattr(rt, name) is getattr(macros, name)
        assert (getattr(macros, name).__doc__ or "").strip(), name


NET_NAMES = {
    "Address",
    "Incoming",
    "ReadHalf",
    "TcpListener",
    "TcpSocket",
    "TcpStream",
    "UdpSocket",
    "UnixDatagram",
    "UnixIncoming",
    "UnixListener",
    "UnixStream",
    "WriteHalf",
    "lookup_host",
}
IO_NAMES = {
    "AsyncFd",
    "AsyncRead",
    "AsyncWrite",
    "BufReader",
    "BufWriter",
    "DuplexStream",
    "IncompleteReadError",
    "bytes_written",
    "copy",
    "copy_bidirectional",
    "duplex",
}


def test_rt_net_and_rt_io_surfaces_are_pinned_with_clean_modules() -> None:
    net = pytest.importorskip("rt.net", reason="rt-net is not installed")
    io = importlib.import_module("rt.io")

    for mod, names in ((net, NET_NAMES), (io, IO_NAMES)):
        assert set(mod.__all__) == names
        for name in mod.__all__:
            obj = getattr(mod, name)
            if isinstance(obj, type):
                assert obj.__module__ == mod.__name__, name
            if name != "Address":
                assert (obj.__doc__ or "").strip(), name


ASYNCIO_NAMES = {
    "EventLoopPolicy",
    "RtEventLoop",
    "aio_as_rt",
    "new_event_loop",
    "rt_as_aio",
    "run",
}


def test_rt_asyncio_surface_is_pinned_with_clean_modules() -> None:
    aio = pytest.importorskip("rt.asyncio", reason="rt-asyncio is not installed")
    assert set(aio.__all__) == ASYNCIO_NAMES
    for name in aio.__all__:
        obj = getattr(aio, name)
        assert obj.__module__ == "rt.asyncio", name
        assert (obj.__doc__ or "").strip(), name


def _public_modules() -> list[Any]:
    import importlib

    mods: list[Any] = [rt, rt.lowlevel]
    for name in ("rt.time", "rt.sync", "rt.net", "rt.io", "rt.macros", "rt.asyncio"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        mods.append(mod)
        for sub in ("mpsc", "oneshot", "broadcast", "watch"):
            if hasattr(mod, sub) and inspect.ismodule(getattr(mod, sub)):
                mods.append(getattr(mod, sub))
    return mods


def _awaitables() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for mod in _public_modules():
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj):
                found.append((f"{mod.__name__}.{name}", obj))
            if isinstance(obj, type):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") and attr not in (
                        "__aenter__",
                        "__aexit__",
                        "__anext__",
                        "__await__",
                    ):
                        continue
                    fn = (
                        member.__func__
                        if isinstance(member, classmethod | staticmethod)
                        else member
                    )
                    if (
                        inspect.iscoroutinefunction(fn)
                        or inspect.isasyncgenfunction(fn)
                        or attr == "__await__"
                    ):
                        found.append((f"{mod.__name__}.{name}.{attr}", fn))
    return found


@needs_docstrings
def test_every_public_awaitable_documents_its_cancel_safety() -> None:
    found = _awaitables()
    assert len(found) > 50
    missing = [name for name, fn in found if "Cancel safety:" not in (fn.__doc__ or "")]
    assert missing == []


def test_no_class_mypyc_compiles_declares_a_weakref_slot() -> None:
    # mypyc (2.4, on Python 3.11) gives a class with "__weakref__" in __slots__ a __dict__ and
    # a weak-reference list, and then treats the list's head as a reference the object owns:
    # it visits it for the garbage collector and releases it when the object is freed. The
    # weakref it points to is freed while still in use; the multi-thread runtime crashed on it
    # (JoinSet held a weakref to itself). The modules below are the ones the build compiles.
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    config = tomllib.loads((root / "packages" / "rt-core" / "pyproject.toml").read_text())
    hook = config["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["mypyc"]
    src = root / "packages" / "rt-core"
    excluded = {(src / path).resolve() for path in hook["exclude"]}
    compiled = [
        path
        for include in hook["include"]
        for path in sorted((src / include).glob("*.py"))
        if path.resolve() not in excluded
    ]
    assert len(compiled) >= 5

    def classes(path: Path) -> dict[str, type]:
        # Public classes report the module "rt", so the source file decides where one lives.
        module = importlib.import_module(f"rt._core.{path.stem}")
        return {
            f"{path.stem}.{name}": cls
            for name, cls in vars(module).items()
            if isinstance(cls, type) and f"class {name}" in path.read_text()
        }

    found = {key: cls for path in compiled for key, cls in classes(path).items()}
    assert "_task.JoinHandle" in found and "_runtime.Runtime" in found
    offenders = [
        key for key, cls in found.items() if "__weakref__" in vars(cls).get("__slots__", ())
    ]
    assert offenders == []
