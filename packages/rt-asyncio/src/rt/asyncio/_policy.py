"""``new_event_loop``, ``run`` and ``EventLoopPolicy``: how programs pick rt's loop."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine
from typing import Any, TypeVar

import rt

from ._loop import RtEventLoop

T = TypeVar("T")


def new_event_loop() -> RtEventLoop:
    """Create an asyncio event loop driven by a current-thread rt runtime of its own.

    Use it as ``asyncio.Runner(loop_factory=rt.asyncio.new_event_loop)`` or (3.12+)
    ``asyncio.run(main(), loop_factory=rt.asyncio.new_event_loop)``. ``close()`` shuts the
    runtime down (its blocking threads and fds included).

    Returns:
        A new, not yet running :class:`rt.asyncio.RtEventLoop`.
    """
    return RtEventLoop()


def run(main: Coroutine[Any, Any, T], *, debug: bool | None = None) -> T:
    """Run ``main`` on a new rt event loop and return its result, as ``asyncio.run`` does.

    Args:
        main: The coroutine to run.
        debug: asyncio's debug mode (``None`` keeps the environment's default).

    Returns:
        What ``main`` returned.

    Raises:
        RuntimeError: called while an asyncio loop runs in this thread, or from an rt task
            (``main`` is closed, never started).
        BaseException: whatever ``main`` raised.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        _close(main)
        raise RuntimeError(
            "rt.asyncio.run() cannot be called from a running event loop: await the "
            "coroutine instead"
        )
    try:
        rt.current_task()
    except RuntimeError:
        pass
    else:
        _close(main)
        raise RuntimeError(
            "rt.asyncio.run() cannot be called from inside a running rt task: await the "
            "coroutine with rt.asyncio.aio_as_rt(...) instead"
        )
    try:
        with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
            return runner.run(main)
    except BaseException:
        if inspect.iscoroutine(main) and inspect.getcoroutinestate(main) == inspect.CORO_CREATED:
            main.close()  # refused before it ran: no "never awaited" warning on top
        raise


def _close(awaitable: object) -> None:
    """Close a coroutine that is refused before it ran (no "never awaited" warning)."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """asyncio's default policy, building rt event loops.

    ``asyncio.set_event_loop_policy(rt.asyncio.EventLoopPolicy())`` makes every
    ``asyncio.run``, ``asyncio.new_event_loop`` and ``get_event_loop`` in the program use
    rt's loop.
    """

    def new_event_loop(self) -> RtEventLoop:
        """Create a new :class:`rt.asyncio.RtEventLoop` (see :func:`new_event_loop`).

        Returns:
            A new rt event loop.
        """
        return RtEventLoop()
