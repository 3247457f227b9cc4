"""The constructor of :mod:`rt.sync.broadcast`: ``channel``.

A ``tuple`` subclass (so that ``broadcast.channel[int](...)`` types the pair) whose ``__new__``
returns a plain tuple. mypyc cannot compile a class deriving from ``tuple``, so it lives here,
in a module the optional compiled build leaves Python, and the channel itself
(``rt.sync._broadcast``) compiles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, final

from ._broadcast import Receiver, Sender, _Shared

if TYPE_CHECKING:
    from typing_extensions import TypeVar as _TypeVarWithDefault

    TD = _TypeVarWithDefault("TD", default=Any)  # the plain call keeps its type (PEP 696)
else:
    TD = TypeVar("TD")


@final
class channel(tuple[Sender[TD], Receiver[TD]]):
    """Create a broadcast channel that retains the last ``capacity`` values.

    ``broadcast.channel[int](16)`` types the values; the plain call gives ``Any``. The result
    is a plain tuple.

    Args:
        capacity: How many values are kept for slow receivers (``>= 1``).

    Calling it gives the pair ``(Sender, Receiver)``.

    Raises:
        ValueError: ``capacity`` is not an int ``>= 1``.
    """

    __slots__ = ()

    def __new__(cls, capacity: int) -> tuple[Sender[TD], Receiver[TD]]:  # type: ignore[misc]
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"broadcast.channel needs a capacity >= 1, got {capacity!r}")
        shared: _Shared[TD] = _Shared(capacity)
        return Sender(shared), Receiver(shared, 0)

    def __init__(self, capacity: int) -> None:  # never runs: __new__ returns a plain tuple
        pass
