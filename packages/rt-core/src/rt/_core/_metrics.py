"""Runtime metrics, as a frozen snapshot."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._multi import MultiThreadScheduler
    from ._scheduler import CurrentThreadScheduler


@dataclass(frozen=True, slots=True)
class WorkerMetrics:
    """Counters of one worker thread (one entry per worker in
    :attr:`RuntimeMetrics.worker_metrics`)."""

    index: int
    """The worker's position, ``0 .. workers - 1``."""
    thread_name: str
    """The worker thread's name (``thread_name`` option, then ``-<index>``)."""
    polls: int
    """Task steps this worker ran (added once per batch of steps, so a snapshot taken while
    the worker runs can lag by one batch)."""
    steals: int
    """Tasks this worker took from other workers' queues."""
    park_count: int
    """Times the worker parked with nothing to do."""
    local_queue_depth: int
    """Tasks waiting in this worker's local queue (and LIFO slot)."""
    busy_time: float
    """Seconds the worker spent running tasks and drivers, not parked."""
    poll_time_histogram: tuple[int, ...] = ()
    """Task steps by duration, when the runtime times each step (built with
    ``poll_time_histogram=True``, or from the first time a client attaches to its console;
    empty otherwise): entry ``i`` counts steps that took less than
    ``2**i`` µs (and at least half that), the last entry every longer one."""


@dataclass(frozen=True, slots=True)
class RuntimeMetrics:
    """A snapshot of a runtime's counters, returned by :meth:`rt.Runtime.metrics`.

    Counters (``spawned_tasks``, ``polls``, ``park_count``) only grow; gauges describe the moment
    the snapshot was taken.
    """

    flavor: str
    """The scheduler flavor (``"current_thread"`` or ``"multi_thread"``)."""
    workers: int
    """Number of threads that run tasks."""
    alive_tasks: int
    """Tasks spawned and not yet finished."""
    spawned_tasks: int
    """Tasks spawned since the runtime was built."""
    polls: int
    """Task steps run (each ``send``/``throw`` into a coroutine)."""
    local_queue_depth: int
    """Tasks waiting in the run queue."""
    injection_queue_depth: int
    """Tasks and callbacks queued from other threads, not yet picked up by a worker."""
    park_count: int
    """Times the scheduler parked (blocked in the driver) because nothing was runnable."""
    busy_time: float
    """Seconds spent running tasks and the driver (wall time of block_on minus time parked)."""
    blocking_threads: int
    """Threads in the blocking pool."""
    idle_blocking_threads: int
    """Blocking threads waiting for work."""
    blocking_queue_depth: int
    """``spawn_blocking`` jobs waiting for a thread."""
    io_registered_fds: int
    """File descriptors the reactor currently watches."""
    worker_metrics: tuple[WorkerMetrics, ...] = ()
    """Per-worker counters (one entry for a current-thread runtime, the thread driving it)."""
    slow_polls: int = 0
    """Task steps that held their thread longer than ``slow_poll_threshold`` (each reported
    once, while it ran, through the ``rt`` logger); 0 when the detector is off."""


# -- how each flavor fills them in (loaded with this module, on first use) --------------


def multi_thread_metrics(sched: MultiThreadScheduler) -> RuntimeMetrics:
    """The snapshot ``MultiThreadScheduler.metrics()`` returns."""
    threads, idle, queued = sched._blocking.stats()
    now = time.perf_counter()
    per_worker = []
    diag = sched._diag
    for w in sched._workers:
        start = w.started
        if start is None:
            busy = 0.0
        else:
            end = w.stopped if w.stopped is not None else now
            busy = max(0.0, end - start - w.parked_time)
        per_worker.append(
            WorkerMetrics(
                index=w.index,
                thread_name=w.name,
                polls=w.polls,
                steals=w.steals,
                park_count=w.park_count,
                local_queue_depth=len(w.local) + (w.lifo is not None),
                busy_time=busy,
                poll_time_histogram=diag.histogram_for(w.ident) if diag is not None else (),
            )
        )
    return RuntimeMetrics(
        flavor=sched.flavor,
        workers=len(sched._workers),
        alive_tasks=len(sched._tasks),
        spawned_tasks=sched._spawned_outside + sum(w.spawned for w in sched._workers),
        polls=sum(m.polls for m in per_worker),
        local_queue_depth=sum(m.local_queue_depth for m in per_worker),
        injection_queue_depth=len(sched._inject) + len(sched._callbacks),
        park_count=sum(m.park_count for m in per_worker),
        busy_time=sum(m.busy_time for m in per_worker),
        blocking_threads=threads,
        idle_blocking_threads=idle,
        blocking_queue_depth=queued,
        io_registered_fds=sched._io.registered_fds() if sched._io is not None else 0,
        worker_metrics=tuple(per_worker),
        slow_polls=diag.slow_polls if diag is not None else 0,
    )


def current_thread_metrics(sched: CurrentThreadScheduler) -> RuntimeMetrics:
    """The snapshot ``CurrentThreadScheduler.metrics()`` returns."""
    threads, idle, queued = sched._blocking.stats()
    busy = sched._driven_time - sched._parked_time
    start = sched._drive_start
    if start is not None:
        busy += time.perf_counter() - start
    busy = max(0.0, busy)
    diag = sched._diag
    hist: tuple[int, ...] = ()
    if diag is not None:
        # block_on may drive this flavor from more than one thread over its life: add them up
        hist = tuple(map(sum, zip(*diag.histograms.values(), strict=True))) or (
            diag.histogram_for(0)
        )
    return RuntimeMetrics(
        flavor=sched.flavor,
        workers=1,
        alive_tasks=len(sched._tasks),
        spawned_tasks=sched._spawned,
        polls=sched._polls,
        local_queue_depth=len(sched._ready),
        injection_queue_depth=len(sched._inject),
        park_count=sched._park_count,
        busy_time=busy,
        blocking_threads=threads,
        idle_blocking_threads=idle,
        blocking_queue_depth=queued,
        io_registered_fds=sched._io.registered_fds() if sched._io is not None else 0,
        worker_metrics=(
            WorkerMetrics(
                index=0,
                thread_name="block_on",
                polls=sched._polls,
                steals=0,
                park_count=sched._park_count,
                local_queue_depth=len(sched._ready),
                busy_time=busy,
                poll_time_histogram=hist,
            ),
        ),
        slow_polls=diag.slow_polls if diag is not None else 0,
    )
