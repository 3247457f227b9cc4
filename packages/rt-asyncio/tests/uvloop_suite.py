"""Run uvloop's own test suite (from its sdist) on its asyncio-loop side with a chosen loop.

Usage: ``python uvloop_suite.py [--loop rt|default] [--json OUT] [--cache DIR] [--verbose]
[--watchdog S] [MODULE ...]``

uvloop's tests come in pairs built on ``uvloop._testbase`` (installed with uvloop): one class on
``tb.UVTestCase`` (uvloop's loop) and one on ``tb.AIOTestCase`` (asyncio's loop, built by its
``new_loop()``), say ``Test_UV_TCP`` and ``Test_AIO_TCP``; both hold the loop to the same
contract. The wheel ships no tests, so :func:`fetch_tests` (through ``suite_sdist``) downloads
the sdist of the installed uvloop version from the package registry (``pip download``) and
unpacks its tests in a cache directory.
Only the ``AIOTestCase`` classes of :data:`MODULES` run here; with ``--loop rt`` every way they
make a loop builds rt's: ``AIOTestCase.new_loop()`` and ``new_policy()`` (their ``setUp``
installs that policy), everything ``cpython_suite.install`` covers (``asyncio.new_event_loop``,
the selector and 3.13 ``EventLoop`` classes, the policy), and the programs the signal tests run
in child processes; ``is_asyncio_loop()`` is true there (rt's loop runs asyncio's own transports
and tasks, which is what the tests ask it). Every loop built is recorded by class, to prove
which loop the tests ran on.

Prints one line per test (``PASS``/``FAIL``/``ERROR``/``SKIP`` and the test id) and a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import importlib
import importlib.metadata
import json
import signal
import sys
import tempfile
import time
import types
import unittest
from pathlib import Path
from typing import Any

from suite_harness import record_loops
from suite_sdist import fetch_sdist

HERE = Path(__file__).resolve().parent

# uvloop's test modules that hold a loop to asyncio's contract (each has an AIOTestCase class):
# the loop's own API (callbacks, timers, handles, exception handler, task factory), TCP, Unix and
# UDP transports and servers with TLS, the sock_* methods, getaddrinfo/getnameinfo, executors,
# context variables across callbacks and protocols, pipes, subprocesses and signals.
# Left out, as they test uvloop itself: test_cython (its Cython coroutine wrappers),
# test_dealloc (its handles' __dealloc__), test_fs_event and test_libuv_api (libuv APIs that
# asyncio has not), test_process_spawning (uvloop's fork handling with libuv's threads),
# test_regr1 (a uvloop fork regression, no AIO class), test_runner (uvloop.run),
# test_sourcecode (lints uvloop's sources) and test_testbase (the test base's own checks).
# test_aiohttp (aiohttp's server on the loop) is left out too: rt's loop already runs aiohttp in
# test_libraries.py.
MODULES = [
    "test_base",
    "test_context",
    "test_dns",
    "test_executors",
    "test_pipes",
    "test_process",
    "test_signals",
    "test_sockets",
    "test_tcp",
    "test_udp",
    "test_unix",
]

_loops: dict[str, int] = {}


def fetch_tests(cache: Path) -> Path:
    """Download and unpack the tests of uvloop's sdist (the installed version); its tests.

    Raises:
        RuntimeError: ``pip download`` failed (its output is in the message).
    """
    root = fetch_sdist("uvloop", cache, "tests/test_base.py", only="tests/")
    return root / "tests"


class _NoPyOpenSSL(types.ModuleType):
    """Stands for pyOpenSSL's ``OpenSSL.SSL`` where it is not installed.

    test_tcp imports it at the top for its TLS tests with a pyOpenSSL peer; those are skipped
    (touching the module skips the test) and the rest of the module runs.
    """

    def __getattr__(self, name: str) -> Any:
        raise unittest.SkipTest("pyOpenSSL is not installed (this test's TLS peer)")


def _stub_pyopenssl() -> None:
    try:
        import OpenSSL.SSL  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        package = types.ModuleType("OpenSSL")
        ssl_module = _NoPyOpenSSL("OpenSSL.SSL")
        package.SSL = ssl_module  # type: ignore[attr-defined]
        sys.modules["OpenSSL"] = package
        sys.modules["OpenSSL.SSL"] = ssl_module


def install(loop_name: str) -> None:
    """Make ``loop_name``'s loop the one uvloop's AIO tests build."""
    record_loops(_loops)
    if loop_name == "default":
        return
    from cpython_suite import install as install_everywhere
    from uvloop import _testbase as tb

    import rt.asyncio

    install_everywhere(loop_name)

    def new_loop(self: Any) -> asyncio.AbstractEventLoop:
        return rt.asyncio.new_event_loop()

    def new_policy(self: Any) -> asyncio.AbstractEventLoopPolicy:
        return rt.asyncio.EventLoopPolicy()

    def is_asyncio_loop(self: Any) -> bool:
        # The tests ask whether asyncio's own transports and tasks run (its datagram transport
        # refuses uvloop's ``sendto(data)`` on a connected socket): on rt's loop they do.
        return True

    tb.AIOTestCase.new_loop = new_loop  # type: ignore[method-assign]
    tb.AIOTestCase.new_policy = new_policy  # type: ignore[method-assign]
    tb.AIOTestCase.is_asyncio_loop = is_asyncio_loop  # type: ignore[method-assign]


def _patch_module(module: types.ModuleType, loop_name: str) -> None:
    """What a test module builds outside ``new_loop``: the signal tests' child programs."""
    if loop_name == "rt" and module.__name__ == "test_signals":
        # The child programs run ``loop = NEW_LOOP`` (after ``import asyncio``).
        module.Test_AIO_Signals.NEW_LOOP = "__import__('rt.asyncio').asyncio.new_event_loop()"


def load(names: list[str], tests_dir: Path, loop_name: str) -> unittest.TestSuite:
    """The ``AIOTestCase`` classes of the test modules ``names`` (or ``module.Class[.test]``)."""
    from uvloop import _testbase as tb

    sys.path.insert(0, str(tests_dir))
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for name in names:
        module_name, _, rest = name.partition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            print(f"cannot load {module_name}: {exc}", file=sys.stderr)
            continue
        _patch_module(module, loop_name)
        if rest:
            suite.addTests(loader.loadTestsFromName(rest, module))
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, tb.AIOTestCase)
                and value.__module__ == module_name
            ):
                suite.addTests(loader.loadTestsFromTestCase(value))
    return suite


def main() -> int:
    sys.path.insert(0, str(HERE))
    from cpython_suite import _Result, report

    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", default="rt", choices=["rt", "default"])
    parser.add_argument("--json")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "rt-uvloop-suite"
    )
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--watchdog",
        type=float,
        help="after this many seconds, print every thread's stack to stderr and exit (a hang)",
    )
    parser.add_argument("modules", nargs="*")
    args = parser.parse_args()
    if args.watchdog is not None:
        faulthandler.dump_traceback_later(args.watchdog, exit=True)
    # A runner started with SIGHUP ignored (under nohup, as some CI agents run jobs) passes
    # that on to every child it starts, and uvloop's test_send_signal then waits for ever for
    # a child that SIGHUP should end (on every loop: the default one hangs there too).
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    tests_dir = fetch_tests(args.cache)
    _stub_pyopenssl()
    install(args.loop)
    suite = load(args.modules or MODULES, tests_dir, args.loop)
    t0 = time.monotonic()
    runner = unittest.TextTestRunner(
        stream=sys.stderr, verbosity=2 if args.verbose else 0, resultclass=_Result
    )
    result = runner.run(suite)
    assert isinstance(result, _Result)
    report(args.loop, result.outcomes, time.monotonic() - t0, None)
    print(f"loops {json.dumps(_loops)}")
    if args.json:
        summary = {
            "loop": args.loop,
            "python": sys.version.split()[0],
            "uvloop": importlib.metadata.version("uvloop"),
            "seconds": round(time.monotonic() - t0, 1),
            "counts": _counts(result.outcomes),
            "loops": _loops,
            "outcomes": result.outcomes,
        }
        Path(args.json).write_text(json.dumps(summary, indent=1, sort_keys=True))
    return 0


def _counts(outcomes: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


if __name__ == "__main__":
    sys.exit(main())
