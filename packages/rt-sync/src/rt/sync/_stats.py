"""The statistics snapshots of rt.sync, as frozen dataclasses.

They live apart and load on the first ``statistics()`` call: ``dataclasses`` imports
``inspect`` (and with it ``ast``, ``dis``, ``tokenize``), milliseconds that a program using
only locks and channels should not pay when it first touches them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._rwlock import _MAX_READERS


@dataclass(frozen=True, slots=True)
class BarrierStatistics:
    """A snapshot of a :class:`Barrier`."""

    parties: int
    waiting: int
    generation: int


@dataclass(frozen=True, slots=True)
class BroadcastStatistics:
    """A snapshot of a broadcast channel."""

    retained: int
    capacity: int
    senders: int
    receivers: int
    waiting_receivers: int


@dataclass(frozen=True, slots=True)
class EventStatistics:
    """A snapshot of an :class:`Event`."""

    is_set: bool
    waiters: int


@dataclass(frozen=True, slots=True)
class ChannelStatistics:
    """A snapshot of an mpsc channel."""

    queued: int
    capacity: int | None
    reserved: int
    senders: int
    waiting_senders: int
    receiver_waiting: bool
    closed: bool


@dataclass(frozen=True, slots=True)
class MutexStatistics:
    """A snapshot of a :class:`Mutex`."""

    locked: bool
    waiters: int


@dataclass(frozen=True, slots=True)
class NotifyStatistics:
    """A snapshot of a :class:`Notify`."""

    waiters: int
    permit_stored: bool


@dataclass(frozen=True, slots=True)
class OnceCellStatistics:
    """A snapshot of a :class:`OnceCell`."""

    initialized: bool
    waiters: int = 0  # callers waiting for the running initializer


@dataclass(frozen=True, slots=True)
class RwLockStatistics:
    """A snapshot of an :class:`RwLock`."""

    readers: int
    writer: bool
    waiters: int
    max_readers: int = _MAX_READERS


@dataclass(frozen=True, slots=True)
class SemaphoreStatistics:
    """A snapshot of a :class:`Semaphore`."""

    available_permits: int
    waiters: int
    closed: bool


for _cls in (
    BarrierStatistics,
    EventStatistics,
    MutexStatistics,
    NotifyStatistics,
    OnceCellStatistics,
    RwLockStatistics,
    SemaphoreStatistics,
):
    _cls.__module__ = "rt.sync"
ChannelStatistics.__module__ = "rt.sync.mpsc"
BroadcastStatistics.__module__ = "rt.sync.broadcast"
del _cls
