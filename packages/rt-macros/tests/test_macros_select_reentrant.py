"""A report made on ``select``'s own thread inside its locked lines is neither lost nor a
deadlock.

A finalizer run by the collector (or a signal handler) can send to a channel that a
``select`` receives on, on the thread that runs the ``select``, at any point of its own
bookkeeping: as it parks, as it picks the winner, as a cancel withdraws it. The tests run that
send at exactly such a point (a hook on the waker's lock or on its list of reports). A missed
report hangs the ``select`` (bounded here by a timeout); a deadlock on the waker's lock
blocks the runtime's thread, so each runtime runs on a helper thread that the test frees and
fails after a bound.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Coroutine
from types import CodeType, FunctionType
from typing import Any

import pytest
from rescued_run import run_or_rescue

import rt
import rt.time
from rt.macros import _combinators
from rt.sync import mpsc

HANG = 10.0  # "never" for a select that should not wait at all (a bound, not a duration)

pytestmark = pytest.mark.skipif(
    not isinstance(_combinators._Waker.park, FunctionType),
    reason="compiled by mypyc: no Python frames of select's waker to hook",
)


class _HookedLock:
    """The waker's lock, running ``hook()`` once just after ``where`` takes it (the
    ``skip + 1``-th time it does)."""

    def __init__(
        self, lock: Any, where: CodeType, hook: Callable[[], object], skip: int = 0
    ) -> None:
        self.lock = lock
        self.where = where
        self.hook: Callable[[], object] | None = hook
        self.skip = skip

    def __enter__(self) -> bool:
        self.lock.acquire()
        if self.hook is not None and sys._getframe(1).f_code is self.where:
            if self.skip:
                self.skip -= 1
            else:
                hook, self.hook = self.hook, None
                hook()
        return True

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


class _ReportsAfterALook(list[int]):
    """The waker's reports, running ``hook()`` once just after ``where`` looks at them."""

    def __init__(self, where: CodeType, hook: Callable[[], object]) -> None:
        super().__init__()
        self.where = where
        self.hook: Callable[[], object] | None = hook

    def __bool__(self) -> bool:
        seen = len(self) > 0
        if self.hook is not None and sys._getframe(1).f_code is self.where:
            hook, self.hook = self.hook, None
            hook()
        return seen


def _hook_wakers(
    monkeypatch: pytest.MonkeyPatch, setup: Callable[[_combinators._Waker], None]
) -> list[_combinators._Waker]:
    """Make every ``select``'s waker go through ``setup`` once built; the wakers made."""
    made: list[_combinators._Waker] = []
    real = _combinators._Waker

    def waker(task: Any) -> _combinators._Waker:
        st = real(task)
        made.append(st)
        setup(st)
        return st

    monkeypatch.setattr(_combinators, "_Waker", waker)
    return made


def _run_bounded(
    main: Callable[[], Coroutine[Any, Any, None]],
    flavor: str | None,
    wakers: list[_combinators._Waker],
) -> None:
    """``rt.run(main())`` on a helper thread; if it is still running after ``HANG`` seconds
    (a deadlock on a waker's lock), free the lock from here and fail."""

    def free() -> None:
        for st in wakers:
            lock: Any = st.lock
            if isinstance(lock, _HookedLock):
                lock = lock.lock
            with contextlib.suppress(RuntimeError):
                lock.release()  # a plain lock may be freed by any thread

    run_or_rescue(
        main, flavor, free, "a report made inside select's locked lines deadlocked its thread", HANG
    )


def test_select_sees_a_value_sent_on_its_thread_between_its_last_look_and_its_park(
    flavor: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    park = _combinators._Waker.park.__code__

    def setup(st: _combinators._Waker) -> None:
        st.fired = _ReportsAfterALook(park, lambda: tx.send(7))

    wakers = _hook_wakers(monkeypatch, setup)
    got: list[tuple[int, Any]] = []

    async def main() -> None:
        with rt.time.timeout(HANG):
            got.append(await rt.select(rx.recv(), rt.sleep(3600)))

    _run_bounded(main, flavor, wakers)
    assert all(st.fired.hook is None for st in wakers)  # type: ignore[attr-defined]
    assert got == [(0, 7)]


def test_select_keeps_a_finished_coroutines_win_over_a_value_sent_on_its_thread_as_it_records_it(
    flavor: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    drive = _combinators._drive.__code__

    def setup(st: _combinators._Waker) -> None:
        # The second time _drive takes the lock: recording that the coroutine finished (a
        # list append, where the collector may run).
        st.lock = _HookedLock(st.lock, drive, lambda: tx.send(5), skip=1)  # type: ignore[assignment]

    wakers = _hook_wakers(monkeypatch, setup)
    got: list[tuple[int, Any]] = []

    async def finishes() -> str:
        await rt.yield_now()
        return "done"

    async def main() -> None:
        with rt.time.timeout(HANG):
            got.append(await rt.select(rx.recv(), finishes()))

    _run_bounded(main, flavor, wakers)
    assert wakers[0].lock.hook is None  # type: ignore[attr-defined]
    assert got == [(1, "done")]  # a finished branch beats one that was only woken
    assert rx.try_recv() == 5  # the loser took nothing


def test_a_cancelled_select_ends_when_a_branch_reports_on_the_thread_that_withdraws_it(
    flavor: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    tx, rx = mpsc.unbounded_channel[int]()
    abort = _combinators._Waker.abort.__code__

    def setup(st: _combinators._Waker) -> None:
        st.lock = _HookedLock(st.lock, abort, lambda: tx.send(3))  # type: ignore[assignment]

    wakers = _hook_wakers(monkeypatch, setup)
    ended: list[str] = []

    async def main() -> None:
        async def selecting() -> None:
            await rt.select(rx.recv(), rt.sleep(3600))

        h = rt.spawn(selecting())
        with rt.time.timeout(HANG):
            while not wakers or not wakers[0].parked:
                await rt.yield_now()
        h.abort()  # the abort withdraws the parked select; the send runs inside it
        with rt.time.timeout(HANG):
            try:
                await h
                ended.append("won")  # the report came first: its value won
            except rt.JoinError as err:
                assert err.is_cancelled()
                ended.append("cancelled")

    _run_bounded(main, flavor, wakers)
    assert wakers[0].lock.hook is None  # type: ignore[attr-defined]
    assert ended
    if ended == ["cancelled"]:
        assert rx.try_recv() == 3  # a cancelled select took nothing
