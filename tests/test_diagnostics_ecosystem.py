"""Diagnostics meet the ecosystem: OpenTelemetry context flows to spawned tasks, and the
runtime's metrics feed a Prometheus collector."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import rt


def test_opentelemetry_span_of_a_spawned_child_has_the_spawners_span_as_parent(
    flavor: str | None,
) -> None:
    trace_sdk = pytest.importorskip("opentelemetry.sdk.trace", reason="opentelemetry-sdk")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = trace_sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("rt-test")

    async def child(i: int) -> None:
        await rt.yield_now()
        with tracer.start_as_current_span(f"child-{i}"):
            await rt.yield_now()

    async def main() -> None:
        with tracer.start_as_current_span("parent"):
            handles = [rt.spawn(child(i)) for i in range(3)]
            async with rt.TaskGroup() as tg:
                tg.spawn(child(3))
            for h in handles:
                await h

    rt.run(main(), flavor=flavor)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    parent = spans["parent"]
    for i in range(4):
        kid = spans[f"child-{i}"]
        assert kid.parent is not None
        assert kid.parent.span_id == parent.context.span_id
        assert kid.context.trace_id == parent.context.trace_id


def test_runtime_metrics_are_readable_by_a_prometheus_collector(flavor: str | None) -> None:
    prometheus = pytest.importorskip("prometheus_client", reason="prometheus-client")
    example = Path(__file__).resolve().parent.parent / "examples" / "prometheus_metrics.py"
    spec = importlib.util.spec_from_file_location("prometheus_metrics", example)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    collector = module.RuntimeCollector

    async def step() -> None:
        await rt.yield_now()

    async def main() -> None:
        for _ in range(10):
            await rt.spawn(step())

    with rt.Runtime(flavor=flavor) as runtime:
        runtime.block_on(main())
        registry = prometheus.CollectorRegistry()
        registry.register(collector(runtime))
        text = prometheus.generate_latest(registry).decode()
        spawned = runtime.metrics().spawned_tasks
    assert spawned >= 11  # main and its ten children
    assert f"rt_spawned_tasks_total {float(spawned)}" in text
    assert "rt_alive_tasks" in text
    assert 'rt_worker_polls_total{worker="0"}' in text
