"""rt.process: real children (sh, cat, the interpreter itself) on rt's reactor."""

from __future__ import annotations

import contextlib
import gc
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import rt
from rt.io import BufReader
from rt.process import Child, ChildStdout, Command, Stdio, _reaper
from rt.process._reaper import REAPER

PY = sys.executable


def is_reaped(pid: int) -> bool:
    """Whether ``pid`` is no longer a child of ours (neither running nor a zombie)."""
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return False


def zombie_children() -> list[int]:
    """Pids of this process's children that are zombies, read from /proc."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == me and fields[0] == "Z":
            found.append(int(entry))
    return found


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


async def test_output_collects_stdout_stderr_and_exit_code() -> None:
    out = await Command("sh").args(["-c", "echo out; echo err >&2; exit 3"]).output()
    assert isinstance(out, subprocess.CompletedProcess)
    assert (out.returncode, out.stdout, out.stderr) == (3, b"out\n", b"err\n")
    assert out.args == ["sh", "-c", "echo out; echo err >&2; exit 3"]
    with pytest.raises(subprocess.CalledProcessError):
        out.check_returncode()


async def test_status_returns_the_exit_code_as_an_int() -> None:
    assert await Command("true").status() == 0
    assert await Command("sh").args(["-c", "exit 7"]).status() == 7


async def test_a_child_killed_by_a_signal_exits_with_minus_the_signal_number() -> None:
    assert await Command("sh").args(["-c", "kill -TERM $$"]).status() == -15


async def test_a_missing_program_raises_file_not_found_naming_it() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-program-rt"):
        Command("no-such-program-rt").spawn()
    with pytest.raises(FileNotFoundError, match="no-such-program-rt"):
        await Command("no-such-program-rt").output()
    with pytest.raises(FileNotFoundError, match="no-such-program-rt"):
        Command("./no-such-program-rt").spawn()
    with pytest.raises(FileNotFoundError, match="no-such-program-rt"):
        Command("no-such-program-rt").cwd("/").spawn()  # the subprocess.Popen path


async def test_a_missing_cwd_raises_file_not_found_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with pytest.raises(FileNotFoundError, match="gone"):
        await Command("true").cwd(missing).status()


async def test_a_directory_as_program_raises_permission_error(tmp_path: Path) -> None:
    with pytest.raises(PermissionError):
        Command(tmp_path).spawn()


async def test_wait_twice_returns_the_same_code_and_id_goes_away() -> None:
    child = Command("sh").args(["-c", "exit 5"]).spawn()
    pid = child.id
    assert isinstance(pid, int)
    assert await child.wait() == 5
    assert await child.wait() == 5
    assert child.try_wait() == 5
    assert child.id is None
    assert child.returncode == 5


async def test_try_wait_is_none_while_running_then_the_code() -> None:
    child = Command("cat").stdin(Stdio.piped()).spawn()
    assert child.try_wait() is None
    assert child.stdin is not None
    await child.stdin.shutdown()
    assert await child.wait() == 0
    assert child.try_wait() == 0


async def test_piped_stdin_and_stdout_round_trip_through_cat() -> None:
    child = Command("cat").stdin(Stdio.piped()).stdout(Stdio.piped()).spawn()
    assert child.stdin is not None and child.stdout is not None
    payload = os.urandom(1 << 20)  # more than a pipe buffer: needs the concurrent reader

    async def feed() -> None:
        assert child.stdin is not None
        await child.stdin.write_all(payload)
        await child.stdin.shutdown()

    feeder = rt.spawn(feed())
    assert await child.stdout.read_to_end() == payload
    await feeder
    assert await child.wait() == 0


async def test_child_stdout_works_with_rt_io_buf_reader() -> None:
    child = Command("printf").arg("one\\ntwo\\n").stdout(Stdio.piped()).spawn()
    assert isinstance(child.stdout, ChildStdout)
    lines = [line async for line in BufReader(child.stdout).lines()]
    assert lines == [b"one", b"two"]
    assert await child.wait() == 0


async def test_read_exact_reads_all_bytes_or_raises_incomplete() -> None:
    child = Command("printf").arg("abcdef").stdout(Stdio.piped()).spawn()
    assert child.stdout is not None
    assert await child.stdout.read_exact(4) == b"abcd"
    with pytest.raises(rt.io.IncompleteReadError) as info:
        await child.stdout.read_exact(4)
    assert info.value.partial == b"ef"
    await child.wait()


async def test_writing_to_a_child_that_closed_its_stdin_raises_broken_pipe() -> None:
    child = (
        Command("sh")
        .args(["-c", "exec 0<&-; echo closed"])
        .stdin(Stdio.piped())
        .stdout(Stdio.piped())
        .spawn()
    )
    assert child.stdin is not None and child.stdout is not None
    assert await child.stdout.read_to_end() == b"closed\n"
    with pytest.raises(BrokenPipeError):
        await child.stdin.write_all(b"x" * 100)
    assert await child.wait() == 0


async def test_writing_after_shutdown_is_an_ebadf_error() -> None:
    child = Command("cat").stdin(Stdio.piped()).stdout(Stdio.null()).spawn()
    stdin = child.stdin
    assert stdin is not None
    await stdin.shutdown()
    with pytest.raises(OSError, match="closed"):
        await stdin.write(b"late")
    assert await child.wait() == 0


async def test_env_envs_env_remove_and_env_clear_shape_the_environment() -> None:
    script = "import os, json; print(json.dumps({k: os.environ.get(k) for k in 'ABCD'}))"
    os.environ["C"] = "inherited"
    try:
        cmd = Command(PY).args(["-c", script]).env("A", "1").envs({"B": "2"}).env_remove("C")
        out = await cmd.output()
        assert out.stdout.strip() == b'{"A": "1", "B": "2", "C": null, "D": null}'
        inherited = await Command(PY).args(["-c", script]).output()
        assert b'"C": "inherited"' in inherited.stdout
        cleared = Command(PY).args(["-c", script]).env("A", "x").env_clear().env("D", "4")
        cleared_out = await cleared.output()
        assert cleared_out.stdout.strip() == b'{"A": null, "B": null, "C": null, "D": "4"}'
    finally:
        del os.environ["C"]


async def test_cwd_runs_the_child_in_that_directory(tmp_path: Path) -> None:
    out = await Command("pwd").cwd(tmp_path).output()
    assert Path(out.stdout.decode().strip()).resolve() == tmp_path.resolve()


async def run_to_output(cmd: Command, how: str) -> bytes:
    """Collect stdout through ``output()`` (the blocking pool, subprocess.Popen) or through
    ``spawn()`` (on the task's thread, os.posix_spawn)."""
    if how == "output":
        return (await cmd.output()).stdout
    child = cmd.stdout(Stdio.piped()).spawn()
    assert child.stdout is not None
    out = await child.stdout.read_to_end()
    assert await child.wait() == 0
    return out


@pytest.mark.parametrize("how", ["spawn", "output"])
async def test_process_group_and_new_session_are_applied(how: str) -> None:
    script = "import os; print(os.getpid(), os.getpgid(0), os.getsid(0))"
    out = await run_to_output(Command(PY).args(["-c", script]).process_group(0), how)
    pid, pgid, _sid = map(int, out.split())
    assert pgid == pid
    out = await run_to_output(Command(PY).args(["-c", script]).start_new_session(), how)
    pid, pgid, sid = map(int, out.split())
    assert sid == pid == pgid


async def test_kill_ends_the_child_with_sigkill_and_collects_it() -> None:
    child = Command("sleep").arg("1000").spawn()
    pid = child.id
    assert pid is not None
    await child.kill()
    assert child.returncode == -9
    assert is_reaped(pid)
    child.start_kill()  # after the exit was collected: nothing to do


async def test_start_kill_then_wait() -> None:
    child = Command("sleep").arg("1000").spawn()
    child.start_kill()
    assert await child.wait() == -9


async def test_a_pipeline_passes_one_childs_stdout_to_the_next_childs_stdin() -> None:
    first = Command("printf").arg("b\\na\\nc\\n").stdout(Stdio.piped()).spawn()
    assert first.stdout is not None
    sort = Command("sort").stdin(first.stdout)
    out = await sort.output()
    assert out.stdout == b"a\nb\nc\n"
    assert first.stdout.closed  # taken over by the second child
    assert await first.wait() == 0


async def test_wait_with_output_drains_large_stdout_and_stderr_without_deadlock() -> None:
    script = "head -c 1000000 /dev/zero; head -c 700000 /dev/zero >&2"
    out = await Command("sh").args(["-c", script]).output()
    assert (len(out.stdout), len(out.stderr), out.returncode) == (1000000, 700000, 0)


async def test_many_children_exit_concurrently_and_each_wait_sees_its_own_code() -> None:
    async def run(i: int) -> int:
        return await Command("sh").args(["-c", f"exit {i}"]).status()

    handles = [rt.spawn(run(i)) for i in range(40)]
    assert [await h for h in handles] == list(range(40))


async def test_a_dropped_child_is_reaped_in_the_background() -> None:
    child = Command("sh").args(["-c", "read x"]).stdin(Stdio.piped()).spawn()
    pid = child.id
    stdin = child.stdin
    assert pid is not None and stdin is not None
    child.stdin = None
    del child
    gc.collect()
    stdin.close()  # the child reads end of file and exits
    assert await rt.spawn_blocking(REAPER.wait_idle, 30)
    assert is_reaped(pid)


async def test_kill_on_drop_kills_the_child_of_a_cancelled_task() -> None:
    pids: list[int] = []

    async def runner() -> None:
        child = Command("sleep").arg("1000").kill_on_drop(True).spawn()
        assert child.id is not None
        pids.append(child.id)
        await child.wait()

    task = rt.spawn(runner())
    while not pids:
        await rt.yield_now()
    task.abort()
    with pytest.raises(rt.JoinError):
        await task
    gc.collect()
    assert await rt.spawn_blocking(REAPER.wait_idle, 30)
    assert is_reaped(pids[0])


def test_runtime_shutdown_kills_and_reaps_kill_on_drop_children(flavor: str | None) -> None:
    pids: list[int] = []

    async def runner() -> None:
        child = Command("sleep").arg("1000").kill_on_drop(True).spawn()
        assert child.id is not None
        pids.append(child.id)
        await child.wait()

    async def main() -> None:
        rt.spawn(runner())
        while not pids:
            await rt.yield_now()

    fds = open_fds()
    with rt.Runtime(flavor=flavor) as runtime:
        runtime.block_on(main())
    gc.collect()
    assert REAPER.wait_idle(30)
    assert is_reaped(pids[0])
    assert open_fds() - fds == set()


async def test_exits_are_seen_without_pidfds_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_reaper, "_pidfd_ok", False)
    out = await Command("sh").args(["-c", "echo hi; exit 4"]).output()
    assert (out.returncode, out.stdout) == (4, b"hi\n")
    child = Command("sleep").arg("1000").spawn()
    await child.kill()
    assert child.returncode == -9


def test_spawn_outside_a_runtime_says_to_use_one() -> None:
    with pytest.raises(RuntimeError, match=r"rt\.run"):
        Command("true").spawn()


def test_bad_arguments_are_type_errors_naming_the_mistake() -> None:
    with pytest.raises(TypeError, match="program"):
        Command(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="arg\\(\\)"):
        Command("echo").args("hello")
    with pytest.raises(TypeError, match="stdout"):
        Command("echo").stdout("piped")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="process_group"):
        Command("echo").process_group(-1)
    with pytest.raises(TypeError, match="spawn"):
        Child()
    with pytest.raises(TypeError, match="piped"):
        Stdio()


def test_one_thousand_children_leave_no_zombie_and_no_fd(flavor: str | None) -> None:
    async def main() -> None:
        async def batch() -> None:
            for _ in range(50):
                assert await Command("true").status() == 0

        handles = [rt.spawn(batch()) for _ in range(20)]
        for h in handles:
            await h

    gc.collect()
    fds = open_fds()
    with rt.Runtime(flavor=flavor) as runtime:
        runtime.block_on(main())
    assert zombie_children() == []
    assert REAPER.pending() == 0
    assert REAPER.wait_idle(30)  # the SIGCHLD watcher's thread ends with its last child
    assert open_fds() - fds == set()


@pytest.mark.parametrize("how", ["spawn", "output"])
async def test_children_start_with_no_blocked_or_ignored_signals_whatever_thread_spawns_them(
    how: str,
) -> None:
    out = await run_to_output(Command("grep").args(["^Sig[BI]", "/proc/self/status"]), how)
    blk, blocked, ign, ignored = out.split()
    assert (blk, ign, int(blocked, 16)) == (b"SigBlk:", b"SigIgn:", 0)
    # Python ignores SIGPIPE and SIGXFSZ; children get the default back. What the test run
    # itself inherited ignored (SIGHUP under nohup, say) a child inherits too, as with any
    # exec. (glibc's posix_spawn leaves its two internal real-time signals, 32 and 33,
    # ignored: beyond the standard 31.)
    pythons_own = (1 << (signal.SIGPIPE - 1)) | (1 << (signal.SIGXFSZ - 1))
    standard = (1 << 31) - 1
    inherited = _ignored_signals_of_this_process() & standard & ~pythons_own
    assert int(ignored, 16) & standard == inherited


def _ignored_signals_of_this_process() -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"SigIgn:"):
                return int(line.split()[1], 16)
    raise AssertionError("no SigIgn line in /proc/self/status")


async def test_several_tasks_may_wait_for_one_child_and_kill_it_meanwhile() -> None:
    child = Command("sleep").arg("1000").spawn()
    first = rt.spawn(child.wait())  # it waits on the reactor, the next ones wait for it
    waiters = [rt.spawn(child.wait()) for _ in range(3)]
    for _ in range(5):
        await rt.yield_now()  # let them all park
    first.abort()  # the waiter on the reactor leaving does not strand the others
    with pytest.raises(rt.JoinError):
        await first
    await child.kill()
    assert [await w for w in waiters] == [-9, -9, -9]


async def test_streams_can_be_open_files_or_fds(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with open(target, "wb") as f:
        assert await Command("echo").arg("to a file").stdout(f).status() == 0
    source = tmp_path / "in.txt"
    source.write_bytes(b"from a file\n")
    fd = os.open(source, os.O_RDONLY)
    try:
        out = await Command("cat").stdin(fd).output()
    finally:
        os.close(fd)
    assert target.read_bytes() == b"to a file\n"
    assert out.stdout == b"from a file\n"


async def test_a_wait_whose_exit_fd_another_task_closed_before_it_waited_returns_the_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On the multi-thread flavor a waiter can look (child running), and before it starts its
    # wait on the exit fd another task, on another thread, collects the exit and closes that
    # fd. Replayed here in one task: the first look reports the child running, after the
    # collection that closes the fd has happened behind it.
    child = Command("sleep").arg("1000").spawn()
    child.start_kill()
    # Block until the exit fd is readable: the child exited (pidfd), or the SIGCHLD watcher
    # collected it (its pipe). Either way the next collection finds the code.
    readable, _, _ = select.select([child._exit.fileno()], [], [], 60)
    assert readable
    collect = Child._collect
    looks: list[int | None] = []

    def look_that_loses_the_race(self: Child) -> int | None:
        if not looks:
            looks.append(collect(self))  # the other task's collection, closing the exit fd
            return None  # what this task's own look saw a moment before
        return collect(self)

    monkeypatch.setattr(Child, "_collect", look_that_loses_the_race)
    assert await child.wait() == -signal.SIGKILL
    assert looks == [-signal.SIGKILL]


# -- the SIGCHLD watcher (the fallback without pidfds) ---------------------------------------


@pytest.mark.parametrize("exit_watch", ["sigchld"], indirect=True)
async def test_the_sigchld_watcher_reaps_only_its_own_children(exit_watch: str) -> None:
    # A child of another library (plain subprocess) exits while ours are being watched: the
    # watcher never collects it (no waitpid(-1)), so its owner still gets its real exit code.
    foreign = subprocess.Popen(["sh", "-c", "exit 7"])
    assert await Command("sh").args(["-c", "exit 3"]).status() == 3
    child = Command("sleep").arg("1000").spawn()
    await rt.spawn_blocking(os.waitid, os.P_PID, foreign.pid, os.WEXITED | os.WNOWAIT)
    assert not is_reaped(foreign.pid)  # exited, waited for by nobody but its owner
    await child.kill()
    assert foreign.wait() == 7


@pytest.mark.parametrize("exit_watch", ["sigchld"], indirect=True)
def test_the_sigchld_watcher_thread_ends_and_its_handler_stays_once_no_child_is_watched(
    exit_watch: str, flavor: str | None
) -> None:
    import signal

    async def main() -> int:
        child = Command("sleep").arg("1000").spawn()
        assert signal.getsignal(signal.SIGCHLD) not in (signal.SIG_DFL, signal.SIG_IGN, None)
        await child.kill()
        return await Command("sh").args(["-c", "exit 5"]).status()

    assert rt.run(main(), flavor=flavor) == 5
    assert REAPER.wait_idle(30)  # no watcher thread left
    # The handler stays (putting the old one back would race with a SIGCHLD on its way), and
    # a child of other code is still its owner's to wait for.
    assert signal.getsignal(signal.SIGCHLD) not in (signal.SIG_DFL, signal.SIG_IGN, None)
    foreign = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    assert foreign.wait() == 7


@pytest.mark.parametrize("exit_watch", ["sigchld"], indirect=True)
async def test_exits_landing_together_are_each_collected_by_the_sigchld_watcher(
    exit_watch: str,
) -> None:
    # Children blocked on one pipe all exit at its end of file, at once: their SIGCHLDs
    # coalesce, and every exit must still be seen (a lost one hangs the test).
    children = [
        Command("sh").args(["-c", f"read x; exit {i}"]).stdin(Stdio.piped()).spawn()
        for i in range(30)
    ]
    for child in children:
        assert child.stdin is not None
        child.stdin.close()
        child.stdin = None
    codes = [await child.wait() for child in reversed(children)]
    assert codes == list(reversed(range(30)))


@pytest.mark.parametrize("exit_watch", ["sigchld"], indirect=True)
def test_the_sigchld_watcher_serves_a_runtime_driven_by_another_thread(
    exit_watch: str, flavor: str
) -> None:
    # The children are spawned and waited for on a thread of their own (SIGCHLD goes to the
    # thread that spawned the child); rt-signal's handler, installed by the main thread on
    # request, runs there while the main thread waits in a runtime of its own.
    import threading

    got: list[object] = []

    async def main() -> list[int]:
        first = await Command("sh").args(["-c", "exit 6"]).status()
        child = Command("sleep").arg("1000").spawn()
        await child.kill()
        return [first, child.returncode or 0]

    def drive() -> None:
        try:
            got.append(rt.run(main(), flavor=flavor))
        except BaseException as exc:  # handed to the test's thread
            got.append(exc)

    async def wait_for_it() -> None:
        thread = threading.Thread(target=drive)
        thread.start()
        await rt.spawn_blocking(thread.join)

    rt.run(wait_for_it())
    assert got == [[6, -9]]
    assert REAPER.wait_idle(30)
    assert zombie_children() == []


# ``Child.__del__`` hands an unreaped child to the reapers (``REAPER.adopt``). The collector
# may run it on a thread that is inside one of the reapers' own locked sections (making their
# thread allocates a lot): that must neither deadlock nor lose the child.


def _waiting_children(n: int) -> list[subprocess.Popen[bytes]]:
    """Children that exit once their stdin is closed."""
    code = "import sys; sys.stdin.read()"
    return [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE) for _ in range(n)]


def _adopt_while_making_the_thread(
    monkeypatch: pytest.MonkeyPatch, first: Callable[[], object], adopt_other: Callable[[], object]
) -> bool:
    """Call ``first()`` on a helper thread, with ``adopt_other()`` run inside the first
    ``threading.Thread(...)`` made meanwhile (where a finalizer may run); whether it returned
    (within 30 s: a deadlock does not)."""
    import threading

    helper = threading.Thread(target=first, daemon=True)  # made before the hook is in place
    real = threading.Thread
    calls: list[None] = []

    def thread(*args: object, **kwargs: object) -> threading.Thread:
        if not calls:
            calls.append(None)
            adopt_other()
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(threading, "Thread", thread)
    try:
        helper.start()
        helper.join(30)
    finally:
        monkeypatch.undo()
    assert calls, "no thread was made"
    return not helper.is_alive()


def _let_go(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        assert child.stdin is not None
        child.stdin.close()


def test_a_child_dropped_while_the_orphan_reaper_starts_its_thread_is_reaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not _reaper.pidfd_works():
        pytest.skip("no pidfds: the orphan reaper is not used")
    assert REAPER.wait_idle(30)  # no reaper thread: the next adoption makes one
    children = _waiting_children(2)
    try:
        assert _adopt_while_making_the_thread(
            monkeypatch,
            lambda: REAPER.adopt(children[0], watched=False),
            lambda: REAPER.adopt(children[1], watched=False),
        ), "adopting a child deadlocked"
    finally:
        _let_go(children)
    assert REAPER.wait_idle(30)
    assert [c.returncode for c in children] == [0, 0]
    assert REAPER.pending() == 0


def test_a_child_dropped_while_the_sigchld_watcher_starts_its_thread_is_reaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert REAPER.wait_idle(30)  # no watcher thread: the next child watched makes one
    children = _waiting_children(2)
    fds: list[int] = []
    try:
        assert _adopt_while_making_the_thread(
            monkeypatch,
            lambda: fds.append(_reaper.WATCHER.watch(children[0])),
            lambda: _reaper.WATCHER.adopt(children[1]),
        ), "watching a child deadlocked"
    finally:
        _let_go(children)
    try:
        assert fds
        # The first child's pipe reads end of file once its exit is collected.
        assert select.select(fds, [], [], 30)[0] == fds
        assert os.read(fds[0], 1) == b""
        assert REAPER.wait_idle(30)
        assert [c.returncode for c in children] == [0, 0]
    finally:
        for fd in fds:
            os.close(fd)


def _pipe_failing_at(call: int) -> Callable[[], tuple[int, int]]:
    """``os.pipe`` whose ``call``-th call (from 0) fails as when out of fds."""
    real = os.pipe
    calls: list[None] = []

    def pipe() -> tuple[int, int]:
        calls.append(None)
        if len(calls) - 1 == call:
            raise OSError(24, "Too many open files (made by the test)")
        return real()

    return pipe


def test_the_orphan_reaper_starts_its_thread_at_the_next_adoption_after_failing_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not _reaper.pidfd_works():
        pytest.skip("no pidfds: the orphan reaper is not used")
    assert REAPER.wait_idle(30)  # no reaper thread: the next adoption makes one
    children = _waiting_children(2)
    try:
        with monkeypatch.context() as m:
            m.setattr(os, "pipe", _pipe_failing_at(0))
            with pytest.raises(OSError, match="Too many open files"):
                REAPER.adopt(children[0], watched=False)
        assert REAPER.pending() == 1  # kept: the next thread looks at it
        REAPER.adopt(children[1], watched=False)
    finally:
        _let_go(children)
    assert REAPER.wait_idle(30)  # a thread stuck "starting" never lets this return
    assert [c.returncode for c in children] == [0, 0]
    assert REAPER.pending() == 0


def test_the_sigchld_watcher_starts_its_thread_for_the_next_child_after_failing_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert REAPER.wait_idle(30)  # no watcher thread: the next child watched makes one
    children = _waiting_children(2)
    fds: list[int] = []
    try:
        with monkeypatch.context() as m:
            # watch() makes the child's pipe first, then the thread's: the second fails.
            m.setattr(os, "pipe", _pipe_failing_at(1))
            with pytest.raises(OSError, match="Too many open files"):
                _reaper.WATCHER.watch(children[0])
        fds.append(_reaper.WATCHER.watch(children[1]))
    finally:
        _let_go(children)
    try:
        # The second child's pipe reads end of file once the (new) thread collects its exit.
        assert select.select(fds, [], [], 30)[0] == fds
        assert os.read(fds[0], 1) == b""
        assert children[0].wait(30) == 0  # the refused one is the caller's to wait for
        assert REAPER.wait_idle(30)
        assert children[1].returncode == 0
    finally:
        for fd in fds:
            os.close(fd)


def _spawned(*argv: str) -> Any:
    from rt.process._proc import SpawnedProcess

    return SpawnedProcess(os.posix_spawnp(argv[0], list(argv), dict(os.environ)))


def _collect_with_a_kill_inside_waitpid(
    monkeypatch: pytest.MonkeyPatch, proc: Any, collect: Callable[[], object]
) -> list[object]:
    """Run ``collect()`` on a helper thread, ``proc.kill()`` made on that thread just after
    its ``waitpid`` returned (where the collector may run a dropped ``Child``'s finalizer);
    what ``collect()`` returned. Fails (after freeing the lock) if it deadlocked."""
    import threading

    real = os.waitpid
    hooked: list[None] = []

    def waitpid(pid: int, flags: int) -> tuple[int, int]:
        result = real(pid, flags)
        if pid == proc.pid and not hooked:
            hooked.append(None)
            proc.kill()
        return result

    monkeypatch.setattr(os, "waitpid", waitpid)
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(collect()), daemon=True)
    t.start()
    t.join(30)
    monkeypatch.undo()
    if t.is_alive():
        with contextlib.suppress(RuntimeError):
            proc._lock.release()  # a plain lock may be freed by any thread
        t.join(30)
        pytest.fail("a kill made inside the child's collection deadlocked its thread")
    assert hooked
    return out


def test_a_kill_made_inside_a_poll_of_a_running_child_is_sent_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proc = _spawned("sleep", "60")
    try:
        assert _collect_with_a_kill_inside_waitpid(monkeypatch, proc, proc.poll) == [None]
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGTERM)  # only if the kill was lost: end the test's child
    assert proc.wait() == -signal.SIGKILL


def test_a_kill_made_inside_the_poll_that_collects_a_child_signals_no_pid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proc = _spawned("true")
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet collected
    sent: list[int] = []
    real_kill = os.kill

    def kill(pid: int, sig: int) -> None:
        sent.append(pid)
        real_kill(pid, sig)

    monkeypatch.setattr(os, "kill", kill)
    assert _collect_with_a_kill_inside_waitpid(monkeypatch, proc, proc.poll) == [0]
    assert sent == []  # the pid was collected: it may belong to another process now


@pytest.mark.parametrize("exit_watch", ["sigchld"], indirect=True)
def test_wait_returns_when_a_program_replaced_rts_sigchld_handler_with_its_own(
    exit_watch: str,
    flavor: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The watcher heard of exits only through rt's SIGCHLD handler: a program's own handler
    # installed after it left wait() hanging. It now notices and checks on a timer, and says
    # so once through the rt logger.
    import threading

    monkeypatch.setattr(_reaper, "_warned_replaced", False)
    heard = threading.Event()

    def programs_own(signum: int, frame: object) -> None:
        heard.set()

    async def spawn() -> Child:
        return Command("sh").args(["-c", "read x; exit 3"]).stdin(Stdio.piped()).spawn()

    async def finish(child: Child) -> int:
        stdin, child.stdin = child.stdin, None
        assert stdin is not None
        waiting = rt.spawn(child.wait())
        while child._waiting is None:  # until wait() looked (running) and waits for the exit
            await rt.yield_now()
        stdin.close()  # the child exits now, with the program's handler in place
        return await waiting

    with caplog.at_level("WARNING", logger="rt"), rt.Runtime(flavor=flavor) as runtime:
        child = runtime.block_on(spawn())  # rt's SIGCHLD handler is installed by now
        previous = signal.signal(signal.SIGCHLD, programs_own)
        try:
            assert runtime.block_on(finish(child)) == 3
            assert heard.wait(30)  # the program's handler did get its SIGCHLD
        finally:
            signal.signal(signal.SIGCHLD, previous)
    assert child.id is None
    [record] = [r for r in caplog.records if "SIGCHLD" in r.getMessage()]
    assert record.name == "rt" and record.levelname == "WARNING"
    assert "replaced by" in record.getMessage() and "programs_own" in record.getMessage()
    assert "rt.signal.unix.signal(SignalKind.child())" in record.getMessage()
    assert REAPER.wait_idle(30)
