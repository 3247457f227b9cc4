"""Helpers shared by the rt-sync tests."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import rt
from rt.sync import Event

T = TypeVar("T")


async def until(predicate: Callable[[], bool]) -> None:
    """Yield until ``predicate()`` holds (the state we wait for, e.g. "two waiters queued")."""
    while not predicate():
        await rt.yield_now()


async def wait(aw: Awaitable[T]) -> T:
    """``await aw`` as a coroutine (what ``rt.spawn`` takes): ``rt.spawn(wait(m.lock()))``."""
    return await aw


async def cancelled(handle: rt.JoinHandle[Any]) -> None:
    """Abort a task and wait until it has finished, asserting it was cancelled."""
    handle.abort()
    try:
        await handle
    except rt.JoinError as err:
        assert err.is_cancelled(), err
    else:
        raise AssertionError("the task finished instead of being cancelled")


def in_thread(fn: Callable[[], T]) -> Coroutine[Any, Any, T]:
    """Run ``fn`` on a plain (non-runtime) thread; await its result."""

    async def run() -> T:
        box: list[T] = []
        done = Event()

        def target() -> None:
            try:
                box.append(fn())
            finally:
                done.set()

        t = threading.Thread(target=target)
        t.start()
        await done.wait()
        t.join()
        if not box:
            raise AssertionError("the thread raised (see its traceback above)")
        return box[0]

    return run()
