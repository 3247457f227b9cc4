"""Both worlds in one program: asyncio code from rt tasks, rt code from asyncio code."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import socket
import threading
from collections.abc import Coroutine
from typing import Any

import pytest

import rt
import rt.asyncio
import rt.net
import rt.time
from rt.sync import mpsc

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


async def test_rt_task_awaits_asyncio_code_on_the_same_thread() -> None:
    rt_thread = threading.get_ident()

    async def aio() -> tuple[int, bool]:
        await asyncio.sleep(0.001)
        return threading.get_ident(), isinstance(asyncio.get_running_loop(), rt.asyncio.RtEventLoop)

    thread, on_rt_loop = await rt.asyncio.aio_as_rt(aio())
    assert on_rt_loop
    if rt.Handle.current().metrics().flavor == "current_thread":
        assert thread == rt_thread


async def test_asyncio_code_awaits_rt_timers_channels_tasks_and_sockets() -> None:
    tx, rx = mpsc.channel(4)
    listener = await rt.net.TcpListener.bind("127.0.0.1:0")
    port = listener.local_addr()[1]

    async def rt_echo_once() -> None:
        stream, _ = await listener.accept()
        async with stream:
            await stream.write_all(await stream.read(100))

    async def aio() -> tuple[bytes, int]:
        server = rt.spawn(rt_echo_once())  # rt.spawn works in asyncio code
        await rt.asyncio.rt_as_aio(rt.time.sleep(0.001))
        await rt.asyncio.rt_as_aio(tx.send(7))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"across")
        echoed = await reader.read(100)
        writer.close()
        await rt.asyncio.rt_as_aio(server)  # a JoinHandle
        return echoed, await rt.asyncio.rt_as_aio(rx.recv())

    assert await rt.asyncio.aio_as_rt(aio()) == (b"across", 7)
    listener.close()


async def test_awaiting_an_rt_primitive_directly_in_asyncio_code_is_refused() -> None:
    async def aio() -> str:
        try:
            await rt.time.sleep(0)
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert "must be called from a task" in await rt.asyncio.aio_as_rt(aio())


async def test_cancelling_the_rt_waiter_cancels_the_asyncio_task() -> None:
    started = rt.sync.Event()
    seen: list[str] = []

    async def aio() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("asyncio saw CancelledError")
            raise

    handle = rt.spawn(rt.asyncio.aio_as_rt(aio()))
    await started.wait()
    handle.abort()
    with pytest.raises(rt.JoinError) as info:
        await handle
    assert info.value.is_cancelled()
    assert seen == ["asyncio saw CancelledError"]


async def test_cancelling_the_asyncio_waiter_aborts_the_rt_task() -> None:
    seen: list[str] = []

    async def rt_side() -> None:
        try:
            await rt.time.sleep(30)
        except rt.Cancelled:
            seen.append("rt saw Cancelled")
            raise

    async def aio() -> str:
        task = asyncio.ensure_future(rt.asyncio.rt_as_aio(rt_side()))
        await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        return "finished"

    assert await rt.asyncio.aio_as_rt(aio()) == "cancelled"
    assert seen == ["rt saw Cancelled"]


async def test_errors_cross_both_ways_unchanged() -> None:
    async def rt_fails() -> None:
        raise KeyError("from rt")

    async def aio() -> None:
        with pytest.raises(KeyError, match="from rt"):
            await rt.asyncio.rt_as_aio(rt_fails())
        raise ValueError("from asyncio")

    with pytest.raises(ValueError, match="from asyncio"):
        await rt.asyncio.aio_as_rt(aio())


async def test_contextvars_flow_into_both_kinds_of_task() -> None:
    VAR.set("rt")

    async def rt_reads() -> str:
        return VAR.get()

    async def aio() -> tuple[str, str]:
        seen = VAR.get()
        VAR.set("asyncio")
        return seen, await rt.asyncio.rt_as_aio(rt_reads())

    assert await rt.asyncio.aio_as_rt(aio()) == ("rt", "asyncio")
    assert VAR.get() == "rt"  # the asyncio task ran in a copy


def test_rt_as_aio_on_another_loop_says_which_loop_it_needs() -> None:
    async def main() -> None:
        await rt.asyncio.rt_as_aio(rt.time.sleep(0))

    with pytest.raises(RuntimeError, match="rt's event loop"):
        asyncio.run(main())


async def _aio_noop() -> None:
    await asyncio.sleep(0)


async def test_run_and_rt_as_aio_called_from_an_rt_task_close_the_coroutine_they_refuse() -> None:
    coro = _aio_noop()
    with pytest.raises(RuntimeError, match=r"inside a running rt task.*aio_as_rt"):
        rt.asyncio.run(coro)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED  # not "never awaited"
    coro = _aio_noop()
    with pytest.raises(RuntimeError, match="is for asyncio code, and this is an rt task"):
        await rt.asyncio.rt_as_aio(coro)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


def test_run_and_aio_as_rt_called_from_asyncio_code_close_the_coroutine_they_refuse() -> None:
    refused: list[Coroutine[Any, Any, None]] = []

    async def main() -> None:
        coro = _aio_noop()
        refused.append(coro)
        with pytest.raises(RuntimeError, match="from a running event loop"):
            rt.asyncio.run(coro)
        coro = _aio_noop()
        refused.append(coro)
        with pytest.raises(RuntimeError, match="is for rt tasks, and this is asyncio code"):
            await rt.asyncio.aio_as_rt(coro)

    asyncio.run(main())
    assert [inspect.getcoroutinestate(c) for c in refused] == [inspect.CORO_CLOSED] * 2


def test_rt_as_aio_outside_any_event_loop_says_how_to_run_asyncio_code_on_rt() -> None:
    coro = _aio_noop()
    with pytest.raises(RuntimeError, match="rt's event loop, no asyncio loop runs here"):
        rt.asyncio.rt_as_aio(coro).send(None)
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED


async def test_aio_as_rt_refuses_what_is_not_awaitable_before_anything_runs() -> None:
    with pytest.raises(TypeError, match="got the callable '_aio_noop': call it"):
        await rt.asyncio.aio_as_rt(_aio_noop)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"expects an awaitable .* got int"):
        await rt.asyncio.aio_as_rt(5)  # type: ignore[arg-type]


async def test_rt_as_aio_refuses_what_is_not_awaitable_before_anything_runs() -> None:
    async def aio() -> list[str]:
        seen = []
        for bad in (rt.time.sleep, 5):
            try:
                await rt.asyncio.rt_as_aio(bad)  # type: ignore[arg-type]
            except TypeError as exc:
                seen.append(str(exc))
        return seen

    assert await rt.asyncio.aio_as_rt(aio()) == [
        "rt_as_aio() expects an awaitable, got the callable 'sleep': call it, "
        "e.g. rt_as_aio(sleep())",
        "rt_as_aio() expects an awaitable (a coroutine, future or task), got int",
    ]


async def test_asyncio_code_given_to_rt_as_aio_fails_with_a_note_naming_the_adapter() -> None:
    async def aio() -> list[tuple[str, list[str]]]:
        fut = asyncio.get_running_loop().create_future()
        seen = []
        for bad in (asyncio.sleep(1), asyncio.sleep(0), fut):
            try:
                await rt.asyncio.rt_as_aio(bad)
            except (RuntimeError, TypeError) as exc:
                seen.append((type(exc).__name__, getattr(exc, "__notes__", [])))
        return seen

    note = [
        "rt_as_aio() runs its awaitable as an rt task, where asyncio code does not run: "
        "await asyncio code directly in asyncio code (aio_as_rt() from rt tasks)"
    ]
    assert await rt.asyncio.aio_as_rt(aio()) == [
        ("RuntimeError", note),  # asyncio.sleep(1) finds no running asyncio loop
        ("TypeError", note),  # asyncio.sleep(0) yields None to rt
        ("TypeError", note),  # an asyncio future yields itself to rt
    ]


def test_runtime_shutdown_cancels_pending_asyncio_tasks_of_an_attached_loop(
    flavor: str | None,
) -> None:
    seen: list[str] = []

    async def aio_forever() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("asyncio task cancelled")
            raise

    async def main() -> None:
        rt.spawn(rt.asyncio.aio_as_rt(aio_forever()))
        await rt.time.sleep(0.01)

    rt.run(main(), flavor=flavor)
    assert seen == ["asyncio task cancelled"]


def test_owned_loop_runs_rt_tasks_spawned_from_asyncio_code() -> None:
    async def main() -> int:
        a, b = socket.socketpair()
        a.close()
        b.close()

        async def nap() -> None:
            await rt.time.sleep(0.001)

        handle = rt.spawn(nap())
        await rt.asyncio.rt_as_aio(handle)
        return await rt.asyncio.rt_as_aio(rt.asyncio.aio_as_rt(asyncio.sleep(0, 5)))

    assert rt.asyncio.run(main()) == 5
