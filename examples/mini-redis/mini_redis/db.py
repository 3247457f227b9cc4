"""The shared state: keys with optional expiry (rt-time) and pub/sub channels (rt.sync.broadcast).

All tasks of the server share one ``Db``. Like Tokio's mini-redis it is guarded by a plain
lock held only for dictionary operations (never across an ``await``), so it is also safe on a
multi-thread runtime; ``GET`` only looks, which one atomic dictionary read does without it.
Expired keys are invisible at once (checked on access) and removed by one background task
that sleeps until the earliest deadline.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Callable

import rt
from rt.sync import ChannelClosed, Notify, broadcast
from rt.time import Instant, sleep_until

PUBSUB_CAPACITY = 1024


def _rt_now() -> float:
    return Instant.now().seconds


class Db:
    """Keys → (value, deadline); channel name → broadcast sender."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        # The clock is rt-time's (paused time in tests works); the asyncio comparison server
        # passes time.monotonic.
        self._now: Callable[[], float] = clock if clock is not None else _rt_now
        self._lock = threading.Lock()
        self._data: dict[bytes, tuple[bytes, float | None]] = {}
        self._expiry: list[tuple[float, bytes]] = []  # heap; stale entries are skipped
        self._channels: dict[bytes, broadcast.Sender[bytes]] = {}
        self._purge_wake = Notify()
        self._purger: rt.JoinHandle[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background task that removes expired keys (call inside the runtime)."""
        if self._purger is None:
            self._purger = rt.spawn(self._purge_loop(), name="mini-redis purge")

    async def close(self) -> None:
        """Stop the purge task.

        Cancel safety: cancel-safe (aborting the purger and awaiting it is idempotent).
        """
        if self._purger is not None:
            self._purger.abort()
            try:
                await self._purger
            except rt.JoinError:
                pass
            self._purger = None

    # -- keys -----------------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        # One dictionary read is atomic, so looking takes no lock; removing an expired key
        # does, and removes it only if no one has replaced it meanwhile.
        entry = self._data.get(key)
        if entry is None:
            return None
        value, deadline = entry
        if deadline is not None and deadline <= self._now():
            with self._lock:
                if self._data.get(key) is entry:
                    del self._data[key]
            return None
        return value

    def set(
        self,
        key: bytes,
        value: bytes,
        *,
        ttl: float | None = None,
        nx: bool = False,
        xx: bool = False,
    ) -> bool:
        """Store ``value``; ``ttl`` in seconds. With ``nx`` / ``xx`` return False if not done."""
        deadline = None if ttl is None else self._now() + ttl
        with self._lock:
            if nx or xx:
                exists = self._live(key)
                if (nx and exists) or (xx and not exists):
                    return False
            self._data[key] = (value, deadline)
            wake = deadline is not None and self._schedule(deadline, key)
        if wake:
            self._purge_wake.notify_one()
        return True

    def _schedule(self, deadline: float, key: bytes) -> bool:
        """Queue ``key`` for the purge task (lock held); True if it is now the earliest."""
        earliest = self._expiry[0][0] if self._expiry else math.inf
        heapq.heappush(self._expiry, (deadline, key))
        return deadline < earliest

    def _live(self, key: bytes) -> bool:
        entry = self._data.get(key)
        if entry is None:
            return False
        if entry[1] is not None and entry[1] <= self._now():
            del self._data[key]
            return False
        return True

    def mset(self, pairs: list[bytes]) -> None:
        """Store ``pairs`` (key, value, key, value, ...) at once, clearing their expiry."""
        with self._lock:
            data = self._data
            for i in range(0, len(pairs), 2):
                data[pairs[i]] = (pairs[i + 1], None)

    def mget(self, keys: list[bytes]) -> list[bytes | None]:
        return [self.get(key) for key in keys]

    def delete(self, keys: list[bytes]) -> int:
        with self._lock:
            n = 0
            for key in keys:
                if self._live(key):
                    del self._data[key]
                    n += 1
            return n

    def exists(self, keys: list[bytes]) -> int:
        with self._lock:
            return sum(1 for key in keys if self._live(key))

    def incr(self, key: bytes, by: int = 1) -> int:
        """Add ``by`` to the integer at ``key``; ValueError if it is not an integer or the
        result leaves the signed 64-bit range (as Redis)."""
        with self._lock:
            entry = self._data.get(key) if self._live(key) else None
            if entry is None:
                value, deadline = 0, None
            else:
                try:
                    value = int(entry[0])
                except ValueError:
                    raise ValueError("value is not an integer or out of range") from None
                deadline = entry[1]
            value += by
            if not -(1 << 63) <= value < 1 << 63:
                raise ValueError("increment or decrement would overflow")
            self._data[key] = (str(value).encode(), deadline)
            return value

    def expire(self, key: bytes, seconds: float) -> bool:
        with self._lock:
            if not self._live(key):
                return False
            value, _ = self._data[key]
            if seconds <= 0:
                del self._data[key]
                return True
            deadline = self._now() + seconds
            self._data[key] = (value, deadline)
            wake = self._schedule(deadline, key)
        if wake:
            self._purge_wake.notify_one()
        return True

    def ttl(self, key: bytes) -> int:
        """Seconds left: -2 when there is no key, -1 when it does not expire (as Redis)."""
        with self._lock:
            if not self._live(key):
                return -2
            deadline = self._data[key][1]
            if deadline is None:
                return -1
            return max(0, round(deadline - self._now()))

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    async def _purge_loop(self) -> None:
        while True:
            with self._lock:
                now = self._now()
                while self._expiry and self._expiry[0][0] <= now:
                    deadline, key = heapq.heappop(self._expiry)
                    entry = self._data.get(key)
                    if entry is not None and entry[1] == deadline:
                        del self._data[key]
                nxt = self._expiry[0][0] if self._expiry else None
            if nxt is None:
                await self._purge_wake.notified()
            else:
                await rt.select(self._purge_wake.notified(), sleep_until(nxt))

    # -- pub/sub --------------------------------------------------------------------------

    def subscribe(self, channel: bytes) -> broadcast.Receiver[bytes]:
        with self._lock:
            tx = self._channels.get(channel)
            if tx is None:
                tx, rx = broadcast.channel(PUBSUB_CAPACITY)
                self._channels[channel] = tx
                return rx
            return tx.subscribe()

    def publish(self, channel: bytes, message: bytes) -> int:
        """Send to every subscriber of ``channel``; return how many there are."""
        with self._lock:
            tx = self._channels.get(channel)
            if tx is None:
                return 0
            try:
                return tx.send(message)
            except ChannelClosed:
                del self._channels[channel]  # every subscriber left
                return 0

    def channels(self) -> int:
        with self._lock:
            return len(self._channels)
