"""The shared wait-queue engine: frozen statistics, budget yields never leave a lock held."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

import rt
from rt.sync import (
    Mutex,
    RwLock,
    Semaphore,
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], flavor: str | None = None) -> T:
    return rt.run(coro, flavor=flavor)


def test_statistics_are_frozen_snapshots() -> None:
    m = Mutex(0)
    s = m.statistics()
    with pytest.raises(AttributeError):
        s.locked = True  # type: ignore[misc]


@pytest.mark.parametrize("kind", ["mutex", "semaphore", "rwlock"])
def test_cancellation_at_a_budget_yield_never_leaves_a_lock_held(
    kind: str, flavor: str | None
) -> None:
    async def main() -> bool:
        m = Mutex(0)
        sem = Semaphore(1)
        rw = RwLock(0)
        rounds = 0

        async def hot() -> None:
            nonlocal rounds
            while True:  # uncontended: only the cooperative budget ever yields here
                if kind == "mutex":
                    async with m.lock():
                        rounds += 1
                elif kind == "semaphore":
                    async with sem.acquire():
                        rounds += 1
                else:
                    async with rw.write():
                        rounds += 1

        h = rt.spawn(hot())
        await rt.yield_now()
        h.abort()
        with pytest.raises(rt.JoinError):
            await h
        assert rounds > 0
        if kind == "mutex":
            return not m.is_locked()
        if kind == "semaphore":
            return sem.available_permits() == 1
        return rw.statistics() == type(rw.statistics())(0, False, 0)

    assert run(main(), flavor=flavor)
