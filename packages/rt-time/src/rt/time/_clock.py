"""The runtime's clock: monotonic time that tests can pause and advance."""

from __future__ import annotations

import time


class Clock:
    """Monotonic seconds; while paused, time stands still except for :meth:`advance`."""

    __slots__ = ("_frozen", "_offset", "_paused")

    def __init__(self) -> None:
        self._offset = 0.0
        self._paused = False
        self._frozen = 0.0

    def now(self) -> float:
        if self._paused:
            return self._frozen
        return time.monotonic() + self._offset

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        if self._paused:
            raise RuntimeError("time is already paused")
        self._frozen = self.now()
        self._paused = True

    def resume(self) -> None:
        if not self._paused:
            raise RuntimeError("time is not paused")
        self._offset = self._frozen - time.monotonic()
        self._paused = False

    def advance(self, seconds: float) -> None:
        if not self._paused:
            raise RuntimeError("time can only be advanced while paused: call rt.time.pause() first")
        self._frozen += seconds

    def advance_to(self, when: float) -> None:
        self._frozen = max(self._frozen, when)
