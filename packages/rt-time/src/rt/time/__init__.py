"""rt.time: timers on rt's runtime (Tokio's ``time`` and ``test-util`` features).

``sleep``, ``sleep_until`` and ``Instant``; ``timeout`` / ``timeout_at`` (raising
:class:`Elapsed`, also as a ``with`` block); ``interval`` with :class:`MissedTickBehavior`; and
paused time for tests: ``pause()``, ``await advance(s)``, ``resume()``. Timers live in a
hierarchical wheel plugged into rt-core's driver stack through the ``rt.drivers`` entry point.
"""

from __future__ import annotations

from ._api import (
    Elapsed,
    Instant,
    Interval,
    MissedTickBehavior,
    Timeout,
    TimerStatistics,
    advance,
    interval,
    interval_at,
    is_paused,
    pause,
    resume,
    sleep,
    sleep_until,
    statistics,
    timeout,
    timeout_at,
)

__all__ = [
    "Elapsed",
    "Instant",
    "Interval",
    "MissedTickBehavior",
    "Timeout",
    "TimerStatistics",
    "advance",
    "interval",
    "interval_at",
    "is_paused",
    "pause",
    "resume",
    "sleep",
    "sleep_until",
    "statistics",
    "timeout",
    "timeout_at",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("rt.time._"):
        _obj.__module__ = __name__
del _name, _obj
