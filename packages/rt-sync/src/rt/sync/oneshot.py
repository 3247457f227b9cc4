"""oneshot: a channel for exactly one value (Tokio's ``sync::oneshot``).

``tx, rx = oneshot.channel()`` (``oneshot.channel[int]()`` to type the value). The receiver is
awaited directly (``await rx``) or with ``await rx.recv()``. If the sender is closed or
garbage-collected without sending, the receiver gets :class:`~rt.sync.ChannelClosed`; if the
receiver is closed or gone, ``send`` raises :class:`~rt.sync.ChannelClosed` carrying the value,
and ``await tx.closed()`` returns.
"""

from __future__ import annotations

from ._oneshot import Receiver, Sender
from ._oneshot_channel import channel

__all__ = ["Receiver", "Sender", "channel"]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name


def __dir__() -> list[str]:
    return sorted(__all__)
