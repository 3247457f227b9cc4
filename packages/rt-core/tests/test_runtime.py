"""Runtime, Handle, block_on, shutdown, metrics, threads and leaks."""

from __future__ import annotations

import contextlib
import gc
import inspect
import subprocess
import sys
import textwrap
import threading
import types
import warnings
import weakref
from typing import Any

import pytest
from rtcore_helpers import Gate, open_fds, rt_threads

import rt
from rt._core._task import COMPILED


async def _tick() -> None:
    await rt.yield_now()


async def _value(v: Any) -> Any:
    return v


def test_run_returns_the_coroutine_result_and_raises_its_error(flavor: str | None) -> None:
    assert rt.run(_value(3), flavor=flavor) == 3

    async def boom() -> None:
        raise ValueError("from main")

    with pytest.raises(ValueError, match="from main"):
        rt.run(boom(), flavor=flavor)


def test_block_on_can_be_called_repeatedly_and_tasks_persist_between_calls(
    flavor: str | None,
) -> None:
    with rt.Runtime(flavor=flavor) as runtime:
        gate = Gate()

        async def background() -> str:
            await gate.wait()
            return "later"

        h = runtime.spawn(background())
        assert runtime.block_on(_value(1)) == 1
        assert not h.is_finished()

        async def finish() -> str:
            gate.open()
            return await h

        assert runtime.block_on(finish()) == "later"


async def test_nested_block_on_raises_and_says_why() -> None:
    runtime = rt.Runtime()
    try:
        with pytest.raises(RuntimeError, match="inside a running task"):
            runtime.block_on(_value(1))
        with pytest.raises(RuntimeError, match="inside a running task"):
            rt.run(_value(1))
    finally:
        # shutting down another runtime from inside a task is fine
        runtime.shutdown()


def test_bad_runtime_options_are_rejected_with_clear_errors(flavor: str | None) -> None:
    with pytest.raises(ValueError, match="flavor"):
        rt.Runtime(flavor="fast")
    with pytest.raises(ValueError, match="max_blocking_threads"):
        rt.Runtime(flavor=flavor, max_blocking_threads=0)
    with pytest.raises(ValueError, match="event_interval"):
        rt.Runtime(flavor=flavor, event_interval=0)
    with pytest.raises(ValueError, match="unhandled_error"):
        rt.Runtime(flavor=flavor, unhandled_error="explode")
    with pytest.raises(ValueError, match="worker_threads applies to flavor='multi_thread'"):
        rt.Runtime(flavor="current_thread", worker_threads=4)
    with pytest.raises(ValueError, match="global_queue_interval applies to flavor='multi"):
        rt.Runtime(flavor="current_thread", global_queue_interval=7)
    with pytest.raises(ValueError, match="on_thread_start applies to flavor='multi_thread'"):
        rt.Runtime(flavor="current_thread", on_thread_start=lambda: None)
    with pytest.raises(ValueError, match="worker_threads must be an int >= 1"):
        rt.Runtime(flavor="multi_thread", worker_threads=0)
    with pytest.raises(ValueError, match="global_queue_interval"):
        rt.Runtime(flavor="multi_thread", global_queue_interval=0)
    with pytest.raises(ValueError, match="on_thread_stop must be a callable"):
        rt.Runtime(flavor="multi_thread", on_thread_stop=3)  # type: ignore[arg-type]


def test_shutdown_cancels_tasks_runs_finally_and_is_idempotent(flavor: str | None) -> None:
    cleaned: list[int] = []

    async def worker(i: int, gate: Gate) -> None:
        try:
            await gate.wait()
        finally:
            cleaned.append(i)

    runtime = rt.Runtime(flavor=flavor)
    gate = Gate()
    handles = [runtime.spawn(worker(i, gate)) for i in range(5)]

    async def start() -> None:
        await rt.yield_now()

    runtime.block_on(start())
    runtime.shutdown()
    runtime.shutdown()
    assert sorted(cleaned) == [0, 1, 2, 3, 4]
    assert all(h.is_finished() for h in handles)
    with pytest.raises(RuntimeError, match="shut down"):
        runtime.block_on(_value(1))
    with pytest.raises(RuntimeError, match="shut down"):
        runtime.spawn(_value(1))


def test_shutdown_leaves_no_threads_fds_or_tasks(no_leaks: None, flavor: str | None) -> None:
    import socket

    from rt.lowlevel import wait_readable

    a, b = socket.socketpair()
    runtime = rt.Runtime(flavor=flavor, thread_name="rt-leak")

    async def main() -> None:
        rt.spawn(wait_readable(a))
        release = threading.Event()
        rt.spawn_blocking(release.wait, 5)
        await rt.spawn_blocking(lambda: None)
        await rt.yield_now()
        assert runtime.metrics().io_registered_fds == 1
        release.set()

    runtime.block_on(main())
    runtime.shutdown()
    a.close()
    b.close()
    assert runtime.metrics().alive_tasks == 0
    assert rt_threads() == []


def test_shutdown_timeout_gives_up_on_a_task_that_ignores_cancellation(
    caplog: pytest.LogCaptureFixture, flavor: str | None
) -> None:
    state: list[str] = []
    release = threading.Event()
    running = threading.Event()

    def stuck() -> None:
        # A blocking job that ignores everything: shutdown cannot wait for it forever.
        running.set()
        release.wait()

    async def stubborn() -> None:
        try:
            with rt.CancelScope(shield=True):
                await rt.spawn_blocking(stuck)
        finally:
            state.append("closed")

    runtime = rt.Runtime(flavor=flavor, thread_name="rt-stuck")
    runtime.spawn(stubborn())

    async def start() -> None:
        # Wait (off the runtime) until the job runs: from then on it cannot be aborted.
        await rt.spawn_blocking(running.wait)

    runtime.block_on(start())
    runtime.shutdown(timeout=0.05)
    assert state == ["closed"]
    assert any("did not finish" in r.getMessage() for r in caplog.records)
    release.set()
    for t in threading.enumerate():
        if t.name.startswith("rt-stuck"):
            t.join(5)


async def test_handle_spawn_from_many_plain_threads() -> None:
    results: list[int] = []

    async def record(i: int) -> None:
        results.append(i)

    handle = rt.Handle.current()
    handles: list[rt.JoinHandle[None]] = []
    lock = threading.Lock()

    def spawner(base: int) -> None:
        for i in range(100):
            h = handle.spawn(record(base + i))
            with lock:
                handles.append(h)

    threads = [threading.Thread(target=spawner, args=(k * 100,)) for k in range(8)]
    for t in threads:
        t.start()

    # Wait on the spawns themselves: join the threads off the runtime thread.
    def join_all() -> None:
        for t in threads:
            t.join()

    await rt.spawn_blocking(join_all)
    for h in handles:
        await h
    assert sorted(results) == list(range(800))


def test_handle_block_on_from_another_thread_while_runtime_runs(flavor: str | None) -> None:
    with rt.Runtime(flavor=flavor) as runtime:
        handle = runtime.handle()
        out: list[Any] = []

        async def main() -> None:
            gate = Gate()

            def other_thread() -> None:
                out.append(handle.block_on(_value("from thread")))
                gate.open()

            t = threading.Thread(target=other_thread)
            t.start()
            await gate.wait()
            t.join()

        runtime.block_on(main())
        assert out == ["from thread"]


def test_handle_block_on_drives_an_idle_runtime_itself(flavor: str | None) -> None:
    with rt.Runtime(flavor=flavor) as runtime:
        handle = runtime.handle()
        out: list[Any] = []
        t = threading.Thread(target=lambda: out.append(handle.block_on(_value(5))))
        t.start()
        t.join()
        assert out == [5]


def test_runtime_spawn_from_outside_runs_at_next_block_on(flavor: str | None) -> None:
    with rt.Runtime(flavor=flavor) as runtime:
        h = runtime.spawn(_value(11))

        async def main() -> Any:
            return await h

        assert runtime.block_on(main()) == 11


def test_metrics_count_spawns_polls_and_blocking_threads() -> None:
    with rt.Runtime(flavor="current_thread") as runtime:

        async def main() -> None:
            hs = [rt.spawn(_tick()) for _ in range(10)]
            for h in hs:
                await h
            await rt.spawn_blocking(lambda: None)

        runtime.block_on(main())
        m = runtime.metrics()
        assert m.flavor == "current_thread" and m.workers == 1
        assert m.spawned_tasks >= 11
        assert m.polls >= 21
        assert m.alive_tasks == 0
        assert m.blocking_threads == 1
        assert m.busy_time >= 0
        with pytest.raises(AttributeError):
            m.polls = 0  # type: ignore[misc]


def test_handle_equality_and_current(flavor: str | None) -> None:
    with rt.Runtime(flavor=flavor) as runtime:

        async def main() -> rt.Handle:
            return rt.Handle.current()

        assert runtime.block_on(main()) == runtime.handle()


def test_fd_count_is_stable_across_many_runtimes(flavor: str | None) -> None:
    before = open_fds()
    for _ in range(20):
        rt.run(_value(None), flavor=flavor)
    assert open_fds() - before == set()


def test_keyboard_interrupt_in_a_task_stops_block_on(flavor: str | None) -> None:
    async def interrupted() -> None:
        raise KeyboardInterrupt

    async def main() -> None:
        rt.spawn(interrupted())
        for _ in range(10):
            await rt.yield_now()

    with pytest.raises(KeyboardInterrupt):
        rt.run(main(), flavor=flavor)


class _Held:
    """Something a failing task's frame refers to (a transport, a socket)."""


def test_a_fatal_error_is_let_go_once_the_runtime_it_stopped_is_shut_down(
    flavor: str | None,
) -> None:
    # The scheduler keeps the fatal error block_on raised (so that the same object, re-raised
    # by a task that awaited it, does not stop the runtime twice). It kept it, and through its
    # traceback whatever the failing frame held, for as long as the runtime object lived.
    refs: list[weakref.ref[_Held]] = []

    async def fails() -> None:
        held = _Held()
        refs.append(weakref.ref(held))
        raise SystemExit("stop")

    async def main() -> None:
        rt.spawn(fails())
        for _ in range(10):
            await rt.yield_now()

    runtime = rt.Runtime(flavor=flavor)
    try:
        try:
            runtime.block_on(main())
        except SystemExit:
            pass  # the caller is done with it here
        else:
            pytest.fail("block_on did not raise the task's SystemExit")
    finally:
        runtime.shutdown()
    gc.collect()
    assert refs[0]() is None  # gone while the runtime object (``runtime``) is still here


def test_a_fatal_error_a_task_raises_as_shutdown_cancels_it_is_logged_and_let_go(
    flavor: str | None,
) -> None:
    # A task's ``finally`` raises SystemExit as shutdown cancels the task: no block_on is left
    # to raise it in. Both flavors report it and keep nothing of it (the multi-thread flavor
    # kept it unreported, and with it the frames of its traceback).
    import logging

    refs: list[weakref.ref[_Held]] = []
    parked = threading.Event()
    reported: list[tuple[str, type[BaseException] | None]] = []

    class Seen(logging.Handler):  # keeps what was said, not the record (it holds the error)
        def emit(self, record: logging.LogRecord) -> None:
            exc = record.exc_info[0] if record.exc_info else None
            reported.append((record.getMessage(), exc))

    async def stubborn() -> None:
        held = _Held()
        refs.append(weakref.ref(held))
        try:
            parked.set()
            await rt.sleep(3600)
        finally:
            raise SystemExit("from a finally")

    async def main() -> None:
        rt.spawn(stubborn())
        while not parked.is_set():
            await rt.yield_now()

    runtime = rt.Runtime(flavor=flavor)
    runtime.block_on(main())
    handler = Seen(logging.ERROR)
    log = logging.getLogger("rt")
    log.addHandler(handler)
    log.propagate = False  # (pytest's capture of the run's log keeps the records)
    try:
        runtime.shutdown()
    finally:
        log.propagate = True
        log.removeHandler(handler)
    assert ("rt: error while shutting down the runtime", SystemExit) in reported
    gc.collect()
    assert refs[0]() is None  # gone while the runtime object (``runtime``) is still here


def test_sigint_cancels_the_main_task_and_runs_its_finally(flavor: str | None) -> None:
    import os
    import signal

    cleaned: list[str] = []

    async def main() -> None:
        try:
            gate = Gate()
            os.kill(os.getpid(), signal.SIGINT)
            await gate.wait()
        finally:
            cleaned.append("finally")

    with pytest.raises(KeyboardInterrupt):
        rt.run(main(), flavor=flavor)
    assert cleaned == ["finally"]


@pytest.mark.parametrize("enable_io", [True, False])
@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
def test_a_ctrl_c_sent_by_a_task_interrupts_block_on_every_time(
    flavor: str, enable_io: bool
) -> None:
    # The signal can land just before the main thread blocks (after its last bytecode, before
    # epoll_wait or the lock wait): CPython then runs the handler only at the next wake-up,
    # and with a task waiting on nothing there is none. Repeat to give that window a chance.
    import os
    import signal

    async def main() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        await Gate().wait()

    for _ in range(100):
        with (
            rt.Runtime(flavor=flavor, enable_io=enable_io) as runtime,
            pytest.raises(KeyboardInterrupt),
        ):
            runtime.block_on(main())


@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
def test_the_signal_wakeup_fd_is_rts_only_while_it_drives_the_main_thread(flavor: str) -> None:
    import signal
    import socket

    def peek() -> int:
        fd = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(fd)
        return fd

    async def seen() -> int | None:
        # Only the current-thread flavor runs tasks on the main thread, where this is allowed.
        return peek() if flavor == "current_thread" else None

    before = open_fds()
    assert peek() == -1
    assert rt.run(seen(), flavor=flavor) != -1
    assert peek() == -1
    assert open_fds() == before

    # An application's own wakeup fd is left in place.
    r, w = socket.socketpair()
    w.setblocking(False)
    try:
        signal.set_wakeup_fd(w.fileno())
        assert rt.run(seen(), flavor=flavor) in (w.fileno(), None)
        assert peek() == w.fileno()
    finally:
        signal.set_wakeup_fd(-1)
        r.close()
        w.close()


class _SignalInTheSwap:
    """The application's own signal wakeup fd (a socket pair, as asyncio's loop keeps), and a
    ``signal.set_wakeup_fd`` that raises SIGUSR1 whenever any other fd (or none) is put in
    place: the moment rt holds the wakeup fd while it looks for the application's."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import signal
        import socket

        self.r, self.w = socket.socketpair()
        self.r.setblocking(False)
        self.w.setblocking(False)
        self._real = real = signal.set_wakeup_fd
        self._handler = signal.signal(signal.SIGUSR1, lambda *_: None)
        self._monkeypatch = monkeypatch

        def racing(fd: int, **kwargs: Any) -> int:
            old = real(fd, **kwargs)
            if fd != self.w.fileno():
                signal.raise_signal(signal.SIGUSR1)  # the C handler writes its byte now
            return old

        self.racing = racing

    def take_over(self) -> None:
        """Install the application's fd, then start racing."""
        import signal

        self._real(self.w.fileno())
        self._monkeypatch.setattr(signal, "set_wakeup_fd", self.racing)

    def received(self) -> bytes:
        try:
            return self.r.recv(64)
        except BlockingIOError:
            return b""

    def close(self) -> None:
        import signal

        self._monkeypatch.undo()
        self._real(-1)
        signal.signal(signal.SIGUSR1, self._handler)
        self.r.close()
        self.w.close()


@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
def test_a_signal_while_rt_looks_for_the_applications_wakeup_fd_still_reaches_that_fd(
    flavor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    race = _SignalInTheSwap(monkeypatch)
    try:
        race.take_over()

        async def main() -> None:
            return None

        rt.run(main(), flavor=flavor)
        # The signal's byte landed on rt's fd in the swap: rt passed it on to the application's.
        assert race.received() == bytes([signal.SIGUSR1])
    finally:
        race.close()


def test_a_signal_while_rt_gives_the_wakeup_fd_back_still_reaches_the_applications_fd(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import signal

    race = _SignalInTheSwap(monkeypatch)
    try:

        async def main() -> None:
            # rt holds the wakeup fd while it drives the main thread (current-thread flavor
            # only runs tasks there); the application takes it over, as asyncio's loop does
            # in its first add_signal_handler.
            race.take_over()

        rt.run(main(), flavor="current_thread")
        assert race.received() == bytes([signal.SIGUSR1])
    finally:
        race.close()


def test_a_signal_from_before_the_application_took_the_wakeup_fd_is_not_passed_on_to_it() -> None:
    import signal
    import socket

    r, w = socket.socketpair()
    r.setblocking(False)
    w.setblocking(False)
    previous = signal.signal(signal.SIGUSR2, lambda *_: None)
    try:

        async def main() -> None:
            # rt's fd holds the wakeup fd: this signal's byte lands there, and rt polls no
            # more before the application installs its own fd (as asyncio's loop does in its
            # first add_signal_handler). That signal was never the application's to see.
            signal.raise_signal(signal.SIGUSR2)
            signal.set_wakeup_fd(w.fileno())

        rt.run(main(), flavor="current_thread")
        with pytest.raises(BlockingIOError):
            r.recv(64)
    finally:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGUSR2, previous)
        r.close()
        w.close()


@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
def test_ctrl_c_reaches_a_runtime_asleep_in_the_reactor(flavor: str) -> None:
    import os
    import signal

    cleaned: list[str] = []

    def asleep(sched: Any) -> bool:
        # internals, on purpose: the signal must arrive while the driver blocks in epoll
        if flavor == "current_thread":
            return bool(sched._parked)
        return all(w.parked for w in sched._workers) and sched._driver_lock.locked()

    async def main() -> None:
        sched = rt.current_task()._sched
        release = threading.Event()

        def interrupt() -> None:
            while not asleep(sched):
                release.wait(0.001)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        try:
            await Gate().wait()  # no timer, no I/O: only the signal can end this
        finally:
            cleaned.append("finally")

    with pytest.raises(KeyboardInterrupt):
        rt.run(main(), flavor=flavor)
    assert cleaned == ["finally"]


# -- the shutdown contract, on both flavors (issues: shutdown waits, other threads) ------------


def _no_never_awaited(record: list[warnings.WarningMessage]) -> None:
    gc.collect()
    msgs = [str(w.message) for w in record if "never awaited" in str(w.message)]
    assert msgs == []


def test_shutdown_delivers_cancelled_to_every_parked_task_instead_of_closing_it(
    flavor: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def waiter() -> None:
        try:
            await Gate().wait()
        except rt.Cancelled:
            seen.append("cancelled")
            raise
        except GeneratorExit:
            seen.append("closed")
            raise

    async def main() -> None:
        for _ in range(200):
            rt.spawn(waiter())
        await rt.yield_now()

    rt.run(main(), flavor=flavor)
    assert seen == ["cancelled"] * 200
    assert not any("shutdown timeout" in r.getMessage() for r in caplog.records)


def test_shutdown_cancels_a_runnable_yield_loop_instead_of_closing_it(
    flavor: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def spinner() -> None:
        try:
            while True:
                await rt.yield_now()
        except rt.Cancelled:
            seen.append("cancelled")
            raise
        except GeneratorExit:
            seen.append("closed")
            raise

    async def main() -> None:
        rt.spawn(spinner())
        await rt.yield_now()

    rt.run(main(), flavor=flavor)
    assert seen == ["cancelled"]
    assert not any("shutdown timeout" in r.getMessage() for r in caplog.records)


def test_shutdown_honours_shields_and_runs_async_cleanup_to_the_end(flavor: str | None) -> None:
    log: list[str] = []

    async def shielded() -> None:
        with rt.CancelScope(shield=True):
            for _ in range(100):
                await rt.yield_now()
            log.append("shielded work done")

    async def with_cleanup() -> None:
        try:
            await Gate().wait()
        finally:
            with rt.CancelScope(shield=True):
                for _ in range(100):
                    await rt.yield_now()
                log.append("async cleanup done")

    async def main() -> None:
        rt.spawn(shielded())
        rt.spawn(with_cleanup())
        await rt.yield_now()

    rt.run(main(), flavor=flavor)
    assert sorted(log) == ["async cleanup done", "shielded work done"]


def test_shutdown_with_a_timeout_waits_for_cleanup_that_finishes_within_it(
    flavor: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    # Symptom: shutdown(0.5) returned at once and closed the tasks mid-cleanup.
    log: list[str] = []
    running = threading.Event()
    release = threading.Event()

    def work() -> None:
        running.set()
        release.wait(60)

    async def main() -> None:
        job = rt.spawn_blocking(work)
        inside = Gate()

        async def with_slow_cleanup() -> None:
            try:
                inside.open()
                await Gate().wait()
            finally:
                with rt.CancelScope(shield=True):
                    await job  # ends on another thread: only a shutdown that waits sees it
                    log.append("async cleanup done")

        rt.spawn(with_slow_cleanup())
        # in its try block before shutdown (on two workers it may not have started yet, and
        # a task cancelled before it starts has no cleanup to run)
        await inside.wait()

    runtime = rt.Runtime(flavor=flavor)
    runtime.block_on(main())
    # A job no pool thread has taken yet is dropped by shutdown, its task cancelled (as
    # Tokio's pool does): under load the thread may start late, so wait for it.
    assert running.wait(60)
    threading.Thread(target=release.set, daemon=True).start()
    runtime.shutdown(timeout=60)
    assert log == ["async cleanup done"]
    assert not any("shutdown timeout" in r.getMessage() for r in caplog.records)


def test_shielded_cleanup_at_shutdown_can_still_use_the_blocking_pool(flavor: str | None) -> None:
    # A task spawned while shutdown runs starts cancelled, but the one awaiting a blocking
    # job runs: cleanup that writes a file (rt.fs) or calls to_thread must not fail.
    log: list[object] = []

    inside: list[Gate] = []

    async def cleanup_on_the_pool(gate: Gate) -> None:
        try:
            gate.open()
            await Gate().wait()
        finally:
            with rt.CancelScope(shield=True):
                log.append(await rt.to_thread(lambda: "to_thread"))
                log.append(await rt.spawn_blocking(lambda: "spawn_blocking"))
                js = rt.JoinSet[str]()
                js.spawn_blocking(lambda: "JoinSet.spawn_blocking")
                log.append(await js.join_next())

    async def main() -> None:
        for _ in range(3):
            inside.append(Gate())
            rt.spawn(cleanup_on_the_pool(inside[-1]))
        for gate in inside:  # each in its try block before shutdown
            await gate.wait()

    rt.run(main(), flavor=flavor)
    assert sorted(map(str, log)) == sorted(
        ["to_thread", "spawn_blocking", "JoinSet.spawn_blocking"] * 3
    )


def test_shutdown_timeout_warns_naming_the_tasks_still_alive_then_closes_them(
    flavor: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    started = Gate()

    async def stubborn() -> None:
        with rt.CancelScope(shield=True):
            try:
                started.open()
                await Gate().wait()
            except GeneratorExit:
                seen.append("closed")
                raise

    runtime = rt.Runtime(flavor=flavor)
    runtime.spawn(stubborn(), name="stubborn")
    # Started, inside its shield (on the multi-thread flavor it runs on another worker, so
    # a step of the main task says nothing about it).
    runtime.block_on(started.wait())
    runtime.shutdown(timeout=0.1)
    assert seen == ["closed"]
    [record] = [r for r in caplog.records if "shutdown timeout" in r.getMessage()]
    assert "'stubborn'" in record.getMessage()


def test_a_task_spawned_from_outside_before_shutdown_is_cancelled_run_and_joinable(
    flavor: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    started: list[bool] = []

    async def never_started() -> None:
        started.append(True)

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        runtime = rt.Runtime(flavor=flavor)
        handle = runtime.spawn(never_started())
        runtime.shutdown()
        assert handle.is_finished()

        async def join() -> bool:
            try:
                await handle
            except rt.JoinError as err:
                return err.is_cancelled()
            return False

        assert rt.run(join(), flavor=flavor) or started == [True]
        _no_never_awaited(record)
    assert not any("shutdown timeout" in r.getMessage() for r in caplog.records)


def test_spawn_from_another_thread_after_shutdown_began_raises_and_shutdown_returns(
    flavor: str | None,
) -> None:
    runtime = rt.Runtime(flavor=flavor)
    handle = runtime.handle()
    accepted: list[rt.JoinHandle[None]] = []
    refused: list[RuntimeError] = []
    first = threading.Event()

    async def noop() -> None:
        await rt.yield_now()

    def spawner() -> None:
        while True:
            try:
                accepted.append(handle.spawn(noop()))
            except RuntimeError as err:
                refused.append(err)
                return
            first.set()

    t = threading.Thread(target=spawner, name="test-rt-spawner")
    t.start()
    first.wait()
    runtime.shutdown()
    t.join()
    assert "shut down" in str(refused[0])
    assert all(h.is_finished() for h in accepted)


def test_block_on_from_another_thread_after_shutdown_began_raises_runtime_error(
    flavor: str | None,
) -> None:
    runtime = rt.Runtime(flavor=flavor)
    began = threading.Event()
    refused = threading.Event()
    errors: list[BaseException] = []

    def other_thread() -> None:
        began.wait()
        try:
            runtime.handle().block_on(_value(1))
        except BaseException as err:
            errors.append(err)
        refused.set()

    async def main() -> rt.JoinHandle[None]:
        job = rt.spawn_blocking(refused.wait)

        async def cleanup_waits_for_the_other_thread() -> None:
            try:
                await Gate().wait()
            finally:
                with rt.CancelScope(shield=True):
                    began.set()
                    await job

        h = rt.spawn(cleanup_waits_for_the_other_thread())
        await rt.yield_now()
        return h

    t = threading.Thread(target=other_thread, name="test-rt-block-on")
    t.start()
    h = runtime.block_on(main())
    runtime.shutdown()
    t.join()
    assert h.is_finished()
    assert len(errors) == 1
    assert type(errors[0]) is RuntimeError
    assert "shut down" in str(errors[0])


def test_block_on_cut_short_by_shutdown_raises_runtime_error_not_cancelled(
    flavor: str | None,
) -> None:
    runtime = rt.Runtime(flavor=flavor)
    parked = threading.Event()
    errors: list[BaseException] = []

    async def forever() -> None:
        await rt.spawn_blocking(parked.set)
        await Gate().wait()

    def other_thread() -> None:
        try:
            runtime.handle().block_on(forever())
        except BaseException as err:
            errors.append(err)

    # On the current-thread flavor that thread drives the runtime: shutdown has it cancel
    # every task, then takes over once its coroutine has ended.
    t = threading.Thread(target=other_thread, name="test-rt-block-on")
    t.start()
    parked.wait()
    runtime.shutdown()
    t.join()
    assert len(errors) == 1
    assert type(errors[0]) is RuntimeError
    assert isinstance(errors[0].__cause__, rt.Cancelled)


def test_shutdown_timeout_closes_a_shielded_block_on_running_on_another_thread(
    flavor: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    # On the current-thread flavor that thread drives the runtime: once the timeout passes,
    # shutdown has it stop driving, then closes its coroutine like any task left.
    runtime = rt.Runtime(flavor=flavor)
    shielded = threading.Event()
    errors: list[BaseException] = []
    seen: list[str] = []

    async def shielded_forever() -> None:
        with rt.CancelScope(shield=True):
            shielded.set()
            try:
                await Gate().wait()
            except GeneratorExit:
                seen.append("closed")
                raise

    def other_thread() -> None:
        try:
            runtime.handle().block_on(shielded_forever())
        except BaseException as err:
            errors.append(err)

    t = threading.Thread(target=other_thread, name="test-rt-block-on")
    t.start()
    shielded.wait()
    runtime.shutdown(timeout=0.1)
    t.join()
    assert seen == ["closed"]
    assert len(errors) == 1
    assert type(errors[0]) is RuntimeError
    assert isinstance(errors[0].__cause__, rt.Cancelled)
    assert any("shutdown timeout" in r.getMessage() for r in caplog.records)


def test_apis_refusing_a_coroutine_close_it(flavor: str | None) -> None:
    async def coro() -> None:
        pass

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with pytest.raises(ValueError):
            rt.run(coro(), flavor="fastest")
        with pytest.raises(RuntimeError):
            rt.spawn(coro())
        runtime = rt.Runtime(flavor=flavor)
        if not COMPILED:  # compiled, mypyc refuses the int at the call, before rt's code runs
            with pytest.raises(TypeError):
                runtime.spawn(coro(), name=3)  # type: ignore[arg-type]
        runtime.shutdown()
        with pytest.raises(RuntimeError):
            runtime.spawn(coro())
        with pytest.raises(RuntimeError):
            runtime.handle().spawn(coro())
        with pytest.raises(RuntimeError):
            runtime.block_on(coro())
        with pytest.raises(RuntimeError, match="shut down"):
            runtime.handle().block_on(coro())
        with pytest.raises(RuntimeError, match="shut down"):
            runtime.handle().spawn_blocking(int)
        with pytest.raises(RuntimeError):
            rt.JoinSet[None]().spawn(coro())
        with pytest.raises(RuntimeError):
            rt.TaskGroup().spawn(coro())
        with pytest.raises(RuntimeError):
            rt.spawn_local(coro())

        async def nested() -> None:
            with pytest.raises(RuntimeError):
                rt.run(coro())
            with pytest.raises(RuntimeError):
                rt.Handle.current().block_on(coro())

        rt.run(nested(), flavor=flavor)
        _no_never_awaited(record)


def test_failed_tasks_reported_at_interpreter_exit_print_no_import_error(
    flavor: str | None,
) -> None:
    program = textwrap.dedent(
        """
        import sys

        import rt

        async def boom():
            raise ValueError("boom")

        async def main():
            hs = [rt.spawn(boom()) for _ in range(50)]
            for h in hs:
                while not h.is_finished():
                    await rt.yield_now()
            return hs

        KEEP = rt.run(main(), flavor=sys.argv[1])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", program, flavor or "current_thread"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "ImportError" not in out.stderr
    assert "meta_path" not in out.stderr


def test_a_runtime_abandoned_at_interpreter_exit_prints_no_import_error(
    flavor: str | None,
) -> None:
    # Never shut down, holding a parked task and tasks never started: collected while the
    # interpreter finalizes, when an import inside __del__ fails with "sys.meta_path is None".
    program = textwrap.dedent(
        """
        import sys

        import rt

        RUNTIME = rt.Runtime(flavor=sys.argv[1])

        async def park():
            await rt.lowlevel.wait_task_rescheduled(lambda: rt.lowlevel.Abort.SUCCEEDED)

        async def boom():
            raise ValueError("boom")

        async def main():
            rt.spawn(park())
            return [rt.spawn(boom()) for _ in range(3)]

        KEEP = RUNTIME.block_on(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", program, flavor or "current_thread"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "ImportError" not in out.stderr
    assert "meta_path" not in out.stderr
    assert "Traceback" not in out.stderr


def test_a_task_spawned_during_shutdown_is_cancelled_before_it_runs_on_every_flavor(
    flavor: str | None,
) -> None:
    # Which place decides "cancelled before it started" used to differ by flavor: both now
    # refuse to run the body of a task that a task spawns in its cleanup during shutdown.
    ran: list[str] = []
    handles: list[rt.JoinHandle[None]] = []

    async def late() -> None:
        ran.append("late")

    started = Gate()

    async def spawner() -> None:
        try:
            started.open()
            await rt.lowlevel.wait_task_rescheduled(lambda: rt.lowlevel.Abort.SUCCEEDED)
        finally:
            handles.append(rt.spawn(late()))

    runtime = rt.Runtime(flavor=flavor)
    runtime.spawn(spawner())
    # On the multi-thread flavor the spawner may run on another worker: wait until it has
    # started (shutdown would otherwise cancel it before its first step, and nothing spawns).
    runtime.block_on(started.wait())
    runtime.shutdown()
    assert ran == []
    assert len(handles) == 1 and handles[0].is_finished()


def test_a_scheduler_keeps_its_instance_attributes_within_cpythons_shared_keys_limit(
    flavor: str | None,
) -> None:
    # CPython (3.11, 3.12) shares one dict-keys table among the instances of a class only up
    # to 30 keys; past that, every method call on the scheduler (``task._sched.wake(task)``,
    # once per wake-up) takes the slow, unspecialized lookup. Diagnostics add one attribute.
    from rt._core._current import STATE
    from rt._core._task import COMPILED

    if COMPILED:
        pytest.skip("compiled build: the schedulers are native classes, with no instance dict")

    async def count() -> int:
        st = STATE.get(None)
        sched = getattr(st, "_mt", st)  # a multi-thread worker's scheduler
        return len(vars(sched))

    plain = rt.run(count(), flavor=flavor)
    diagnosed = rt.run(count(), flavor=flavor, on_task_spawn=lambda meta: None)
    assert max(plain, diagnosed) <= 30, (
        f"{plain} / {diagnosed} scheduler attributes: keep them at 30 or fewer (see the test)"
    )


def same_error_text(ours: str, runtimes: str) -> bool:
    """Whether rt's option check words an error as ``rt.Runtime(...)`` does. Python 3.13 adds
    "Did you mean ...?" to an unknown keyword for some misspellings; rt's check adds one for a
    close match on every version: that courtesy is left out of the comparison."""

    def plain(text: str) -> str:
        return text.replace("Runtime.__init__()", "Runtime()").split(". Did you mean ")[0]

    return plain(ours) == plain(runtimes)


_BAD_OPTIONS = [
    {"flavor": "fast"},
    {"flavor": "multi_thread", "worker_threads": 0},
    {"flavor": "multi_thread", "worker_threads": -3},
    {"flavor": "current_thread", "worker_threads": 4},
    {"flavor": "multi_thread", "on_thread_start": 42},
    {"on_task_spawn": "not callable"},
    {"max_blocking_threads": 0},
    {"thread_name": ""},
    {"gc": "sometimes"},
    {"poll_time_histogram": 1},
    {"workers": 4},
]


@pytest.mark.parametrize("options", _BAD_OPTIONS, ids=lambda o: ",".join(map(str, o.items())))
def test_check_runtime_options_raises_exactly_what_runtime_raises(options: dict[str, Any]) -> None:
    from rt.lowlevel import check_runtime_options

    with pytest.raises((TypeError, ValueError)) as built:
        rt.Runtime(**options)
    with pytest.raises(type(built.value)) as checked:
        check_runtime_options(**options)
    if not COMPILED:  # compiled, Runtime's own argument checks word a wrong type their way
        assert same_error_text(str(checked.value), str(built.value))


def test_check_runtime_options_names_the_option_a_misspelt_one_was_meant_to_be() -> None:
    from rt.lowlevel import check_runtime_options

    with pytest.raises(TypeError, match=r"'event_intervall'\. Did you mean 'event_interval'\?"):
        check_runtime_options(event_intervall=5)
    with pytest.raises(TypeError) as far:  # nothing close: no guess
        check_runtime_options(zzz=1)
    assert "Did you mean" not in str(far.value)


def test_check_runtime_options_builds_nothing() -> None:
    from rt.lowlevel import check_runtime_options

    fds, threads = open_fds(), threading.active_count()
    check_runtime_options(flavor="multi_thread", worker_threads=3, thread_name="checked")
    check_runtime_options()
    assert threading.active_count() == threads
    assert open_fds() <= fds


def test_check_runtime_options_knows_every_option_of_runtime_with_its_default() -> None:
    from rt._core._options import RUNTIME_DEFAULTS

    try:
        params = inspect.signature(rt.Runtime).parameters
    except ValueError:  # pragma: no cover - a compiled build without signatures
        pytest.skip("no signature for rt.Runtime in this build")
    assert {name: p.default for name, p in params.items()} == RUNTIME_DEFAULTS


class _WakeAsItParks:
    """Wraps a runtime's top driver: on the first ``park`` after ``armed`` is set, runs
    ``fn`` on the parking thread before parking below. That is where a finalizer (the
    collector can run one at any allocation) or a signal handler would run on its way to the
    blocking wait, after the loop's last look at its queues."""

    def __init__(self, inner: Any, fn: Any) -> None:
        self.inner = inner
        self.fn = fn
        self.armed = threading.Event()
        self.fired = threading.Event()

    def park(self, timeout: float | None) -> None:
        if self.armed.is_set() and not self.fired.is_set():
            self.fired.set()
            self.fn()
        self.inner.park(timeout)

    def unpark(self) -> None:
        self.inner.unpark()

    def shutdown(self) -> None:
        self.inner.shutdown()


@pytest.mark.parametrize("enable_io", [True, False], ids=["reactor", "thread-parker"])
@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
def test_a_task_woken_on_the_runtime_thread_as_it_parks_is_not_left_waiting(
    flavor: str, enable_io: bool
) -> None:
    # A wake-up made on a runtime thread after its loop found nothing to run, before the
    # driver blocks (a finalizer waking a receiver, say): the park must end for it, as for a
    # wake-up from another thread. Without that the woken task waits for whatever wakes the
    # thread next, here nothing.
    notify = rt.sync.Notify()
    options: dict[str, Any] = {"worker_threads": 1} if flavor == "multi_thread" else {}
    options["enable_io"] = enable_io
    runtime = rt.Runtime(flavor=flavor, **options)
    sched = runtime._sched
    assert sched is not None
    hook = _WakeAsItParks(sched._driver, notify.notify_one)
    sched._driver = hook
    done = threading.Event()

    async def victim() -> None:
        await notify.notified()

    async def main() -> None:
        waiting = rt.spawn(victim())
        for _ in range(3):
            await rt.yield_now()  # the victim runs first and waits on the Notify (one thread)
        hook.armed.set()
        await waiting

    def run() -> None:
        runtime.block_on(main())
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert hook.fired.wait(30), "the runtime never parked"
        woke = done.wait(10)
    finally:
        if not done.is_set():
            notify.notify_one()  # from this thread: unparks it
            hook.inner.unpark()
        thread.join(30)
        runtime.shutdown()
    assert woke, "the task woken as its runtime parked stayed parked until something else woke it"


def test_a_task_spawned_by_a_finalizer_as_block_on_posts_its_own_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The current-thread block_on posts its task holding the scheduler's lock, and allocates
    # there (a partial): a finalizer run by the collector at that point may spawn on the same
    # runtime through a handle it kept, from that same thread, which takes the lock again to
    # post. The spawn is made at exactly that point. Before, the lock was not re-entrant and
    # the thread deadlocked.
    from rt._core import _scheduler

    block_on = _scheduler.CurrentThreadScheduler.block_on
    if COMPILED or not isinstance(block_on, types.FunctionType):
        pytest.skip("compiled by mypyc: no Python frame of block_on to hook")
    runtime = rt.Runtime(flavor="current_thread")
    handle = runtime.handle()
    ran: list[str] = []
    spawned: list[rt.JoinHandle[None]] = []
    real: Any = vars(_scheduler)["partial"]

    async def cleanup() -> None:
        ran.append("cleanup")

    async def main() -> None:
        await spawned[0]

    def partial(*args: Any, **kwargs: Any) -> Any:
        if not spawned and sys._getframe(1).f_code is block_on.__code__:
            spawned.append(handle.spawn(cleanup()))  # what the finalizer does
        return real(*args, **kwargs)

    monkeypatch.setattr(_scheduler, "partial", partial)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            runtime.block_on(main())
            runtime.shutdown()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(30)
    if t.is_alive():
        sched: Any = runtime._sched
        with contextlib.suppress(RuntimeError):
            sched._core._lock.release()  # a plain lock may be freed by any thread
        t.join(30)
        pytest.fail("spawning inside block_on's locked lines deadlocked the thread")
    if errors:
        raise errors[0]
    assert ran == ["cleanup"]
