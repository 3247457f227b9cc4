"""rt.signal: real signals sent with os.kill to this process and by child processes."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import textwrap
import threading
import types
import weakref
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import rt
import rt.lowlevel
import rt.signal
import rt.sync
import rt.time
from rt.process import Child, Command, Stdio
from rt.signal import _registry
from rt.signal.unix import Signal, SignalKind

USR1 = SignalKind.user_defined1()


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


@pytest.fixture(autouse=True)
def no_listener_left() -> Iterator[None]:
    yield
    # (rt-process's SIGCHLD watcher, if a test in this process used it, keeps its listener)
    assert _registry._counts == _registry._lifelong
    assert _registry._installed == set(_registry._lifelong)


async def delivered(stream: Signal) -> None:
    """Send SIGUSR1 to this process and wait until ``stream`` saw it."""
    os.kill(os.getpid(), signal.SIGUSR1)
    assert await stream.recv()


async def test_a_stream_receives_a_signal_sent_with_os_kill() -> None:
    async with rt.signal.unix.signal(USR1) as stream:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert await stream.recv() is True
    assert "closed" in repr(stream)


async def test_several_listeners_of_one_signal_each_see_a_delivery() -> None:
    streams = [rt.signal.unix.signal(USR1) for _ in range(3)]
    os.kill(os.getpid(), signal.SIGUSR1)
    for stream in streams:
        assert await stream.recv()
        stream.close()


async def test_deliveries_nobody_waited_for_coalesce_into_one_recv() -> None:
    stream = rt.signal.unix.signal(USR1)
    probe = rt.signal.unix.signal(USR1)
    for _ in range(3):
        await delivered(probe)  # each one handled before the next is sent
    assert await stream.recv()  # the three collapse into one, none is lost
    with pytest.raises(rt.time.Elapsed):
        await rt.time.timeout(0.05, stream.recv())
    await delivered(probe)
    assert await stream.recv()
    stream.close()
    probe.close()


async def test_a_cancelled_recv_consumes_no_delivery() -> None:
    stream = rt.signal.unix.signal(USR1)
    with pytest.raises(rt.time.Elapsed):
        await rt.time.timeout(0.01, stream.recv())
    os.kill(os.getpid(), signal.SIGUSR1)
    assert await stream.recv()
    stream.close()


async def test_async_for_yields_per_delivery_and_ends_when_closed() -> None:
    stream = rt.signal.unix.signal(USR1)
    probe = rt.signal.unix.signal(USR1)
    seen = 0

    async def consume() -> None:
        nonlocal seen
        async for _ in stream:
            seen += 1

    consumer = rt.spawn(consume())
    await delivered(probe)
    stream.close()  # from another task: the loop ends
    await consumer
    assert seen <= 1
    probe.close()


async def test_a_signal_sent_by_a_child_process_is_received() -> None:
    stream = rt.signal.unix.signal(SignalKind.user_defined2())
    status = await Command("sh").args(["-c", f"kill -USR2 {os.getpid()}"]).status()
    assert status == 0
    assert await stream.recv()
    stream.close()


async def test_a_burst_of_signals_loses_neither_the_last_one_nor_the_other_listener() -> None:
    # A child sends 500 SIGUSR1 as fast as it can while one listener loops on recv() and a
    # second, dropped half way, stays unread. Coalescing is fine; what must hold: once the
    # burst is over, a delivery after it is still seen (the stream is not wedged), and the
    # drop left the other listener and the handler in place.
    looping = rt.signal.unix.signal(USR1)
    dropped = rt.signal.unix.signal(USR1)
    tx, rx = rt.sync.mpsc.unbounded_channel[int]()

    async def consume() -> None:
        while await looping.recv():
            tx.send(1)

    consumer = rt.spawn(consume())
    burst = Command("sh").args(["-c", f"for i in $(seq 500); do kill -USR1 {os.getpid()}; done"])
    sender = rt.spawn(burst.status())
    assert await rt.time.timeout(30, rx.recv()) == 1  # the burst is arriving
    del dropped
    gc.collect()
    assert await rt.time.timeout(30, sender) == 0
    with contextlib.suppress(rt.sync.ChannelEmpty):
        while True:
            rx.try_recv()  # what the burst brought (a delivery may still be on its way)
    os.kill(os.getpid(), signal.SIGUSR1)
    assert await rt.time.timeout(30, rx.recv()) == 1
    looping.close()
    await consumer


async def test_ctrl_c_completes_on_sigint_instead_of_interrupting() -> None:
    waiter = rt.spawn(rt.signal.ctrl_c())
    while signal.SIGINT not in _registry._installed:
        await rt.yield_now()
    os.kill(os.getpid(), signal.SIGINT)
    await waiter  # no KeyboardInterrupt anywhere


async def test_sigkill_and_sigstop_cannot_be_listened_for() -> None:
    with pytest.raises(ValueError, match="SIGKILL"):
        rt.signal.unix.signal(SignalKind.from_raw(signal.SIGKILL))
    with pytest.raises(ValueError, match="SIGSTOP"):
        rt.signal.unix.signal(SignalKind.from_raw(signal.SIGSTOP))
    with pytest.raises(ValueError, match="cannot be listened"):
        rt.signal.unix.signal(SignalKind.from_raw(10_000))
    with pytest.raises(TypeError, match="SignalKind"):
        rt.signal.unix.signal(signal.SIGTERM)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"unix\.signal"):
        Signal()


def test_signal_kinds_name_their_signals() -> None:
    kinds = {
        SignalKind.hangup(): signal.SIGHUP,
        SignalKind.interrupt(): signal.SIGINT,
        SignalKind.quit(): signal.SIGQUIT,
        SignalKind.terminate(): signal.SIGTERM,
        SignalKind.user_defined1(): signal.SIGUSR1,
        SignalKind.user_defined2(): signal.SIGUSR2,
        SignalKind.child(): signal.SIGCHLD,
        SignalKind.window_change(): signal.SIGWINCH,
    }
    assert {kind.signum for kind in kinds} == set(kinds.values())
    assert SignalKind.from_raw(signal.SIGTERM) == SignalKind.terminate()
    assert repr(SignalKind.terminate()) == "SignalKind(SIGTERM)"


def test_outside_a_runtime_registration_says_to_use_one() -> None:
    with pytest.raises(RuntimeError, match=r"rt\.run"):
        rt.signal.unix.signal(USR1)


def test_without_a_listener_ctrl_c_still_cancels_rt_run_main(flavor: str | None) -> None:
    reached: list[str] = []

    async def main() -> None:
        waiter = rt.spawn(rt.signal.ctrl_c())
        while signal.SIGINT not in _registry._installed:
            await rt.yield_now()
        os.kill(os.getpid(), signal.SIGINT)
        await waiter
        reached.append("first Ctrl-C went to ctrl_c()")
        try:
            os.kill(os.getpid(), signal.SIGINT)  # nobody listens: rt.run's handling
            await rt.sleep(60)
        finally:
            reached.append("main cancelled")

    with pytest.raises(KeyboardInterrupt):
        rt.run(main(), flavor=flavor)
    assert reached == ["first Ctrl-C went to ctrl_c()", "main cancelled"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_previous_handler_is_restored_when_the_last_listener_goes(flavor: str | None) -> None:
    calls: list[int] = []

    def mine(signum: int, frame: types.FrameType | None) -> None:
        calls.append(signum)

    previous = signal.signal(signal.SIGUSR2, mine)
    try:

        async def main() -> None:
            a = rt.signal.unix.signal(SignalKind.user_defined2())
            b = rt.signal.unix.signal(SignalKind.user_defined2())
            os.kill(os.getpid(), signal.SIGUSR2)
            assert await a.recv()
            a.close()
            assert await b.recv()
            b.close()

        rt.run(main(), flavor=flavor)
        assert calls == []  # the listeners took the delivery
        assert signal.getsignal(signal.SIGUSR2) is mine
        os.kill(os.getpid(), signal.SIGUSR2)
        assert calls == [signal.SIGUSR2]
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_runtime_shutdown_closes_its_listeners_and_leaves_no_fd(flavor: str | None) -> None:
    fds = open_fds()
    kept: list[Signal] = []

    async def main() -> None:
        kept.append(rt.signal.unix.signal(USR1))
        await delivered(kept[0])

    rt.run(main(), flavor=flavor)
    assert "closed" in repr(kept[0])
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
    assert open_fds() - fds == set()


def test_a_runtime_driven_by_another_thread_receives_signals() -> None:
    ready = threading.Event()
    got: list[bool] = []

    async def main() -> None:
        async with rt.signal.unix.signal(USR1) as stream:
            ready.set()
            got.append(await stream.recv())

    thread = threading.Thread(target=rt.run, args=(main(),))
    thread.start()
    assert ready.wait(30)
    os.kill(os.getpid(), signal.SIGUSR1)
    thread.join(30)
    assert got == [True]


def test_listeners_on_two_runtimes_each_see_one_delivery() -> None:
    ready = threading.Barrier(3)
    got: list[bool] = []

    async def main() -> None:
        async with rt.signal.unix.signal(USR1) as stream:
            await rt.spawn_blocking(ready.wait, 30)
            got.append(await stream.recv())

    threads = [threading.Thread(target=rt.run, args=(main(),)) for _ in range(2)]
    for t in threads:
        t.start()
    ready.wait(30)
    os.kill(os.getpid(), signal.SIGUSR1)
    for t in threads:
        t.join(30)
    assert got == [True, True]


GRACEFUL_CHILD = textwrap.dedent(
    """
    import rt, rt.signal
    from rt.signal.unix import SignalKind, signal

    async def main():
        term = signal(SignalKind.terminate())
        print("ready", flush=True)
        await term.recv()
        print("graceful", flush=True)

    rt.run(main())
    """
)


async def test_sigterm_sent_to_a_child_running_rt_signal_shuts_it_down_gracefully() -> None:
    child = Command(sys.executable).args(["-c", GRACEFUL_CHILD]).stdout(Stdio.piped()).spawn()
    assert child.stdout is not None and child.id is not None
    assert await child.stdout.read_exact(6) == b"ready\n"
    os.kill(child.id, signal.SIGTERM)
    assert await child.stdout.read_to_end() == b"graceful\n"
    assert await child.wait() == 0


MAIN_THREAD_IN_A_PLAIN_WAIT = textwrap.dedent(
    """
    import sys, threading
    import rt, rt.signal
    from rt.signal.unix import SignalKind

    finished = threading.Event()

    async def main():
        # Each first listener of SIGUSR2 rings the doorbell (install the handler), each last
        # one too (put the old one back): rings land as the main thread, back from running
        # the previous request, re-enters its wait.
        for _ in range(1000):
            rt.signal.unix.signal(SignalKind.user_defined2()).close()
        stream = rt.signal.unix.signal(SignalKind.user_defined1())
        print("ready", flush=True)
        print(await stream.recv(), flush=True)
        stream.close()

    def drive():
        try:
            rt.run(main())
        finally:
            finished.set()

    thread = threading.Thread(target=drive)
    thread.start()
    if sys.argv[1] == "event":
        finished.wait()  # the main thread in a plain blocking wait, no timeout
    else:
        thread.join()
    """
)


async def _listening_child(script: str, *args: str) -> Child:
    """Run ``script`` in a child Python; once it prints ``ready`` (it listens for SIGUSR1),
    send it SIGUSR1 and return the child (its output still to read)."""
    child = (
        Command(sys.executable)
        .args(["-c", script, *args])
        .stdout(Stdio.piped())
        .stderr(Stdio.piped())
        .spawn()
    )
    assert child.stdout is not None and child.id is not None
    line = b""
    with contextlib.suppress(EOFError, OSError):
        line = await child.stdout.read_exact(6)
    if line != b"ready\n":
        out = await child.wait_with_output()
        pytest.fail(f"the child never listened: {out.stderr.decode()[-2000:]}")
    os.kill(child.id, signal.SIGUSR1)  # the real signal, to the listener registered last
    return child


@pytest.mark.parametrize("how", ["event", "join"])
async def test_registrations_from_a_thread_complete_while_the_main_thread_blocks_in_a_plain_wait(
    how: str,
) -> None:
    # A doorbell landing just before the main thread re-enters a blocking wait interrupts
    # nothing, and the registration waited out its 30 s bound (hit within a few hundred
    # registrations): the registering thread now rings again until it was heard.
    child = await _listening_child(MAIN_THREAD_IN_A_PLAIN_WAIT, how)
    out = await child.wait_with_output()
    assert (out.returncode, out.stdout) == (0, b"True\n"), out.stderr


FIRST_DOORBELL_INTERRUPTS_NOTHING = textwrap.dedent(
    """
    import inspect, os, signal, sys, threading
    import rt, rt.signal
    from rt.signal import _registry
    from rt.signal.unix import SignalKind

    finished = threading.Event()
    main_id = threading.main_thread().ident
    lines, first = inspect.getsourcelines(threading.Condition.wait)
    blocking = [first + i for i, line in enumerate(lines) if line.strip() == "waiter.acquire()"][-1]
    real_kill = signal.pthread_kill
    diverted = []

    def pthread_kill(thread_id, signum):
        # The first doorbell goes to the ringing thread instead: CPython's C-level handler
        # notes it there and the main thread's wait is not interrupted, so the note stays
        # unread, as when a ring lands just before the main thread blocks.
        if signum == _registry._DOORBELL and not diverted:
            diverted.append(True)
            thread_id = threading.get_ident()
        real_kill(thread_id, signum)

    signal.pthread_kill = pthread_kill

    def main_blocks():
        frame = sys._current_frames()[main_id]
        return frame.f_code is threading.Condition.wait.__code__ and frame.f_lineno == blocking

    async def main():
        while not main_blocks():  # past its last check for signals: only a signal wakes it
            os.sched_yield()
        stream = rt.signal.unix.signal(SignalKind.user_defined1())
        print("ready", flush=True)
        print(await stream.recv(), diverted, flush=True)
        stream.close()

    def drive():
        try:
            rt.run(main())
        finally:
            finished.set()

    threading.Thread(target=drive).start()
    finished.wait()  # the main thread in a plain blocking wait, no timeout
    """
)


async def test_a_doorbell_that_interrupted_nothing_is_rung_again_until_it_is_heard() -> None:
    # Deterministic form of the race above: the first ring reaches no blocked call of the
    # main thread (which is past its last check for signals, in Event.wait()), so only a
    # second ring gets the handler installed. Before, the registration waited out its 30 s.
    child = await _listening_child(FIRST_DOORBELL_INTERRUPTS_NOTHING)
    out = await child.wait_with_output()
    assert (out.returncode, out.stdout) == (0, b"True [True]\n"), out.stderr


AFTER_MAIN_RETURNS = textwrap.dedent(
    """
    import signal, threading
    import rt, rt.signal, rt.sync, rt.time
    from rt.signal.unix import SignalKind

    main_returned = rt.sync.Event()

    def watch_main():
        threading.main_thread().join()
        main_returned.set()

    async def main():
        # The main thread is done with the program and waits for this thread to end. (Told
        # by a thread started before: Python 3.12 starts no new thread once it has returned.)
        await main_returned.wait()
        stream = rt.signal.unix.signal(SignalKind.user_defined1())
        print(signal.getsignal(signal.SIGUSR1) is rt.signal._registry._on_signal)
        # A signal landing as the main thread goes back to its wait is handled when it next
        # wakes (as for any Python handler): each send wakes it, so send until one is seen.
        for _ in range(100):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
            try:
                print(await rt.time.timeout(0.5, stream.recv()))
                break
            except rt.time.Elapsed:
                pass
        stream.close()

    threading.Thread(target=watch_main, daemon=True).start()
    threading.Thread(target=rt.run, args=(main(),)).start()
    """
)


async def test_a_runtime_thread_can_listen_after_the_main_thread_returned() -> None:
    # The main thread then waits in threading's shutdown, where it still runs signal
    # handlers; registering said "import rt.signal on the main thread", which it was.
    out = await Command(sys.executable).args(["-c", AFTER_MAIN_RETURNS]).output()
    assert (out.returncode, out.stdout) == (0, b"True\nTrue\n"), out.stderr


LAZY_IMPORT_ON_A_WORKER = textwrap.dedent(
    """
    import os, signal, rt

    async def main():
        import rt.signal  # first imported here, on a worker thread
        from rt.signal.unix import SignalKind
        stream = rt.signal.unix.signal(SignalKind.user_defined1())
        os.kill(os.getpid(), signal.SIGUSR1)
        print(await stream.recv())
        stream.close()

    rt.run(main(), flavor="multi_thread", worker_threads=2)
    """
)


async def test_a_worker_thread_can_listen_even_when_it_imports_rt_signal_first() -> None:
    out = await Command(sys.executable).args(["-c", LAZY_IMPORT_ON_A_WORKER]).output()
    assert (out.returncode, out.stdout) == (0, b"True\n"), out.stderr


# -- the runtime-less listener (rt-process's SIGCHLD watcher uses it) ---------------------


def test_a_raw_listener_hears_its_signal_with_no_runtime_and_restores_the_handler() -> None:
    import select

    before = signal.getsignal(signal.SIGUSR2)
    fds = open_fds()
    listener = _registry.register_raw(signal.SIGUSR2)
    assert signal.getsignal(signal.SIGUSR2) is _registry._on_signal
    os.kill(os.getpid(), signal.SIGUSR2)  # handled on this (the main) thread
    readable, _, _ = select.select([listener.rfd], [], [], 30)
    assert readable == [listener.rfd]
    listener.drain()
    assert select.select([listener.rfd], [], [], 0)[0] == []
    listener.close()
    listener.close()  # idempotent
    assert signal.getsignal(signal.SIGUSR2) == before
    assert open_fds() - fds == set()


def test_a_signal_ignored_by_default_is_not_re_raised_after_the_last_listener() -> None:
    # In the window after the last listener left, the handler chains to the previous
    # disposition; for SIGCHLD (default: ignore) that must leave rt's handler in place rather
    # than put SIG_DFL back behind the registry's back.
    listener = _registry.register_raw(signal.SIGCHLD)
    try:
        _registry._chain(signal.SIGCHLD, None)
        assert signal.getsignal(signal.SIGCHLD) is _registry._on_signal
    finally:
        listener.close()


class _Dropped:
    """A signal stream left in a reference cycle, for the collector to close."""

    def __init__(self, stream: Signal) -> None:
        self.stream = stream
        self.cycle = self


def _run_on_a_thread(
    main: Callable[[], Coroutine[Any, Any, None]], rescue: Callable[[], Any]
) -> None:
    """``rt.run(main())`` on a helper thread; if it is still running after 30 s (deadlocked
    on the plain lock ``rescue()`` returns), free that lock from here and fail."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            rt.run(main())
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(30)
    if t.is_alive():
        with contextlib.suppress(RuntimeError):
            rescue().release()  # a plain lock may be freed by any thread
        t.join(30)
        pytest.fail("a stream collected inside a locked section deadlocked its thread")
    if errors:
        raise errors[0]


def test_a_stream_collected_while_another_registers_is_closed_without_a_deadlock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Registering takes the registry's lock and allocates under it (_snapshot): a collection
    # there runs the finalizer of a stream dropped without close() on that same thread,
    # which closes it and so takes the lock again. The collection is made at that point.
    closed: list[bool] = []
    real = _registry._snapshot

    async def main() -> None:
        listener = (dropped := rt.signal.unix.signal(USR1))._listener
        _Dropped(dropped)
        del dropped
        calls: list[None] = []

        def snapshot() -> dict[int, tuple[int, ...]]:
            if not calls:
                calls.append(None)
                gc.collect()  # the collector, inside the registry's locked section
            return real()

        monkeypatch.setattr(_registry, "_snapshot", snapshot)
        try:
            rt.signal.unix.signal(SignalKind.user_defined2()).close()
        finally:
            monkeypatch.undo()
        closed.append(listener.closed)

    gc.disable()  # only the collection made above
    try:
        _run_on_a_thread(main, lambda: _registry._lock)
    finally:
        gc.enable()
    assert closed == [True]


def test_a_stream_collected_while_the_runtime_adopts_another_is_closed_without_a_deadlock() -> None:
    # The runtime's signal layer keeps its listeners in a weak set under a lock of its own;
    # adding one allocates (a weak reference), where a collection may close a dropped stream
    # on that same thread, which forgets it under that lock.
    closed: list[bool] = []
    drivers: list[Any] = []

    async def main() -> None:
        listener = (dropped := rt.signal.unix.signal(USR1))._listener
        _Dropped(dropped)
        del dropped
        found = rt.lowlevel.current_driver("signal")
        assert isinstance(found, _registry.SignalDriver)
        driver: _registry.SignalDriver = found
        drivers.append(driver)
        real = driver._listeners

        class CollectingOnAdd(weakref.WeakSet[Any]):
            def add(self, item: Any) -> None:
                driver._listeners = real
                gc.collect()  # the collector, inside the layer's locked section
                real.add(item)

        driver._listeners = CollectingOnAdd()
        rt.signal.unix.signal(SignalKind.user_defined2()).close()
        closed.append(listener.closed)

    gc.disable()
    try:
        _run_on_a_thread(main, lambda: drivers[0]._lock)
    finally:
        gc.enable()
    assert closed == [True]


# -- a doorbell that finds the registry's lock taken by a finalizer's close ------------------


class _LockWithHook:
    """The registry's lock, running ``hook`` once inside ``_close_left``'s try-lock (with the
    lock held), as a doorbell landing at that moment would find it."""

    def __init__(self, inner: Any, hook: Callable[[], None]) -> None:
        self.inner = inner
        self.hook: Callable[[], None] | None = hook

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got: bool = self.inner.acquire(blocking, timeout)
        if got and self.hook and sys._getframe(1).f_code is _registry._close_left.__code__:
            hook, self.hook = self.hook, None
            hook()
        return got

    def release(self) -> None:
        self.inner.release()


def _close_with_hook(
    monkeypatch: pytest.MonkeyPatch, hook: Callable[[], None]
) -> _registry.RawListener:
    """Close a listener through ``close_from_finalizer`` with ``hook`` run while
    ``_close_left`` holds the registry's lock; there another thread's ``_close_left`` (as
    this one's hook) takes the listener first, so this one finds nothing left to close and
    ``close()`` takes no lock after the try (it would ring again and hide a lost ring).
    Returns the listener, still open: the caller closes it once it has checked."""
    listener = _registry.register_raw(signal.SIGUSR1)
    taken: list[Any] = []

    def hook_then_take() -> None:
        hook()
        taken.append(_registry._left.popleft())

    monkeypatch.setattr(_registry, "_lock", _LockWithHook(_registry._lock, hook_then_take))
    try:
        _registry.close_from_finalizer(listener)
    finally:
        monkeypatch.undo()
    assert taken == [listener] and not listener.closed
    return listener


def test_a_doorbell_missed_while_a_finalizer_close_held_the_lock_is_rung_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The doorbell's handler, landing while _close_left holds the lock, only leaves its note
    # (_missed) for the holder: _close_left's release must ring again, as _locked's does.
    ran: list[bool] = []
    req = _registry._Request(lambda: ran.append(True))

    def doorbell_lands() -> None:
        _registry._requests.append(req)
        _registry._on_doorbell(_registry._DOORBELL, None)  # what the signal would run
        assert _registry._missed and not req.done.is_set()

    listener = _close_with_hook(monkeypatch, doorbell_lands)
    try:
        assert req.done.is_set() and ran == [True]
        assert not _registry._missed and not _registry._requests
    finally:
        listener.close()


def test_a_request_from_another_thread_whose_doorbell_found_a_finalizer_close_holding_the_lock_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # End to end: another thread asks the main thread to run something under the lock (as
    # registering does to install a handler: it queues the request and rings the real
    # doorbell at this, the main, thread) while this thread's _close_left holds the lock.
    # Before, the request waited for its 30 s bound and failed. The asking thread's own
    # re-ringing (with backoff) would hide a lost ring: here it rings once, as before it, so
    # only the release that re-rings a missed doorbell can deliver the request.
    monkeypatch.setattr(_registry, "_RING_FIRST", 60.0)
    monkeypatch.setattr(_registry, "_RING_MAX", 60.0)
    rang = threading.Event()
    ran: list[bool] = []
    errors: list[BaseException] = []

    def on_doorbell(signum: int, frame: types.FrameType | None) -> None:
        _registry._on_doorbell(signum, frame)
        if _registry._missed:
            rang.set()

    def ask() -> None:
        try:
            _registry._on_main_thread(lambda: ran.append(True), wait=True)
        except BaseException as exc:
            errors.append(exc)

    asking = threading.Thread(target=ask)

    def another_thread_asks() -> None:
        asking.start()
        assert rang.wait(30)  # the doorbell's handler ran here and found the lock taken

    previous = signal.signal(_registry._DOORBELL, on_doorbell)
    try:
        listener = _close_with_hook(monkeypatch, another_thread_asks)
        try:
            asking.join(30)
            # Looked at before close(): its own release would re-ring the missed doorbell.
            alone = (list(ran), list(errors), asking.is_alive())
        finally:
            listener.close()
            asking.join(60)
    finally:
        signal.signal(_registry._DOORBELL, previous)
    assert alone == ([True], [], False)


def test_a_release_whose_missed_doorbell_cannot_be_rung_again_does_not_raise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # At interpreter shutdown the main thread may be gone and pthread_kill fails. A release
    # made then (a finalizer's close through _close_left, with more listeners left behind
    # it) must not raise from the ring it owes: the listeners after it would stay open.
    def main_thread_gone(ident: int, signum: int) -> None:
        raise ProcessLookupError(3, "No such process")

    monkeypatch.setattr(signal, "pthread_kill", main_thread_gone)
    monkeypatch.setattr(_registry, "_missed", True)
    errors: list[BaseException] = []

    def release() -> None:
        _registry._lock.acquire()
        try:
            _registry._unlock()
        except BaseException as exc:
            errors.append(exc)

    releasing = threading.Thread(target=release)
    releasing.start()
    releasing.join(30)
    assert not releasing.is_alive() and errors == []
