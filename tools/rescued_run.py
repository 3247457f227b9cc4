"""Test scaffolding shared by the suites of several packages (importable from every test:
pytest puts ``tools`` on ``sys.path``): a run that a deadlock on a plain lock cannot hang.

The same-thread re-entry tests (``rt-macros``' select, rt.net.tls's lock) make a call inside
another call's locked lines; a self-deadlock there blocks the runtime's thread for good. Each
such runtime runs on a helper thread instead, which the test frees from outside after a bound
(a plain lock may be released by any thread) and then fails.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import rt


def run_in_thread(
    main: Callable[[], Coroutine[Any, Any, None]], flavor: str | None, bound: float
) -> tuple[threading.Thread, list[BaseException]]:
    """``rt.run(main(), flavor=flavor)`` on a daemon thread, waited for up to ``bound``
    seconds: the thread (alive if the run did not end) and what the run raised, if anything."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            rt.run(main(), flavor=flavor)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(bound)
    return t, errors


def run_or_rescue(
    main: Callable[[], Coroutine[Any, Any, None]],
    flavor: str | None,
    free: Callable[[], object],
    deadlock: str,
    bound: float = 10.0,
) -> None:
    """``rt.run(main(), flavor=flavor)`` on a helper thread; re-raise what it raised.

    If it is still running after ``bound`` seconds (a bound, never asserted), call ``free()``
    from here (it releases the lock the thread deadlocked on), wait for the thread to end and
    fail the test with ``deadlock`` (what deadlocked, in words).
    """
    t, errors = run_in_thread(main, flavor, bound)
    if t.is_alive():
        free()
        t.join(bound)
        pytest.fail(deadlock)
    if errors:
        raise errors[0]
