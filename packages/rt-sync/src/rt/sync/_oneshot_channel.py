"""The constructor of :mod:`rt.sync.oneshot`: ``channel``.

A ``tuple`` subclass (so that ``oneshot.channel[int]()`` types the pair) whose ``__new__``
returns a plain tuple. mypyc cannot compile a class deriving from ``tuple``, so it lives here,
in a module the optional compiled build leaves Python, and the channel itself
(``rt.sync._oneshot``) compiles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, final

from ._oneshot import Receiver, Sender, _Once

if TYPE_CHECKING:
    from typing_extensions import TypeVar as _TypeVarWithDefault

    TD = _TypeVarWithDefault("TD", default=Any)  # the plain call keeps its type (PEP 696)
else:
    TD = TypeVar("TD")


@final
class channel(tuple[Sender[TD], Receiver[TD]]):
    """Create a oneshot channel: ``tx, rx = oneshot.channel()``.

    ``oneshot.channel[int]()`` types the value (``Sender[int]``, ``Receiver[int]``); the plain
    call gives ``Any``. The result is a plain tuple.

    Calling it gives the pair ``(Sender, Receiver)``.
    """

    __slots__ = ()

    def __new__(cls) -> tuple[Sender[TD], Receiver[TD]]:  # type: ignore[misc]
        once: _Once[TD] = _Once()
        return Sender(once), Receiver(once)
