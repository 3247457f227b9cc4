"""rt.sync: Tokio's synchronization toolkit, safe from any thread.

Locks: :class:`Mutex`, :class:`RwLock`, :class:`Semaphore`; signals: :class:`Notify`,
:class:`Event`, :class:`Barrier`, :class:`OnceCell`; channels: :mod:`rt.sync.mpsc`,
:mod:`rt.sync.oneshot`, :mod:`rt.sync.broadcast`, :mod:`rt.sync.watch`. Every type works between
tasks, between tasks and plain threads (the ``blocking_*`` methods), and across threads. All of
them sit on one wait-queue engine, which makes every wait cancel-safe: a cancelled wait either
had no effect or completed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rt._exports import public

from . import broadcast, mpsc, oneshot, watch
from ._barrier import Barrier, BarrierWaitResult
from ._errors import (
    ChannelClosed,
    ChannelEmpty,
    ChannelError,
    ChannelFull,
    Lagged,
    SemaphoreClosed,
    SendTimeout,
)
from ._event import Event
from ._mutex import Mutex, MutexGuard
from ._notify import Notify
from ._oncecell import OnceCell
from ._rwlock import RwLock, RwLockReadGuard, RwLockWriteGuard
from ._semaphore import Semaphore, SemaphorePermit

if TYPE_CHECKING:
    from ._stats import (
        BarrierStatistics,
        EventStatistics,
        MutexStatistics,
        NotifyStatistics,
        OnceCellStatistics,
        RwLockStatistics,
        SemaphoreStatistics,
    )

# The statistics classes load with their first use (see ``_stats``).
_LAZY = frozenset(
    {
        "BarrierStatistics",
        "EventStatistics",
        "MutexStatistics",
        "NotifyStatistics",
        "OnceCellStatistics",
        "RwLockStatistics",
        "SemaphoreStatistics",
    }
)

__all__ = [
    "Barrier",
    "BarrierStatistics",
    "BarrierWaitResult",
    "ChannelClosed",
    "ChannelEmpty",
    "ChannelError",
    "ChannelFull",
    "Event",
    "EventStatistics",
    "Lagged",
    "Mutex",
    "MutexGuard",
    "MutexStatistics",
    "Notify",
    "NotifyStatistics",
    "OnceCell",
    "OnceCellStatistics",
    "RwLock",
    "RwLockReadGuard",
    "RwLockStatistics",
    "RwLockWriteGuard",
    "Semaphore",
    "SemaphoreClosed",
    "SemaphorePermit",
    "SemaphoreStatistics",
    "SendTimeout",
    "broadcast",
    "mpsc",
    "oneshot",
    "watch",
]

public(globals())


if not TYPE_CHECKING:  # mypy should still flag a misspelt name

    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            from . import _stats

            value = getattr(_stats, name)
            globals()[name] = value
            return value
        raise AttributeError(f"module 'rt.sync' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
