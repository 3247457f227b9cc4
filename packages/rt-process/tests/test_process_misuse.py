"""rt.process misused the way a user coming from asyncio, trio or subprocess would: each test
guards a mistake that once gave a hang, a MemoryError or an unclear error."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rt
from rt.process import Child, Command, Stdio

PY = sys.executable


async def test_a_pipe_read_of_a_huge_size_returns_the_output_instead_of_a_memory_error() -> None:
    # asyncio's StreamReader.read(n) takes any n; os.read(fd, n) allocates n bytes up front.
    child = Command("echo").arg("hi").stdout(Stdio.piped()).spawn()
    assert child.stdout is not None
    assert await child.stdout.read(1 << 40) == b"hi\n"
    assert await child.wait() == 0


async def test_a_pipe_read_exact_of_a_negative_size_is_a_value_error() -> None:
    child = Command("echo").arg("hi").stdout(Stdio.piped()).spawn()
    assert child.stdout is not None
    with pytest.raises(ValueError, match="read_exact size must be an int >= 0, got -2"):
        await child.stdout.read_exact(-2)
    assert await child.stdout.read_exact(3) == b"hi\n"  # nothing was consumed
    await child.wait()


def test_subprocess_constants_as_stdio_get_an_error_naming_the_stdio_to_use() -> None:
    with pytest.raises(ValueError, match=r"subprocess\.PIPE: use rt\.process\.Stdio\.piped\(\)"):
        Command("echo").stdout(subprocess.PIPE)
    with pytest.raises(ValueError, match=r"subprocess\.DEVNULL: use rt\.process\.Stdio\.null"):
        Command("echo").stdin(subprocess.DEVNULL)
    with pytest.raises(ValueError, match=r"subprocess\.STDOUT: rt\.process cannot merge"):
        Command("echo").stderr(subprocess.STDOUT)


async def test_a_bytes_environment_name_is_the_same_variable_as_its_str_name() -> None:
    # os.environ's keys are str: env(b"X") next to an inherited "X" gave the child X twice,
    # and env_remove(b"X") left the inherited X in place.
    script = "import os; print(os.environ.get('RT_T1'), os.environ.get('RT_T2'))"
    os.environ["RT_T1"] = "inherited"
    os.environ["RT_T2"] = "inherited"
    try:
        cmd = Command(PY).args(["-c", script]).env(b"RT_T1", b"set").env_remove(b"RT_T2")
        assert (await cmd.output()).stdout == b"set None\n"
        twice = Command("env").env_clear().env(b"RT_T1", "a").env("RT_T1", b"b")
        assert (await twice.output()).stdout == b"RT_T1=b\n"
    finally:
        del os.environ["RT_T1"], os.environ["RT_T2"]


def test_nul_characters_and_bad_environment_names_are_refused_by_the_builder() -> None:
    # They were refused only at spawn(), by an "embedded null byte" naming nothing, and an
    # empty name reached the child as "=value".
    with pytest.raises(ValueError, match=r"arg 'a\\x00b' holds a NUL character"):
        Command("echo").arg("a\0b")
    with pytest.raises(ValueError, match="NUL character"):
        Command("echo").env("A", b"x\0y")
    with pytest.raises(ValueError, match=r"env key 'A=B' is not a variable name"):
        Command("echo").env("A=B", "x")
    with pytest.raises(ValueError, match=r"env key '' is not a variable name"):
        Command("echo").env("", "x")
    with pytest.raises(TypeError, match=r"env value of 'A' must be str, bytes.*got int 1"):
        Command("echo").env("A", 1)  # type: ignore[arg-type]


def test_a_child_awaited_from_another_runtime_raises_instead_of_hanging() -> None:
    # Its pipes and its exit are watched by the reactor of the runtime that spawned it; a
    # task of another runtime parked there for ever (nobody polls that reactor for it).
    with rt.Runtime() as owner:

        async def spawn() -> Child:
            return (
                Command(PY)
                .args(["-c", "input()"])
                .stdin(Stdio.piped())
                .stdout(Stdio.piped())
                .kill_on_drop(True)
                .spawn()
            )

        child = owner.block_on(spawn())

        async def elsewhere() -> list[str]:
            errors = []
            assert child.stdout is not None
            for op in (child.stdout.read(), child.wait()):
                with pytest.raises(RuntimeError, match="spawned on another rt runtime") as info:
                    await op
                errors.append(str(info.value))
            return errors

        errors = rt.run(elsewhere())
        assert errors[0].startswith("ChildStdout.read(): ")
        assert errors[1].startswith("Child.wait(): ")

        async def finish() -> int:
            await child.kill()
            return await child.wait()

        assert owner.block_on(finish()) == -9


async def test_a_pipe_end_passed_to_a_child_says_so_when_used_again() -> None:
    # The error said "it was closed by close()", which the user never called.
    first = Command("echo").arg("hi").stdout(Stdio.piped()).spawn()
    assert first.stdout is not None
    stdout = first.stdout
    cat = Command("cat").stdin(stdout).stdout(Stdio.piped())
    piped = cat.spawn()
    assert (await piped.wait_with_output()).stdout == b"hi\n"
    with pytest.raises(OSError, match="passed to another child's stdin/stdout/stderr"):
        cat.spawn()
    with pytest.raises(OSError, match=r"read\(\) on a closed ChildStdout: it was passed"):
        await stdout.read()
    await first.wait()


async def test_a_closed_file_or_fd_as_a_stream_is_an_error_naming_the_stream(
    tmp_path: Path,
) -> None:
    # Before: a bare "I/O operation on closed file" / "Bad file descriptor" naming nothing.
    closed = open(tmp_path / "f", "wb")  # noqa: SIM115 - closed on purpose before use
    closed.close()
    with pytest.raises(ValueError, match=r"stdin: .* has no open file descriptor"):
        await Command("true").stdin(closed).status()
    fd = 1019  # far above what this process opens (a freshly closed number could be reused)
    with pytest.raises(OSError):
        os.fstat(fd)
    with pytest.raises(OSError, match=f"stdout: fd {fd} is not open in this process"):
        await Command("true").stdout(fd).status()
    with pytest.raises(OSError, match=f"stderr: fd {fd} is not open in this process"):
        Command("true").stderr(fd).spawn()


async def test_a_write_waiting_when_wait_closes_stdin_says_wait_closed_it() -> None:
    # asyncio's proc.wait() leaves stdin alone; rt's (as Tokio's) closes a stdin still held
    # as child.stdin. A writer blocked on it got "fd N was closed while a task was waiting on
    # it", naming neither the pipe nor wait().
    child = Command("sleep").arg("1000").stdin(Stdio.piped()).spawn()
    stdin = child.stdin
    assert stdin is not None
    writer = rt.spawn(stdin.write_all(b"x" * (1 << 22)))  # more than a pipe holds
    while not _waits_on(stdin):
        await rt.yield_now()
    waiter = rt.spawn(child.wait())
    while stdin.fileno() >= 0:
        await rt.yield_now()
    child.start_kill()
    assert await waiter == -9
    with pytest.raises(rt.JoinError) as caught:
        await writer
    err = caught.value.exception
    assert isinstance(err, OSError)
    assert err.errno == errno.EBADF
    message = str(err)
    assert "write() on a closed ChildStdin" in message
    assert "Child.wait()" in message and "take it first" in message


async def test_a_read_waiting_when_another_task_closes_the_pipe_names_the_pipe() -> None:
    child = Command("sleep").arg("1000").stdout(Stdio.piped()).kill_on_drop(True).spawn()
    stdout = child.stdout
    assert stdout is not None
    reader = rt.spawn(stdout.read())
    while not _waits_on(stdout):
        await rt.yield_now()
    stdout.close()
    with pytest.raises(rt.JoinError) as caught:
        await reader
    err = caught.value.exception
    assert isinstance(err, OSError)
    assert err.errno == errno.EBADF
    assert "read() on a closed ChildStdout: it was closed by close()" in str(err)
    await child.kill()


async def test_a_second_task_reading_or_writing_a_pipe_is_told_to_use_one_task() -> None:
    # The reactor's words were "another task is already waiting for fd 9 to be readable".
    child = Command("sleep").arg("1000").stdin(Stdio.piped()).stdout(Stdio.piped()).spawn()
    stdin, stdout = child.stdin, child.stdout
    assert stdin is not None and stdout is not None
    reader = rt.spawn(stdout.read())
    writer = rt.spawn(stdin.write_all(b"x" * (1 << 22)))
    while not (_waits_on(stdout) and _waits_on(stdin)):
        await rt.yield_now()
    with pytest.raises(RuntimeError, match=r"read\(\) on a ChildStdout that another task is"):
        await stdout.read()
    with pytest.raises(RuntimeError, match=r"write\(\) on a ChildStdin that another task is"):
        await stdin.write(b"y")
    await child.kill()
    assert await reader == b""  # the first reader and writer were left alone
    with pytest.raises(rt.JoinError):
        await writer


def _waits_on(end: object) -> bool:
    """Whether a task is parked on ``end``'s pipe in the reactor (to read or to write)."""
    st = end._reg._st  # type: ignore[attr-defined]
    return st is not None and (st.reader is not None or st.writer is not None)


def _script(directory: Path, name: str, body: str, mode: int = 0o755) -> Path:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("change", ["made not executable", "removed"])
async def test_a_program_on_path_that_changes_after_a_spawn_is_looked_up_again(
    tmp_path: Path, change: str
) -> None:
    # spawn() remembers where it found a program on PATH; once that copy was removed or
    # made not executable, it kept failing (PermissionError, or FileNotFoundError once)
    # although PATH still held another copy, which execvp (and output()) would run.
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    old = _script(first, "prog", "echo first")
    _script(second, "prog", "echo second")
    cmd = Command("prog").env("PATH", f"{first}:{second}").stdout(Stdio.piped())
    assert (await cmd.spawn().wait_with_output()).stdout == b"first\n"
    if change == "removed":
        old.unlink()
    else:
        old.chmod(0o644)
    for _ in range(2):
        assert (await cmd.spawn().wait_with_output()).stdout == b"second\n"
    assert (await cmd.output()).stdout == b"second\n"


@pytest.mark.parametrize("how", ["spawn", "spawn with cwd", "output"])
async def test_a_script_whose_interpreter_is_missing_names_the_interpreter(
    tmp_path: Path, how: str
) -> None:
    # The kernel says ENOENT for the script itself, so the error read "No such file or
    # directory: '.../script'" about a file that is plainly there (subprocess's too).
    script = tmp_path / "script"
    script.write_text("#!/no/such/interpreter -x\necho hi\n")
    script.chmod(0o755)
    cmd = Command(script)
    with pytest.raises(FileNotFoundError) as caught:
        if how == "spawn":
            cmd.spawn()
        elif how == "spawn with cwd":
            cmd.cwd(tmp_path).spawn()
        else:
            await cmd.output()
    err = caught.value
    assert err.errno == errno.ENOENT
    assert err.filename == str(script)
    assert "/no/such/interpreter" in str(err) and "#!" in str(err)


async def test_a_script_with_windows_line_endings_is_told_so_not_that_its_interpreter_is_missing(
    tmp_path: Path,
) -> None:
    # The kernel looks for "/bin/sh\r": the interpreter named exists, the line ending is the
    # fault (the error said /bin/sh did not exist).
    script = tmp_path / "script"
    script.write_bytes(b"#!/bin/sh\r\necho hi\r\n")
    script.chmod(0o755)
    with pytest.raises(FileNotFoundError) as caught:
        Command(script).spawn()
    message = str(caught.value)
    assert "CRLF" in message and "carriage return" in message
    assert "does not exist" not in message


async def test_a_script_whose_interpreter_exists_but_cannot_run_does_not_call_it_missing(
    tmp_path: Path,
) -> None:
    # The #! line names a second script whose own interpreter is missing: the one named
    # exists.
    inner = tmp_path / "inner"
    inner.write_text("#!/no/such/interpreter\n")
    inner.chmod(0o755)
    outer = tmp_path / "outer"
    outer.write_text(f"#!{inner}\necho hi\n")
    outer.chmod(0o755)
    with pytest.raises(FileNotFoundError) as caught:
        Command(outer).spawn()
    message = str(caught.value)
    assert str(inner) in message and "could not be run itself" in message
    assert "does not exist" not in message
