"""Run CPython's own ``test.test_asyncio`` modules with a chosen event loop as the default.

Usage: ``python cpython_suite.py [--loop rt|default|uvloop|rloop] [--json OUT] [--bound S]
[MODULE ...]``

With ``--loop rt`` (and likewise uvloop, rloop) every way those tests make a loop builds that
loop: the event loop policy,
``asyncio.new_event_loop()``, ``asyncio.SelectorEventLoop(selector)`` (the selector is ignored:
rt's reactor does the waiting) and the Unix loop class. Tests of the standard library's own
internals (``_run_once``, ``_selector``, ``_scheduled``) therefore run against rt's loop too;
the ones that cannot pass are listed, with their reasons, in ``cpython_expected_failures.txt``.
Prints one line per test (``PASS``/``FAIL``/``ERROR``/``SKIP`` and the test id) and a summary.

With ``--bound S`` each module runs in a subprocess of its own, given S seconds; a module that
does not finish in time is run again class by class (S seconds each), and a class that does
not finish test by test (S / 4 seconds each), so a loop on which some test hangs still gets a
full count: the tests that never finish are reported as ``HUNG``.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import subprocess
import sys
import tempfile
import time
import unittest
from typing import Any

MODULES = [
    "test_events",
    "test_base_events",
    "test_sock_lowlevel",
    "test_sendfile",
    "test_server",
    "test_streams",
    "test_subprocess",
    "test_tasks",
    "test_futures",
    "test_timeouts",
    "test_taskgroups",
    "test_runners",
    "test_unix_events",
    "test_ssl",
    "test_sslproto",
    "test_buffered_proto",
    "test_context",
    "test_locks",
    "test_queues",
    "test_pep492",
    "test_waitfor",
    "test_threads",
]


def install(loop_name: str) -> None:
    """Make ``loop_name``'s loop the one every test builds."""
    if loop_name == "default":
        return
    base: Any
    if loop_name == "uvloop":
        import uvloop

        base = uvloop.Loop
        policy: Any = uvloop.EventLoopPolicy()
    elif loop_name == "rloop":
        import rloop

        base = type(rloop.new_event_loop())
        policy = rloop.EventLoopPolicy()
    else:
        import rt.asyncio

        base = rt.asyncio.RtEventLoop
        policy = rt.asyncio.EventLoopPolicy()

    class SelectorLoop(base):  # type: ignore[misc]
        """What ``asyncio.SelectorEventLoop(selector)`` builds under this runner."""

        def __init__(self, selector: Any = None) -> None:
            if selector is not None:
                selector.close()
            super().__init__()

    asyncio.SelectorEventLoop = SelectorLoop
    asyncio.unix_events.SelectorEventLoop = SelectorLoop
    if hasattr(asyncio, "EventLoop"):  # 3.13: the platform's default loop class
        asyncio.EventLoop = SelectorLoop
        asyncio.unix_events.EventLoop = SelectorLoop  # type: ignore[attr-defined]
    asyncio.set_event_loop_policy(policy)


class _Result(unittest.TextTestResult):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: dict[str, str] = {}

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self.outcomes[test.id()] = "PASS"

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addFailure(test, err)
        self.outcomes[test.id()] = "FAIL"

    def addError(self, test: unittest.TestCase, err: Any) -> None:
        super().addError(test, err)
        self.outcomes[test.id()] = "ERROR"

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self.outcomes[test.id()] = "SKIP"

    def addExpectedFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self.outcomes[test.id()] = "PASS"

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self.outcomes[test.id()] = "FAIL"


def _bounded(loop: str, name: str, bound: float) -> dict[str, str] | None:
    """Run ``name`` (a module, class or test) in a subprocess; its outcomes, or None if it hung."""
    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/result.json"
        try:
            subprocess.run(
                [sys.executable, __file__, "--loop", loop, "--json", out, name],
                capture_output=True,
                timeout=bound,
                cwd=tmp,
                check=False,
            )
            with open(out) as f:
                outcomes: dict[str, str] = json.load(f)["outcomes"]
        except (subprocess.TimeoutExpired, OSError, ValueError):
            return None
    return outcomes


def run_bounded(loop: str, names: list[str], bound: float) -> dict[str, str]:
    """Every test's outcome, each module in a subprocess, splitting the ones that hang."""
    outcomes: dict[str, str] = {}
    for name in names:
        full = name if "." in name else f"test.test_asyncio.{name}"
        got = _bounded(loop, full, bound)
        if got is not None:
            outcomes.update(got)
            print(f"{full}: done", file=sys.stderr, flush=True)
            continue
        print(f"{full}: did not finish in {bound:.0f} s; by class", file=sys.stderr, flush=True)
        for cls in unittest.TestLoader().loadTestsFromName(full):
            tests = [t for t in _flatten(cls)]
            if not tests:
                continue
            class_id = tests[0].id().rsplit(".", 1)[0]
            got = _bounded(loop, class_id, bound)
            if got is not None:
                outcomes.update(got)
                continue
            for test in tests:
                one = _bounded(loop, test.id(), bound / 4)
                if one is None:
                    outcomes[test.id()] = "HUNG"
                    print(f"  HUNG {test.id()}", file=sys.stderr, flush=True)
                else:
                    outcomes.update(one)
    return outcomes


def _flatten(suite: unittest.TestSuite | unittest.TestCase) -> list[unittest.TestCase]:
    if isinstance(suite, unittest.TestCase):
        return [suite]
    return [t for s in suite for t in _flatten(s)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", default="rt", choices=["rt", "default", "uvloop", "rloop"])
    parser.add_argument("--json")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--bound", type=float, help="seconds per module, each in a subprocess (see the notes)"
    )
    parser.add_argument(
        "--watchdog",
        type=float,
        help="after this many seconds, print every thread's stack to stderr and exit (a hang)",
    )
    parser.add_argument("modules", nargs="*")
    args = parser.parse_args()
    if args.watchdog is not None:
        faulthandler.dump_traceback_later(args.watchdog, exit=True)
    names = args.modules or MODULES
    if args.bound is not None:
        t0 = time.monotonic()
        outcomes = run_bounded(args.loop, names, args.bound)
        report(args.loop, outcomes, time.monotonic() - t0, args.json)
        return 0
    install(args.loop)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for name in names:
        full = name if "." in name else f"test.test_asyncio.{name}"
        try:
            suite.addTests(loader.loadTestsFromName(full))
        except (ImportError, AttributeError) as exc:
            print(f"cannot load {full}: {exc}", file=sys.stderr)
    t0 = time.monotonic()
    runner = unittest.TextTestRunner(
        stream=sys.stderr, verbosity=2 if args.verbose else 0, resultclass=_Result
    )
    result = runner.run(suite)
    assert isinstance(result, _Result)
    report(args.loop, result.outcomes, time.monotonic() - t0, args.json)
    return 0


def report(loop: str, outcomes: dict[str, str], seconds: float, json_out: str | None) -> None:
    """Print one line per test and the summary; write the JSON document if asked."""
    counts: dict[str, int] = {}
    for test_id, outcome in sorted(outcomes.items()):
        counts[outcome] = counts.get(outcome, 0) + 1
        print(f"{outcome} {test_id}")
    summary = {
        "loop": loop,
        "python": sys.version.split()[0],
        "seconds": round(seconds, 1),
        "counts": counts,
        "outcomes": outcomes,
    }
    print(f"summary {json.dumps({k: v for k, v in summary.items() if k != 'outcomes'})}")
    if json_out:
        with open(json_out, "w") as f:
            json.dump(summary, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    sys.exit(main())
