"""broadcast: every receiver sees every value (Tokio's ``sync::broadcast``).

``tx, rx = broadcast.channel(capacity)`` (``broadcast.channel[int](16)`` to type the values);
more receivers come from ``tx.subscribe()``. The channel keeps the last ``capacity`` values,
and releases each value as soon as every receiver has read it. A receiver that falls more than
``capacity`` values behind gets :class:`~rt.sync.Lagged` (with ``.skipped``) once, then
continues with the oldest value still kept. ``Sender.send`` never waits and returns how many
receivers will see the value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._broadcast import Receiver, Sender
from ._broadcast_channel import channel

__all__ = ["BroadcastStatistics", "Receiver", "Sender", "channel"]

if TYPE_CHECKING:
    from ._stats import BroadcastStatistics

for _name in __all__:
    if _name != "BroadcastStatistics":  # loads with its first use (see rt.sync._stats)
        globals()[_name].__module__ = __name__
del _name


if not TYPE_CHECKING:  # mypy should still flag a misspelt name

    def __getattr__(name: str) -> Any:
        if name == "BroadcastStatistics":
            from ._stats import BroadcastStatistics

            globals()[name] = BroadcastStatistics
            return BroadcastStatistics
        raise AttributeError(f"module 'rt.sync.broadcast' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
