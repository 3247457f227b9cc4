"""``select``, ``join`` and ``try_join``: run awaitables concurrently, as Tokio's macros do.

Each branch runs as its own task on the current runtime (so branches make progress while the
caller waits), and none outlives the call: ``select`` cancels *and awaits* the losers before it
returns, ``try_join`` cancels the rest at the first error, and a cancelled caller cancels and
awaits every branch before the cancellation propagates.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any, TypeVar, overload

import rt
from rt.lowlevel import Abort, current_task, reschedule, wait_task_rescheduled

T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
T6 = TypeVar("T6")


async def _run(aw: Awaitable[Any]) -> Any:
    return await aw


async def _stop_all(
    handles: list[rt.JoinHandle[Any]], branches: Sequence[Awaitable[Any]], keep: int = -1
) -> None:
    """Abort every branch but ``keep`` and wait for all of them, shielded from cancellation.

    A branch aborted before its task ever ran (common on a multi-thread runtime, where the
    winner may finish before a loser's task starts) never awaited its coroutine: close it, so
    it is not reported as "never awaited".
    """
    for i, h in enumerate(handles):
        if i != keep:
            h.abort()
    with rt.CancelScope(shield=True):
        for i, h in enumerate(handles):
            if i == keep:
                continue
            try:
                await h
            except rt.JoinError:
                pass
    for i, aw in enumerate(branches):
        if i != keep and isinstance(aw, Coroutine) and _unstarted(aw):
            aw.close()


def _unstarted(coro: Coroutine[Any, Any, Any]) -> bool:
    frame = getattr(coro, "cr_frame", None)
    return (
        frame is not None
        and not getattr(coro, "cr_running", False)
        and not getattr(coro, "cr_suspended", True)
    )


@overload
async def select(a: Awaitable[T1], /, *, biased: bool = False) -> tuple[int, T1]: ...
@overload
async def select(
    a: Awaitable[T1], b: Awaitable[T2], /, *, biased: bool = False
) -> tuple[int, T1 | T2]: ...
@overload
async def select(
    a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], /, *, biased: bool = False
) -> tuple[int, T1 | T2 | T3]: ...
@overload
async def select(
    a: Awaitable[T1],
    b: Awaitable[T2],
    c: Awaitable[T3],
    d: Awaitable[T4],
    /,
    *,
    biased: bool = False,
) -> tuple[int, T1 | T2 | T3 | T4]: ...
@overload
async def select(*branches: Awaitable[Any], biased: bool = False) -> tuple[int, Any]: ...


async def select(*branches: Awaitable[Any], biased: bool = False) -> tuple[int, Any]:
    """Wait for the first branch to finish; return ``(index, value)``.

    Every other branch is cancelled **and awaited** before ``select`` returns, so no branch
    outlives it. If the first branch to finish raised, the others are cancelled and awaited,
    then its exception propagates. With ``biased=True``, when several branches have finished
    by the time ``select`` looks, the one with the lowest index wins (Tokio's ``biased;``);
    otherwise the first to finish wins.

    Raises:
        ValueError: no branch was given.
        TypeError: a branch is not awaitable.

    Cancel safety: ``select`` itself is cancel-safe only if every branch is: the losing
    branches are cancelled, and whatever a cancelled branch had in flight is governed by that
    branch's own cancel safety (see the table in the README).
    """
    if not branches:
        raise ValueError("select() needs at least one awaitable")
    me = current_task()
    finished: list[int] = []
    # Branches may finish on other worker threads: "finished" and "parked" change together
    # under this lock, so a branch finishing between our check and our park still wakes us.
    lock = threading.RLock()
    state = {"parked": False}

    async def branch(i: int, aw: Awaitable[Any]) -> Any:
        try:
            return await aw
        finally:
            with lock:
                finished.append(i)
                wake = state["parked"]
                state["parked"] = False
            if wake:
                reschedule(me)

    handles: list[rt.JoinHandle[Any]] = []
    try:
        for i, aw in enumerate(branches):
            handles.append(rt.spawn(branch(i, aw)))
        with lock:
            park = not finished
            state["parked"] = park
        if park:

            def abort() -> Abort:
                with lock:
                    if state["parked"]:
                        state["parked"] = False
                        return Abort.SUCCEEDED
                    return Abort.FAILED

            await wait_task_rescheduled(abort)
    except BaseException:
        await _stop_all(handles, branches)
        raise
    with lock:
        winner = min(finished) if biased else finished[0]
    await _stop_all(handles, branches, keep=winner)
    try:
        value = await handles[winner]
    except rt.JoinError as err:
        if err.exception is not None:
            raise err.exception from None
        raise
    return winner, value


@overload
async def join(a: Awaitable[T1], /) -> tuple[T1]: ...
@overload
async def join(a: Awaitable[T1], b: Awaitable[T2], /) -> tuple[T1, T2]: ...
@overload
async def join(a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], /) -> tuple[T1, T2, T3]: ...
@overload
async def join(
    a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], d: Awaitable[T4], /
) -> tuple[T1, T2, T3, T4]: ...
@overload
async def join(
    a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], d: Awaitable[T4], e: Awaitable[T5], /
) -> tuple[T1, T2, T3, T4, T5]: ...
@overload
async def join(
    a: Awaitable[T1],
    b: Awaitable[T2],
    c: Awaitable[T3],
    d: Awaitable[T4],
    e: Awaitable[T5],
    f: Awaitable[T6],
    /,
) -> tuple[T1, T2, T3, T4, T5, T6]: ...
@overload
async def join(*branches: Awaitable[Any]) -> tuple[Any, ...]: ...


async def join(*branches: Awaitable[Any]) -> tuple[Any, ...]:
    """Run every branch concurrently to completion; return their values in argument order.

    A failing branch does not stop the others (that is :func:`try_join`); once all have
    finished, the exception of the first failed branch (in argument order) is raised.

    Cancel safety: cancelling ``join`` cancels and awaits every branch.
    """
    handles: list[rt.JoinHandle[Any]] = []
    try:
        for aw in branches:
            handles.append(rt.spawn(_run(aw)))
        outcomes: list[tuple[bool, Any]] = []
        for h in handles:
            try:
                outcomes.append((True, await h))
            except rt.JoinError as err:
                outcomes.append((False, err))
    except BaseException:
        await _stop_all(handles, branches)
        raise
    for ok, value in outcomes:
        if not ok:
            exc = value.exception
            if exc is not None:
                raise exc from None
            raise value
    return tuple(value for _, value in outcomes)


@overload
async def try_join(a: Awaitable[T1], /) -> tuple[T1]: ...
@overload
async def try_join(a: Awaitable[T1], b: Awaitable[T2], /) -> tuple[T1, T2]: ...
@overload
async def try_join(
    a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], /
) -> tuple[T1, T2, T3]: ...
@overload
async def try_join(
    a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], d: Awaitable[T4], /
) -> tuple[T1, T2, T3, T4]: ...
@overload
async def try_join(
    a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], d: Awaitable[T4], e: Awaitable[T5], /
) -> tuple[T1, T2, T3, T4, T5]: ...
@overload
async def try_join(
    a: Awaitable[T1],
    b: Awaitable[T2],
    c: Awaitable[T3],
    d: Awaitable[T4],
    e: Awaitable[T5],
    f: Awaitable[T6],
    /,
) -> tuple[T1, T2, T3, T4, T5, T6]: ...
@overload
async def try_join(*branches: Awaitable[Any]) -> tuple[Any, ...]: ...


async def try_join(*branches: Awaitable[Any]) -> tuple[Any, ...]:
    """Run every branch concurrently; at the first error cancel (and await) the rest and raise it.

    Returns the values in argument order when every branch succeeds.

    Cancel safety: cancelling ``try_join`` cancels and awaits every branch.
    """
    try:
        async with rt.TaskGroup() as tg:
            handles = [tg.spawn(_run(aw)) for aw in branches]
    except BaseExceptionGroup as group:
        for aw in branches:  # branches cancelled before their task ever ran
            if isinstance(aw, Coroutine) and _unstarted(aw):
                aw.close()
        # TaskGroup lists errors in the order they happened: the first one is the cause.
        raise group.exceptions[0] from None
    return tuple([await h for h in handles])
