"""What rt's asyncio loop leaves behind when a run is refused or ends with an exception, or
the loop cannot be built: no task reported destroyed pending, no coroutine never awaited, no
error from a destructor, no socket left open, no hang."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import gc
import logging
import socket
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loop_helpers import LIMIT

import rt.asyncio

pytestmark = pytest.mark.timeout(LIMIT * 3)  # a hang outside the bounded waits fails the test


class _Leftovers:
    """What was reported while it watched: exception handler calls, log records, warnings,
    unraisable exceptions (``__del__`` errors)."""

    def __init__(self) -> None:
        self.contexts: list[dict[str, Any]] = []
        self.records: list[logging.LogRecord] = []
        self.warnings: list[warnings.WarningMessage] = []
        self.unraisable: list[Any] = []

    def new_loop(self) -> rt.asyncio.RtEventLoop:
        """An owned rt loop whose exception handler reports here."""
        loop = rt.asyncio.new_event_loop()
        loop.set_exception_handler(lambda _loop, context: self.contexts.append(context))
        return loop

    def reported(self) -> list[str]:
        return (
            [str(c.get("message")) for c in self.contexts]
            + [r.getMessage() for r in self.records]
            + [str(w.message) for w in self.warnings]
            + [repr(u.exc_value) for u in self.unraisable]
        )


class _Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


@contextlib.contextmanager
def _watch() -> Iterator[_Leftovers]:
    """Watch for leftovers until the garbage is collected at the end of the block."""
    gc.collect()  # what earlier tests left is theirs
    seen = _Leftovers()
    handler = _Collect(seen.records)
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    old_hook = sys.unraisablehook
    sys.unraisablehook = seen.unraisable.append
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield seen
            gc.collect()
        seen.warnings.extend(caught)
    finally:
        sys.unraisablehook = old_hook
        logger.removeHandler(handler)


async def _job() -> int:
    return 1


def _refused_runner(seen: _Leftovers) -> None:
    with asyncio.Runner(loop_factory=seen.new_loop) as runner:
        runner.run(_job())


def _refused_asyncio_run(seen: _Leftovers) -> None:
    asyncio.run(_job(), loop_factory=seen.new_loop)  # type: ignore[call-arg,unused-ignore]


def _refused_run_until_complete_of_a_task(seen: _Leftovers) -> None:
    loop = seen.new_loop()
    try:
        loop.run_until_complete(loop.create_task(_job()))
    finally:
        loop.close()


def _refused_run_forever_with_a_task(seen: _Leftovers) -> None:
    loop = seen.new_loop()
    try:
        loop.create_task(_job())
        loop.run_forever()
    finally:
        loop.close()


_REFUSED_RUNS = [
    pytest.param(_refused_runner, id="asyncio.Runner"),
    pytest.param(
        _refused_asyncio_run,
        id="asyncio.run",
        marks=pytest.mark.skipif(sys.version_info < (3, 12), reason="loop_factory is 3.12's"),
    ),
    pytest.param(_refused_run_until_complete_of_a_task, id="run_until_complete"),
    pytest.param(_refused_run_forever_with_a_task, id="run_forever"),
]


@pytest.mark.parametrize("refused_run", _REFUSED_RUNS)
def test_a_run_refused_from_an_rt_task_leaves_no_pending_task_or_unawaited_coroutine(
    refused_run: Callable[[_Leftovers], None],
) -> None:
    # asyncio.Runner makes its task before it runs the loop: the refusal left that task
    # pending, and collecting it reported "Task was destroyed but it is pending!" and
    # "coroutine '_job' was never awaited".
    async def main() -> None:
        with pytest.raises(RuntimeError, match=r"inside a running rt task.*aio_as_rt"):
            refused_run(seen)

    with _watch() as seen:
        rt.run(main())
    assert seen.reported() == []


@pytest.mark.parametrize("refused_run", _REFUSED_RUNS[:2])
def test_a_runner_refused_in_an_rt_task_raises_one_error_saying_to_await_the_code(
    refused_run: Callable[[_Leftovers], None], flavor: str | None
) -> None:
    # The runner's clean-up (cancel its tasks, gather them, shut the async generators and the
    # executor down) ran the loop again and was refused again: a second RuntimeError, raised
    # from the runner's __exit__ with the first as its context, the same message twice.
    loops: list[rt.asyncio.RtEventLoop] = []
    caught: list[BaseException] = []

    async def main() -> None:
        with pytest.raises(RuntimeError) as info:
            refused_run(seen)
        caught.append(info.value)

    with _watch() as seen:
        new_loop = seen.new_loop

        def tracked() -> rt.asyncio.RtEventLoop:
            loops.append(new_loop())
            return loops[-1]

        seen.new_loop = tracked  # type: ignore[method-assign]
        rt.run(main(), flavor=flavor)
    [err] = caught
    assert "inside a running rt task" in str(err)
    assert "await rt.asyncio.aio_as_rt(coro)" in str(err)  # what to do instead
    assert err.__context__ is None and err.__cause__ is None  # one error, not two
    assert [loop.is_closed() for loop in loops] == [True]  # the runner still closed its loop
    assert seen.reported() == []


@pytest.mark.parametrize("executor", ["rt's blocking pool", "a ThreadPoolExecutor"])
def test_a_runner_refused_with_an_executor_job_in_flight_neither_waits_for_it_nor_fails_inside(
    executor: str, flavor: str | None
) -> None:
    # The runner's clean-up shuts the default executor down. Settled in place after the
    # refusal, that shutdown waited for the job on the rt thread (a ThreadPoolExecutor's
    # close joined its thread: the runtime stood still) or failed inside the loop with "no
    # running event loop" (rt's pool). It is refused like the run, and the job runs on.
    gate = threading.Event()
    job_saw_gate: list[bool] = []
    caught: list[BaseException] = []
    pools: list[concurrent.futures.ThreadPoolExecutor] = []

    started = threading.Event()
    ended = threading.Event()

    def job() -> None:
        started.set()
        job_saw_gate.append(gate.wait(LIMIT))  # False: nobody set it (the rt thread waited)
        ended.set()

    async def main() -> None:
        with (
            pytest.raises(RuntimeError) as info,
            asyncio.Runner(loop_factory=seen.new_loop) as runner,
        ):
            loop = runner.get_loop()
            if executor == "a ThreadPoolExecutor":
                pools.append(concurrent.futures.ThreadPoolExecutor(1))
                loop.set_default_executor(pools[0])
            loop.run_in_executor(None, job)
            # In flight, not queued (closing the loop's runtime drops a job not started yet).
            assert await rt.spawn_blocking(started.wait, LIMIT)
            runner.run(_job())
        caught.append(info.value)
        gate.set()  # only now: had the clean-up waited for the job, it would not end
        if pools:
            pools[0].shutdown(wait=True)

    with _watch() as seen:
        rt.run(main(), flavor=flavor)
    [err] = caught
    chain = [err]
    while chain[-1].__context__ is not None:
        chain.append(chain[-1].__context__)
    assert all("inside a running rt task" in str(e) for e in chain), [str(e) for e in chain]
    assert ended.wait(LIMIT)  # the job ran on after the refusal...
    assert job_saw_gate == [True]  # ...and nothing waited for it before the gate opened


def test_a_task_left_by_a_refused_run_still_runs_when_the_loop_is_run_outside_rt_tasks() -> None:
    # The refusal only notes the task: closing the loop lets it go, running the loop runs it.
    with _watch() as seen:
        loop = seen.new_loop()
        task = loop.create_task(_job())

        async def main() -> None:
            with pytest.raises(RuntimeError, match=r"inside a running rt task"):
                loop.run_until_complete(task)

        try:
            rt.run(main())
            assert loop.run_until_complete(task) == 1
        finally:
            loop.close()
    assert seen.reported() == []


# -- the executor -----------------------------------------------------------------------------


def test_run_in_executor_of_a_user_executor_turns_stop_iteration_into_runtime_error() -> None:
    # A future refuses StopIteration: asyncio's wrap_future reported a TypeError from its
    # callback and left the awaiting code waiting for ever (rt's own default executor
    # already raised RuntimeError).
    def stops() -> None:
        raise StopIteration("done")

    async def main() -> BaseException:
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            with pytest.raises(RuntimeError, match="raised StopIteration in the executor") as info:
                await asyncio.wait_for(loop.run_in_executor(pool, stops), LIMIT)
            # The pool as the default executor too; other results and errors as before.
            loop.set_default_executor(pool)
            with pytest.raises(RuntimeError, match="raised StopIteration in the executor"):
                await asyncio.wait_for(loop.run_in_executor(None, stops), LIMIT)
            assert await loop.run_in_executor(pool, int, "7") == 7
            with pytest.raises(ValueError):
                await loop.run_in_executor(pool, int, "x")
        return info.value

    with _watch() as seen:
        loop = seen.new_loop()
        try:
            error = loop.run_until_complete(main())
        finally:
            loop.close()
    assert isinstance(error.__cause__, StopIteration)
    assert str(error.__cause__) == "done"
    assert seen.reported() == []


def test_run_in_executor_of_a_user_executor_cancelled_cancels_the_job_not_started() -> None:
    # The future is asyncio's chain of a concurrent future, as before: cancelling the asyncio
    # side cancels a job the executor has not started.
    ran: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        gate = threading.Event()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            busy = loop.run_in_executor(pool, gate.wait, LIMIT)
            queued = loop.run_in_executor(pool, ran.append, 1)
            queued.cancel()
            await asyncio.sleep(0)  # the chain's callback, queued by cancel(), has run
            gate.set()
            assert await busy is True
        assert queued.cancelled()

    rt.asyncio.run(main())
    assert ran == []  # the pool's shutdown waited for every job it had not cancelled


# -- a fatal exit from a protocol callback ----------------------------------------------------


class _Exits(asyncio.Protocol):
    def __init__(self, exc: type[BaseException]) -> None:
        self.exc = exc

    def data_received(self, data: bytes) -> None:
        raise self.exc("stop the program")


@pytest.mark.parametrize("fatal", [SystemExit, KeyboardInterrupt])
def test_a_fatal_exit_from_a_protocol_callback_keeps_no_socket_open_once_the_loop_closed(
    fatal: type[BaseException],
) -> None:
    # The runtime kept the exception block_on raised (so that it stops the runtime only once),
    # and with it the traceback's frames: the protocol, its transport and its socket stayed
    # alive, the fd open, until the loop object itself went. As on asyncio's loop, once the
    # caller is done with the exception and the loop is closed, the socket goes with its
    # transport (which says it was never closed, as asyncio's does).
    loop = rt.asyncio.new_event_loop()
    ours, peer = socket.socketpair()

    async def main() -> None:
        await loop.connect_accepted_socket(lambda: _Exits(fatal), ours)
        peer.send(b"x")
        await asyncio.sleep(LIMIT)  # the callback's exception ends the run first

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with pytest.raises(fatal, match="stop the program"):
                    loop.run_until_complete(main())
            finally:
                loop.close()
            gc.collect()
        assert ours.fileno() == -1  # closed while the loop object is still here
        assert loop.is_closed()
        # The one warning is the transport's own, as on asyncio's loop (nobody closed it).
        assert {str(w.message).split(" <")[0] for w in caught} <= {"unclosed transport"}
    finally:
        ours.close()
        peer.close()


# -- a loop whose construction failed ---------------------------------------------------------


def test_a_loop_whose_runtime_could_not_be_built_raises_that_and_leaves_no_error_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Building the loop's runtime can fail (no fd left, rt-time not installed): the error
    # reached the caller, and collecting the half-built loop then raised AttributeError
    # ('_closed') from its __del__, printed as "Exception ignored in ...".
    def no_runtime(**options: Any) -> rt.Runtime:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(rt, "Runtime", no_runtime)
    with _watch() as seen, pytest.raises(OSError, match="Too many open files"):
        rt.asyncio.new_event_loop()
    assert seen.reported() == []
