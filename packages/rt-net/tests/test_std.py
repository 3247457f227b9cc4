"""rt.io.stdin(), stdout(), stderr() in real child processes, through pipes, sockets, files and
a terminal (a pty)."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys

import pytest

import rt
import rt.io

CHILD = r"""
import os, sys
import rt, rt.io

async def main(mode):
    err = rt.io.stderr()
    fds = set(os.listdir("/proc/self/fd"))
    inp, out = rt.io.stdin(), rt.io.stdout()
    if mode == "upper":
        async for line in rt.io.BufReader(inp).lines():
            await out.write_all(line.upper() + b"\n")
    elif mode == "copy":
        await rt.io.copy(inp, out)
    elif mode == "epipe":
        try:
            while True:
                await out.write_all(b"x" * 65536)
        except BrokenPipeError:
            await err.write_all(b"BrokenPipeError\n")
    elif mode == "cancel":
        reader = rt.spawn(inp.read(100))
        await rt.yield_now()
        reader.abort()
        try:
            await reader
        except rt.JoinError:
            pass
        await err.write_all(b"ready\n")
        await out.write_all(await inp.read(100))
    await out.flush()
    nonblocking = (inp.nonblocking, out.nonblocking)
    for s in (inp, out):
        s.close()
    left = set(os.listdir("/proc/self/fd")) - fds  # (listdir's own fd is gone by then)
    report = (*nonblocking, os.get_blocking(0), os.get_blocking(1), not left)
    await err.write_all(("report %s %s %s %s %s\n" % report).encode())
    err.close()

rt.run(main(sys.argv[1]))
"""


def _child(mode: str, **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", CHILD, mode], **kwargs)  # type: ignore[call-overload,no-any-return]


def _report(stderr: bytes) -> list[str]:
    for line in stderr.decode().splitlines():
        if line.startswith("report "):
            return line.split()[1:]
    raise AssertionError(f"no report from the child; its stderr was:\n{stderr.decode()}")


def test_pipes_use_the_reactor_and_leave_the_process_fds_blocking() -> None:
    proc = _child("upper", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(b"one\ntwo\r\nthree", timeout=60)
    assert proc.returncode == 0, err.decode()
    assert out == b"ONE\nTWO\nTHREE\n"
    # stdin and stdout served by the reactor; fd 0 and fd 1 themselves still blocking, so a
    # print() in the same program is not hurt.
    # And closing the streams released what they held (no fd left behind).
    assert _report(err) == ["True", "True", "True", "True", "True"]


def test_megabytes_through_pipes_arrive_whole_and_in_order() -> None:
    payload = os.urandom(4 << 20)
    proc = _child("copy", stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(payload, timeout=60)
    assert proc.returncode == 0, err.decode()
    assert out == payload


def test_file_redirects_use_the_blocking_pool(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"".join(b"line %d\n" % i for i in range(2_000)))
    dst = tmp_path / "out.txt"
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        proc = _child("upper", stdin=fin, stdout=fout, stderr=subprocess.PIPE)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert dst.read_bytes() == src.read_bytes().upper()
    assert _report(err)[:2] == ["False", "False"]


def test_sockets_use_the_reactor() -> None:
    parent_in, child_in = socket.socketpair()
    parent_out, child_out = socket.socketpair()
    with parent_in, child_in, parent_out, child_out:
        proc = _child("upper", stdin=child_in, stdout=child_out, stderr=subprocess.PIPE)
        child_in.close()
        child_out.close()
        parent_in.sendall(b"via a socket\n")
        parent_in.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := parent_out.recv(65536):
            received += chunk
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert received == b"VIA A SOCKET\n"
    assert _report(err)[:2] == ["True", "True"]
    assert _report(err)[4] == "True"  # the duplicated socket fds were closed


def test_writing_to_a_pipe_nobody_reads_is_a_broken_pipe_error() -> None:
    proc = _child("epipe", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert b"BrokenPipeError" in err, err.decode()


def test_a_cancelled_read_on_a_terminal_loses_no_input() -> None:
    master, slave = os.openpty()
    try:
        proc = _child("cancel", stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(slave)
        assert proc.stderr is not None
        assert proc.stderr.readline() == b"ready\n"
        os.write(master, b"typed\n")
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
    assert proc.returncode == 0, err.decode()
    assert out == b"typed\n"
    # A terminal is read through the reactor (a description of its own, non-blocking), and
    # fd 0 itself stays blocking.
    assert _report(err)[0] == "True"
    assert _report(err)[2] == "True"


TERMINAL_TIMEOUT = r"""
import rt, rt.io, rt.time

async def main():
    try:
        await rt.time.timeout(0.01, rt.io.stdin().read(10))
    except TimeoutError:
        print("timed out", flush=True)

rt.run(main())
print("rt.run returned", flush=True)
"""


def test_rt_run_returns_after_a_timed_out_read_of_a_terminal() -> None:
    # A terminal was read on the blocking pool: the cancelled read's job went on waiting for a
    # key, and runtime shutdown waits for the pool, so rt.run never returned (nobody types).
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", TERMINAL_TIMEOUT],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        os.close(slave)
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
    finally:
        os.close(master)
    assert proc.returncode == 0, err.decode()
    assert out == b"timed out\nrt.run returned\n"


def test_the_standard_streams_need_a_runtime() -> None:
    with pytest.raises(RuntimeError, match=r"rt\.run"):
        rt.io.stdout()


async def test_a_closed_stream_is_a_value_error_and_close_is_idempotent() -> None:
    out = rt.io.stdout()
    out.close()
    out.close()
    with pytest.raises(ValueError, match="closed"):
        await out.write(b"x")
    inp = rt.io.stdin()
    inp.close()
    with pytest.raises(ValueError, match="closed"):
        await inp.read()
    assert repr(inp).startswith("<rt.io.Stdin fd=0")
    with pytest.raises(TypeError, match=r"rt\.io\.stdout\(\)"):
        rt.io.Stdout()


HUGE_READ = r"""
import rt, rt.io

async def main():
    inp, out = rt.io.stdin(), rt.io.stdout()
    await out.write_all(await inp.read(1 << 40))
    await out.flush()

rt.run(main())
"""


@pytest.mark.parametrize("source", ["pipe", "file"])
def test_a_read_of_a_huge_size_returns_the_input_instead_of_a_memory_error(
    source: str, tmp_path: pathlib.Path
) -> None:
    # os.read allocates its whole size up front: stdin().read(2**40) raised MemoryError, on
    # the reactor's pipes and the blocking pool's files alike.
    src = tmp_path / "in.txt"
    src.write_bytes(b"some input\n")
    with open(src, "rb") as fin:
        stdin = subprocess.PIPE if source == "pipe" else fin
        proc = subprocess.Popen(
            [sys.executable, "-c", HUGE_READ],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = proc.communicate(b"some input\n" if source == "pipe" else None, timeout=60)
    assert proc.returncode == 0, err.decode()
    assert out == b"some input\n"


OTHER_RUNTIME = r"""
import rt, rt.io

async def make():
    return rt.io.stdin()

async def read(stream):
    try:
        await stream.read(10)
    except RuntimeError as exc:
        print(exc)

stream = rt.run(make())
rt.run(read(stream))  # the runtime that made it has shut down
with rt.Runtime() as owner:
    stream = owner.block_on(make())
    rt.run(read(stream))  # the runtime that made it lives, but nothing drives it
"""


def test_a_stream_used_on_another_runtime_says_to_make_it_there_instead_of_hanging() -> None:
    # A pipe's stream is watched by the reactor of the runtime that made it: after that
    # runtime's shutdown a read raised a bare "the runtime's I/O driver is shut down", and
    # with that runtime alive but not driven it parked for ever.
    r, w = os.pipe()  # the child's stdin: empty, and open until the child is done
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", OTHER_RUNTIME],
            stdin=r,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
    finally:
        os.close(r)
        os.close(w)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith("this rt.io.Stdin was made on another rt runtime"), line
        assert "call rt.io.stdin() again in the runtime that uses it" in line


BUSY_AND_CLOSED = r"""
import rt, rt.io

def parked(stream):
    st = stream._backend._reg._st
    return st is not None and st.reader is not None

async def main():
    inp = rt.io.stdin()
    first = rt.spawn(inp.read(10))
    while not parked(inp):
        await rt.yield_now()
    try:
        await inp.read(10)
    except RuntimeError as exc:
        print("second:", exc)
    inp.close()
    try:
        await first
    except rt.JoinError as exc:
        print("first:", type(exc.exception).__name__, exc.exception)

rt.run(main())
"""


def test_a_pipe_read_waiting_when_another_task_reads_or_closes_says_so_in_the_streams_terms() -> (
    None
):
    # The reactor's words were "another task is already waiting for fd 3 to be readable" and
    # "fd 3 was closed while a task was waiting on it", naming neither rt.io.Stdin nor a fix.
    r, w = os.pipe()  # the child's stdin: empty, and open until the child is done
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", BUSY_AND_CLOSED],
            stdin=r,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
    finally:
        os.close(r)
        os.close(w)
    assert proc.returncode == 0, err.decode()
    second, first = out.decode().splitlines()
    assert second.startswith("second: read() on an rt.io.Stdin that another task is already")
    assert "one task at a time" in second
    assert first.startswith("first: OSError [Errno 9] read() on a closed rt.io.Stdin")
    assert "it was closed by close()" in first
