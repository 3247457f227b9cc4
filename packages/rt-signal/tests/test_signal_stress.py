"""Listener churn on four workers under a tiny switch interval: handlers installed and restored
through the main-thread doorbell again and again while signals land at random moments.

A lost wake-up hangs (pytest-timeout fails it); a handler left behind or a listener count
that drifts fails the final assertions.
"""

from __future__ import annotations

import os
import signal
import sys
import types
from collections.abc import Iterator

import pytest

import rt
from rt.signal import _handlers
from rt.signal.unix import SignalKind


@pytest.fixture
def tiny_switch_interval() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
@pytest.mark.usefixtures("tiny_switch_interval")
def test_listener_churn_sees_every_own_delivery_and_restores_the_handler(flavor: str) -> None:
    late: list[int] = []

    def previous(signum: int, frame: types.FrameType | None) -> None:
        late.append(signum)  # a delivery handled after the last listener left

    before = signal.signal(signal.SIGUSR1, previous)
    tasks, rounds = 8, 60

    async def churn() -> int:
        seen = 0
        for _ in range(rounds):
            async with rt.signal.unix.signal(SignalKind.user_defined1()) as stream:
                os.kill(os.getpid(), signal.SIGUSR1)
                if await stream.recv():
                    seen += 1
            await rt.yield_now()
        return seen

    async def main() -> list[int]:
        handles = [rt.spawn(churn()) for _ in range(tasks)]
        return [await h for h in handles]

    options = {"worker_threads": 4} if flavor == "multi_thread" else {}
    try:
        assert rt.run(main(), flavor=flavor, **options) == [rounds] * tasks
        assert _handlers._counts == _handlers._lifelong
        assert _handlers._installed == set(_handlers._lifelong)
        assert signal.getsignal(signal.SIGUSR1) is previous
    finally:
        signal.signal(signal.SIGUSR1, before)
