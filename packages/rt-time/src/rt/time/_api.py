"""sleep, Instant, timeout, interval and paused time."""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, TypeVar, final, overload

from rt import CancelScope
from rt.lowlevel import (
    Abort,
    checkpoint,
    checkpoint_if_cancelled,
    current_driver,
    current_task,
    wait_task_rescheduled,
)

from ._driver import TimeDriver
from ._wheel import TimerEntry

T = TypeVar("T")

_TOLERANCE: Final = 0.005  # an interval tick later than this counts as missed (Tokio: 5 ms)


def _driver(what: str) -> TimeDriver:
    try:
        driver = current_driver("time")
    except RuntimeError as exc:
        raise RuntimeError(f"{what}: {exc}") from None
    assert isinstance(driver, TimeDriver)
    return driver


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} takes seconds as an int or float, got {type(value).__name__}")
    seconds = float(value)
    if math.isnan(seconds):
        raise ValueError(f"{what} got NaN seconds")
    return seconds


@final
class Instant:
    """A point on the runtime's monotonic clock (which may be paused in tests).

    ``Instant.now() + 1.5`` is an instant 1.5 s later; subtracting two instants gives float
    seconds; :meth:`elapsed` is the float seconds since the instant.
    """

    __slots__ = ("_t",)

    def __init__(self, seconds: float) -> None:
        self._t = float(seconds)

    @staticmethod
    def now() -> Instant:
        """Return the current instant (the runtime's clock inside a runtime, else monotonic)."""
        try:
            driver = current_driver("time")
        except RuntimeError:
            return Instant(time.monotonic())
        assert isinstance(driver, TimeDriver)
        return Instant(driver.clock.now())

    def elapsed(self) -> float:
        """Return the seconds elapsed since this instant (0.0 if it is in the future)."""
        return max(0.0, Instant.now()._t - self._t)

    def duration_since(self, earlier: Instant) -> float:
        """Return the seconds from ``earlier`` to this instant (0.0 if ``earlier`` is later)."""
        return max(0.0, self._t - earlier._t)

    @property
    def seconds(self) -> float:
        """The instant as monotonic seconds."""
        return self._t

    def __add__(self, seconds: float) -> Instant:
        return Instant(self._t + _seconds(seconds, "Instant +"))

    def __radd__(self, seconds: float) -> Instant:
        return self.__add__(seconds)

    @overload
    def __sub__(self, other: Instant) -> float: ...
    @overload
    def __sub__(self, other: float) -> Instant: ...

    def __sub__(self, other: Instant | float) -> float | Instant:
        if isinstance(other, Instant):
            return self._t - other._t
        return Instant(self._t - _seconds(other, "Instant -"))

    def __lt__(self, other: Instant) -> bool:
        return self._t < other._t

    def __le__(self, other: Instant) -> bool:
        return self._t <= other._t

    def __gt__(self, other: Instant) -> bool:
        return self._t > other._t

    def __ge__(self, other: Instant) -> bool:
        return self._t >= other._t

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instant) and other._t == self._t

    def __hash__(self) -> int:
        return hash(self._t)

    def __repr__(self) -> str:
        return f"rt.time.Instant({self._t:.6f})"


def _deadline_of(deadline: Instant | float, what: str) -> float:
    if isinstance(deadline, Instant):
        return deadline._t
    return _seconds(deadline, what)


async def _park_until(driver: TimeDriver, deadline: float) -> None:
    if deadline == math.inf:
        await wait_task_rescheduled(lambda: Abort.SUCCEEDED)
        return
    entry = driver.arm(deadline, task=current_task())
    if entry is None:
        await checkpoint()
        return
    await wait_task_rescheduled(entry.abort)


async def sleep(seconds: float) -> None:
    """Wait ``seconds`` (a negative value sleeps 0, as in Tokio; ``math.inf`` forever).

    ``sleep(0)`` is a checkpoint: it lets the other runnable tasks run once.

    Raises:
        TypeError, ValueError: ``seconds`` is not a number, or NaN.
        RuntimeError: outside a runtime, or the runtime has no timer driver.

    Cancel safety: cancel-safe. A cancelled sleep disarms its timer at once.
    """
    cls = seconds.__class__
    if (cls is float or cls is int) and seconds == seconds:  # noqa: PLR0124 - not NaN
        s = seconds
    else:
        s = _seconds(seconds, "rt.time.sleep()")  # the checked path: rejects what is not one
    if s <= 0:
        # sleep(0) (or negative) is a checkpoint: the fast path of "let others run".
        await checkpoint()
        return
    driver = _driver("rt.time.sleep()")
    await _park_until(driver, driver.clock.now() + s)


async def sleep_until(deadline: Instant | float) -> None:
    """Wait until ``deadline`` (an :class:`Instant`, or monotonic seconds).

    Raises:
        RuntimeError: outside a runtime, or the runtime has no timer driver.

    Cancel safety: cancel-safe. A cancelled sleep disarms its timer at once.
    """
    when = _deadline_of(deadline, "rt.time.sleep_until()")
    await _park_until(_driver("rt.time.sleep_until()"), when)


class Elapsed(TimeoutError):
    """The deadline of :func:`timeout` / :func:`timeout_at` passed before the work finished."""

    def __init__(self, message: str = "deadline has elapsed") -> None:
        super().__init__(message)


@final
class Timeout:
    """A region of code with a deadline; see :func:`timeout`.

    Use as ``with`` (or ``async with``) around ``async`` code inside a task. When the deadline
    passes, the code inside sees :class:`rt.Cancelled` at its checkpoint, its ``finally``
    blocks run, and the block raises :class:`Elapsed`. A cancellation that comes from outside
    the block is never turned into ``Elapsed``: it propagates as ``rt.Cancelled``.
    """

    __slots__ = ("_deadline", "_driver", "_entry", "_expired", "_scope", "_seconds")

    def __init__(self, *, seconds: float | None = None, deadline: float | None = None) -> None:
        self._seconds = seconds
        self._deadline = deadline
        self._scope: CancelScope | None = None
        self._entry: TimerEntry | None = None
        self._driver: TimeDriver | None = None
        self._expired = False

    @property
    def deadline(self) -> Instant | None:
        """The deadline, once the block has been entered."""
        return None if self._deadline is None else Instant(self._deadline)

    @property
    def expired(self) -> bool:
        """Whether the deadline passed while the block ran."""
        return self._expired

    def _fire(self) -> None:
        self._expired = True
        if self._scope is not None:
            self._scope.cancel()

    def __enter__(self) -> Timeout:
        if self._scope is not None:
            raise RuntimeError("a Timeout can be entered only once")
        driver = self._driver = _driver("rt.time.timeout()")
        if self._deadline is None:
            assert self._seconds is not None
            self._deadline = driver.clock.now() + max(0.0, self._seconds)
        self._scope = scope = CancelScope()
        scope.__enter__()
        if self._deadline != math.inf:
            self._entry = driver.arm(self._deadline, callback=self._fire)
            if self._entry is None:
                self._fire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._scope is not None and self._driver is not None
        if self._entry is not None:
            self._driver.cancel(self._entry)
            self._entry = None
        handled = self._scope.__exit__(exc_type, exc, tb)
        if handled and self._expired:
            # The deadline's cancellation was caught; an outer cancellation (if any) wins.
            checkpoint_if_cancelled()
            raise Elapsed() from None
        return handled

    async def __aenter__(self) -> Timeout:
        """Arm the deadline for the block (same as the plain ``with`` form).

        Cancel safety: cancel-safe (does not wait).
        """
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Disarm the deadline; turn its cancellation into :class:`Elapsed`.

        Cancel safety: cancel-safe (does not wait).
        """
        return self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        state = "expired" if self._expired else "armed" if self._entry is not None else "idle"
        return f"<rt.time.Timeout {state}>"


async def _run_with(t: Timeout, awaitable: Awaitable[T]) -> T:
    with t:
        return await awaitable
    raise AssertionError("unreachable")  # pragma: no cover - Timeout raises or returns


@overload
def timeout(seconds: float) -> Timeout: ...
@overload
def timeout(seconds: float, awaitable: Awaitable[T]) -> Coroutine[Any, Any, T]: ...


def timeout(
    seconds: float, awaitable: Awaitable[T] | None = None
) -> Timeout | Coroutine[Any, Any, T]:
    """Bound ``awaitable`` (or, with one argument, a ``with`` block) by ``seconds``.

    ``await rt.time.timeout(2, fetch())`` returns ``fetch()``'s value, or cancels it (its
    ``finally`` blocks run) and raises :class:`Elapsed` after 2 s. ``with rt.time.timeout(2):``
    does the same for the code in the block. The deadline counts from when the work starts.

    Raises:
        Elapsed: the deadline passed first (a ``TimeoutError``).
        TypeError, ValueError: ``seconds`` is not a number, or NaN.

    Cancel safety: as cancel-safe as ``awaitable``. A cancellation from outside propagates as
    ``rt.Cancelled``; it is never reported as ``Elapsed``.
    """
    s = _seconds(seconds, "rt.time.timeout()")
    t = Timeout(seconds=s)
    if awaitable is None:
        return t
    return _run_with(t, awaitable)


@overload
def timeout_at(deadline: Instant | float) -> Timeout: ...
@overload
def timeout_at(deadline: Instant | float, awaitable: Awaitable[T]) -> Coroutine[Any, Any, T]: ...


def timeout_at(
    deadline: Instant | float, awaitable: Awaitable[T] | None = None
) -> Timeout | Coroutine[Any, Any, T]:
    """Like :func:`timeout`, with an absolute deadline (an :class:`Instant`).

    Raises:
        Elapsed: the deadline passed first.

    Cancel safety: as cancel-safe as ``awaitable``; see :func:`timeout`.
    """
    t = Timeout(deadline=_deadline_of(deadline, "rt.time.timeout_at()"))
    if awaitable is None:
        return t
    return _run_with(t, awaitable)


class MissedTickBehavior(enum.Enum):
    """What an :class:`Interval` does when ticks were missed (the caller was late)."""

    BURST = "burst"
    """Fire the missed ticks as fast as possible until caught up (Tokio's default)."""
    DELAY = "delay"
    """Start over: the next tick is one period after the late one."""
    SKIP = "skip"
    """Drop the missed ticks: the next tick is the next multiple of the period."""


@final
class Interval:
    """Ticks every ``period`` seconds; see :func:`interval`."""

    __slots__ = ("_behavior", "_next", "_period")

    def __init__(self, period: float, behavior: MissedTickBehavior, start: float) -> None:
        self._period = period
        self._behavior = behavior
        self._next = start

    @property
    def period(self) -> float:
        """The period in seconds."""
        return self._period

    @property
    def missed_tick_behavior(self) -> MissedTickBehavior:
        """What happens to missed ticks (settable)."""
        return self._behavior

    @missed_tick_behavior.setter
    def missed_tick_behavior(self, value: MissedTickBehavior) -> None:
        self._behavior = MissedTickBehavior(value)

    async def tick(self) -> Instant:
        """Wait for the next tick and return its scheduled instant. The first tick is immediate.

        Cancel safety: cancel-safe. A cancelled ``tick`` consumes no tick; the next call
        returns the same one.
        """
        driver = _driver("Interval.tick()")
        scheduled = self._next
        await _park_until(driver, scheduled)
        now = driver.clock.now()
        period = self._period
        if now > scheduled + _TOLERANCE:
            behavior = self._behavior
            if behavior is MissedTickBehavior.DELAY:
                self._next = now + period
            elif behavior is MissedTickBehavior.SKIP:
                missed = math.floor((now - scheduled) / period) + 1
                self._next = scheduled + missed * period
            else:
                self._next = scheduled + period
        else:
            self._next = scheduled + period
        return Instant(scheduled)

    def reset(self) -> None:
        """Make the next tick one period from now."""
        self._next = _driver("Interval.reset()").clock.now() + self._period

    def reset_immediately(self) -> None:
        """Make the next tick immediate."""
        self._next = _driver("Interval.reset_immediately()").clock.now()

    def __repr__(self) -> str:
        return f"<rt.time.Interval period={self._period} {self._behavior.name}>"


def interval(
    period: float,
    *,
    missed_tick_behavior: MissedTickBehavior = MissedTickBehavior.BURST,
) -> Interval:
    """Return an :class:`Interval` whose first tick is now and then every ``period`` seconds.

    Raises:
        ValueError: ``period`` is not positive.
        RuntimeError: outside a runtime, or the runtime has no timer driver.
    """
    p = _seconds(period, "rt.time.interval()")
    if not p > 0 or p == math.inf:
        raise ValueError(f"rt.time.interval() needs a positive, finite period, got {period!r}")
    start = _driver("rt.time.interval()").clock.now()
    return Interval(p, MissedTickBehavior(missed_tick_behavior), start)


def interval_at(
    start: Instant | float,
    period: float,
    *,
    missed_tick_behavior: MissedTickBehavior = MissedTickBehavior.BURST,
) -> Interval:
    """Like :func:`interval`, with the first tick at ``start``.

    Raises:
        ValueError: ``period`` is not positive.
    """
    p = _seconds(period, "rt.time.interval_at()")
    if not p > 0 or p == math.inf:
        raise ValueError(f"rt.time.interval_at() needs a positive, finite period, got {period!r}")
    return Interval(
        p, MissedTickBehavior(missed_tick_behavior), _deadline_of(start, "interval_at()")
    )


def pause() -> None:
    """Freeze the runtime's clock (Tokio's ``time::pause``).

    While paused, the clock moves only with :func:`advance`, or by itself to the next timer
    when every task is idle (no runnable task, no blocking job in flight): sleeps in tests
    finish at once, in order, and deterministically.

    Raises:
        RuntimeError: already paused, or outside a runtime with a timer driver.
    """
    _driver("rt.time.pause()").pause()


def resume() -> None:
    """Let the paused clock run again from where it stands.

    Raises:
        RuntimeError: not paused.
    """
    _driver("rt.time.resume()").clock.resume()


async def advance(seconds: float) -> None:
    """Move the paused clock forward by ``seconds``, fire due timers, and let woken tasks run.

    Raises:
        RuntimeError: time is not paused.
        ValueError: ``seconds`` is negative.

    Cancel safety: cancel-safe in effect: the clock has moved by the time a cancellation is
    seen (advancing is not undone).
    """
    s = _seconds(seconds, "rt.time.advance()")
    if s < 0:
        raise ValueError(f"rt.time.advance() cannot go back in time ({seconds!r})")
    driver = _driver("rt.time.advance()")
    driver.clock.advance(s)
    driver.process()
    await checkpoint()


def is_paused() -> bool:
    """Return whether the current runtime's clock is paused."""
    return _driver("rt.time.is_paused()").clock.paused


@dataclass(frozen=True, slots=True)
class TimerStatistics:
    """A snapshot of the current runtime's timer driver."""

    armed_timers: int
    """Timers waiting to fire (cancelled ones are freed at once and not counted)."""
    paused: bool
    """Whether the clock is paused."""


def statistics() -> TimerStatistics:
    """Return :class:`TimerStatistics` for the current runtime."""
    driver = _driver("rt.time.statistics()")
    return TimerStatistics(armed_timers=driver.armed(), paused=driver.clock.paused)
