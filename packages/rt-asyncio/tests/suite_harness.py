"""What the outside suites run on rt's loop (anyio's and uvloop's) share besides their sdist:
the recorder of the event loops their tests build (in the runner's process), and the triage
of the failures on rt's loop (in the pytest test that starts the runner).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

_BAD = ("FAIL", "ERROR")


def record_loops(into: dict[str, int]) -> None:
    """Count in ``into``, by class, every event loop built from now on (to prove which loop
    the tests ran on)."""
    original = asyncio.BaseEventLoop.__init__

    def __init__(self: asyncio.BaseEventLoop, *args: Any, **kwargs: Any) -> None:
        name = f"{type(self).__module__}.{type(self).__qualname__}"
        into[name] = into.get(name, 0) + 1
        original(self, *args, **kwargs)

    asyncio.BaseEventLoop.__init__ = __init__  # type: ignore[method-assign,assignment]


def triage(
    suite: str,
    on_rt: dict[str, str],
    log: str,
    rerun: Callable[[str, str, list[str]], dict[str, str]],
    expected: Path,
) -> None:
    """Fail when a test of ``suite`` fails on rt's loop because of rt's loop.

    The failures in ``on_rt`` (``log``: its runner's output) run again through ``rerun(loop,
    label, targets)``, on rt's loop and on the default one. Failing on rt's loop twice, passing
    on the default one and unlisted in ``expected`` is a regression; passing the second time
    or failing on both loops is only reported.
    """
    # Imported here: the runners import this module for record_loops, and the default loop's
    # run must not import rt (loop_helpers does).
    from loop_helpers import expected_failures

    failed = sorted(t for t, outcome in on_rt.items() if outcome in _BAD)
    assert len(failed) < len(on_rt) // 2, (
        f"most of {suite}'s tests fail on rt's loop: {failed[:20]}\n{log[-8000:]}"
    )
    again: dict[str, str] = {}
    on_default: dict[str, str] = {}
    if failed:
        again = rerun("rt", "again", failed)
        on_default = rerun("default", "default", failed)
    listed = expected_failures(expected)
    flaky = [t for t in failed if again.get(t) not in _BAD]
    both = [t for t in failed if t not in flaky and on_default.get(t) in _BAD]
    regressions = [t for t in failed if t not in flaky and t not in both and t not in listed]
    if flaky:
        print(f"{len(flaky)} {suite} test(s) failed once on rt's loop, then passed: {flaky}")
    if both:
        print(f"{len(both)} {suite} test(s) fail on the default loop too (this machine): {both}")
    assert not regressions, (
        f"{len(regressions)} {suite} test(s) fail on rt's loop, pass on the default loop and are "
        f"not listed in {expected.name}: {regressions}\n{log[-12000:]}"
    )
