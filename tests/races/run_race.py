"""Repeat one race scenario under a 1 µs thread switch interval, with a watchdog.

    python tests/races/run_race.py SCENARIO FLAVOR [SECONDS]

Runs iterations until SECONDS (default 2, or ``RT_RACE_SECONDS``) have passed. When one
iteration takes longer than ``HANG_AFTER`` seconds, faulthandler prints every thread's stack
and the process exits with a non-zero code: a hang fails fast and says where it hung. The
watchdog stays armed while the interpreter exits (a thread left running would hang there).
With ``RT_EXPECT_COMPILED=1`` (the compiled pass) it refuses to run rt's Python sources.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import time
import warnings

from scenarios import SCENARIOS

HANG_AFTER = 20.0


class _Complaints(logging.Handler):
    """Keeps what rt's logger warned about and what finalizers reported: no scenario expects
    either (a shutdown naming tasks "not finished within the shutdown timeout" without one, a
    task's failure, a coroutine "never awaited")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(self.format(record))


def main() -> int:
    name, flavor = sys.argv[1], sys.argv[2]
    seconds = (
        float(sys.argv[3]) if len(sys.argv) > 3 else float(os.environ.get("RT_RACE_SECONDS", "2"))
    )
    scenario = SCENARIOS[name]
    from rt._core._task import COMPILED

    if os.environ.get("RT_EXPECT_COMPILED") == "1" and not COMPILED:
        print("RT_EXPECT_COMPILED=1 but rt-core was imported from its Python sources")
        return 2
    warnings.simplefilter("error", RuntimeWarning)  # "coroutine ... was never awaited"
    complaints = _Complaints()
    logging.getLogger("rt").addHandler(complaints)
    # What finalizers report (the warning above, an error in a __del__) does not raise.
    sys.unraisablehook = lambda u: complaints.messages.append(
        f"unraisable {u.exc_type.__name__}: {u.exc_value} ({u.err_msg or ''} {u.object!r})"
    )
    sys.setswitchinterval(1e-6)
    end = time.monotonic() + seconds
    n = 0
    while n == 0 or time.monotonic() < end:
        faulthandler.dump_traceback_later(HANG_AFTER, exit=True)
        scenario(flavor)
        faulthandler.cancel_dump_traceback_later()
        if complaints.messages:
            print(f"{name} on {flavor}: iteration {n} logged:", *complaints.messages, sep="\n")
            return 1
        n += 1
    build = "compiled" if COMPILED else "pure Python"
    print(f"{name} on {flavor} ({build}): {n} iterations clean", flush=True)
    faulthandler.dump_traceback_later(HANG_AFTER, exit=True)  # until the process has exited
    return 0


if __name__ == "__main__":
    sys.exit(main())
