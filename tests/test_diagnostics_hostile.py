"""A hostile pass on diagnostics: hooks that raise what they should not, console paths and
clients that misbehave, task names that are not one tidy line."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import rt
import rt.sync
import rt.time
from rt.lowlevel import diagnostics_request


def _rt_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rt", *args], capture_output=True, text=True, timeout=60
    )


# -- the console's socket file ----------------------------------------------------------------


def test_a_second_runtime_given_a_live_console_path_is_refused_and_the_first_keeps_serving(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "c.sock")
    with rt.Runtime(console=path) as first:
        with pytest.raises(OSError, match="a live process listens on it"):
            rt.Runtime(console=path)
        assert diagnostics_request(path, "hello")["pid"] == os.getpid()
        first.shutdown()
    assert not os.path.exists(path)


def test_a_probe_of_a_live_console_path_does_not_start_timing_the_runtime_s_steps(
    flavor: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Steps are timed (a cost on every step) from a console client's first request; the
    # connection another runtime makes to see whether the path is live is not one.
    from rt._core._console import ConsoleServer

    served = threading.Event()
    serve_client = ConsoleServer._client

    def client_then_signal(self: ConsoleServer, conn: socket.socket) -> None:
        serve_client(self, conn)
        served.set()  # the conversation is over: whatever it did to the runtime is done

    monkeypatch.setattr(ConsoleServer, "_client", client_then_signal)
    path = str(tmp_path / "c.sock")
    with rt.Runtime(flavor=flavor, console=path) as first:
        with pytest.raises(OSError, match="a live process listens on it"):
            rt.Runtime(console=path)
        assert served.wait(30)
        assert first.metrics().worker_metrics[0].poll_time_histogram == ()
        assert diagnostics_request(path, "hello")["ok"] is True
        assert first.metrics().worker_metrics[0].poll_time_histogram != ()


def test_two_runtimes_under_rt_console_1_each_serve_the_first_at_the_pid_s_path(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from rt._core._console import default_path

    monkeypatch.setenv("RT_CONSOLE", "1")
    first_path = default_path()
    second_path = first_path.removesuffix(".sock") + "-2.sock"
    with rt.Runtime() as first, caplog.at_level(logging.WARNING, logger="rt"):
        with rt.Runtime() as second:
            assert diagnostics_request(str(os.getpid()), "hello")["ok"] is True
            assert diagnostics_request(second_path, "hello")["ok"] is True
            assert any(second_path in r.getMessage() for r in caplog.records)
            second.shutdown()
        assert not os.path.exists(second_path)
        assert diagnostics_request(str(os.getpid()), "hello")["ok"] is True
        first.shutdown()
    assert not os.path.exists(first_path)


@pytest.mark.parametrize("word", ["0", "False", "OFF", " no ", "FALSE"])
def test_rt_console_and_rt_slow_poll_switched_off_in_any_spelling_are_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, word: str
) -> None:
    # Before: RT_CONSOLE=False (or OFF) opened a socket named "False" in the working directory,
    # and RT_SLOW_POLL=0 refused to build the runtime where RT_CONSOLE=0 means off.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RT_CONSOLE", word)
    monkeypatch.setenv("RT_SLOW_POLL", word)
    with rt.Runtime() as runtime:
        assert runtime._live()._diag is None
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("word", ["True", "ON", " yes "])
def test_rt_console_switched_on_in_any_spelling_serves_at_the_pid_s_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, word: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RT_CONSOLE", word)
    with rt.Runtime():
        assert diagnostics_request(str(os.getpid()), "hello")["ok"] is True
    assert os.listdir(tmp_path) == []


def test_a_stale_console_socket_of_a_process_that_died_is_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, nothing listens
    with rt.Runtime(console=path):
        assert diagnostics_request(path, "hello")["ok"] is True


def test_shutdown_leaves_a_socket_file_that_is_no_longer_the_endpoint_s_own(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "c.sock")
    runtime = rt.Runtime(console=path)
    os.unlink(path)  # someone removed it and put their own socket there
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        other.bind(path)
        other.listen(1)
        runtime.shutdown()
        assert os.path.exists(path)
    finally:
        other.close()


def test_a_program_that_exits_without_shutting_down_removes_its_console_socket(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "c.sock")
    script = textwrap.dedent(
        f"""
        import rt
        from rt.lowlevel import diagnostics_request
        runtime = rt.Runtime(console={path!r})
        assert diagnostics_request({path!r}, "hello")["ok"]
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not os.path.exists(path)


@pytest.mark.parametrize("bad", ["", "with\0nul"], ids=["empty", "nul"])
def test_an_empty_or_nul_console_path_is_refused_with_what_to_pass(bad: str) -> None:
    with pytest.raises(ValueError, match=r"console must be a socket path .*console=True"):
        rt.Runtime(console=bad)


def test_a_console_path_too_long_for_a_unix_socket_says_the_limit(tmp_path: Path) -> None:
    path = str(tmp_path / ("x" * 200 + ".sock"))
    with pytest.raises(OSError, match=r"at most 10\d bytes\).*pick another path") as info:
        rt.Runtime(console=path)
    assert "Errno None" not in str(info.value)


# -- the endpoint's protocol ------------------------------------------------------------------


def test_the_endpoint_refuses_a_request_line_without_end_and_goes_on_serving(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "c.sock")
    with rt.Runtime(console=path):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(path)
        client.settimeout(60)  # (a hang here is the bug: the endpoint kept reading)
        with client, client.makefile("rb") as replies:
            try:
                for _ in range(64):  # 64 MiB, no newline: buffered, it would all be kept
                    client.sendall(b"x" * (1 << 20))
            except OSError:  # refused: the endpoint closed the conversation
                pass
            reply = json.loads(replies.readline())
        assert reply["ok"] is False
        assert "one JSON line of at most" in reply["error"]
        assert diagnostics_request(path, "hello")["ok"] is True


def test_an_endpoint_whose_backlog_is_full_is_called_busy_not_missing(tmp_path: Path) -> None:
    # A Unix socket whose backlog is full refuses a connect at once (EAGAIN): that was
    # reported as "no rt diagnostics endpoint ... start the program with RT_CONSOLE=1".
    path = str(tmp_path / "busy.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(0)
    queued: list[socket.socket] = []
    try:
        while True:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.setblocking(False)
            queued.append(c)
            try:
                c.connect(path)
            except BlockingIOError:
                break
        with pytest.raises(ConnectionError, match=r"accepted no connection within .*try again"):
            diagnostics_request(path, "hello", timeout=0.05)
    finally:
        for c in queued:
            c.close()
        listener.close()


def test_many_clients_at_once_leave_no_thread_fd_or_socket_file_after_shutdown(
    flavor: str | None, tmp_path: Path
) -> None:
    from rt._core._console import MAX_CLIENTS

    path = str(tmp_path / "c.sock")
    threads = set(threading.enumerate())
    fds = set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()
    clients: list[socket.socket] = []
    with rt.Runtime(flavor=flavor, console=path) as runtime:
        for i in range(100):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            clients.append(c)
            c.connect(path)
            # a third ask and never read, a third stop mid-request, a third say nothing
            try:
                c.sendall([b'{"cmd": "dump"}\n', b'{"cmd": "du', b""][i % 3])
            except (BrokenPipeError, ConnectionResetError):
                assert i >= MAX_CLIENTS  # beyond the cap: refused and closed before it wrote
        # Answered, so every client before it was accepted: the first MAX_CLIENTS are served
        # (a thread each), the others and this one refused.
        with pytest.raises(RuntimeError, match="too many clients"):
            diagnostics_request(path, "hello", timeout=30)
        serving = [t for t in threading.enumerate() if t.name == "rt-console-client"]
        assert len(serving) == MAX_CLIENTS
        runtime.shutdown()
    for c in clients:
        c.close()
    assert not os.path.exists(path)
    assert [t.name for t in set(threading.enumerate()) - threads] == []
    if fds:
        assert set(os.listdir("/proc/self/fd")) - fds == set()


def _ask(client: socket.socket, cmd: str) -> bytes:
    """Send ``cmd`` on a connected client and read until its answer's newline or the end."""
    try:
        client.sendall(json.dumps({"cmd": cmd}).encode() + b"\n")
    except BrokenPipeError:  # closed before reading the request: its answer is still there
        pass
    data = b""
    while not data.endswith(b"\n"):
        chunk = client.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_a_console_client_beyond_the_cap_is_refused_with_one_line_and_a_freed_place_is_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: one thread per connection, without bound: a local process opening thousands of
    # connections made the runtime's process start thousands of threads.
    from rt._core._console import MAX_CLIENTS, ConsoleServer

    ended = threading.Semaphore(0)
    serve_client = ConsoleServer._client

    def client_then_signal(self: ConsoleServer, conn: socket.socket) -> None:
        serve_client(self, conn)
        ended.release()  # the conversation is over and its place given back

    monkeypatch.setattr(ConsoleServer, "_client", client_then_signal)
    path = str(tmp_path / "c.sock")
    clients: list[socket.socket] = []
    try:
        with rt.Runtime(console=path):
            for _ in range(MAX_CLIENTS):
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                clients.append(c)
                c.settimeout(60)  # (a hang here is a bug)
                c.connect(path)
                assert json.loads(_ask(c, "hello"))["ok"] is True  # served, and stays
            extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            extra.settimeout(60)
            with extra:
                extra.connect(path)
                reply = json.loads(_ask(extra, "hello"))
                assert reply["ok"] is False
                busy = f"too many clients at once (the endpoint serves at most {MAX_CLIENTS}"
                assert busy in reply["error"]
                try:  # and closed (reset: the request it sent was left unread)
                    rest = extra.recv(4096)
                except ConnectionResetError:
                    rest = b""
                assert rest == b""
            serving = [t for t in threading.enumerate() if t.name == "rt-console-client"]
            assert len(serving) == MAX_CLIENTS  # no thread for the refused one
            with pytest.raises(RuntimeError, match="too many clients at once"):
                diagnostics_request(path, "hello")
            clients.pop().close()
            assert ended.acquire(timeout=60)
            assert diagnostics_request(path, "hello")["ok"] is True
    finally:
        for c in clients:
            c.close()


def test_an_endpoint_that_accepts_and_never_answers_is_named_in_the_timeout(
    tmp_path: Path,
) -> None:
    # Before: a bare TimeoutError, "python -m rt ps: timed out".
    path = str(tmp_path / "mute.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    with listener, pytest.raises(ConnectionError, match=r"mute.sock did not answer 'dump'"):
        diagnostics_request(path, "dump", timeout=0.05)


def _one_shot_server(path: str, answer: bytes) -> threading.Thread:
    """A socket at ``path`` that reads one request, writes ``answer`` and closes."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def serve() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(answer)

    t = threading.Thread(target=serve)
    t.start()
    return t


def test_a_request_whose_answer_is_cut_short_says_the_endpoint_closed_mid_answer(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "c.sock")
    server = _one_shot_server(path, b'{"ok": true, "dump": {"tasks": [')
    try:
        with pytest.raises(ConnectionError, match="in the middle of its answer"):
            diagnostics_request(path, "dump")
    finally:
        server.join()


# -- the slow-poll detector -------------------------------------------------------------------


class _WatchedStop:
    """An event for the watchdog's stop that says when the watchdog waits on it (``waiting``)
    and how each of its waits ended (``outcomes``: True when stopped, or what it raised)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._flag = False
        self.waiting = threading.Event()
        self.outcomes: list[object] = []

    def set(self) -> None:
        with self._cond:
            self._flag = True
            self._cond.notify_all()

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: float | None = None) -> bool:
        with self._cond:
            # (``set`` takes the same lock: it lands once this wait blocks, or has raised)
            self.waiting.set()
            try:
                ended = self._flag or self._cond.wait(timeout)
            except BaseException as exc:
                self.outcomes.append(exc)
                raise
            self.outcomes.append(ended)
            return ended


@pytest.mark.parametrize("threshold", [1e300, 1e12])
def test_a_huge_slow_poll_threshold_keeps_the_watchdog_alive(
    threshold: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # threshold / 4 as the watchdog's wait overflowed the platform's timeout: the thread died
    # with a traceback on stderr and the detector was off for good.
    from rt._core._diagnostics import Diagnostics

    stop = _WatchedStop()
    start = Diagnostics.start

    def start_watched(self: Diagnostics, sched: Any) -> None:
        self._stop = stop  # type: ignore[assignment]
        start(self, sched)

    monkeypatch.setattr(Diagnostics, "start", start_watched)
    with rt.Runtime(slow_poll_threshold=threshold):
        assert stop.waiting.wait(30)
        assert "rt-slow-poll-watchdog" in [t.name for t in threading.enumerate()]
    # its one wait lasted until shutdown stopped it, and raised nothing
    assert stop.outcomes == [True]


# -- hooks that raise a BaseException ---------------------------------------------------------


@pytest.mark.parametrize("step", ["woken", "cancelled"])
@pytest.mark.parametrize("hook_name", ["on_before_task_poll", "on_after_task_poll"])
@pytest.mark.parametrize("raised", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_a_poll_hook_raising_a_base_exception_ends_its_task_and_shutdown_does_not_wait_for_it(
    flavor: str | None,
    hook_name: str,
    raised: type[BaseException],
    step: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # It is raised in the task, which ends with it (finally blocks run, the terminate hook
    # once). The multi-thread flavor raised it out of the step and dropped the suspended
    # coroutine unclosed: its finally blocks never ran. The current-thread flavor raised it out
    # of its loop with the task in no queue: shutdown() waited for it forever (here: until
    # its timeout, then closed it).
    cleaned: list[str] = []
    terminated: list[int] = []
    armed = threading.Event()
    victim_id: list[int] = []

    def hook(meta: rt.TaskMeta) -> None:
        if meta.name == "victim" and armed.is_set():
            armed.clear()
            raise raised("from a hook")

    def on_terminate(meta: rt.TaskMeta) -> None:
        terminated.append(meta.id)

    async def victim(started: rt.sync.Event) -> None:
        try:
            started.set()
            try:
                await rt.sleep(0.01 if step == "woken" else 3600)
            except rt.Cancelled:  # the step a cancellation throws into goes on awaiting
                await rt.sleep(0.01)
                raise
            await rt.sleep(0.01)
        finally:
            cleaned.append("finally")

    async def main() -> None:
        started = rt.sync.Event()
        handle = rt.spawn(victim(started), name="victim")
        victim_id.append(handle.id)
        await started.wait()
        armed.set()
        if step == "cancelled":
            handle.abort()
        try:
            await handle
        except (rt.JoinError, rt.Cancelled):
            pass

    runtime = rt.Runtime(
        flavor=flavor,
        on_task_terminate=on_terminate,
        **{hook_name: hook},  # type: ignore[arg-type]
    )
    try:
        runtime.block_on(main())
    except BaseException as exc:  # the hook's KeyboardInterrupt may end block_on
        assert isinstance(exc, raised)
    with caplog.at_level(logging.WARNING, logger="rt"):
        runtime.shutdown(timeout=10)
    assert not [r for r in caplog.records if "did not finish" in r.getMessage()]
    assert cleaned == ["finally"]
    assert terminated.count(victim_id[0]) == 1


def test_an_after_poll_hook_raising_keyboard_interrupt_reaches_a_task_that_parked_for_long(
    flavor: str | None,
) -> None:
    # On the current-thread flavor, the exception waited in the task for its next step: an
    # hour away here (block_on joined it for that long).
    cleaned: list[str] = []

    def hook(meta: rt.TaskMeta) -> None:
        if meta.name == "victim":
            raise KeyboardInterrupt("from a hook")

    async def victim() -> None:
        try:
            await rt.sleep(3600)
        finally:
            cleaned.append("finally")

    async def main() -> None:
        handle = rt.spawn(victim(), name="victim")
        async with rt.time.timeout(10):  # (the bug: it fires, rt.time.Elapsed)
            await handle

    with pytest.raises(KeyboardInterrupt, match="from a hook"):
        rt.run(main(), flavor=flavor, on_after_task_poll=hook)
    assert cleaned == ["finally"]


def test_a_before_poll_hook_raising_keyboard_interrupt_ends_its_task_at_the_step_it_precedes(
    flavor: str | None,
) -> None:
    # The step the hook precedes does not run as a plain step: the exception ends the task
    # there (raised at its await, or the coroutine closed there), so nothing after that await
    # runs; block_on raises it.
    armed = threading.Event()
    reached: list[str] = []

    def hook(meta: rt.TaskMeta) -> None:
        if meta.name == "victim" and armed.is_set():
            armed.clear()
            raise KeyboardInterrupt("from a hook")

    async def victim() -> None:
        try:
            armed.set()
            await rt.yield_now()
            reached.append("the code after the await")
        finally:
            reached.append("finally")

    async def main() -> None:
        await rt.spawn(victim(), name="victim")

    with pytest.raises(KeyboardInterrupt, match="from a hook"):
        rt.run(main(), flavor=flavor, on_before_task_poll=hook)
    assert reached == ["finally"]


@pytest.mark.parametrize("raised", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("ending", ["returns", "raises"])
def test_an_after_poll_hook_raising_after_a_task_s_last_step_keeps_its_outcome_and_reaches_block_on(
    flavor: str | None, raised: type[BaseException], ending: str
) -> None:
    # After the step that completes the task there is no step left to raise it in. The
    # current-thread flavor logged it and dropped it (a Ctrl-C swallowed); the multi-thread
    # flavor raised it out of the step in place of the task's own outcome (the task's result
    # lost, its joiner given the hook's exception). Now: the task keeps its outcome and
    # block_on raises the hook's exception, as for a hook raising during an earlier step.
    terminated: list[tuple[int, str | None]] = []
    handles: list[rt.JoinHandle[int]] = []
    last_step = threading.Event()

    def hook(meta: rt.TaskMeta) -> None:
        if meta.name == "child" and last_step.is_set():
            raise raised("from a hook")

    async def child() -> int:
        await rt.yield_now()  # (an earlier step, whose hook raises nothing)
        last_step.set()
        if ending == "raises":
            raise ValueError("the task's own error")
        return 42

    async def main() -> None:
        handles.append(rt.spawn(child(), name="child"))
        with contextlib.suppress(rt.JoinError):
            await handles[0]

    runtime = rt.Runtime(
        flavor=flavor,
        on_after_task_poll=hook,
        on_task_terminate=lambda meta: terminated.append((meta.id, meta.outcome)),
    )
    try:
        with pytest.raises(raised, match="from a hook"):
            runtime.block_on(main())

        async def join() -> int:
            return await handles[0]

        if ending == "returns":
            assert runtime.block_on(join()) == 42
        else:
            with pytest.raises(rt.JoinError) as info:
                runtime.block_on(join())
            assert isinstance(info.value.exception, ValueError)
    finally:
        runtime.shutdown(timeout=10)
    outcome = "ok" if ending == "returns" else "error"
    assert terminated.count((handles[0].id, outcome)) == 1


def test_an_after_poll_hook_raising_generator_exit_after_a_task_s_last_step_is_logged(
    flavor: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    # Not a request to stop the program: logged as a hook's Exception is, and the task keeps
    # its result (the multi-thread flavor failed the task with it).
    last_step = threading.Event()

    def hook(meta: rt.TaskMeta) -> None:
        if meta.name == "child" and last_step.is_set():
            raise GeneratorExit("from a hook")

    async def child() -> int:
        await rt.yield_now()
        last_step.set()
        return 42

    async def main() -> int:
        return await rt.spawn(child(), name="child")

    with caplog.at_level(logging.ERROR, logger="rt"):
        assert rt.run(main(), flavor=flavor, on_after_task_poll=hook) == 42
    (record,) = [r for r in caplog.records if "after task" in r.getMessage()]
    assert "GeneratorExit('from a hook')" in record.getMessage()


def test_a_spawn_hook_raising_keyboard_interrupt_fails_the_spawn_and_keeps_no_record(
    flavor: str | None, tmp_path: Path
) -> None:
    path = str(tmp_path / "c.sock")
    refused: list[int] = []

    def on_spawn(meta: rt.TaskMeta) -> None:
        if meta.name == "refused":
            refused.append(meta.id)
            raise KeyboardInterrupt

    async def child() -> None:
        pass

    async def main() -> dict[str, Any]:
        coro = child()
        try:
            rt.spawn(coro, name="refused")
        except KeyboardInterrupt:
            coro.close()
        reply = await rt.spawn_blocking(diagnostics_request, path, "stats")
        stats: dict[str, Any] = reply["stats"]
        return stats

    stats = rt.run(main(), flavor=flavor, console=path, on_task_spawn=on_spawn)
    (task_id,) = refused
    assert str(task_id) not in stats  # the refused task left no record for the console
    assert str(task_id - 1) in stats  # (main, spawned just before it, has one)


# -- task names in ps, pstree and str(dump) ---------------------------------------------------


def test_ps_and_pstree_keep_each_task_on_one_short_line_whatever_its_name(
    flavor: str | None, tmp_path: Path
) -> None:
    path = str(tmp_path / "c.sock")
    out: list[subprocess.CompletedProcess[str]] = []

    async def sleeper() -> None:
        await rt.sleep(3600)

    async def main() -> str:
        a = rt.spawn(sleeper(), name="two\nlines\x1b[31m")
        b = rt.spawn(sleeper(), name="h" * 100_000)
        await rt.yield_now()
        for cmd in ("ps", "pstree"):
            out.append(await rt.to_thread(_rt_cli, cmd, path))
        text = str(rt.dump())
        a.abort()
        b.abort()
        return text

    tree = rt.run(main(), flavor=flavor, console=path)
    ps, pstree = out
    assert ps.returncode == 0, ps.stderr
    assert pstree.returncode == 0, pstree.stderr
    rows = ps.stdout.splitlines()
    assert len(rows) == 2 + 4  # headline, column heads; main, two sleepers, to_thread
    assert all(len(row) < 400 for row in rows)
    assert "two\\nlines\\x1b[31m" in ps.stdout
    for text in (ps.stdout, pstree.stdout, tree):
        assert "\x1b" not in text
        assert "h" * 1000 not in text
    assert "two\\nlines" in pstree.stdout and "two\\nlines" in tree


def test_a_dump_keeps_the_whole_name_in_to_dict(flavor: str | None) -> None:
    name = "line\none " + "x" * 5000

    async def sleeper() -> None:
        await rt.sleep(3600)

    async def main() -> dict[str, Any]:
        t = rt.spawn(sleeper(), name=name)
        await rt.yield_now()
        data = rt.dump().to_dict()
        t.abort()
        return data

    data = rt.run(main(), flavor=flavor)
    assert [t["name"] for t in data["tasks"] if t["name"]] == [name]
    json.dumps(data)


# -- TaskLogFilter ----------------------------------------------------------------------------


def test_task_log_filter_names_the_task_in_a_task_and_nothing_elsewhere(
    flavor: str | None,
) -> None:
    seen: list[tuple[str, object, object]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append((record.getMessage(), record.task_id, record.task_name))  # type: ignore[attr-defined]

    handler = Keep()
    handler.addFilter(rt.TaskLogFilter())
    log = logging.getLogger("rt-hostile-test")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        log.info("outside")

        async def task() -> None:
            log.info("in task")
            await rt.spawn_blocking(log.info, "in blocking pool")
            thread = threading.Thread(target=log.info, args=("in plain thread",))
            thread.start()
            thread.join()

        async def main() -> int:
            handle = rt.spawn(task(), name="logger")
            await handle
            return handle.id

        tid = rt.run(main(), flavor=flavor)
    finally:
        log.removeHandler(handler)
    assert seen == [
        ("outside", None, None),
        ("in task", tid, "logger"),
        ("in blocking pool", None, None),
        ("in plain thread", None, None),
    ]
