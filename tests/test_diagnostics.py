"""Seeing inside a running rt program: task hooks, task dumps, the slow-poll detector, the
diagnostics endpoint with ``python -m rt ps|pstree|console``, and ``rt.TaskLogFilter``."""

from __future__ import annotations

import gc
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest

import rt
import rt.sync
from rt.lowlevel import diagnostics_request

HERE = __file__


def _line_of(marker: str) -> int:
    for i, line in enumerate(Path(HERE).read_text().splitlines(), 1):
        if marker in line and "_line_of" not in line:
            return i
    raise AssertionError(marker)


# -- hooks ----------------------------------------------------------------------------------


def test_task_hooks_see_spawn_polls_and_terminate_with_meta_on_the_task_thread(
    flavor: str | None,
) -> None:
    events: list[tuple[str, Any, int]] = []
    lock = threading.Lock()

    def hook(kind: str) -> Any:
        def record(meta: rt.TaskMeta) -> None:
            with lock:
                events.append((kind, meta, threading.get_ident()))

        return record

    async def ok() -> int:
        await rt.yield_now()
        return 1

    async def fails() -> None:
        await rt.yield_now()
        raise ValueError("boom")

    async def forever() -> None:
        await rt.sleep(3600)

    async def main() -> None:
        a = rt.spawn(ok(), name="ok")  # spawn-site: ok
        b = rt.spawn(fails(), name="fails")
        c = rt.spawn(forever(), name="forever")
        assert await a == 1
        with pytest.raises(rt.JoinError):
            await b
        await rt.yield_now()
        c.abort()
        with pytest.raises(rt.JoinError):
            await c

    rt.run(
        main(),
        flavor=flavor,
        on_task_spawn=hook("spawn"),
        on_task_terminate=hook("terminate"),
        on_before_task_poll=hook("before"),
        on_after_task_poll=hook("after"),
    )
    by_name = {m.name: m for kind, m, _ in events if kind == "spawn"}
    assert {"ok", "fails", "forever"} <= set(by_name)
    assert by_name["ok"].location == f"{HERE}:{_line_of('# spawn-site: ok')}"
    outcomes = {m.name: m.outcome for kind, m, _ in events if kind == "terminate"}
    assert outcomes["ok"] == "ok"
    assert outcomes["fails"] == "error"
    assert outcomes["forever"] == "cancelled"
    # every poll is bracketed by before/after on one thread, never the main test thread on
    # the multi-thread flavor (its workers run the tasks). Two workers poll at the same time,
    # so the brackets pair up per thread, not in the order the threads recorded them.
    polls = [(kind, m.id, ident) for kind, m, ident in events if kind in ("before", "after")]
    assert polls
    per_thread: dict[int, list[tuple[str, int]]] = {}
    for kind, task_id, ident in polls:
        per_thread.setdefault(ident, []).append((kind, task_id))
    for seq in per_thread.values():
        for (k1, id1), (k2, id2) in zip(seq[::2], seq[1::2], strict=True):
            assert (k1, k2) == ("before", "after")
            assert id1 == id2
    if flavor == "multi_thread":
        assert all(ident != threading.get_ident() for _, _, ident in polls)


def test_every_step_is_bracketed_by_one_before_and_one_after_hook_then_terminate(
    flavor: str | None,
) -> None:
    # Per task, in order: spawn, (before, after) once per step (the first, those thrown into,
    # the last one), then terminate with the outcome. A task aborted before its first step
    # never runs its body; the cancel thrown into it is its one step.
    events: dict[int, list[str]] = {}
    names: dict[int, str | None] = {}
    outcomes: dict[str | None, str | None] = {}
    lock = threading.Lock()
    ran: list[str] = []

    def hook(kind: str) -> Any:
        def record(meta: rt.TaskMeta) -> None:
            with lock:
                events.setdefault(meta.id, []).append(kind)
                names[meta.id] = meta.name
                if kind == "terminate":
                    outcomes[meta.name] = meta.outcome

        return record

    async def stepper(n: int) -> int:
        for _ in range(n):
            await rt.yield_now()
        return n

    async def parked() -> None:
        ran.append("parked")
        await rt.sleep(3600)

    async def never() -> None:
        ran.append("never")

    async def fails() -> None:
        await rt.yield_now()
        raise ValueError("boom")

    async def main() -> None:
        five = rt.spawn(stepper(5), name="stepper")
        p = rt.spawn(parked(), name="parked")
        f = rt.spawn(fails(), name="fails")
        async with rt.LocalSet() as local:
            # pinned to this thread, which does not step it before the abort on any flavor
            n = local.spawn_local(never(), name="never")
            n.abort()  # before its first step
            with pytest.raises(rt.JoinError):
                await n
        assert await five == 5
        while "parked" not in ran:
            await rt.yield_now()
        p.abort()  # parked: the cancel is thrown into it
        for handle in (p, f):
            with pytest.raises(rt.JoinError):
                await handle

    rt.run(
        main(),
        flavor=flavor,
        on_task_spawn=hook("spawn"),
        on_task_terminate=hook("terminate"),
        on_before_task_poll=hook("before"),
        on_after_task_poll=hook("after"),
    )
    by_name = {names[i]: seq for i, seq in events.items()}
    steps = {"stepper": 6, "parked": 2, "never": 1, "fails": 2}
    for name, count in steps.items():
        assert by_name[name] == ["spawn", *["before", "after"] * count, "terminate"], name
    assert outcomes == {
        "stepper": "ok",
        "parked": "cancelled",
        "never": "cancelled",
        "fails": "error",
        None: "ok",  # main
    }
    assert "never" not in ran


def test_the_console_counts_each_task_s_timed_steps(flavor: str | None, tmp_path: Path) -> None:
    # With steps timed (the console attached, or poll_time_histogram), each task's polls count
    # its steps and its busy time is what its steps took.
    path = str(tmp_path / "console.sock")

    async def stepper() -> None:
        for _ in range(9):
            await rt.yield_now()
        await rt.sleep(3600)

    async def main() -> dict[str, Any]:
        handle = rt.spawn(stepper())
        while True:  # until its ten steps are counted (it then sleeps: no more are)
            stats = await rt.spawn_blocking(diagnostics_request, path, "stats")
            row: dict[str, Any] = stats["stats"][str(handle.id)]
            if row["polls"] >= 10:
                break
            await rt.sleep(0.01)
        handle.abort()
        return row

    with rt.Runtime(flavor=flavor, console=path, poll_time_histogram=True) as runtime:
        row = runtime.block_on(main())
    assert row["polls"] == 10
    assert row["busy"] > 0
    assert row["age"] >= row["busy"]


def test_the_current_thread_flavor_observes_steps_without_wrapping_coroutines(
    flavor: str | None,
) -> None:
    # The current-thread flavor runs a diagnosed copy of its loop around the raw coroutine;
    # the multi-thread flavor wraps each task's coroutine.
    polls = itertools.count()

    async def main() -> type:
        return type(rt.current_task()._coro)

    kind = rt.run(main(), flavor=flavor, on_before_task_poll=lambda _: next(polls))
    assert next(polls) >= 1
    if flavor == "multi_thread":
        assert kind.__name__ == "Instrumented"
    else:
        assert kind is types.CoroutineType


def test_spawn_location_is_the_spawning_line_through_every_way_to_spawn(
    flavor: str | None,
) -> None:
    seen: dict[str | None, str | None] = {}

    def on_spawn(meta: rt.TaskMeta) -> None:
        seen[meta.name] = meta.location

    async def child() -> None:
        pass

    async def main() -> None:
        await rt.spawn(child(), name="rt.spawn")  # spawn-site: rt.spawn
        async with rt.TaskGroup() as tg:
            tg.spawn(child(), name="TaskGroup")  # spawn-site: TaskGroup
        async with rt.JoinSet[None]() as js:
            js.spawn(child(), name="JoinSet")  # spawn-site: JoinSet
            await js.join_next()
        async with rt.LocalSet() as local:
            await local.spawn_local(child(), name="LocalSet")  # spawn-site: LocalSet
        for _ in range(2):  # the second time, a spawn site seen before
            await rt.spawn(child(), name="again")  # spawn-site: again
        handle = rt.Handle.current()

        def from_thread() -> None:
            handle.spawn(child(), name="Handle")  # spawn-site: Handle

        thread = threading.Thread(target=from_thread)
        thread.start()
        thread.join()

    with rt.Runtime(flavor=flavor, on_task_spawn=on_spawn) as runtime:
        runtime.block_on(main())  # spawn-site: block_on
        runtime.spawn(child(), name="Runtime")  # spawn-site: Runtime
    for name in ("rt.spawn", "TaskGroup", "JoinSet", "LocalSet", "again", "Handle", "Runtime"):
        assert seen[name] == f"{HERE}:{_line_of(f'# spawn-site: {name}')}", name
    assert seen[None] == f"{HERE}:{_line_of('# spawn-site: block_on')}"


def test_a_hook_that_raises_is_logged_and_the_runtime_goes_on(
    flavor: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    def bad(meta: rt.TaskMeta) -> None:
        raise RuntimeError("hook bug")

    async def child() -> int:
        await rt.yield_now()
        return 7

    async def main() -> int:
        return await rt.spawn(child())

    with caplog.at_level(logging.ERROR, logger="rt"):
        assert (
            rt.run(
                main(),
                flavor=flavor,
                on_before_task_poll=bad,
                on_after_task_poll=bad,
                on_task_spawn=bad,
                on_task_terminate=bad,
            )
            == 7
        )
    for hook in ("on_before_task_poll", "on_after_task_poll", "on_task_spawn", "on_task_terminate"):
        assert any(f"{hook} hook raised" in r.getMessage() for r in caplog.records), hook


@pytest.mark.parametrize(
    "option", ["on_task_spawn", "on_task_terminate", "on_before_task_poll", "on_after_task_poll"]
)
def test_a_hook_that_is_not_callable_is_refused_at_construction(option: str) -> None:
    with pytest.raises(ValueError, match=f"{option} must be a callable"):
        rt.Runtime(**{option: 42})  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "fast"])
def test_a_bad_slow_poll_threshold_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="slow_poll_threshold must be a positive number"):
        rt.Runtime(slow_poll_threshold=bad)  # type: ignore[arg-type]


# -- slow-poll detector ---------------------------------------------------------------------


class _Signal(logging.Handler):
    """Sets an event when the detector reports, so the blocked task can stop blocking."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.event = threading.Event()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.event.set()


@pytest.mark.parametrize("observed", [False, True], ids=["alone", "with-hooks-and-console"])
def test_the_detector_names_a_task_blocking_its_thread_with_the_blocking_frame(
    flavor: str | None, observed: bool, tmp_path: Path
) -> None:
    signal = _Signal()
    log = logging.getLogger("rt")
    log.addHandler(signal)

    async def blocker() -> None:
        await rt.yield_now()
        signal.event.wait(60)  # blocking-line

    async def main() -> None:
        await rt.spawn(blocker(), name="the-blocker")

    try:
        # The detector samples the workers either way; with the console attached, every step
        # is also timed into the poll-time histogram.
        def hook(meta: rt.TaskMeta) -> None:
            pass

        sock = str(tmp_path / "console.sock")
        with rt.Runtime(
            flavor=flavor,
            slow_poll_threshold=0.05,
            on_after_task_poll=hook if observed else None,
            console=sock if observed else None,
        ) as runtime:
            if observed:
                assert diagnostics_request(sock, "hello")["ok"]
            runtime.block_on(main())
            metrics = runtime.metrics()
    finally:
        log.removeHandler(signal)
    assert signal.records, "the detector never reported"
    record = signal.records[0]
    assert record.task_name == "the-blocker"  # type: ignore[attr-defined]
    assert record.blocking_frame.startswith(  # type: ignore[attr-defined]
        f"{HERE}:{_line_of('# blocking-line')} in "
    )
    assert record.task_location.startswith(HERE)  # type: ignore[attr-defined]
    assert metrics.slow_polls == 1  # once per incident, however long it lasts
    rows = [w.poll_time_histogram for w in metrics.worker_metrics if w.poll_time_histogram]
    if observed:
        histogram = [sum(h) for h in zip(*rows, strict=True)]
        assert sum(histogram[16:]) >= 1  # the long poll (> 2**15 µs) is in the histogram
    else:
        assert rows == []  # nothing timed per step without the console


def test_poll_time_histogram_option_times_every_step_without_a_console(
    flavor: str | None,
) -> None:
    steps = 50

    async def stepper() -> None:
        for _ in range(steps - 1):
            await rt.yield_now()

    async def main() -> None:
        await rt.spawn(stepper())

    polls = itertools.count()  # next() is atomic: hooks run on every worker

    with rt.Runtime(
        flavor=flavor, poll_time_histogram=True, on_after_task_poll=lambda _: next(polls)
    ) as runtime:
        runtime.block_on(main())
        metrics = runtime.metrics()
    rows = [w.poll_time_histogram for w in metrics.worker_metrics if w.poll_time_histogram]
    assert rows, "no worker reported a poll-time histogram"
    # Every step is counted once: the stepper's, and main's one or two (one when the stepper
    # finished on another worker before main awaited it), as the poll hook counted them.
    taken = next(polls)
    assert steps + 1 <= taken <= steps + 2
    assert sum(map(sum, rows)) == taken
    assert all(len(h) == len(rows[0]) for h in rows)


def test_poll_time_histogram_counts_each_step_of_many_tasks_once_short_or_long(
    flavor: str | None,
) -> None:
    # Many tasks stepped back to back (the current-thread flavor runs them in segments of
    # several steps, and counts the steps under 1 µs per segment), some steps well over a
    # microsecond: the histogram's buckets add up to the steps the poll hook saw, and the
    # long steps are outside bucket 0.
    polls = itertools.count()  # next() is atomic: hooks run on every worker

    async def stepper(long: bool) -> None:
        for _ in range(30):
            if long:
                sum(range(20_000))  # a step of a millisecond or so
            await rt.yield_now()

    async def main() -> None:
        handles = [rt.spawn(stepper(i % 5 == 0)) for i in range(40)]
        for h in handles:
            await h

    with rt.Runtime(
        flavor=flavor, poll_time_histogram=True, on_after_task_poll=lambda _: next(polls)
    ) as runtime:
        runtime.block_on(main())
        metrics = runtime.metrics()
    rows = [w.poll_time_histogram for w in metrics.worker_metrics if w.poll_time_histogram]
    histogram = [sum(h) for h in zip(*rows, strict=True)]
    assert min(histogram) >= 0
    assert sum(histogram) == next(polls)
    assert sum(histogram[1:]) >= 8 * 30  # the long steps, at least


@pytest.mark.parametrize(
    ("step_us", "bucket"), [(0.5, 0), (1.5, 1), (3.0, 2), (6.0, 3), (1000.0, 10), (1e8, 23)]
)
def test_poll_time_histogram_puts_each_step_in_the_bucket_of_its_length(
    monkeypatch: pytest.MonkeyPatch, step_us: float, bucket: int
) -> None:
    # Bucket i counts the steps under 2**i µs (the last one, longer steps too). A clock that
    # advances by the same amount at each reading makes every step exactly that long on the
    # current-thread flavor, which reads it once per timed step.
    from rt._core import _diagnostics

    readings = itertools.count()
    monkeypatch.setattr(_diagnostics, "_clock", lambda: next(readings) * step_us * 1e-6)
    polls = itertools.count()

    async def stepper() -> None:
        for _ in range(10):
            await rt.yield_now()

    async def main() -> None:
        for h in [rt.spawn(stepper()) for _ in range(5)]:
            await h

    with rt.Runtime(
        flavor="current_thread",
        poll_time_histogram=True,
        on_after_task_poll=lambda _: next(polls),
    ) as runtime:
        runtime.block_on(main())
        (histogram,) = [w.poll_time_histogram for w in runtime.metrics().worker_metrics]
    expected = [0] * len(histogram)
    expected[bucket] = next(polls)
    assert list(histogram) == expected


def test_a_task_lets_go_of_its_diagnostics_record_when_it_ends() -> None:
    # The current-thread flavor's diagnosed loop reaches a task's record from the task itself;
    # an ended task no longer holds it, however it ended.
    def hook(meta: rt.TaskMeta) -> None:
        pass

    def holds_a_record(task: rt.Task[Any]) -> bool:
        return any(type(r).__name__ == "TaskRecord" for r in gc.get_referents(task))

    async def ok() -> int:
        await rt.yield_now()
        return 1

    async def fails() -> None:
        await rt.yield_now()
        raise ValueError("boom")

    async def main() -> list[rt.Task[Any]]:
        handles: list[rt.Task[Any]] = [rt.spawn(ok()), rt.spawn(fails())]
        assert all(map(holds_a_record, handles))
        await handles[0]
        with pytest.raises(rt.JoinError):
            await handles[1]
        return handles

    handles = rt.run(main(), flavor="current_thread", on_after_task_poll=hook)
    assert not any(map(holds_a_record, handles))


def test_hooks_alone_time_no_step_and_report_no_poll_time_histogram(
    flavor: str | None,
) -> None:
    polls = itertools.count()

    async def main() -> None:
        await rt.spawn(rt.yield_now())

    with rt.Runtime(flavor=flavor, on_after_task_poll=lambda _: next(polls)) as runtime:
        runtime.block_on(main())
        metrics = runtime.metrics()
    assert next(polls) >= 3
    assert [w.poll_time_histogram for w in metrics.worker_metrics] == [
        () for _ in metrics.worker_metrics
    ]


def test_poll_time_histogram_option_refuses_a_non_bool(flavor: str | None) -> None:
    # (the compiled build refuses it at the call, with mypyc's own TypeError)
    with pytest.raises(TypeError, match=r"poll_time_histogram|bool"):
        rt.Runtime(flavor=flavor, poll_time_histogram="yes")  # type: ignore[arg-type]


def test_rt_slow_poll_in_the_environment_turns_the_detector_on(
    monkeypatch: pytest.MonkeyPatch,
    flavor: str | None,
) -> None:
    monkeypatch.setenv("RT_SLOW_POLL", "0.25")
    with rt.Runtime(flavor=flavor) as runtime:
        diag = runtime._live()._diag
        assert diag is not None and diag.threshold == 0.25
    monkeypatch.setenv("RT_SLOW_POLL", "soon")
    with pytest.raises(ValueError, match="RT_SLOW_POLL must be a number of seconds"):
        rt.Runtime(flavor=flavor)


# -- dumps ----------------------------------------------------------------------------------


def test_a_dump_shows_a_two_mutex_deadlock_with_both_waits(flavor: str | None) -> None:
    async def locker(a: rt.sync.Mutex[int], b: rt.sync.Mutex[int], both: rt.sync.Barrier) -> None:
        async with a.lock():
            await both.wait()
            async with b.lock():  # deadlock-line
                pass

    async def main() -> rt.TaskDump:
        a, b = rt.sync.Mutex(0), rt.sync.Mutex(0)
        both = rt.sync.Barrier(3)
        t1 = rt.spawn(locker(a, b, both), name="a-then-b")
        t2 = rt.spawn(locker(b, a, both), name="b-then-a")
        await both.wait()
        # both now wait on the other's lock: wait until each is parked
        while True:
            snap = rt.dump()
            waits = {t.name: t.waiting_on or "" for t in snap}
            if "Mutex" in waits.get("a-then-b", "") and "Mutex" in waits.get("b-then-a", ""):
                break
            await rt.yield_now()
        t1.abort()
        t2.abort()
        return snap

    snap = rt.run(main(), flavor=flavor)
    line = _line_of("# deadlock-line")
    parked = {t.name: t for t in snap if t.name in ("a-then-b", "b-then-a")}
    assert len(parked) == 2
    for t in parked.values():
        assert t.state == "parked"
        assert t.waiting_on is not None and "Mutex" in t.waiting_on
        assert (
            t.frames[0].function
            == "test_a_dump_shows_a_two_mutex_deadlock_with_both_waits.<locals>.locker"
        )
        assert (t.frames[0].file, t.frames[0].line) == (HERE, line)
    text = str(snap)
    assert "a-then-b [parked: Mutex" in text and "b-then-a [parked: Mutex" in text
    json.dumps(snap.to_dict())  # JSON-ready


def test_a_dump_names_sleeps_fds_and_joins_and_builds_the_spawn_tree(flavor: str | None) -> None:
    import socket

    from rt.lowlevel import wait_readable

    a, b = socket.socketpair()
    fd = a.fileno()

    async def reader() -> None:
        await wait_readable(a)

    async def sleeper() -> None:
        await rt.sleep(3600)

    async def parent() -> None:
        async with rt.TaskGroup() as tg:
            tg.spawn(sleeper(), name="sleeper")
            tg.spawn(reader(), name="reader")

    async def main() -> rt.TaskDump:
        p = rt.spawn(parent(), name="parent")
        while True:
            snap = rt.dump()
            if sum(t.state == "parked" for t in snap) >= 3:
                break
            await rt.yield_now()
        p.abort()
        return snap

    try:
        snap = rt.run(main(), flavor=flavor, on_task_spawn=lambda m: None)
    finally:
        a.close()
        b.close()
    tasks = {t.name: t for t in snap}
    assert tasks["sleeper"].waiting_on is not None
    assert tasks["sleeper"].waiting_on.startswith("sleep: deadline in")
    assert tasks["reader"].waiting_on == f"fd {fd} readable"
    # with a hook set, the runtime records parents: the group's children hang under "parent"
    assert tasks["sleeper"].parent == tasks["parent"].id
    assert tasks["reader"].parent == tasks["parent"].id
    text = str(snap)
    assert text.index("parent [") < text.index("sleeper [")


def test_a_dump_taken_from_another_thread_shows_the_task_blocking_the_runtime(
    flavor: str | None,
) -> None:
    release = threading.Event()
    taken: list[rt.TaskDump] = []

    async def blocker() -> None:
        await rt.yield_now()
        release.wait(60)  # holding-line

    async def main() -> None:
        handle = rt.Handle.current()

        def take() -> None:
            while True:  # until the blocker is seen running (it may not have started yet)
                snap = handle.dump()
                if any(t.name == "holder" and t.state == "running" for t in snap):
                    taken.append(snap)
                    release.set()
                    return

        t = threading.Thread(target=take)
        t.start()
        await rt.spawn(blocker(), name="holder")
        t.join()

    rt.run(main(), flavor=flavor)
    (holder,) = [t for t in taken[0] if t.name == "holder"]
    # the task's own frame first, down to the blocking call inside threading
    assert holder.frames[0].function.endswith("blocker")
    assert (HERE, _line_of("# holding-line")) in [(f.file, f.line) for f in holder.frames]
    assert holder.frames[-1].function == "Condition.wait"


# -- the endpoint and python -m rt ----------------------------------------------------------


def _rt_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rt", *args], capture_output=True, text=True, timeout=60
    )


def test_python_m_rt_ps_and_pstree_attach_to_a_running_program(
    tmp_path: Path, flavor: str | None
) -> None:
    path = str(tmp_path / "rt.sock")
    outputs: dict[str, subprocess.CompletedProcess[str]] = {}

    async def idle() -> None:
        await rt.sleep(3600)

    async def main() -> None:
        tasks = [rt.spawn(idle(), name=f"conn-{i}") for i in range(3)]
        assert oct(os.stat(path).st_mode & 0o777) == oct(0o600)
        for cmd in ("ps", "pstree"):
            outputs[cmd] = await rt.to_thread(_rt_cli, cmd, path)
        for t in tasks:
            t.abort()

    rt.run(main(), flavor=flavor, console=path)
    assert not os.path.exists(path)  # removed at shutdown
    ps = outputs["ps"]
    assert ps.returncode == 0, ps.stderr
    assert ps.stdout.splitlines()[1].split() == [
        "ID",
        "NAME",
        "STATE",
        "WAITING",
        "ON",
        "SPAWNED",
        "AT",
    ]
    for i in range(3):
        assert any(f"conn-{i}" in line and "parked" in line for line in ps.stdout.splitlines())
    tree = outputs["pstree"]
    assert tree.returncode == 0, tree.stderr
    assert "conn-0 [parked: sleep: deadline in" in tree.stdout
    assert "idle (" in tree.stdout  # the await chain


def test_attaching_to_a_program_without_the_endpoint_says_how_to_enable_it() -> None:
    result = _rt_cli("ps", str(os.getpid()))
    assert result.returncode == 1
    assert "RT_CONSOLE=1" in result.stderr


def test_an_endpoint_that_cannot_bind_is_a_clear_error(tmp_path: Path, flavor: str | None) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot open the diagnostics endpoint at"):
        rt.Runtime(console=str(blocker / "rt.sock"), flavor=flavor)


def test_the_endpoint_answers_hello_and_refuses_unknown_commands(
    tmp_path: Path, flavor: str | None
) -> None:
    path = str(tmp_path / "rt.sock")
    with rt.Runtime(console=path, flavor=flavor):
        assert diagnostics_request(path, "hello")["pid"] == os.getpid()
        with pytest.raises(RuntimeError, match="unknown command"):
            diagnostics_request(path, "reboot")


def test_a_console_client_that_resets_its_connection_ends_quietly(
    tmp_path: Path, flavor: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client killed mid-conversation: it leaves the endpoint's reply unread, so the
    # endpoint's next read gets ECONNRESET. That ends the conversation, not in a traceback.
    crashes: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)
    path = str(tmp_path / "rt.sock")
    with rt.Runtime(console=path, flavor=flavor):
        before = set(threading.enumerate())
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(path)
        client.sendall(b'{"cmd": "hello"}\n')
        assert client.recv(1, socket.MSG_PEEK)  # the reply is here, and stays unread
        (serving,) = [
            t for t in set(threading.enumerate()) - before if t.name == "rt-console-client"
        ]
        client.close()
        serving.join(timeout=30)
        assert not serving.is_alive()
        assert diagnostics_request(path, "hello")["pid"] == os.getpid()  # still serving
    assert crashes == []


_STACK_READER = """
import gc, sys, threading
from rt._core._diagnostics import thread_frame

def garbage_holding_a_thread_local():
    class Holder:
        pass
    h = Holder()
    h.me = h
    h.local = threading.local()
    h.local.x = 1

stop = False

def busy():
    def step(n):
        return n + 1
    while not stop:
        step(1)

threads = [threading.Thread(target=busy) for _ in range(3)]
for t in threads:
    t.start()
sys.setswitchinterval(1e-5)
gc.set_threshold(1)  # every allocation of a tracked object collects
for _ in range(5000):
    garbage_holding_a_thread_local()
    thread_frame(threads[0].ident)
stop = True
for t in threads:
    t.join()
print("read every stack")
"""


def test_reading_a_thread_s_stack_survives_a_collection_that_frees_a_thread_local() -> None:
    # The detector and dumps read other threads' stacks through sys._current_frames(), which
    # holds CPython's thread-list lock while it makes frame objects; a collection there that
    # frees a threading.local needs that lock too, and the interpreter hung on itself.
    result = subprocess.run(
        [sys.executable, "-c", _STACK_READER], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "read every stack" in result.stdout


# -- logging ----------------------------------------------------------------------------------


def test_task_log_filter_names_the_running_task_and_none_outside(flavor: str | None) -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("rt-test-taskfilter")
    handler = Keep()
    handler.addFilter(rt.TaskLogFilter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    async def child() -> None:
        log.info("inside")

    async def main() -> int:
        h = rt.spawn(child(), name="logger-task")
        await h
        await rt.spawn_blocking(log.info, "blocking")
        return h.id

    try:
        tid = rt.run(main(), flavor=flavor)
        log.info("outside")
    finally:
        log.removeHandler(handler)
    inside, blocking, outside = records
    assert (inside.task_id, inside.task_name) == (tid, "logger-task")  # type: ignore[attr-defined]
    assert blocking.task_id is None and blocking.task_name is None  # type: ignore[attr-defined]
    assert outside.task_id is None and outside.task_name is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "option", ["on_task_spawn", "on_task_terminate", "on_before_task_poll", "on_after_task_poll"]
)
def test_an_async_hook_is_refused_at_construction_instead_of_never_running(option: str) -> None:
    async def hook(meta: rt.TaskMeta) -> None:
        pass

    class AsyncCall:
        async def __call__(self, meta: rt.TaskMeta) -> None:
            pass

    bad: object
    for bad in (hook, AsyncCall()):
        with pytest.raises(ValueError, match=f"{option} must be a plain function"):
            rt.Runtime(**{option: bad})  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_a_console_path_that_exists_and_is_not_a_socket_names_what_it_is(
    tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "taken"
    if kind == "directory":
        target.mkdir()
    else:
        target.write_text("x")
    with pytest.raises(OSError, match=f"it exists and is a {kind}"):
        rt.Runtime(console=str(target))
    assert target.exists()  # left alone


@pytest.mark.parametrize(
    "reply",
    [b"echo", b"\xff\xfenot json\n", b"[1, 2]\n", b'{"ok": true}\n'],
    ids=["echo", "not-json", "not-an-object", "no-dump"],
)
def test_python_m_rt_on_a_socket_of_another_program_says_so_without_a_traceback(
    tmp_path: Path, reply: bytes
) -> None:
    path = str(tmp_path / "other.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as f:
                line = f.readline()
                f.write(line if reply == b"echo" else reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        for cmd in ("ps", "pstree"):
            result = _rt_cli(cmd, path)
            assert result.returncode == 1, result.stdout
            assert "Traceback" not in result.stderr, result.stderr
            assert "is not an rt diagnostics endpoint" in result.stderr
        with pytest.raises(ConnectionError, match="is not an rt diagnostics endpoint"):
            diagnostics_request(path, "metrics")
    finally:
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join()


@pytest.mark.parametrize(
    "option", ["on_task_terminate", "on_before_task_poll", "on_after_task_poll"]
)
def test_a_step_or_terminate_hook_may_reach_the_runtime_with_rt_dump_on_both_flavors(
    flavor: str | None, option: str
) -> None:
    # Hooks run on the task's thread, in the task's context: rt.dump() and
    # rt.Handle.current() work there on either flavor, for a task that returns or raises.
    seen: dict[int, int] = {}
    failures: list[str] = []

    def hook(meta: rt.TaskMeta) -> None:
        try:
            rt.Handle.current()
            seen[meta.id] = len(rt.dump().to_dict()["tasks"])
        except RuntimeError as exc:
            failures.append(str(exc))

    async def fine() -> None:
        await rt.yield_now()

    async def broken() -> None:
        await rt.yield_now()
        raise ValueError("boom")

    async def main() -> tuple[int, int]:
        ok, bad = rt.spawn(fine()), rt.spawn(broken())
        await ok
        with pytest.raises(rt.JoinError):
            await bad
        return ok.id, bad.id

    ok_id, bad_id = rt.run(main(), flavor=flavor, **{option: hook})
    assert failures == []
    assert ok_id in seen and bad_id in seen
