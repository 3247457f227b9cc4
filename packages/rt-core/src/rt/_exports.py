"""One way for every rt distribution to present its public names (private, but stable).

rt's code lives in private modules (``rt._core._task``, ``rt.io._copy``...) and each public
package re-exports what users may touch, listing it in ``__all__``. :func:`public` finishes the
job for a package's ``__init__``: every class and function it re-exports reports the public
module as its home (so reprs, tracebacks, ``help()`` and the API reference say ``rt.JoinHandle``
and ``rt.io.copy``, not ``rt._core._task.JoinHandle``), and ``dir()`` of the package lists its
public names only. Other distributions call it as the last line of their ``__init__``::

    from rt._exports import public

    public(globals())

The module name and signature stay as they are for as long as rt-core is 0.x; it is private
only in the sense that applications have no use for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import BuiltinFunctionType, FunctionType
from typing import Any


def _is_private_home(module: str) -> bool:
    # "rt._core._task", "rt.io._copy": a module path with a private component.
    return module.startswith("rt.") and any(part.startswith("_") for part in module.split("."))


def set_public_module(obj: Any, module: str) -> None:
    """Make ``obj`` (a class or a function) report ``module`` if it lives in a private one.

    Objects already homed in a public module keep it: a name re-exported from two public
    places (``rt.current_task`` and ``rt.lowlevel.current_task``) belongs to the first.
    """
    if not isinstance(obj, type | FunctionType | BuiltinFunctionType):
        return
    current = getattr(obj, "__module__", None)
    if not isinstance(current, str) or not _is_private_home(current):
        return
    try:
        obj.__module__ = module
    except (AttributeError, TypeError):  # a builtin type or a compiled object that refuses
        pass


def public(
    namespace: dict[str, Any],
    names: Iterable[str] | None = None,
    *,
    extra_dir: Callable[[], Iterable[str]] | None = None,
) -> None:
    """Present the public names of the package whose ``globals()`` is ``namespace``.

    Sets ``__module__`` of every class and function listed in ``names`` (default: the
    package's ``__all__``) to the package's name when it points at a private module, and,
    unless the package defines its own, installs a module ``__dir__`` listing ``__all__``
    (plus whatever ``extra_dir()`` returns) and nothing else.

    Args:
        namespace: the package's ``globals()``.
        names: the names to fix; default ``namespace["__all__"]``. Names not yet bound (lazy
            ones) are skipped.
        extra_dir: more names for ``dir()``, computed on each call (lazy names that are
            available right now).

    Raises:
        KeyError: the namespace has no ``__name__`` or no ``__all__``.
    """
    module = namespace["__name__"]
    exported: list[str] = list(namespace["__all__"])
    for name in exported if names is None else names:
        if name in namespace:
            set_public_module(namespace[name], module)
    if "__dir__" not in namespace:

        def __dir__() -> list[str]:
            more = list(extra_dir()) if extra_dir is not None else []
            return sorted({*exported, *more})

        namespace["__dir__"] = __dir__
