"""The diagnostics endpoint on a real service: mini-redis under redis-benchmark, looked at from
another process with ``python -m rt ps`` and ``pstree``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    shutil.which("redis-benchmark") is None,
    reason="redis-benchmark not installed (apt install redis-tools)",
)

CLIENTS = 20


def _rt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rt", *args], capture_output=True, text=True, timeout=60
    )


def test_ps_and_pstree_show_mini_redis_connection_tasks_under_load(tmp_path: Path) -> None:
    sock = str(tmp_path / "mini-redis.sock")
    env = {**os.environ, "RT_CONSOLE": sock}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    server = subprocess.Popen(
        [sys.executable, "-m", "mini_redis.server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    bench: subprocess.Popen[bytes] | None = None
    try:
        assert server.stdout is not None
        line = server.stdout.readline()  # "mini-redis listening on HOST:PORT"
        port = line.rsplit(":", 1)[1].strip()
        bench = subprocess.Popen(
            ["redis-benchmark", "-p", port, "-c", str(CLIENTS), "-n", "10000000", "-q"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Until every benchmark connection is a task of the server (bounded: 60 s).
        deadline = time.monotonic() + 60
        while True:
            tree = _rt("pstree", sock)
            assert tree.returncode == 0, tree.stderr
            connections = tree.stdout.count("Server._connection (")
            if connections >= CLIENTS or time.monotonic() > deadline:
                break
        assert connections >= CLIENTS, tree.stdout
        ps = _rt("ps", sock)
        assert ps.returncode == 0, ps.stderr
        assert "mini-redis purge" in ps.stdout
        # each connection task is parked on its socket or running/runnable between requests
        rows = ps.stdout.splitlines()[2:]
        assert len(rows) > CLIENTS
        assert any("readable" in row for row in rows)
    finally:
        if bench is not None:
            bench.kill()
            bench.wait()
        server.send_signal(signal.SIGINT)  # Ctrl-C: a graceful shutdown
        server.wait(60)
    assert not os.path.exists(sock)  # the endpoint went away with the runtime
