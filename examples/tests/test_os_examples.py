"""The rt-signal and rt-process examples, run for real: a server stopped with SIGTERM, a
pipeline of child processes."""

from __future__ import annotations

import importlib
import os
import signal
import sys
from pathlib import Path

from rt.io import BufReader
from rt.net import TcpStream
from rt.process import Command, Stdio

EXAMPLES = Path(__file__).resolve().parent.parent


async def test_graceful_shutdown_server_finishes_open_connections_on_sigterm() -> None:
    server = (
        Command(sys.executable)
        .arg(EXAMPLES / "graceful_shutdown.py")
        .stdout(Stdio.piped())
        .kill_on_drop(True)
        .spawn()
    )
    assert server.stdout is not None and server.id is not None

    out = BufReader(server.stdout)
    banner = await out.read_line()
    assert banner.startswith(b"listening on ")
    port = int(banner.split()[-1])
    async with await TcpStream.connect(("127.0.0.1", port)) as client:
        await client.write_all(b"hello\n")
        assert await client.read_exact(6) == b"hello\n"
        os.kill(server.id, signal.SIGTERM)
        assert await out.read_line() == b"shutting down: waiting for 1 connection(s)\n"
        # The open connection is still served after SIGTERM ...
        await client.write_all(b"still here\n")
        assert await client.read_exact(11) == b"still here\n"
    # ... and once it closes, the server exits on its own, with status 0.
    assert await out.read_line() == b"bye\n"
    assert await server.wait() == 0


async def test_process_pipeline_counts_words_through_four_children() -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        process_pipeline = importlib.import_module("process_pipeline")
    finally:
        sys.path.remove(str(EXAMPLES))
    counts = await process_pipeline.word_counts(process_pipeline.TEXT)
    assert counts[:3] == [(4, "the"), (3, "dog"), (3, "fox")]
    assert sum(n for n, _ in counts) == len(process_pipeline.TEXT.split())


async def test_process_pipeline_runs_as_a_script() -> None:
    out = await Command(sys.executable).arg(EXAMPLES / "process_pipeline.py").output()
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].split() == [b"4", b"the"]
