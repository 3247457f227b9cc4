"""watch: a single value that receivers can watch for changes (Tokio's ``sync::watch``).

``tx, rx = watch.channel(initial)``. Receivers see the latest value, not every value:
``changed()`` waits until the value's version moves past the last one the receiver marked as
seen. Senders can be cloned; receivers see the channel closed once every sender is gone, and
``await tx.closed()`` returns once every receiver is gone.
"""

from __future__ import annotations

from ._watch import Receiver, Sender
from ._watch_channel import channel

__all__ = ["Receiver", "Sender", "channel"]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name


def __dir__() -> list[str]:
    return sorted(__all__)
