"""rt.sync: Tokio's synchronization toolkit, safe from any thread.

Locks: :class:`Mutex`, :class:`RwLock`, :class:`Semaphore`; signals: :class:`Notify`,
:class:`Event`, :class:`Barrier`, :class:`OnceCell`; channels: :mod:`rt.sync.mpsc`,
:mod:`rt.sync.oneshot`, :mod:`rt.sync.broadcast`, :mod:`rt.sync.watch`. Every type works between
tasks, between tasks and plain threads (the ``blocking_*`` methods), and across threads. All of
them sit on one wait-queue engine, which makes every wait cancel-safe: a cancelled wait either
had no effect or completed.
"""

from __future__ import annotations

from . import broadcast, mpsc, oneshot, watch
from ._barrier import Barrier, BarrierStatistics, BarrierWaitResult
from ._errors import (
    ChannelClosed,
    ChannelEmpty,
    ChannelError,
    ChannelFull,
    Lagged,
    SemaphoreClosed,
    SendTimeout,
)
from ._event import Event, EventStatistics
from ._mutex import Mutex, MutexGuard, MutexStatistics
from ._notify import Notify, NotifyStatistics
from ._oncecell import OnceCell, OnceCellStatistics
from ._rwlock import RwLock, RwLockReadGuard, RwLockStatistics, RwLockWriteGuard
from ._semaphore import Semaphore, SemaphorePermit, SemaphoreStatistics

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

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("rt.sync._"):
        _obj.__module__ = __name__
del _name, _obj


def __dir__() -> list[str]:
    return sorted(__all__)
