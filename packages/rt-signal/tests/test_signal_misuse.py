"""rt.signal misused the way a user coming from asyncio or trio would: each test guards a
mistake that once gave a hang or an error naming rt's internals."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

import rt
import rt.signal
from rt.signal import _handlers
from rt.signal.unix import Signal, SignalKind


@pytest.fixture(autouse=True)
def no_listener_left() -> Iterator[None]:
    yield
    assert _handlers._counts == _handlers._lifelong


@pytest.mark.parametrize("name", ["SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL"])
async def test_fault_signals_are_refused_since_a_listener_would_hang_the_faulting_process(
    name: str,
) -> None:
    # A Python-level handler returns to the faulting instruction, which faults again: a
    # listener for SIGSEGV turned a crash into a process spinning for ever (Tokio refuses
    # these too).
    with pytest.raises(ValueError, match=f"{name} reports a fault of this process.*faulthandler"):
        rt.signal.unix.signal(SignalKind.from_raw(getattr(signal, name)))


async def test_the_signal_rt_uses_itself_and_unknown_numbers_get_errors_saying_so() -> None:
    with pytest.raises(ValueError, match=r"SIGRTMAX - 2\) is used by rt\.signal itself"):
        rt.signal.unix.signal(SignalKind.from_raw(signal.SIGRTMAX - 2))
    with pytest.raises(ValueError, match=r"does not exist on this platform \(signal numbers run"):
        rt.signal.unix.signal(SignalKind.from_raw(0))


async def test_a_second_task_waiting_on_one_stream_is_told_to_make_its_own_listener() -> None:
    # The error used to be the reactor's "another task is already waiting for fd 7".
    async with rt.signal.unix.signal(SignalKind.user_defined1()) as stream:
        first = rt.spawn(stream.recv())
        while not stream._listener.waiting:  # until first is inside recv()
            await rt.yield_now()
        with pytest.raises(RuntimeError, match=r"own rt\.signal\.unix\.signal\(\.\.\.\) listener"):
            await stream.recv()
        os.kill(os.getpid(), signal.SIGUSR1)
        assert await first  # the first waiter was left as it was and gets the delivery


def test_a_stream_awaited_from_another_runtime_raises_instead_of_hanging() -> None:
    # The stream's pipe is watched by the reactor of the runtime that made it: a task of
    # another runtime parked on it for ever while that runtime was not driven.
    with rt.Runtime() as owner:

        async def make() -> Signal:
            return rt.signal.unix.signal(SignalKind.user_defined2())

        stream = owner.block_on(make())

        async def elsewhere() -> None:
            with pytest.raises(RuntimeError, match="made on another rt runtime"):
                await stream.recv()

        rt.run(elsewhere())

        async def on_the_owner() -> bool:
            os.kill(os.getpid(), signal.SIGUSR2)
            return await stream.recv()

        assert owner.block_on(on_the_owner())
        stream.close()
