"""Helpers for rt-core's tests (rt-sync does not exist at this layer)."""

from __future__ import annotations

import os
import threading
from typing import Any

from rt.lowlevel import Abort, current_task, reschedule, wait_task_rescheduled


class Gate:
    """A one-shot event for tests, built on the trap API; ``open()`` works from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = False
        self._waiters: list[Any] = []

    def open(self) -> None:
        with self._lock:
            self._open = True
            waiters, self._waiters = self._waiters, []
        for t in waiters:
            reschedule(t)

    @property
    def is_open(self) -> bool:
        return self._open

    async def wait(self) -> None:
        me = current_task()
        with self._lock:
            if self._open:
                return
            self._waiters.append(me)

        def abort() -> Abort:
            with self._lock:
                if me in self._waiters:
                    self._waiters.remove(me)
                    return Abort.SUCCEEDED
            return Abort.FAILED

        await wait_task_rescheduled(abort)


def open_fds() -> set[int]:
    return (
        {int(n) for n in os.listdir("/proc/self/fd")} if os.path.isdir("/proc/self/fd") else set()
    )


def rt_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("rt-", "test-rt"))]
