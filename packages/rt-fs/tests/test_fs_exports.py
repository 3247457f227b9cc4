"""rt.fs's public surface: the pinned names, public module paths and documented awaitables."""

from __future__ import annotations

import inspect
from typing import Any

import rt.fs

FS_NAMES = {
    "DirEntry",
    "File",
    "FileType",
    "OpenOptions",
    "ReadDir",
    "canonicalize",
    "copy",
    "create_dir",
    "create_dir_all",
    "hard_link",
    "metadata",
    "read",
    "read_dir",
    "read_link",
    "read_to_string",
    "remove_dir",
    "remove_dir_all",
    "remove_file",
    "rename",
    "set_permissions",
    "symlink",
    "symlink_metadata",
    "try_exists",
    "write",
}


def test_rt_fs_surface_is_pinned_with_public_module_paths_and_docstrings() -> None:
    assert set(rt.fs.__all__) == FS_NAMES
    for name in rt.fs.__all__:
        obj = getattr(rt.fs, name)
        assert obj.__module__ == "rt.fs", name
        assert (obj.__doc__ or "").strip(), name


def _awaitables() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name in rt.fs.__all__:
        obj = getattr(rt.fs, name)
        if inspect.iscoroutinefunction(obj):
            found.append((name, obj))
        if isinstance(obj, type):
            for attr, member in vars(obj).items():
                dunders = ("__aenter__", "__aexit__", "__anext__", "__await__")
                if attr.startswith("_") and attr not in dunders:
                    continue
                fn = member.__func__ if isinstance(member, classmethod | staticmethod) else member
                if inspect.iscoroutinefunction(fn) or attr == "__await__":
                    found.append((f"{name}.{attr}", fn))
    return found


def test_every_rt_fs_awaitable_documents_its_cancel_safety() -> None:
    found = _awaitables()
    assert len(found) > 40
    missing = [name for name, fn in found if "Cancel safety:" not in (fn.__doc__ or "")]
    assert missing == []
