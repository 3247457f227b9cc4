"""User-facing errors name what the user wrote and what rt found, never rt's internals."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import trio

import rt
import rt.lowlevel
from rt.lowlevel import current_driver, current_io

SRC = Path(__file__).resolve().parents[2]  # packages/


async def _rt_code() -> None:
    await rt.yield_now()


def test_rt_code_awaited_under_asyncio_says_it_found_asyncio() -> None:
    with pytest.raises(RuntimeError) as info:
        asyncio.run(_rt_code())
    message = str(info.value)
    assert "rt.yield_now() must be called from a task running on an rt runtime" in message
    assert "running under asyncio" in message
    assert "rt.run(main())" in message


def test_rt_code_awaited_under_trio_says_it_found_trio() -> None:
    with pytest.raises(RuntimeError, match="running under trio") as info:
        trio.run(_rt_code)
    assert "rt.run(main())" in str(info.value)


def test_rt_code_outside_any_event_loop_says_how_to_start_one() -> None:
    coro = _rt_code()
    with pytest.raises(RuntimeError) as info:
        coro.send(None)
    assert "running under" not in str(info.value)
    assert "rt.run(main())" in str(info.value)


def test_a_driver_needed_outside_a_runtime_is_described_not_named_by_its_internal_call() -> None:
    with pytest.raises(RuntimeError) as info:
        current_driver("time")
    assert "current_driver(" not in str(info.value)
    assert "the runtime's time driver" in str(info.value)
    with pytest.raises(RuntimeError) as io_info:
        asyncio.run(_uses_io())
    assert "current_driver(" not in str(io_info.value)
    assert "running under asyncio" in str(io_info.value)


async def _uses_io() -> None:
    current_io()


def test_no_error_message_in_rt_core_quotes_an_internal_call() -> None:
    # The messages rt-core builds: an f-string or string inside a raise that names a private
    # helper ("current_driver(", "_sched", "STATE") would reach users verbatim.
    core = SRC / "rt-core" / "src"
    offenders = []
    for path in sorted(core.rglob("*.py")):
        text = path.read_text()
        for match in re.finditer(r"(?:Error|outside_error)\(\s*(f?\"[^\"]*\")", text):
            literal = match.group(1)
            if re.search(r"current_driver\(|_sched\b|\bSTATE\b|wait_task_rescheduled", literal):
                offenders.append(f"{path.name}: {literal}")
    assert offenders == []


async def _library_wait() -> None:
    # What a library such as rt.sync does before it parks the caller.
    rt.lowlevel.current_task()


def test_a_library_wait_under_asyncio_says_an_rt_operation_waited_and_what_it_found() -> None:
    with pytest.raises(RuntimeError) as info:
        asyncio.run(_library_wait())
    assert str(info.value).startswith("an rt operation that waits")
    assert "running under asyncio" in str(info.value)
