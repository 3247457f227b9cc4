"""Small scenarios that race threads against rt's wake-up, park, shutdown and cancel paths.

Each function runs one iteration on a fresh runtime of the given flavor and raises (or hangs)
when the runtime breaks its promise. :mod:`run_race` repeats one of them under a 1 µs thread
switch interval with a watchdog; ``test_races.py`` runs every one on both flavors. The first
five are the bugs that this method found (each named after its symptom); the rest ran clean
and stay as guards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import rt
import rt.time
from rt.sync import ChannelClosed, Event, mpsc


async def _noop() -> None:
    await rt.yield_now()


def lost_wakeup_paused_time_with_blocking_job(flavor: str) -> None:
    """Paused time must not park forever while a blocking job finishes (auto-advance)."""
    release = threading.Event()

    async def main() -> None:
        rt.time.pause()

        async def sleeper() -> None:
            await rt.time.sleep(10)

        h = rt.spawn(sleeper())
        blocking = rt.spawn_blocking(release.wait)
        await rt.yield_now()
        t = threading.Thread(target=release.set, name="race-release")
        t.start()
        await blocking
        await h
        t.join()

    rt.run(main(), flavor=flavor)


def task_spawned_from_outside_finishes_at_shutdown(flavor: str) -> None:
    """A task spawned from outside and never driven is cancelled and finished by shutdown."""
    runtime = rt.Runtime(flavor=flavor)
    h = runtime.spawn(_noop())
    runtime.shutdown()
    assert h.is_finished()


def shutdown_returns_while_another_thread_keeps_spawning(flavor: str) -> None:
    """A thread spawning until it is refused cannot keep shutdown waiting."""
    runtime = rt.Runtime(flavor=flavor)
    handle = runtime.handle()
    accepted: list[rt.JoinHandle[None]] = []
    first = threading.Event()

    def spawner() -> None:
        while True:
            try:
                accepted.append(handle.spawn(_noop()))
            except RuntimeError:
                return
            first.set()

    t = threading.Thread(target=spawner, name="race-spawner")
    t.start()
    first.wait()
    runtime.shutdown()
    t.join()
    assert all(h.is_finished() for h in accepted)


def block_on_racing_shutdown_gets_a_result_or_runtime_error(flavor: str) -> None:
    """``Handle.block_on`` during shutdown returns or raises RuntimeError; nothing else."""
    runtime = rt.Runtime(flavor=flavor)
    handle = runtime.handle()
    errors: list[BaseException] = []

    async def short() -> int:
        await rt.yield_now()
        return 1

    def other() -> None:
        try:
            assert handle.block_on(short()) == 1
        except RuntimeError as err:
            if "shut down" not in str(err):
                errors.append(err)
        except BaseException as err:
            errors.append(err)

    t = threading.Thread(target=other, name="race-block-on")
    t.start()
    runtime.shutdown()
    t.join()
    assert errors == [], errors


def timeout_firing_as_its_block_exits_does_not_leak_cancelled(flavor: str) -> None:
    """A ``with timeout`` left as its timer fires must not cancel the next wait; no value is
    lost either."""
    tx: mpsc.Sender[int]
    rx: mpsc.Receiver[int]
    tx, rx = mpsc.channel(16)
    n = 200

    def producer() -> None:
        for i in range(n):
            tx.blocking_send(i)
        tx.close()

    async def main() -> list[int]:
        got: list[int] = []
        t = threading.Thread(target=producer, name="race-producer")
        t.start()
        while True:
            try:
                with rt.time.timeout(0.00005):
                    v = await rx.recv()
            except rt.time.Elapsed:
                continue
            except ChannelClosed:
                break
            got.append(v)
        t.join()
        return got

    assert rt.run(main(), flavor=flavor) == list(range(n))


# -- scenarios that ran clean; kept as guards ---------------------------------------------------


def wakes_from_plain_threads(flavor: str) -> None:
    """Events set from plain threads wake every waiting task."""

    async def main() -> None:
        events = [Event() for _ in range(8)]
        waiters = [rt.spawn(e.wait()) for e in events]
        await rt.yield_now()
        threads = [threading.Thread(target=e.set, name="race-setter") for e in events]
        for t in threads:
            t.start()
        for h in waiters:
            await h
        for t in threads:
            t.join()

    rt.run(main(), flavor=flavor)


def abort_racing_a_join_from_another_runtime(flavor: str) -> None:
    """A task aborted from a plain thread while another runtime joins it: the join ends."""
    published: list[rt.JoinHandle[None]] = []
    ready = threading.Event()
    joined = Event()

    async def home() -> None:
        published.append(rt.spawn(Event().wait()))
        ready.set()
        await joined.wait()

    with rt.Runtime(flavor=flavor) as a:
        driver = threading.Thread(target=a.block_on, args=(home(),), name="race-home")
        driver.start()
        ready.wait()
        h = published[0]

        async def join() -> None:
            try:
                await h
            except rt.JoinError as err:
                assert err.is_cancelled()
            joined.set()

        t = threading.Thread(target=h.abort, name="race-abort")
        t.start()
        rt.run(join(), flavor=flavor)
        t.join()
        driver.join()


def spawn_blocking_racing_park(flavor: str) -> None:
    """Blocking jobs finishing while the runtime parks always wake their tasks."""

    async def main() -> None:
        hs = [rt.spawn_blocking(int, i) for i in range(8)]
        assert [await h for h in hs] == list(range(8))

    rt.run(main(), flavor=flavor)


def spawn_blocking_aborts_racing_the_pool(flavor: str) -> None:
    """Jobs queued at the call, their tasks aborted from a plain thread before or after they
    first run: every handle resolves (a value, or cancelled) and paused time moves again."""

    async def main() -> None:
        rt.time.pause()
        start = rt.time.Instant.now()
        hs = [rt.spawn_blocking(int, i) for i in range(8)]

        def abort_evens() -> None:
            for h in hs[::2]:
                h.abort()

        t = threading.Thread(target=abort_evens, name="race-abort")
        t.start()
        for i, h in enumerate(hs):
            try:
                assert await h == i
            except rt.JoinError as exc:
                assert i % 2 == 0 and exc.is_cancelled()
        t.join()
        await rt.time.sleep(1)  # auto-advance: no job is left counting as in flight
        assert start.elapsed() == 1.0

    rt.run(main(), flavor=flavor)


def channel_from_plain_threads_keeps_exact_counts(flavor: str) -> None:
    """Four plain threads send through a bounded channel; every value arrives once."""
    tx: mpsc.Sender[int]
    rx: mpsc.Receiver[int]
    tx, rx = mpsc.channel(4)

    def producer(k: int, sender: mpsc.Sender[int]) -> None:
        for i in range(25):
            sender.blocking_send(k * 100 + i)
        sender.close()

    async def main() -> list[int]:
        threads = [
            threading.Thread(target=producer, args=(k, tx.clone()), name="race-producer")
            for k in range(4)
        ]
        tx.close()
        for t in threads:
            t.start()
        got = [v async for v in rx]
        for t in threads:
            t.join()
        return sorted(got)

    assert rt.run(main(), flavor=flavor) == sorted(k * 100 + i for k in range(4) for i in range(25))


SCENARIOS: dict[str, Callable[[str], None]] = {
    f.__name__: f
    for f in (
        lost_wakeup_paused_time_with_blocking_job,
        task_spawned_from_outside_finishes_at_shutdown,
        shutdown_returns_while_another_thread_keeps_spawning,
        block_on_racing_shutdown_gets_a_result_or_runtime_error,
        timeout_firing_as_its_block_exits_does_not_leak_cancelled,
        wakes_from_plain_threads,
        abort_racing_a_join_from_another_runtime,
        spawn_blocking_racing_park,
        spawn_blocking_aborts_racing_the_pool,
        channel_from_plain_threads_keeps_exact_counts,
    )
}
