"""The parts of rt that live in other distributions, and the error that says how to get one.

rt ships as small distributions picked like Tokio's feature flags; rt-core owns the ``rt``
package and the others add ``rt/<sub>/`` portions to it. When a portion is missing, every way
of reaching it (``import rt.net``, ``from rt.sync import mpsc``, the attribute ``rt.net``, a
lazy name such as ``rt.sleep``) raises the same :class:`ModuleNotFoundError` (an
``ImportError``), naming the extra to install and a command that cannot pick up the unrelated
project called ``rt`` on the public package index.

:class:`MissingPartFinder` sits at the *end* of ``sys.meta_path``: the import system asks it
only after every real finder came back empty, so an installed portion (from a wheel or an
editable install) is never shadowed, and the happy path costs nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Final

#: ``rt.<name>`` subpackage -> the extra of the ``rt`` meta distribution that installs it (the
#: distribution is ``rt-<extra>``; rt-net ships both ``rt.net`` and ``rt.io``).
SUBPACKAGES: Final[dict[str, str]] = {
    "time": "time",
    "sync": "sync",
    "net": "net",
    "io": "net",
    "macros": "macros",
    "fs": "fs",
    "process": "process",
    "signal": "signal",
    "asyncio": "asyncio",
    "console": "console",
}


def missing(public_name: str, extra: str) -> ModuleNotFoundError:
    """Return the error for ``public_name`` (e.g. ``"rt.sleep"``), which needs ``rt[extra]``.

    The command it suggests installs from rt's wheels only (``--no-index``): the name ``rt`` on
    the public package index belongs to an unrelated project.
    """
    sub = public_name[3:]
    module = public_name if sub in SUBPACKAGES else f"rt.{_HOME[extra]}"
    return ModuleNotFoundError(
        f"{public_name} lives in the rt-{extra} distribution, which is not installed: "
        f"pip install --no-index --find-links WHEEL_DIR 'rt[{extra}]' (WHEEL_DIR holding rt's "
        "wheels; the 'rt' on the public package index is another project)",
        name=module,
    )


# extra -> the subpackage named in an error about a top-level lazy name (``rt.sleep``).
_HOME: Final[dict[str, str]] = {extra: sub for sub, extra in reversed(SUBPACKAGES.items())}


class MissingPartFinder:
    """Turn "no module named rt.<sub>" into the error naming the extra that installs it."""

    @classmethod
    def find_spec(
        cls,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        """Raise the error naming the extra for a known ``rt.<sub>``; return ``None`` otherwise.

        Raises:
            ModuleNotFoundError: ``fullname`` is a part of rt whose distribution is missing.
        """
        prefix, _, sub = fullname.partition(".")
        if prefix == "rt" and sub in SUBPACKAGES:
            raise missing(fullname, SUBPACKAGES[sub])
        return None


def install() -> None:
    """Append :class:`MissingPartFinder` to ``sys.meta_path`` (once)."""
    if not any(getattr(f, "__name__", None) == "MissingPartFinder" for f in sys.meta_path):
        sys.meta_path.append(MissingPartFinder)
