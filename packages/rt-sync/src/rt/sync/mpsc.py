"""mpsc: multi-producer, single-consumer channels (Tokio's ``sync::mpsc``).

``channel(capacity)`` is bounded: ``send`` waits for room (backpressure), and ``reserve`` /
``reserve_many`` take slots ahead of the value. ``unbounded_channel()`` never waits to send.
Subscript either to type the values: ``tx, rx = mpsc.channel[int](8)``. Every method is safe
from any thread; plain threads use ``blocking_send`` / ``blocking_recv``.

``rx.recv()`` is cancel-safe and ``rt.select`` polls it in place: a ``recv`` branch that loses
the race takes nothing from the channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._mpsc import (
    Permit,
    Receiver,
    Sender,
    UnboundedReceiver,
    UnboundedSender,
    WeakSender,
    WeakUnboundedSender,
)
from ._mpsc_channel import channel, unbounded_channel

__all__ = [
    "ChannelStatistics",
    "Permit",
    "Receiver",
    "Sender",
    "UnboundedReceiver",
    "UnboundedSender",
    "WeakSender",
    "WeakUnboundedSender",
    "channel",
    "unbounded_channel",
]

if TYPE_CHECKING:
    from ._stats import ChannelStatistics

for _name in __all__:
    if _name != "ChannelStatistics":  # loads with its first use (see rt.sync._stats)
        globals()[_name].__module__ = __name__
del _name


if not TYPE_CHECKING:  # mypy should still flag a misspelt name

    def __getattr__(name: str) -> Any:
        if name == "ChannelStatistics":
            from ._stats import ChannelStatistics

            globals()[name] = ChannelStatistics
            return ChannelStatistics
        raise AttributeError(f"module 'rt.sync.mpsc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
