"""Runtime metrics, as a frozen snapshot."""

from __future__ import annotations

from dataclasses import dataclass


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
