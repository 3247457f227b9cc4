"""The log tailer example: appends, half-written lines, truncation and rotation, and the
command line through a real pipe."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
from collections.abc import AsyncGenerator

from tailer import follow

import rt
import rt.time

HERE = pathlib.Path(__file__).parent


async def _next(lines: AsyncGenerator[bytes, None]) -> bytes:
    return await rt.time.timeout(30, lines.__anext__())


def _append(path: pathlib.Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


async def test_follows_appends_half_lines_truncation_and_rotation(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"first\r\nsecond\n")
    lines = follow(log, from_start=True, interval=0.005)
    try:
        assert await _next(lines) == b"first"
        assert await _next(lines) == b"second"

        _append(log, b"third\n")
        assert await _next(lines) == b"third"

        _append(log, b"half a ")  # the writer has not finished this line
        pending = rt.spawn(_next(lines))
        # On the current-thread flavor the tailer reads the half line in its first step; on
        # either, whenever it reads, it must yield the whole line only.
        await rt.yield_now()
        _append(log, b"line\n")
        assert await pending == b"half a line"

        log.write_bytes(b"new\n")  # truncated and rewritten, shorter than before
        assert await _next(lines) == b"new"

        os.rename(log, tmp_path / "app.log.1")
        _append(tmp_path / "app.log.1", b"last words of the old file\n")
        log.write_bytes(b"fresh file\n")
        assert await _next(lines) == b"last words of the old file"
        assert await _next(lines) == b"fresh file"
    finally:
        await lines.aclose()


async def test_waits_for_a_file_that_does_not_exist_yet(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "later.log"
    lines = follow(log, from_start=True, interval=0.005)
    first = rt.spawn(_next(lines))
    await rt.yield_now()
    log.write_bytes(b"hello\n")
    assert await first == b"hello"
    await lines.aclose()


def test_the_command_line_prints_matching_lines_to_a_pipe(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"INFO boot\nERROR disk full\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "tailer.py"),
            str(log),
            "--grep",
            "ERROR",
            "--from-start",
            "--interval",
            "0.01",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ERROR disk full\n"
        _append(log, b"INFO fine\nERROR again\n")
        assert proc.stdout.readline() == b"ERROR again\n"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode()
