"""rt's runtime metrics on a Prometheus endpoint.

``RuntimeCollector`` turns :meth:`rt.Runtime.metrics` into Prometheus metric families each
time the endpoint is scraped, from the exporter's own thread (``metrics()`` is safe from any
thread). Run ``python3 examples/prometheus_metrics.py`` and open ``http://127.0.0.1:9464/``
(needs ``pip install prometheus-client``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

import rt

COUNTERS = ("spawned_tasks", "polls", "park_count")


class RuntimeCollector(Collector):
    """A Prometheus collector reading one rt runtime's metrics at every scrape."""

    def __init__(self, runtime: rt.Runtime, prefix: str = "rt") -> None:
        self._runtime = runtime
        self._prefix = prefix

    def collect(self) -> Iterator[Any]:
        """Yield one family per counter and gauge, and per-worker counters."""
        m = self._runtime.metrics()
        for field in (f.name for f in dataclasses.fields(m)):
            value = getattr(m, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            name = f"{self._prefix}_{field}"
            if field in COUNTERS:
                yield CounterMetricFamily(name, f"rt runtime counter {field}", value=value)
            else:
                yield GaugeMetricFamily(name, f"rt runtime gauge {field}", value=value)
        polls = CounterMetricFamily(
            f"{self._prefix}_worker_polls", "task steps per worker", labels=["worker"]
        )
        busy = GaugeMetricFamily(
            f"{self._prefix}_worker_busy_seconds", "busy time per worker", labels=["worker"]
        )
        for w in m.worker_metrics:
            polls.add_metric([str(w.index)], w.polls)
            busy.add_metric([str(w.index)], w.busy_time)
        yield polls
        yield busy


async def serve_forever() -> None:
    """A stand-in service: tasks that come and go."""

    async def job(i: int) -> int:
        await rt.yield_now()
        return i

    while True:
        for h in [rt.spawn(job(i)) for i in range(100)]:
            await h
        await rt.sleep(0.1)


def main() -> None:
    """Expose the metrics of a running rt service on port 9464."""
    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY

    with rt.Runtime() as runtime:
        REGISTRY.register(RuntimeCollector(runtime))
        start_http_server(9464, addr="127.0.0.1")
        runtime.block_on(serve_forever())


if __name__ == "__main__":
    main()
