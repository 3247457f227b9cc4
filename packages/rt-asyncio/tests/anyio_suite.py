"""Run anyio's own test suite (from its sdist) on its asyncio backend with a chosen event loop.

Usage: ``python anyio_suite.py [--loop rt|default] [--json OUT] [--cache DIR] [--all]
[PYTEST_ARG ...]``

The anyio wheel ships no tests, so :func:`fetch_tests` (through ``suite_sdist``) downloads
the sdist of the installed anyio version from the package registry (``pip download``) and
unpacks it in a cache directory. anyio's tests then run under pytest with anyio's own
configuration (its ``pyproject.toml``: warnings are errors, 20 s per test) plus this module
as a plugin, which:

* with ``--loop rt`` installs rt's loop the way ``cpython_suite.install`` does (the event loop
  policy, ``asyncio.new_event_loop``, the selector and 3.13 ``EventLoop`` classes), so the
  ``asyncio`` backend's runner, the loops anyio's tests build themselves, and the portals
  they start in threads all run on rt's loop;
* skips the tests of the IPv6 ``family`` when ``localhost`` has no IPv6 address (as on some
  containers): they fail on every loop there, and leak sockets that fail later tests;
* keeps the tests of the plain ``asyncio`` backend parametrization (and the backend-free
  ones) and deselects trio, uvloop and eager-task-factory parametrizations;
* records every test's outcome, and the class of every event loop built, in a JSON document.

Without ``--all`` only :data:`MODULES` run: the ones that exercise the event loop.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from suite_harness import record_loops
from suite_sdist import fetch_sdist

HERE = Path(__file__).resolve().parent

# anyio's test modules that drive the event loop: sockets and streams (TCP, UDP, Unix, TLS),
# subprocesses, task groups and cancellation, synchronization primitives, threads and
# portals, signals, async file I/O, and the loop's own entry points. The rest (typed
# attributes, lazy imports, itertools, the pytest plugin's own tests, interpreters) test anyio
# itself, not the loop under it.
MODULES = [
    "tests/test_sockets.py",
    "tests/streams",
    "tests/test_subprocesses.py",
    "tests/test_taskgroups.py",
    "tests/test_synchronization.py",
    "tests/test_to_thread.py",
    "tests/test_from_thread.py",
    "tests/test_signals.py",
    "tests/test_fileio.py",
    "tests/test_eventloop.py",
    "tests/test_lowlevel.py",
    "tests/test_debugging.py",
    "tests/test_futures.py",
    "tests/test_contextmanagers.py",
    "tests/test_concurrency_utils.py",
]

_ENV_LOOP = "RT_ANYIO_SUITE_LOOP"
_ENV_JSON = "RT_ANYIO_SUITE_JSON"


def fetch_tests(cache: Path) -> Path:
    """Download and unpack anyio's sdist (the installed version) once; its root.

    Raises:
        RuntimeError: ``pip download`` failed (its output is in the message).
    """
    root = fetch_sdist("anyio", cache, "tests/conftest.py")
    return root


def run(
    loop: str,
    root: Path,
    json_out: Path,
    pytest_args: list[str],
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run anyio's tests in ``root`` on ``loop`` in a subprocess; the outcomes go to ``json_out``.

    Raises:
        subprocess.TimeoutExpired: the run took longer than ``timeout`` seconds.
    """
    env = dict(os.environ)
    env[_ENV_LOOP] = loop
    env[_ENV_JSON] = str(json_out)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "anyio_suite",
            "-q",
            "-p",
            "no:cacheprovider",
            # rt's own plugin (rt-macros) would claim anyio's async tests as rt tests
            "-p",
            "no:rt",
            *pytest_args,
        ],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=timeout,
        check=False,
    )


# The pytest plugin (``-p anyio_suite``), active in the subprocess ``run`` starts.

_outcomes: dict[str, str] = {}
_loops: dict[str, int] = {}
_started = time.monotonic()


def pytest_configure(config: pytest.Config) -> None:
    """Install the loop under test."""
    if os.environ.get(_ENV_LOOP) is None:
        return
    record_loops(_loops)
    if os.environ[_ENV_LOOP] == "rt":
        from cpython_suite import install

        install("rt")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the plain ``asyncio`` backend's tests and the backend-free ones."""
    if os.environ.get(_ENV_LOOP) is None:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    no_ipv6 = pytest.mark.skip(
        reason="localhost has no IPv6 address on this machine (anyio's IPv6 tests bind to it)"
    )
    ipv6_localhost = _localhost_has_ipv6()
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        backend = params.get("anyio_backend")
        (keep if backend is None or _plain_asyncio(backend) else drop).append(item)
        if params.get("family") == socket.AF_INET6 and not ipv6_localhost:
            # Their fixtures would leak the socket they failed to bind: its ResourceWarning
            # (an error) would then fail whichever later test the collector runs in.
            item.add_marker(no_ipv6)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _plain_asyncio(backend: Any) -> bool:
    """Whether ``backend`` is the asyncio backend on the policy's loop (no loop factory)."""
    name, options = (backend, {}) if isinstance(backend, str) else backend
    return bool(
        name == "asyncio" and not options.get("loop_factory") and not options.get("use_uvloop")
    )


def _localhost_has_ipv6() -> bool:
    try:
        return bool(socket.getaddrinfo("localhost", 0, socket.AF_INET6))
    except OSError:
        return False


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Record the test's outcome: its first failing phase, else passed or skipped."""
    nodeid = report.nodeid
    if report.failed:
        if _outcomes.get(nodeid) not in ("FAIL", "ERROR"):
            _outcomes[nodeid] = "FAIL" if report.when == "call" else "ERROR"
    elif report.skipped and not hasattr(report, "wasxfail"):
        _outcomes.setdefault(nodeid, "SKIP")
    elif report.when == "call" or hasattr(report, "wasxfail"):
        _outcomes.setdefault(nodeid, "PASS")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the outcomes and the loop classes built."""
    path = os.environ.get(_ENV_JSON)
    if not path:
        return
    counts: dict[str, int] = {}
    for outcome in _outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    summary = {
        "loop": os.environ.get(_ENV_LOOP),
        "python": sys.version.split()[0],
        "anyio": importlib.metadata.version("anyio"),
        "seconds": round(time.monotonic() - _started, 1),
        "counts": counts,
        "loops": _loops,
        "outcomes": _outcomes,
    }
    Path(path).write_text(json.dumps(summary, indent=1, sort_keys=True))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", default="rt", choices=["rt", "default"])
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "rt-anyio-suite"
    )
    parser.add_argument("--all", action="store_true", help="every test module, not MODULES")
    args, pytest_args = parser.parse_known_args()
    root = fetch_tests(args.cache)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.json or Path(tmp) / "result.json"
        targets = [] if args.all or any(not a.startswith("-") for a in pytest_args) else MODULES
        proc = run(args.loop, root, out.resolve(), [*targets, *pytest_args])
        sys.stderr.write(proc.stdout[-20000:] + proc.stderr[-5000:])
        if not out.exists():
            return 1
        result = json.loads(out.read_text())
    for test_id, outcome in sorted(result["outcomes"].items()):
        print(f"{outcome} {test_id}")
    print(f"summary {json.dumps({k: v for k, v in result.items() if k != 'outcomes'})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
