"""The constructors of :mod:`rt.sync.mpsc`: ``channel`` and ``unbounded_channel``.

They are ``tuple`` subclasses (so that ``mpsc.channel[int](8)`` types the pair, as trio's
``open_memory_channel[int]`` does) whose ``__new__`` returns a plain tuple. mypyc cannot
compile a class deriving from ``tuple``, so they live here, in a module the optional compiled
build leaves Python, and the channel itself (``rt.sync._mpsc``) compiles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, final

from ._mpsc import Receiver, Sender, UnboundedSender, _Chan

if TYPE_CHECKING:
    # The constructors' type parameter defaults to Any, so the plain call keeps its old type
    # (PEP 696; a plain TypeVar at run time, where the default means nothing).
    from typing_extensions import TypeVar as _TypeVarWithDefault

    TD = _TypeVarWithDefault("TD", default=Any)
else:
    TD = TypeVar("TD")


@final
class channel(tuple[Sender[TD], Receiver[TD]]):
    """Create a bounded channel holding at most ``capacity`` values: ``tx, rx = channel(8)``.

    Subscript it to type the values (as trio's ``open_memory_channel[int]``):
    ``tx, rx = mpsc.channel[int](8)`` gives a ``Sender[int]`` and a ``Receiver[int]``; the
    plain call gives ``Sender[Any]`` / ``Receiver[Any]``. The result is a plain tuple.

    Args:
        capacity: How many values the channel buffers before ``send`` waits (``>= 1``).

    Calling it gives the pair ``(Sender, Receiver)``.

    Raises:
        ValueError: ``capacity`` is not an int ``>= 1``.
    """

    __slots__ = ()

    def __new__(cls, capacity: int) -> tuple[Sender[TD], Receiver[TD]]:  # type: ignore[misc]
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"mpsc.channel needs a capacity >= 1, got {capacity!r}")
        ch: _Chan[TD] = _Chan(capacity)
        return Sender(ch), Receiver(ch)

    def __init__(self, capacity: int) -> None:  # never runs: __new__ returns a plain tuple
        pass


@final
class unbounded_channel(tuple[UnboundedSender[TD], Receiver[TD]]):
    """Create a channel without a bound: ``send`` never waits (memory is the limit).

    ``mpsc.unbounded_channel[int]()`` types the values (see :class:`channel`).

    Calling it gives the pair ``(UnboundedSender, Receiver)``.
    """

    __slots__ = ()

    def __new__(cls) -> tuple[UnboundedSender[TD], Receiver[TD]]:  # type: ignore[misc]
        ch: _Chan[TD] = _Chan(None)
        return UnboundedSender(ch), Receiver(ch)
