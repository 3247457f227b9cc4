"""Awaiting across the two worlds: asyncio code from rt tasks, rt code from asyncio code.

Both kinds of code share one thread, one reactor and one timer wheel, but their coroutines
speak different trap protocols (asyncio's tasks suspend on futures, rt's on rt's traps), so
each crossing goes through an adapter that runs the awaitable as a task of the other world
and waits for it:

* :func:`aio_as_rt` (in an rt task) runs an asyncio awaitable as an asyncio task on the
  runtime's asyncio loop (the loop running on this runtime, or one attached to it on first
  use) and parks the rt task until it is done;
* :func:`rt_as_aio` (in asyncio code on an rt loop) runs an rt awaitable as an rt task on
  the loop's runtime and waits for it as an asyncio future.

Cancellation crosses with the result: a cancelled rt waiter cancels the asyncio task (and
sees ``rt.Cancelled`` once it has finished), a cancelled asyncio waiter aborts the rt task
(and sees ``CancelledError`` once it has finished). Context variables flow into the other
task, as they flow into any spawned task: it starts with a copy of the caller's context.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import types
from collections.abc import Awaitable
from typing import Any, TypeVar

import rt
from rt.lowlevel import Abort, current_task, reschedule, wait_task_rescheduled

from ._loop import _LOOPS, _LOOPS_LOCK, _REVIVE, RtEventLoop, _in_rt_task

T = TypeVar("T")


def _runtime_loop() -> RtEventLoop:
    """The runtime's asyncio loop, its host task started if it is not running."""
    handle = rt.Handle.current()
    with _LOOPS_LOCK:
        loop = _LOOPS.get(handle)
        if loop is None or loop.is_closed():
            loop = RtEventLoop(_handle=handle)
            _LOOPS[handle] = loop
        loop._crossings += 1  # the host does not leave while a crossing is under way
        start = loop._thread_id is None
        if start:
            loop._thread_id = -1  # starting: no second host
    if start:
        handle.spawn(_host(loop), name="rt.asyncio loop")
    return loop


async def _host(loop: RtEventLoop) -> None:
    """The task an attached loop runs in while it has work: its drainer, on one thread.

    It leaves when the loop has nothing left to wait for (no asyncio task, timer or watched
    fd), so a runtime that used asyncio code once keeps no task of it; the loop object stays
    the runtime's (objects bound to it keep working) and the next crossing starts it again.
    """
    me = threading.get_ident()
    try:
        async with rt.LocalSet() as local:
            loop._local = local
            loop._thread_id = me
            try:
                while True:
                    await loop._drain(forever=True)
                    with _LOOPS_LOCK:  # against a crossing that finds the host still here
                        if loop._idle():
                            # From here on a crossing (or call_soon_threadsafe) starts the
                            # next host, which may set these before this one has left.
                            loop._thread_id = None  # type: ignore[assignment]
                            loop._local = None
                            # Work that reaches the loop later (an rt task's call_soon or
                            # call_later, a timer, a thread) finds this token and starts
                            # the next host (RtEventLoop._start_host).
                            loop._tokens.append(_REVIVE)
                            break
            except BaseException:
                # The runtime shuts down (rt.Cancelled), or a callback raised SystemExit or
                # KeyboardInterrupt, which stop the runtime as they stop asyncio.run: the
                # loop's tasks end and the crossings waiting on them are resumed either way.
                with rt.CancelScope(shield=True):
                    await _wind_down(loop)
                loop.close_attached()
                raise
    finally:
        with _LOOPS_LOCK:
            if loop._thread_id == me:  # still ours: not a next host's
                loop._local = None
                loop._thread_id = None  # type: ignore[assignment]
        loop._flush_crossed()


def _revive_host(loop: RtEventLoop) -> None:
    """Start the host of an attached loop that left for want of work (``_host``), for a
    callback posted with ``call_soon_threadsafe``: it runs now, not at the next crossing.

    Raises:
        RuntimeError: the loop's runtime has shut down (nothing would ever run it).
    """
    with _LOOPS_LOCK:
        running: int | None = loop._thread_id  # None while no host runs
        if running is not None or loop.is_closed():
            return  # a host runs, or is starting, and will run the callback
        loop._thread_id = -1  # starting: no second host
    host = _host(loop)
    try:
        loop._rt_handle.spawn(host, name="rt.asyncio loop")
    except RuntimeError:
        host.close()
        with _LOOPS_LOCK:
            loop._thread_id = None  # type: ignore[assignment]
        raise RuntimeError(
            "Event loop's rt runtime has shut down: nothing runs this loop's callbacks any "
            "more; call it while the runtime runs (rt.run / Runtime.block_on)"
        ) from None


async def _wind_down(loop: RtEventLoop) -> None:
    """The runtime shuts down: cancel the loop's asyncio tasks and let them finish."""
    loop._winding_down = True  # crossings whose asyncio task this cancels see rt.Cancelled
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in tasks:
        t.cancel()
    if not tasks and not loop._ready:
        return
    # A loop of its own: the host's drainer was cancelled (or a callback raised out of it).
    # Stop once every task is done, or after the callbacks queued already (a finished task's
    # done callbacks: a crossing's resumes its rt task).
    loop._stopping = False
    if tasks:
        gathered = asyncio.gather(*tasks, return_exceptions=True)
        gathered.add_done_callback(lambda _f: loop.stop())
    else:
        loop.stop()
    await loop._drain(forever=False)
    loop._stopping = False


class _Crossing:
    __slots__ = ("cancelled", "exc", "fut", "woken")

    def __init__(self) -> None:
        self.cancelled = False
        self.woken = False  # the asyncio side ended: the rt task's wake-up is on its way
        self.fut: asyncio.Future[Any] | None = None
        self.exc: BaseException | None = None


async def aio_as_rt(awaitable: Awaitable[T]) -> T:
    """Await an asyncio awaitable (coroutine, future, task) from an rt task.

    The awaitable runs as a task of the runtime's asyncio loop: the one ``new_event_loop()``
    made for this runtime, or else one attached to the runtime on first use, which lives as
    long as the runtime does.

    Args:
        awaitable: What asyncio code would ``await``.

    Returns:
        Its result.

    Raises:
        TypeError: ``awaitable`` is not awaitable (the message says what to pass).
        RuntimeError: outside an rt task (in asyncio code, await the awaitable directly).
        rt.Cancelled: the rt task was cancelled (the asyncio task was cancelled and finished).
        asyncio.CancelledError: the asyncio task was cancelled by someone else.
        BaseException: whatever the awaitable raised.

    Cancel safety: cancelling the rt task cancels the asyncio task and waits for it to end;
    if it completes anyway, its result is returned (the cancellation shows at the next
    checkpoint, rt's level-triggered rule).
    """
    try:
        _check_awaitable(awaitable, "aio_as_rt")
        try:
            me = current_task()
        except RuntimeError as exc:
            if _running_aio_loop() is None:
                raise
            raise RuntimeError(
                "aio_as_rt() is for rt tasks, and this is asyncio code: await the asyncio "
                "awaitable directly here (rt_as_aio() is the way to await rt code from it)"
            ) from exc
        loop = _runtime_loop()
    except BaseException:
        _close(awaitable)
        raise
    return await _cross(me, loop, awaitable)


def _running_aio_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _check_awaitable(awaitable: object, what: str) -> None:
    """Refuse what cannot be awaited before anything runs, saying what to pass instead."""
    if inspect.isawaitable(awaitable):
        return
    kind = type(awaitable).__name__
    if callable(awaitable):
        name = getattr(awaitable, "__qualname__", None) or getattr(awaitable, "__name__", kind)
        raise TypeError(
            f"{what}() expects an awaitable, got the callable {name!r}: call it, "
            f"e.g. {what}({name}())"
        )
    raise TypeError(f"{what}() expects an awaitable (a coroutine, future or task), got {kind}")


def _close(awaitable: object) -> None:
    """Close a coroutine refused before it ran: the caller gets the error, not also a
    "never awaited" warning. Only Python's own coroutines warn, and only they tell whether
    they started: a compiled one (mypyc's, Cython's) is left as it is."""
    if (
        isinstance(awaitable, types.CoroutineType)
        and inspect.getcoroutinestate(awaitable) == "CORO_CREATED"
    ):
        awaitable.close()


def _crossed(loop: RtEventLoop) -> None:
    """A crossing is over (on the loop's thread, before its rt task resumes): the host may
    leave at the end of this batch when it was the last thing the loop waited for."""
    with _LOOPS_LOCK:
        loop._crossings -= 1


async def _cross(me: Any, loop: RtEventLoop, awaitable: Awaitable[T]) -> T:
    crossing = _Crossing()

    def done(_fut: asyncio.Future[Any]) -> None:
        crossing.woken = True
        _crossed(loop)
        loop._crossed.append(me)  # the drainer resumes it after this batch

    def start() -> None:
        try:
            if asyncio.iscoroutine(awaitable):
                # A copy of this context (contextvars flow), minus the running rt task.
                fut: asyncio.Future[Any] = loop.create_task(awaitable)
            else:
                fut = asyncio.ensure_future(awaitable, loop=loop)
        except BaseException as exc:
            _close(awaitable)
            crossing.exc = exc
            _crossed(loop)
            reschedule(me)
            return
        crossing.fut = fut
        fut.add_done_callback(done)

    def cancel() -> None:
        fut = crossing.fut
        if fut is not None:
            fut.cancel()

    def abort() -> Abort:
        crossing.cancelled = True
        try:
            loop.call_soon_threadsafe(cancel)
        except RuntimeError:
            # The loop is closed or its runtime is going away (its host left): no callback
            # runs any more, so no asyncio end will wake us unless one already did.
            return Abort.FAILED if crossing.woken else Abort.SUCCEEDED
        return Abort.FAILED  # the asyncio task's end wakes us

    if loop._thread_id == threading.get_ident():
        start()
    else:
        loop.call_soon_threadsafe(start)
    await wait_task_rescheduled(abort)
    if crossing.exc is not None:
        raise crossing.exc
    fut = crossing.fut
    assert fut is not None
    if fut.cancelled() and (crossing.cancelled or loop._winding_down):
        # Cancelled by this task's cancellation, or by the runtime's shutdown (the loop's
        # host cancels what is left): rt's cancellation, not an asyncio task's error.
        raise rt.Cancelled()
    return fut.result()  # type: ignore[no-any-return]


def _note_asyncio_code_in_rt_task(exc: BaseException) -> None:
    """Name the adapter when asyncio code was given to ``rt_as_aio``: inside the rt task it
    finds no asyncio loop (asyncio's "no running event loop") or hands rt an asyncio future
    (rt's "not rt's" error), neither of which says what to do instead."""
    if (isinstance(exc, RuntimeError) and str(exc) == "no running event loop") or (
        isinstance(exc, TypeError) and "awaited something that is not rt's" in str(exc)
    ):
        exc.add_note(
            "rt_as_aio() runs its awaitable as an rt task, where asyncio code does not run: "
            "await asyncio code directly in asyncio code (aio_as_rt() from rt tasks)"
        )


async def rt_as_aio(awaitable: Awaitable[T]) -> T:
    """Await an rt awaitable (coroutine, ``JoinHandle``, ...) from asyncio code on an rt loop.

    The awaitable runs as an rt task on the loop's runtime, so it may use everything rt
    offers (``rt.spawn``, ``rt.sync``, ``rt.time``, ``rt.net``).

    Args:
        awaitable: What rt code would ``await``.

    Returns:
        Its result.

    Raises:
        TypeError: ``awaitable`` is not awaitable (the message says what to pass).
        RuntimeError: the running asyncio loop is not an rt loop, or this is an rt task
            (which awaits rt code directly).
        asyncio.CancelledError: the asyncio task was cancelled (the rt task was aborted and
            has finished), or the rt task was cancelled.
        BaseException: whatever the awaitable raised.

    Cancel safety: cancelling the asyncio task aborts the rt task and waits for it to end.
    A value the rt side produced in the same instant as the cancellation is dropped (the
    caller sees ``CancelledError``): to keep it, spawn the rt side and await its
    ``JoinHandle``, which a cancelled wait leaves running with its result.
    """
    _check_awaitable(awaitable, "rt_as_aio")
    loop = _running_aio_loop()  # None: not in asyncio code at all (a plain function, an rt task)
    if not isinstance(loop, RtEventLoop):
        _close(awaitable)  # never awaited: say so without a "never awaited" warning
        if loop is None and _in_rt_task():
            raise RuntimeError(
                "rt_as_aio() is for asyncio code, and this is an rt task: await the rt "
                "awaitable directly here (aio_as_rt() is the way to await asyncio code from it)"
            )
        where = "no asyncio loop runs here" if loop is None else f"not {loop!r}"
        raise RuntimeError(
            f"rt_as_aio() needs asyncio code running on rt's event loop, {where}: "
            "run it with rt.asyncio.run(...) or asyncio.Runner(loop_factory="
            "rt.asyncio.new_event_loop)"
        )
    fut: asyncio.Future[T] = loop.create_future()
    finished: asyncio.Future[None] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not finished.done():
            finished.set_result(None)
        if fut.done():
            return
        if ok:
            fut.set_result(value)
        elif isinstance(value, rt.Cancelled):
            fut.cancel()
        else:
            fut.set_exception(value)

    async def runner() -> None:
        try:
            value = await awaitable
        except BaseException as exc:
            _note_asyncio_code_in_rt_task(exc)
            loop.call_soon_threadsafe(settle, False, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            loop.call_soon_threadsafe(settle, True, value)

    def ended() -> None:
        if not finished.done():
            finished.set_result(None)

    def post_ended() -> None:
        try:
            loop.call_soon_threadsafe(ended)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    async def watch() -> None:
        # The rt task ended, whether or not its body ever ran: one aborted before its first
        # step never reaches settle(), and never awaited the awaitable (closed here: the
        # caller cancelled it, no "never awaited" warning).
        try:
            await job
        except rt.Cancelled:  # the runtime shuts down: stop waiting for the rt side
            post_ended()
            raise
        except rt.JoinError:
            pass
        _close(awaitable)
        post_ended()

    job = loop._rt_handle.spawn(runner())
    try:
        return await fut
    except asyncio.CancelledError:
        if not finished.done():
            job.abort()
            watcher = watch()
            try:
                loop._rt_handle.spawn(watcher)
            except RuntimeError:  # the runtime shuts down: nothing left to wait for
                watcher.close()
            else:
                try:
                    await asyncio.shield(finished)
                except asyncio.CancelledError:
                    pass
        raise
