"""rt's ``select(recv, sleep)`` against a receive under a timeout, for the ``select`` suite.

The same two workloads (``ready``, ``wait``) run in either form, picked by ``RT_BENCH_SELECT``
(the suite's two columns set it): ``select`` (``await rt.select(rx.recv(), rt.sleep(10))``) or
``timeout`` (``with rt.time.timeout(10): await rx.recv()``, the cheapest way to bound a
receive). Each returns microseconds per call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

from .._common import Size
from .rt import run

NAME = "rt-select"


def _one(rx: Any) -> Callable[[], Coroutine[Any, Any, Any]]:
    """One bounded receive from ``rx``, in the form ``RT_BENCH_SELECT`` names."""
    import rt
    import rt.time

    form = os.environ.get("RT_BENCH_SELECT", "select")
    if form == "select":

        async def one() -> Any:
            return await rt.select(rx.recv(), rt.sleep(10))

    elif form == "timeout":

        async def one() -> Any:
            with rt.time.timeout(10):
                return await rx.recv()

    else:
        raise SystemExit(f"RT_BENCH_SELECT={form!r}: use select or timeout")
    return one


def ready(size: Size) -> float:
    """The value is already in the channel: select's fast path arms nothing."""
    from rt.sync import mpsc

    calls: int = size["calls"]

    async def main() -> float:
        tx, rx = mpsc.channel[int](1)
        one = _one(rx)
        start = time.perf_counter()
        for i in range(calls):
            tx.try_send(i)
            await one()
        return (time.perf_counter() - start) / calls * 1e6

    return float(run(main))


def wait(size: Size) -> float:
    """The receiver waits: a producer refills the channel (capacity 1) once it parks, so every
    call arms its wake-ups, parks and is woken."""
    import rt
    from rt.sync import mpsc

    calls: int = size["calls"]

    async def main() -> float:
        tx, rx = mpsc.channel[int](1)
        one = _one(rx)

        async def producer() -> None:
            for i in range(calls):
                await tx.send(i)

        start = time.perf_counter()
        h = rt.spawn(producer())
        for _ in range(calls):
            await one()
        await h
        return (time.perf_counter() - start) / calls * 1e6

    return float(run(main))


WORKLOADS: dict[str, Callable[[Size], Any]] = {"ready": ready, "wait": wait}
