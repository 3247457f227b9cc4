"""rt.time: timers on rt's runtime (Tokio's ``time`` and ``test-util`` features).

``sleep`` / ``sleep_until`` (each returns a :class:`Sleep`) and ``Instant``; ``timeout`` /
``timeout_at`` (raising :class:`Elapsed`, also as a ``with`` block); ``interval`` with
:class:`MissedTickBehavior`; and paused time for tests: ``pause()``, ``await advance(s)``,
``resume()``. Timers live in a hierarchical wheel plugged into rt-core's driver stack through
the ``rt.drivers`` entry point. Time is integer nanoseconds inside; floats appear only at this
API's edge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._api import (
        Elapsed,
        Instant,
        Interval,
        MissedTickBehavior,
        Sleep,
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
    "Sleep",
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


def __getattr__(name: str) -> Any:
    # The public API loads on first use: rt-core loads this package's driver layer
    # (rt.time._driver) whenever it builds a runtime, and that must stay cheap.
    if name not in __all__:
        raise AttributeError(f"module 'rt.time' has no attribute {name!r}")
    from rt._exports import set_public_module

    from . import _api

    for public in __all__:
        obj = getattr(_api, public)
        set_public_module(obj, __name__)
        globals()[public] = obj
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(__all__)
