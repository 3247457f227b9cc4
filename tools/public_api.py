"""The public API of rt as text: every public module, name and signature, one per line.

    python3 tools/dev.py api            # regenerate tests/public_api.txt (then review the diff)
    python tools/public_api.py          # print it

``tests/test_exports.py`` compares this rendering with the reviewed file ``tests/public_api.txt``
and fails on any difference, so a change to the public surface shows up in review as a diff of
that file. The public modules are found, not listed: ``rt``, ``rt.lowlevel``, every ``rt.<part>``
whose distribution is installed (``rt._missing.SUBPACKAGES``), and the modules those export in
``__all__`` (``rt.sync.mpsc``...). Signatures are read from the source annotations (strings, as
every rt module uses ``from __future__ import annotations``), so they do not depend on the
interpreter version.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "public_api.txt"

# Special methods that belong to the public surface (the protocols a user relies on).
PROTOCOLS = (
    "__init__",
    "__call__",
    "__await__",
    "__aenter__",
    "__aexit__",
    "__aiter__",
    "__anext__",
    "__enter__",
    "__exit__",
    "__iter__",
    "__next__",
    "__len__",
    "__bool__",
    "__class_getitem__",
)


def public_modules() -> list[ModuleType]:
    """Return rt's public modules that are importable here, sorted by name."""
    from rt._missing import SUBPACKAGES

    found: dict[str, ModuleType] = {
        name: importlib.import_module(name) for name in ("rt", "rt.lowlevel", "rt.task")
    }
    for sub in SUBPACKAGES:
        try:
            found[f"rt.{sub}"] = importlib.import_module(f"rt.{sub}")
        except ImportError:
            continue
    for module in list(found.values()):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.ismodule(obj) and obj.__name__.startswith("rt."):
                found[obj.__name__] = obj
    return [found[name] for name in sorted(found)]


def _signature(obj: Any) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def _kind(member: Any) -> str:
    if isinstance(member, property):
        return "property"
    if isinstance(member, classmethod):
        return "classmethod"
    if isinstance(member, staticmethod):
        return "staticmethod"
    fn = member
    if inspect.iscoroutinefunction(fn):
        return "async def"
    if inspect.isasyncgenfunction(fn):
        return "async def (generator)"
    return "def"


def _class_lines(qualname: str, cls: type) -> list[str]:
    bases = [b for b in cls.__bases__ if b is not object]
    base_text = ", ".join(f"{b.__module__}.{b.__qualname__}" for b in bases)
    lines = [f"class {qualname}({base_text})"]
    if issubclass(cls, enum.Enum):
        lines += [f"    {qualname}.{m.name} = {m.value!r}" for m in cls]
        return lines
    seen: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("rt"):
            continue
        for attr, member in sorted(vars(klass).items()):
            public = not attr.startswith("_") or attr in PROTOCOLS
            if not public or attr in seen:
                continue
            seen.add(attr)
            kind = _kind(member)
            if kind == "property":
                lines.append(f"    property {qualname}.{attr}")
                continue
            fn = member.__func__ if isinstance(member, classmethod | staticmethod) else member
            if not callable(fn):
                lines.append(f"    {qualname}.{attr}: {type(fn).__name__}")
                continue
            lines.append(f"    {kind} {qualname}.{attr}{_signature(fn)}")
    return lines


def render() -> str:
    """Return the public API of every importable public module, as stable text."""
    out: list[str] = []
    for module in public_modules():
        out.append(f"module {module.__name__}")
        for name in sorted(module.__all__):
            obj = getattr(module, name)
            qualname = f"{module.__name__}.{name}"
            if inspect.ismodule(obj):
                out.append(f"  module {qualname} = {obj.__name__}")
            elif isinstance(obj, type):
                if obj.__name__ != name:
                    out.append(f"  {qualname} = {obj.__module__}.{obj.__qualname__}")
                else:
                    out += ["  " + line for line in _class_lines(qualname, obj)]
            elif inspect.isroutine(obj):
                out.append(f"  {_kind(obj)} {qualname}{_signature(obj)}")
            else:
                out.append(f"  {qualname}: {type(obj).__name__}")
        out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if argv == ["--write"]:
        GOLDEN.write_text(text)
        print(f"wrote {GOLDEN.relative_to(ROOT)}: review the diff (git diff {GOLDEN.name})")
        return 0
    if argv:
        print("usage: python tools/public_api.py [--write]", file=sys.stderr)
        return 2
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
