"""Small scenarios that race threads against rt's wake-up, park, shutdown and cancel paths.

Each function runs one iteration on a fresh runtime of the given flavor and raises (or hangs)
when the runtime breaks its promise. :mod:`run_race` repeats one of them under a 1 µs thread
switch interval with a watchdog; ``test_races.py`` runs every one on both flavors. The first
five are the bugs that this method found (each named after its symptom), then two found by the
audit of those fixes; the rest ran clean and stay as guards.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable

import rt
import rt.time
from rt.sync import ChannelClosed, Event, Notify, Semaphore, broadcast, mpsc, watch


async def _noop() -> None:
    await rt.yield_now()


def _at_once(barrier: threading.Barrier, fn: Callable[[], object]) -> Callable[[], None]:
    """``fn``, called once every party of ``barrier`` has arrived (threads acting together)."""

    def run() -> None:
        barrier.wait()
        fn()

    return run


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


_iterations = itertools.count()


def shutdown_cancels_a_block_on_driving_on_another_thread(flavor: str) -> None:
    """Shutdown while another thread's ``block_on`` drives (current-thread) or waits on the
    runtime: that ``block_on`` raises RuntimeError and shutdown returns. (current-thread:
    shutdown waited for the driving coroutine to end by itself, forever here.)"""
    runtime = rt.Runtime(flavor=flavor)
    started = threading.Event()
    errors: list[BaseException] = []

    async def forever() -> None:
        started.set()
        await Event().wait()

    def other() -> None:
        try:
            runtime.handle().block_on(forever())
        except RuntimeError as err:
            if "shut down" not in str(err):
                errors.append(err)
        except BaseException as err:
            errors.append(err)
        else:
            errors.append(AssertionError("block_on returned from a coroutine that never ends"))

    t = threading.Thread(target=other, name="race-block-on")
    t.start()
    if next(_iterations) % 2:
        started.wait()  # every other iteration, only once it drives (or waits)
    runtime.shutdown()
    t.join()
    assert errors == [], errors


def shutdown_timeout_racing_a_shielded_block_on_on_another_thread(flavor: str) -> None:
    """``shutdown(timeout)`` while another thread's ``block_on`` runs a shielded coroutine that
    ends about when the timeout passes: that ``block_on`` returns its value or raises
    RuntimeError, and shutdown returns (current-thread: it tells the driving thread to stop)."""
    runtime = rt.Runtime(flavor=flavor)
    started = threading.Event()
    errors: list[BaseException] = []

    async def shielded_briefly() -> int:
        with rt.CancelScope(shield=True):
            started.set()
            for _ in range(300):
                await rt.yield_now()
        return 1

    def other() -> None:
        try:
            assert runtime.handle().block_on(shielded_briefly()) == 1
        except RuntimeError as err:
            if "shut down" not in str(err):
                errors.append(err)
        except BaseException as err:
            errors.append(err)

    t = threading.Thread(target=other, name="race-block-on")
    t.start()
    started.wait()
    log = logging.getLogger("rt")
    level = log.level
    log.setLevel(logging.ERROR)  # "did not finish within the shutdown timeout" is expected here
    try:
        runtime.shutdown(timeout=0.00005)
    finally:
        log.setLevel(level)
    t.join()
    assert errors == [], errors


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


def broadcast_and_watch_wake_tasks_from_plain_threads(flavor: str) -> None:
    """A plain thread publishes on a broadcast and a watch channel: every task receiver gets
    every broadcast value in order, and the watch receiver its last value."""
    n = 40

    async def main() -> None:
        btx: broadcast.Sender[int]
        btx, brx = broadcast.channel(n)  # room for every value: no receiver lags
        wtx: watch.Sender[int]
        wtx, wrx = watch.channel(0)
        receivers = [brx, btx.subscribe(), btx.subscribe()]

        async def take_all(rx: broadcast.Receiver[int]) -> list[int]:
            got: list[int] = []
            while True:
                try:
                    got.append(await rx.recv())
                except ChannelClosed:
                    return got

        takers = [rt.spawn(take_all(rx)) for rx in receivers]
        del receivers, brx
        last = rt.spawn(wrx.wait_for(lambda v: v == n))
        await rt.yield_now()

        def publish() -> None:
            for i in range(n):
                btx.send(i)
                wtx.send(i + 1)
            btx.close()

        t = threading.Thread(target=publish, name="race-publisher")
        t.start()
        for h in takers:
            assert await h == list(range(n))
        assert await last == n
        await rt.spawn_blocking(t.join)

    rt.run(main(), flavor=flavor)


def notify_and_semaphore_wake_tasks_from_plain_threads(flavor: str) -> None:
    """Plain threads call ``notify_one`` and ``add_permits`` once per waiting task: every
    waiter gets through, none twice."""
    k = 6

    async def main() -> None:
        notify = Notify()
        sem = Semaphore(0)

        async def acquire() -> None:
            permit = await sem.acquire()
            permit.forget()

        waiters = [rt.spawn(notify.notified()) for _ in range(k)]
        waiters += [rt.spawn(acquire()) for _ in range(k)]
        while notify.statistics().waiters < k or sem.statistics().waiters < k:
            await rt.yield_now()
        threads = [
            threading.Thread(target=f, name="race-waker")
            for f in [notify.notify_one] * k + [lambda: sem.add_permits(1)] * k
        ]
        for t in threads:
            t.start()
        for h in waiters:
            await h
        assert sem.available_permits() == 0
        assert not notify.statistics().permit_stored

        def join() -> None:
            for t in threads:
                t.join()

        await rt.spawn_blocking(join)

    rt.run(main(), flavor=flavor)


def spawn_blocking_finishing_as_shutdown_begins(flavor: str) -> None:
    """A blocking job released by a plain thread as shutdown begins: its completion (the
    pool thread's wake-up, the drained pool's unpark) races shutdown cancelling the task and
    closing the drivers. The task ends (cancelled, mostly, or with the job's value), and
    shutdown returns."""
    runtime = rt.Runtime(flavor=flavor)
    started = threading.Event()
    release = threading.Event()

    def job() -> int:
        started.set()
        release.wait()
        return 7

    async def waits_for_the_job() -> int:
        return await rt.spawn_blocking(job)

    async def until_started() -> None:
        await rt.spawn_blocking(started.wait)

    h = runtime.spawn(waits_for_the_job())
    runtime.block_on(until_started())
    both = threading.Barrier(2)
    t = threading.Thread(target=_at_once(both, release.set), name="race-release")
    t.start()
    both.wait()
    runtime.shutdown()
    t.join()
    assert h.is_finished()

    async def join() -> int | None:
        try:
            return await h
        except rt.JoinError as err:
            assert err.is_cancelled(), err
            return None

    assert rt.run(join(), flavor=flavor) in (7, None)


def timeout_expiring_as_the_task_finishes(flavor: str) -> None:
    """Tasks whose timeout fires as their body completes (a plain thread sends the value
    they wait for, then they return): each ends with its value or ``Elapsed``, never
    cancelled, and a value a timed-out task did not take is still in its channel."""
    k = 8

    async def main() -> None:
        channels = [mpsc.channel[int](1) for _ in range(k)]

        async def one(rx: mpsc.Receiver[int]) -> int | None:
            got = None
            try:
                with rt.time.timeout(0.00003):
                    got = await rx.recv()
            except rt.time.Elapsed:
                pass
            return got

        tasks = [rt.spawn(one(rx)) for _, rx in channels]

        def send() -> None:
            for i, (tx, _) in enumerate(channels):
                tx.try_send(i)

        t = threading.Thread(target=send, name="race-sender")
        t.start()
        results = [await h for h in tasks]  # a leaked Cancelled raises JoinError here
        await rt.spawn_blocking(t.join)
        for i, ((_, rx), got) in enumerate(zip(channels, results, strict=True)):
            assert got == i or (got is None and rx.try_recv() == i), (i, got)

    rt.run(main(), flavor=flavor)


def abort_racing_completion_joined_from_another_runtime(flavor: str) -> None:
    """A task finishing (a plain thread sets what it waits for) while another thread aborts
    it and another runtime joins it: the join ends with the value or a cancellation."""
    published: list[rt.JoinHandle[int]] = []
    ready = threading.Event()
    joined = Event()
    go = Event()

    async def finishes() -> int:
        await go.wait()
        return 5

    async def home() -> None:
        published.append(rt.spawn(finishes()))
        ready.set()
        await joined.wait()

    with rt.Runtime(flavor=flavor) as a:
        driver = threading.Thread(target=a.block_on, args=(home(),), name="race-home")
        driver.start()
        ready.wait()
        h = published[0]
        outcome: list[object] = []

        async def join() -> None:
            try:
                outcome.append(await h)
            except rt.JoinError as err:
                assert err.is_cancelled(), err
                outcome.append("cancelled")
            joined.set()

        together = threading.Barrier(2)  # finish and abort as close together as can be
        threads = [
            threading.Thread(target=_at_once(together, go.set), name="race-finish"),
            threading.Thread(target=_at_once(together, h.abort), name="race-abort"),
        ]
        for t in threads:
            t.start()
        rt.run(join(), flavor=flavor)
        for t in threads:
            t.join()
        driver.join()
        assert outcome in ([5], ["cancelled"]), outcome


SCENARIOS: dict[str, Callable[[str], None]] = {
    f.__name__: f
    for f in (
        lost_wakeup_paused_time_with_blocking_job,
        task_spawned_from_outside_finishes_at_shutdown,
        shutdown_returns_while_another_thread_keeps_spawning,
        block_on_racing_shutdown_gets_a_result_or_runtime_error,
        timeout_firing_as_its_block_exits_does_not_leak_cancelled,
        shutdown_cancels_a_block_on_driving_on_another_thread,
        shutdown_timeout_racing_a_shielded_block_on_on_another_thread,
        wakes_from_plain_threads,
        abort_racing_a_join_from_another_runtime,
        spawn_blocking_racing_park,
        spawn_blocking_aborts_racing_the_pool,
        channel_from_plain_threads_keeps_exact_counts,
        broadcast_and_watch_wake_tasks_from_plain_threads,
        notify_and_semaphore_wake_tasks_from_plain_threads,
        spawn_blocking_finishing_as_shutdown_begins,
        timeout_expiring_as_the_task_finishes,
        abort_racing_completion_joined_from_another_runtime,
    )
}
