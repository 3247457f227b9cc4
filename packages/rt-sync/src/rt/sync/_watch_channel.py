"""The constructor of :mod:`rt.sync.watch`: ``channel``.

A ``tuple`` subclass (so that ``watch.channel[int](...)`` types the pair) whose ``__new__``
returns a plain tuple. mypyc cannot compile a class deriving from ``tuple``, so it lives here,
in a module the optional compiled build leaves Python, and the channel itself
(``rt.sync._watch``) compiles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, final

from ._watch import Receiver, Sender, _Shared

if TYPE_CHECKING:
    from typing_extensions import TypeVar as _TypeVarWithDefault

    TD = _TypeVarWithDefault("TD", default=Any)  # the plain call keeps its type (PEP 696)
else:
    TD = TypeVar("TD")


@final
class channel(tuple[Sender[TD], Receiver[TD]]):
    """Create a watch channel holding ``initial``: ``tx, rx = watch.channel(0)``.

    The value type is inferred from ``initial``; ``watch.channel[float](0)`` states it.
    The result is a plain tuple.

    Args:
        initial: The first value (already seen by the returned receiver).

    Calling it gives the pair ``(Sender, Receiver)``.
    """

    __slots__ = ()

    def __new__(cls, initial: TD) -> tuple[Sender[TD], Receiver[TD]]:  # type: ignore[misc]
        shared = _Shared(initial)
        return Sender(shared), Receiver(shared, 0)

    def __init__(self, initial: TD) -> None:  # never runs: __new__ returns a plain tuple
        pass
