"""``await rt.to_thread(fn, *args)``: a blocking call that returns or raises like a plain call.

:func:`rt.spawn_blocking` keeps Tokio's shape: it returns a :class:`rt.JoinHandle`, and a
failure arrives as :class:`rt.JoinError` with the function's exception inside, because a
handle may be awaited later, elsewhere, or not at all. Most calls are awaited at once, and
there the wrapper only gets in the way: asyncio's ``asyncio.to_thread`` and anyio's
``to_thread.run_sync`` raise the function's own exception. :func:`to_thread` is that call on
rt's blocking pool, under asyncio's name (and signature: keyword arguments are passed on),
so ``except FileNotFoundError`` around it works as it reads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from ._exceptions import Cancelled, JoinError
from ._runtime import spawn_blocking

P = ParamSpec("P")
T = TypeVar("T")


async def to_thread(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn(*args, **kwargs)`` on the blocking pool and return its result or raise its error.

    The call runs in a thread of the runtime's blocking pool, in a copy of the caller's
    contextvars, exactly as with :func:`rt.spawn_blocking`; the difference is the outcome: the
    function's exception is raised here as it is (same object and traceback), not wrapped in
    :class:`rt.JoinError`.

    Args:
        fn: A plain (not async) callable.
        *args: Positional arguments for ``fn``.
        **kwargs: Keyword arguments for ``fn``.

    Returns:
        What ``fn`` returned.

    Raises:
        BaseException: whatever ``fn`` raised.
        TypeError: ``fn`` is an async function or not callable.
        RuntimeError: outside a runtime.
        rt.JoinError: the runtime shut down before ``fn`` started (it never ran).

    Cancel safety: if the caller is cancelled while ``fn`` is still queued, ``fn`` never runs.
    Once it runs it cannot be interrupted (no thread can be, safely): it runs to completion
    and its result or exception is discarded.
    """
    if kwargs:
        handle = spawn_blocking(functools.partial(fn, *args, **kwargs))
    else:
        handle = spawn_blocking(fn, *args)
    failure: BaseException | None = None
    try:
        return await handle
    except JoinError as exc:
        if not exc.is_panic() or exc.exception is None:
            raise
        failure = exc.exception
    except Cancelled:
        handle.abort()  # drops the job if it has not started; no effect once it runs
        raise
    # Raised outside the handler, so the JoinError does not become the error's __context__.
    try:
        raise failure
    finally:
        failure = None
