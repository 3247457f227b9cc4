"""The public surface of rt: properties every public module has, and a reviewed golden file.

Every public module (found by ``tools/public_api.py``, so new distributions are covered without
editing this file) exports only what ``__all__`` lists, with clean ``__module__`` paths and
docstrings; ``tests/public_api.txt`` pins every name and signature (``python3 tools/dev.py api``
regenerates it).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import subprocess
import sys
from typing import Any

import public_api
import pytest

import rt
import rt.lowlevel
from rt._core._task import COMPILED

# mypyc keeps no docstrings on compiled classes and methods: the docs are checked on the
# pure-Python pass (the sources are the same files).
needs_docstrings = pytest.mark.skipif(
    COMPILED, reason="compiled build: mypyc drops docstrings; the pure-Python pass checks them"
)

LAZY = {
    "sleep": "time",
    "main": "macros",
    "test": "macros",
    "select": "macros",
    "join": "macros",
    "try_join": "macros",
}

MODULES = public_api.public_modules()


def _installed(part: str) -> bool:
    try:
        return importlib.util.find_spec(f"rt.{part}") is not None
    except ImportError:  # rt's finder names the extra to install
        return False


def _is_api_object(obj: object) -> bool:
    return isinstance(obj, type) or inspect.isroutine(obj) or inspect.ismodule(obj)


def test_the_public_modules_include_every_installed_part() -> None:
    names = {m.__name__ for m in MODULES}
    assert {"rt", "rt.lowlevel"} <= names
    for sub in ("time", "sync", "net", "io", "macros"):
        if _installed(sub):
            assert f"rt.{sub}" in names


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__ for m in MODULES])
def test_every_public_class_and_function_reports_a_public_module(module: Any) -> None:
    private = []
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, type) or inspect.isroutine(obj):
            home = obj.__module__
            if not home.startswith("rt") or any(p.startswith("_") for p in home.split(".")):
                private.append(f"{name}: {home}")
    assert private == []


@needs_docstrings
@pytest.mark.parametrize("module", MODULES, ids=[m.__name__ for m in MODULES])
def test_every_public_module_class_and_function_has_a_docstring(module: Any) -> None:
    assert (module.__doc__ or "").strip()
    missing = [
        name
        for name in module.__all__
        if _is_api_object(getattr(module, name)) and not (getattr(module, name).__doc__ or "")
    ]
    assert missing == []


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_dir_of_a_public_module_lists_its_public_names_only(module: Any) -> None:
    allowed = set(module.__all__)
    if module is rt:
        # Subpackages and lazy names, when their distributions are installed.
        allowed |= {m.__name__.split(".")[1] for m in MODULES if m.__name__.count(".") == 1}
        allowed |= {name for name, extra in LAZY.items() if _installed(extra)}
    assert set(dir(module)) <= allowed
    assert set(module.__all__) <= set(dir(module)) | {"RuntimeMetrics", "WorkerMetrics"}


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__ for m in MODULES])
def test_every_name_in_all_exists(module: Any) -> None:
    assert [name for name in module.__all__ if not hasattr(module, name)] == []


@needs_docstrings
def test_the_public_api_matches_the_reviewed_golden_file() -> None:
    # A difference is a change to rt's public surface: regenerate the file with
    # `python3 tools/dev.py api`, and review the diff like code.
    expected = public_api.GOLDEN.read_text()
    actual = public_api.render()
    assert actual == expected, "public API drift: run `python3 tools/dev.py api` and review"


def test_runtime_owned_classes_refuse_to_be_constructed_by_users() -> None:
    with pytest.raises(TypeError, match=r"Handle\.current\(\)"):
        rt.Handle()


@pytest.mark.parametrize(("name", "extra"), sorted(LAZY.items()))
def test_lazy_names_resolve_or_name_the_extra_to_install(name: str, extra: str) -> None:
    module = "rt." + extra
    try:
        found = importlib.import_module(module)
    except ImportError:
        with pytest.raises(ImportError, match=rf"--find-links WHEEL_DIR 'rt\[{extra}\]'"):
            getattr(rt, name)
    else:
        assert getattr(rt, name) is getattr(found, name)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        rt.no_such_thing  # noqa: B018


def test_import_rt_loads_only_rt_core() -> None:
    code = (
        "import sys, rt; "
        "extra = sorted(m for m in sys.modules if m.startswith('rt.') and not "
        "(m.startswith('rt._') or m == 'rt.lowlevel')); "
        "heavy = [m for m in ('asyncio', 'inspect', 'importlib.metadata') if m in sys.modules]; "
        "print(extra, heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[] []"


def _awaitables() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for mod in MODULES:
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
    # (JoinSet held a weakref to itself). The modules below are the ones the build compiles
    # (tools/compiled.py), in every distribution.
    import compiled as build

    modules = build.modules()
    assert len(modules) >= 5

    def classes(rel: str) -> dict[str, type]:
        # Public classes report their public module, so the source file decides where one lives.
        name = rel.removesuffix(".py").replace("/", ".")
        module = importlib.import_module(name)
        source = next(
            path
            for dist in build.DISTRIBUTIONS
            if (path := build.PACKAGES / dist / "src" / rel).exists()
        ).read_text()
        return {
            f"{name}.{attr}": cls
            for attr, cls in vars(module).items()
            if isinstance(cls, type) and f"class {attr}" in source
        }

    found = {key: cls for rel in modules for key, cls in classes(rel).items()}
    assert "rt._core._task.JoinHandle" in found and "rt._core._runtime.Runtime" in found
    offenders = [
        key for key, cls in found.items() if "__weakref__" in vars(cls).get("__slots__", ())
    ]
    assert offenders == []


PROCESS_NAMES = {"Child", "ChildStderr", "ChildStdin", "ChildStdout", "Command", "Stdio"}


def test_rt_process_surface_is_pinned_with_clean_modules() -> None:
    process = pytest.importorskip("rt.process", reason="rt-process is not installed here")
    assert set(process.__all__) == PROCESS_NAMES
    for name in process.__all__:
        obj = getattr(process, name)
        assert (obj.__doc__ or "").strip(), name
        assert obj.__module__ == "rt.process", name


def test_rt_signal_surface_is_pinned_with_clean_modules() -> None:
    sig = pytest.importorskip("rt.signal", reason="rt-signal is not installed here")
    assert set(sig.__all__) == {"ctrl_c", "unix"}
    assert set(sig.unix.__all__) == {"Signal", "SignalKind", "signal"}
    for obj in (sig.ctrl_c, sig.unix.Signal, sig.unix.SignalKind, sig.unix.signal):
        assert (obj.__doc__ or "").strip(), obj
    assert sig.unix.Signal.__module__ == "rt.signal.unix"
