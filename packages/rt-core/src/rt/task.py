"""Task utilities beyond spawning (Tokio's ``tokio::task``): :func:`block_in_place`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rt._exports import public

from ._core._current import STATE
from ._core._harness import not_a_function

T = TypeVar("T")

__all__ = ["block_in_place"]


def block_in_place(fn: Callable[..., T], *args: Any) -> T:
    """Run the blocking function ``fn(*args)`` right here, letting the runtime's other tasks
    run on its other worker threads meanwhile (Tokio's ``block_in_place``).

    Unlike :func:`rt.spawn_blocking` it needs no thread hand-off and ``fn`` may use the
    calling task's context (``rt.Handle.current()``, ``rt.spawn``), but the calling task (and
    anything pinned to its thread by a ``LocalSet``) waits for ``fn``. The tasks ``fn`` spawns
    or wakes run on the other workers meanwhile, so ``fn`` may wait for them (not on a
    runtime with one worker, which has no other; nor, with time paused, for a task that
    sleeps: the clock does not advance while ``fn`` runs, as while a blocking job is in
    flight). Outside a task (a plain thread, a blocking-pool thread) it just calls ``fn``.

    Args:
        fn: A plain function.
        *args: Its arguments.

    Returns:
        What ``fn`` returns.

    Raises:
        TypeError: ``fn`` is not callable (a coroutine object is closed: await it instead).
        RuntimeError: called from a task of a current-thread runtime, which has no other
            thread to run its tasks on (use ``await rt.spawn_blocking(fn)``), as in Tokio.
        BaseException: whatever ``fn`` raises.
    """
    if not callable(fn):
        raise not_a_function(fn, "rt.task.block_in_place()")
    st = STATE.get(None)
    if st is None or st._current is None:
        return fn(*args)
    return st._sched.block_in_place(fn, args)


public(globals())
