"""mpsc: multi-producer, single-consumer channels (Tokio's ``sync::mpsc``).

``channel(capacity)`` is bounded: ``send`` waits for room (backpressure), and ``reserve`` /
``reserve_many`` take slots ahead of the value. ``unbounded_channel()`` never waits to send.
Subscript either to type the values: ``tx, rx = mpsc.channel[int](8)``. Every method is safe
from any thread; plain threads use ``blocking_send`` / ``blocking_recv``.

``rx.recv()`` is cancel-safe and ``rt.select`` polls it in place: a ``recv`` branch that loses
the race takes nothing from the channel.
"""

from __future__ import annotations

from ._mpsc import (
    ChannelStatistics,
    Permit,
    Receiver,
    Sender,
    UnboundedReceiver,
    UnboundedSender,
    WeakSender,
    WeakUnboundedSender,
    channel,
    unbounded_channel,
)

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

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name


def __dir__() -> list[str]:
    return sorted(__all__)
