"""sleep, Instant, timeout, interval and paused time."""

from __future__ import annotations

import enum
import math
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import CoroutineType, TracebackType
from typing import Any, Final, TypeVar, final, overload

from rt import CancelScope
from rt.lowlevel import (
    Abort,
    checkpoint,
    checkpoint_if_cancelled,
    current_driver,
    current_task,
    reschedule,
    wait_task_rescheduled,
)

from ._clock import MAX_DURATION_S, NS_PER_S, duration_ns, point_ns, to_seconds
from ._driver import TimeDriver
from ._wheel import TimerEntry

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.

T = TypeVar("T")

_FLOAT_MAX: Final = sys.float_info.max
_TOLERANCE_NS: Final = 5_000_000  # an interval tick later than this counts as missed (Tokio)


def _driver(what: str) -> TimeDriver:
    try:
        driver = current_driver("time")
    except RuntimeError as exc:
        raise RuntimeError(f"{what}: {exc}") from None
    assert isinstance(driver, TimeDriver)
    return driver


def _seconds(value: object, what: str) -> float:
    """``value`` as seconds: a float or an int (exact). An int too large for a float counts
    as infinite (``sleep(10**400)`` sleeps for ever, ``Instant(10**400)`` is refused as not
    finite), rather than failing in a float conversion with an ``OverflowError``."""
    if type(value) is float:
        if math.isnan(value):
            raise ValueError(f"{what} got NaN seconds")
        return value
    if type(value) is int:
        if -_FLOAT_MAX <= value <= _FLOAT_MAX:
            return value
        return math.inf if value > 0 else -math.inf
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} takes seconds as an int or float, got {type(value).__name__}")
    # a subclass (an IntEnum, numpy's float64): as the plain value
    return _seconds(float(value) if isinstance(value, float) else int(value), what)


def _shown(value: object) -> str:
    """``repr(value)`` for an error message, or a description of an int too long to print
    (Python refuses to turn an int of more than 4,300 digits into a string)."""
    if isinstance(value, int) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
        return f"an int of about 10**{int(abs(value).bit_length() * 0.30103)}"
    return repr(value)


def _wait_ns(value: object, what: str) -> int | None:
    """Nanoseconds to wait for ``value`` seconds: 0 when not positive, None for ever (inf,
    or longer than ~146 years)."""
    s = _seconds(value, what)
    if s <= 0:
        return 0
    if s > MAX_DURATION_S:
        return None
    return duration_ns(s)


def _offset_ns(value: object, what: str) -> int:
    """Signed nanoseconds for ``Instant ± value``: at least ``|value|`` away."""
    s = _seconds(value, what)
    if not math.isfinite(s):
        raise ValueError(f"{what} needs a finite number of seconds, got {_shown(value)}")
    if s == 0:
        return 0
    return duration_ns(s) if s > 0 else -duration_ns(-s)


def _close_unrun(awaitable: object) -> None:
    """Close a coroutine handed to an API that refuses to run it (no "never awaited")."""
    if isinstance(awaitable, Coroutine):
        awaitable.close()


@final
class Instant:
    """A point on the runtime's monotonic clock (which may be paused in tests).

    Instants are integer nanoseconds inside, so their arithmetic and comparisons are exact.
    ``Instant.now() + 1.5`` is an instant 1.5 s later; subtracting two instants gives float
    seconds; :meth:`elapsed` is the float seconds since the instant. ``Instant(s)`` is the
    instant ``s`` seconds after the clock's origin (``time.monotonic()``'s).
    """

    __slots__ = ("_ns",)

    def __init__(self, seconds: float) -> None:
        s = _seconds(seconds, "rt.time.Instant()")
        if not math.isfinite(s):
            raise ValueError(f"rt.time.Instant() needs finite seconds, got {_shown(seconds)}")
        self._ns = point_ns(s)

    @classmethod
    def _from_ns(cls, ns: int) -> Instant:
        self = cls.__new__(cls)
        self._ns = ns
        return self

    @staticmethod
    def now() -> Instant:
        """Return the current instant (the runtime's clock inside a runtime, else monotonic)."""
        try:
            driver = current_driver("time")
        except RuntimeError:
            return Instant._from_ns(time.monotonic_ns())
        assert isinstance(driver, TimeDriver)
        return Instant._from_ns(driver.clock.now_ns())

    def elapsed(self) -> float:
        """Return the seconds elapsed since this instant (0.0 if it is in the future)."""
        return max(0, Instant.now()._ns - self._ns) / NS_PER_S

    def duration_since(self, earlier: Instant) -> float:
        """Return the seconds from ``earlier`` to this instant (0.0 if ``earlier`` is later).

        Raises:
            TypeError: ``earlier`` is not an :class:`Instant`.
        """
        if not isinstance(earlier, Instant):  # for untyped callers
            what = type(earlier).__name__  # type: ignore[unreachable]
            raise TypeError(f"Instant.duration_since() takes an rt.time.Instant, got {what}")
        return max(0, self._ns - earlier._ns) / NS_PER_S

    @property
    def seconds(self) -> float:
        """The instant as monotonic seconds."""
        return to_seconds(self._ns)

    def __add__(self, seconds: float) -> Instant:
        return Instant._from_ns(self._ns + _offset_ns(seconds, "Instant +"))

    def __radd__(self, seconds: float) -> Instant:
        return self.__add__(seconds)

    @overload
    def __sub__(self, other: Instant) -> float: ...
    @overload
    def __sub__(self, other: float) -> Instant: ...

    def __sub__(self, other: Instant | float) -> float | Instant:
        if isinstance(other, Instant):
            return (self._ns - other._ns) / NS_PER_S
        return Instant._from_ns(self._ns - _offset_ns(other, "Instant -"))

    # Ordered against instants only: ``Instant < 5`` is Python's TypeError (via NotImplemented),
    # not an AttributeError from reading the other side's ``_ns``.
    def __lt__(self, other: Instant) -> bool:
        if not isinstance(other, Instant):
            return NotImplemented
        return self._ns < other._ns

    def __le__(self, other: Instant) -> bool:
        if not isinstance(other, Instant):
            return NotImplemented
        return self._ns <= other._ns

    def __gt__(self, other: Instant) -> bool:
        if not isinstance(other, Instant):
            return NotImplemented
        return self._ns > other._ns

    def __ge__(self, other: Instant) -> bool:
        if not isinstance(other, Instant):
            return NotImplemented
        return self._ns >= other._ns

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instant) and other._ns == self._ns

    def __hash__(self) -> int:
        return hash(self._ns)

    def __repr__(self) -> str:
        return f"rt.time.Instant({self._ns // NS_PER_S}.{self._ns % NS_PER_S:09d})"


def _deadline_of(deadline: Instant | float, what: str) -> int:
    """A deadline in ns. Float seconds round up (as durations do): once the clock reaches the
    result, ``Instant.now().seconds`` is not below the float given."""
    if isinstance(deadline, Instant):
        return deadline._ns
    s = _seconds(deadline, what)
    if not math.isfinite(s):
        raise ValueError(f"{what} needs a finite deadline, got {_shown(deadline)}")
    if s <= 0:
        return point_ns(s)
    return duration_ns(s) if s <= MAX_DURATION_S else point_ns(s)


@final
class Sleep:
    """A wait until a deadline (Tokio's ``Sleep``): what :func:`sleep` and :func:`sleep_until`
    return.

    ``await`` it to wait until :attr:`deadline`. Unlike a coroutine it can be kept and awaited
    again (it returns at once once elapsed), moved with :meth:`reset`, and passed to
    ``rt.select`` as a branch over and over: losing a race disarms its timer and leaves the
    deadline as it was. One task at a time may await it, a task of the runtime it was made on.

    Cancel safety: cancel-safe. A cancelled wait disarms its timer at once and leaves the
    deadline unchanged, so awaiting the ``Sleep`` again waits for the same deadline.
    """

    __slots__ = ("_deadline", "_driver", "_entry", "_task", "_wake")

    def __init__(self, driver: TimeDriver | None, deadline: int | None) -> None:
        # driver None: a sleep of 0 or less, elapsed from the start (made without looking up
        # the driver: ``await sleep(0)`` is the cheapest way to let others run).
        self._driver = driver
        self._deadline = deadline  # ns; None: forever (or, without a driver, elapsed)
        # The task parked on this sleep (None once a wake-up is under way), and its timer
        # (None for a wait without a deadline). Changed under the driver's lock.
        self._task: Any = None
        self._entry: TimerEntry | None = None
        # The wake-up ``rt.select`` armed while it polls this sleep as a branch (instead of a
        # parked task): called from the timer. Changed under the driver's lock.
        self._wake: Callable[[], object] | None = None

    @property
    def deadline(self) -> Instant | None:
        """The instant the sleep ends: None for one that never ends (``sleep(math.inf)``); for
        a sleep of 0 or less, not reset since, the current instant (it has ended already)."""
        if self._driver is None:
            return Instant.now()
        return None if self._deadline is None else Instant._from_ns(self._deadline)

    def is_elapsed(self) -> bool:
        """Return whether the deadline has been reached."""
        driver = self._driver
        if driver is None:
            return True
        deadline = self._deadline
        return deadline is not None and driver.clock.now_ns() >= deadline

    def reset(self, deadline: Instant) -> None:
        """Move the deadline to ``deadline``, even after the sleep has elapsed.

        A task waiting on this ``Sleep`` now waits for the new deadline (it wakes at once if
        the new deadline has passed; if the old one fired already, the wait ends anyway).

        Raises:
            TypeError: ``deadline`` is not an :class:`Instant`.
            RuntimeError: the runtime has no timer driver.

        Cancel safety: not a wait (nothing to cancel); safe from any thread, also while a
        task waits on this ``Sleep`` or is being cancelled.
        """
        if not isinstance(deadline, Instant):  # for untyped callers
            what = type(deadline).__name__  # type: ignore[unreachable]
            raise TypeError(f"Sleep.reset() takes an rt.time.Instant, got {what}")
        driver = self._driver
        if driver is None:
            driver = self._driver = _driver("Sleep.reset()")
        new = deadline._ns
        driver._lock.acquire()
        try:
            self._deadline = new
            task = self._task
            wake = self._wake
            if wake is not None:  # ``rt.select`` polls it: move its timer
                entry = self._entry
                if entry is not None and not driver.cancel(entry):
                    return  # the old deadline fired: select's wake-up is under way
                self._entry = driver.arm(new, callback=wake)
                if self._entry is None:
                    self._wake = None
                    wake()
                return
            if task is None:
                return  # nobody waits, or a wake-up is under way
            entry = self._entry
            if entry is not None and not driver.cancel(entry):
                return  # the old deadline fired: its wake-up is under way
            self._entry = driver.arm(new, task)
            if self._entry is None:  # the new deadline has passed
                self._task = None
                reschedule(task)
        finally:
            driver._lock.release()

    def _abort(self) -> Abort:
        driver = self._driver
        assert driver is not None
        driver._lock.acquire()
        try:
            if self._task is None:
                return Abort.FAILED  # reset() woke it
            entry = self._entry
            if entry is not None and not driver.cancel(entry):
                return Abort.FAILED  # the timer fired
            self._task = None
            return Abort.SUCCEEDED
        finally:
            driver._lock.release()

    def __await__(self) -> Generator[Any, None, None]:
        """Wait until the deadline.

        Raises:
            RuntimeError: another task is awaiting this ``Sleep``, or the awaiting task runs
                on another runtime than the one the sleep was made on.

        Cancel safety: cancel-safe; see the class.
        """
        if self._driver is None:
            return checkpoint().__await__()
        return self._wait()

    def _describe_wait(self) -> str:
        """What a task parked on this sleep waits for (task dumps)."""
        driver, deadline = self._driver, self._deadline
        if deadline is None or driver is None:
            return "sleep (no deadline)"
        left = (deadline - driver.clock.now_ns()) / 1e9
        return f"sleep: deadline in {left:.3f} s"

    def _wait(self) -> Generator[Any, None, None]:
        driver = self._driver
        assert driver is not None
        task = current_task()
        if task._sched is not driver._ctx:
            raise _foreign_sleep_error(driver)
        driver._lock.acquire()
        try:
            if self._task is not None:
                raise RuntimeError("this rt.time.Sleep is already awaited by another task")
            while True:
                deadline = self._deadline
                entry = None if deadline is None else driver._arm_locked(deadline, task, None)
                if self._deadline is deadline:
                    break
                # Moved while the timer was armed: a reset() on this thread (a finalizer the
                # collector ran at the timer's allocation, a signal handler) re-entered the
                # lock and, seeing no waiter yet, only stored the new deadline. Arm for that
                # one instead (a passed deadline wakes at once; a later one is not cut short).
                if entry is not None:
                    driver.cancel(entry)
            self._entry = entry
            parked = deadline is None or entry is not None
            if parked:
                self._task = task
        finally:
            driver._lock.release()
        if not parked:
            yield from checkpoint()  # type: ignore[misc]
            return
        try:
            yield from wait_task_rescheduled(self._abort, task)
        finally:
            # Woken by the timer, reset() or a cancellation: the wait is over. (A reset()
            # that sees the old, fired entry leaves it alone, so one store is enough.)
            self._task = None

    def __rt_select__(self, awaitable: object) -> _SleepBranch:
        """Let ``rt.select`` poll this sleep in place, as one timer (no task, no coroutine)."""
        return _SleepBranch(self)

    def __repr__(self) -> str:
        if self._driver is None:
            return "<rt.time.Sleep elapsed>"
        if self._deadline is None:
            return "<rt.time.Sleep forever>"
        return f"<rt.time.Sleep until {Instant._from_ns(self._deadline)!r}>"


def _foreign_sleep_error(driver: TimeDriver) -> RuntimeError:
    """The error for a :class:`Sleep` awaited by a task of another runtime than its own."""
    if driver._closed:
        return RuntimeError("the runtime's timer driver is shut down")
    return RuntimeError(
        "this rt.time.Sleep was made on another rt runtime, whose timer driver is the only one "
        "that fires it (on its own clock), so a task of this runtime could wait for ever: make "
        "the sleep (or interval) on the runtime that awaits it, or await it there "
        "(Handle.spawn reaches that runtime from anywhere)"
    )


@final
class _SleepBranch:
    """A :class:`Sleep` as an ``rt.select`` branch (``rt.macros.SelectBranch``'s protocol).

    ``arm`` sets a timer that calls select's wake-up instead of waking a parked task; losing
    the race (``disarm``) cancels that timer and leaves the deadline as it was, as a cancelled
    ``await`` does.
    """

    __slots__ = ("_fired", "_sleep", "_wake")

    def __init__(self, sleep: Sleep) -> None:
        self._sleep = sleep
        self._wake: Callable[[], object] | None = None
        # Whether the timer armed for select fired: the branch has finished then, even if a
        # reset() from another task moved the deadline before select looked (as an ``await``
        # of the sleep ends anyway once its old deadline fired).
        self._fired = False

    @property
    def waiter(self) -> Sleep:
        """What this branch waits on: ``rt.select`` refuses a second branch on it (a sleep
        holds one wait at a time)."""
        return self._sleep

    def poll(self) -> tuple[bool, None]:
        return self._fired or self._sleep.is_elapsed(), None

    def _fire(self) -> None:
        """The timer (or a reset() to a passed deadline) ends the wait: note it, wake select."""
        self._fired = True
        wake = self._wake
        if wake is not None:
            wake()

    def arm(self, wake: Callable[[], object]) -> bool:
        sleep = self._sleep
        driver = sleep._driver
        if driver is None:
            return False  # elapsed from the start
        if current_task()._sched is not driver._ctx:  # (polling it is harmless; waiting is not)
            raise _foreign_sleep_error(driver)
        driver._lock.acquire()
        try:
            if sleep._task is not None or sleep._wake is not None:
                raise RuntimeError("this rt.time.Sleep is already awaited by another task")
            self._wake = wake
            fire = self._fire
            while True:
                deadline = sleep._deadline
                if deadline is None:  # forever: only reset() can end it
                    sleep._wake = fire
                    return True
                entry = driver.arm(deadline, callback=fire)
                if sleep._deadline is deadline:
                    break
                # Moved while the timer was armed (a reset() on this thread: see Sleep._wait).
                if entry is not None:
                    driver.cancel(entry)
            if entry is None:
                return False  # the deadline has passed
            sleep._entry = entry
            sleep._wake = fire
            return True
        finally:
            driver._lock.release()

    def disarm(self) -> None:
        sleep = self._sleep
        driver = sleep._driver
        if driver is None:
            return
        driver._lock.acquire()
        try:
            if sleep._wake is None:
                return
            sleep._wake = None
            entry = sleep._entry
            sleep._entry = None
            if entry is not None:
                driver.cancel(entry)
        finally:
            driver._lock.release()


def sleep(seconds: float) -> Sleep:
    """Return a :class:`Sleep` that waits ``seconds`` from now; ``await`` it.

    A negative value sleeps 0 (as in Tokio); ``math.inf`` (or more than ~146 years) sleeps
    forever. ``await sleep(0)`` is a checkpoint: it lets the other runnable tasks run once
    (and needs no timer driver). With paused time, ``Instant.now()`` after ``await
    sleep(d)`` is never less than ``d`` after the instant before it.

    Raises:
        TypeError, ValueError: ``seconds`` is not a number, or NaN.
        RuntimeError: outside a runtime, or the runtime has no timer driver.

    Cancel safety: cancel-safe. A cancelled sleep disarms its timer at once.
    """
    cls = seconds.__class__
    if cls is float or cls is int:
        if 0 < seconds <= MAX_DURATION_S:
            try:
                driver = current_driver("time")
            except RuntimeError:
                driver = _driver("rt.time.sleep()")  # raises, saying what to do
            assert isinstance(driver, TimeDriver)
            return Sleep(driver, driver.clock.now_ns() + duration_ns(seconds))
        if seconds <= 0:  # (NaN is neither)
            return Sleep(None, None)
    ns = _wait_ns(seconds, "rt.time.sleep()")  # the checked path: rejects what is not one
    if ns is None:
        return Sleep(_driver("rt.time.sleep()"), None)
    return Sleep(None, None)


def sleep_until(deadline: Instant | float) -> Sleep:
    """Return a :class:`Sleep` that waits until ``deadline`` (an :class:`Instant`, or
    monotonic seconds); ``await`` it.

    Raises:
        TypeError, ValueError: ``deadline`` is not an instant or a finite number.
        RuntimeError: outside a runtime, or the runtime has no timer driver.

    Cancel safety: cancel-safe. A cancelled sleep disarms its timer at once.
    """
    when = _deadline_of(deadline, "rt.time.sleep_until()")
    return Sleep(_driver("rt.time.sleep_until()"), when)


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

    __slots__ = ("_deadline", "_driver", "_entry", "_expired", "_scope", "_wait")

    def __init__(
        self, *, seconds: float | None = None, deadline: Instant | float | None = None
    ) -> None:
        """Prefer :func:`timeout` / :func:`timeout_at`, which build one.

        Raises:
            TypeError, ValueError: ``seconds`` or ``deadline`` is not a number, or NaN.
        """
        self._init(
            None if seconds is None else _wait_ns(seconds, "rt.time.Timeout()"),
            None if deadline is None else _deadline_of(deadline, "rt.time.Timeout()"),
        )

    def _init(self, wait: int | None, deadline: int | None) -> None:
        self._wait = wait  # ns from entering the block (None and no deadline: no limit)
        self._deadline = deadline  # ns, once known
        self._scope: CancelScope | None = None
        self._entry: TimerEntry | None = None
        self._driver: TimeDriver | None = None
        self._expired = False

    @classmethod
    def _make(cls, wait: int | None, deadline: int | None) -> Timeout:
        self = cls.__new__(cls)
        self._init(wait, deadline)
        return self

    @property
    def deadline(self) -> Instant | None:
        """The deadline, once the block has been entered (None: no limit)."""
        return None if self._deadline is None else Instant._from_ns(self._deadline)

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
        if self._deadline is None and self._wait is not None:
            self._deadline = driver.clock.now_ns() + self._wait
        self._scope = scope = CancelScope()
        scope.__enter__()
        deadline = self._deadline
        if deadline is not None:
            try:
                driver._lock.acquire()
                try:
                    self._entry = driver._arm_locked(deadline, None, self._fire)
                finally:
                    driver._lock.release()
            except BaseException:
                # The block is not entered (the driver is shut down): nor is its scope.
                scope.__exit__(None, None, None)
                raise
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


def _check_awaitable(awaitable: object, what: str) -> None:
    """Refuse, at the call, a second argument that cannot be awaited (``timeout(1, 5)``): it
    failed only when the returned coroutine was awaited, with Python's wording."""
    if hasattr(type(awaitable), "__await__"):
        return
    code = getattr(awaitable, "gi_code", None)  # a generator-based coroutine
    if code is not None and code.co_flags & 0x100:  # CO_ITERABLE_COROUTINE
        return
    if callable(awaitable) and not isinstance(awaitable, type):
        name = getattr(awaitable, "__qualname__", None) or repr(awaitable)
        raise TypeError(
            f"{what} takes an awaitable to bound (a coroutine, a Sleep, a JoinHandle...), got "
            f"the function {name!r}: call it, e.g. {what.removesuffix('()')}(..., {name}())"
        )
    raise TypeError(
        f"{what} takes an awaitable to bound (a coroutine, a Sleep, a JoinHandle...), got "
        f"{awaitable!r}; call it with the deadline alone for a with block"
    )


async def _run_with(t: Timeout, awaitable: Awaitable[T]) -> T:
    try:
        t.__enter__()
    except BaseException:
        _close_unrun(awaitable)
        raise
    try:
        value = await awaitable
    except BaseException as exc:
        if t.__exit__(type(exc), exc, exc.__traceback__):  # pragma: no cover - it raises
            raise AssertionError("a timeout swallowed an exception") from exc
        raise
    t.__exit__(None, None, None)
    return value


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
    ``math.inf`` (or more than ~146 years) sets no limit. A coroutine that ``timeout`` refuses
    to run (bad ``seconds``, no runtime) is closed, so it is never reported as "never awaited".

    Raises:
        Elapsed: the deadline passed first (a ``TimeoutError``).
        TypeError, ValueError: ``seconds`` is not a number, or NaN; ``awaitable`` is given
            and cannot be awaited.
        RuntimeError: outside a runtime, or the runtime has no timer driver.

    Cancel safety: as cancel-safe as ``awaitable``. A cancellation from outside propagates as
    ``rt.Cancelled``; it is never reported as ``Elapsed``.
    """
    try:
        t = Timeout._make(_wait_ns(seconds, "rt.time.timeout()"), None)
    except BaseException:
        _close_unrun(awaitable)
        raise
    if awaitable is None:
        return t
    if type(awaitable) is not CoroutineType:
        _check_awaitable(awaitable, "rt.time.timeout()")
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
        TypeError, ValueError: ``deadline`` is not an instant or a finite number;
            ``awaitable`` is given and cannot be awaited.
        RuntimeError: outside a runtime, or the runtime has no timer driver.

    Cancel safety: as cancel-safe as ``awaitable``; see :func:`timeout`.
    """
    try:
        t = Timeout._make(None, _deadline_of(deadline, "rt.time.timeout_at()"))
    except BaseException:
        _close_unrun(awaitable)
        raise
    if awaitable is None:
        return t
    if type(awaitable) is not CoroutineType:
        _check_awaitable(awaitable, "rt.time.timeout_at()")
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
    """Ticks every ``period`` seconds; see :func:`interval`.

    The next tick waits on a :class:`Sleep`, so the ``reset*`` methods move a ``tick()`` that
    is waiting right now, too.
    """

    __slots__ = ("_behavior", "_period", "_sleep")

    def __init__(self, period: int, behavior: MissedTickBehavior, sleep: Sleep) -> None:
        self._period = period  # ns
        self._behavior = behavior
        self._sleep = sleep  # its deadline is the next tick

    @property
    def period(self) -> float:
        """The period in seconds."""
        return to_seconds(self._period)

    @property
    def missed_tick_behavior(self) -> MissedTickBehavior:
        """What happens to missed ticks (settable)."""
        return self._behavior

    @missed_tick_behavior.setter
    def missed_tick_behavior(self, value: MissedTickBehavior) -> None:
        self._behavior = MissedTickBehavior(value)

    async def tick(self) -> Instant:
        """Wait for the next tick and return its scheduled instant. The first tick is immediate.

        Raises:
            RuntimeError: another task is waiting in ``tick()`` on this interval.

        Cancel safety: cancel-safe. A cancelled ``tick`` consumes no tick; the next call
        returns the same one.
        """
        sleep = self._sleep
        if sleep._task is not None or sleep._wake is not None:  # (the sleep checks it again)
            raise RuntimeError(
                "this rt.time.Interval is already ticking in another task (or rt.select): "
                "one task at a time may await tick()"
            )
        await sleep
        scheduled = sleep._deadline
        assert scheduled is not None and sleep._driver is not None
        now = sleep._driver.clock.now_ns()
        period = self._period
        if now > scheduled + _TOLERANCE_NS:
            behavior = self._behavior
            if behavior is MissedTickBehavior.DELAY:
                nxt = now + period
            elif behavior is MissedTickBehavior.SKIP:
                nxt = scheduled + ((now - scheduled) // period + 1) * period
            else:
                nxt = scheduled + period
        else:
            nxt = scheduled + period
        sleep._deadline = nxt  # nobody waits on it now: no timer to move
        return Instant._from_ns(scheduled)

    def _now(self) -> int:
        driver = self._sleep._driver
        assert driver is not None
        return driver.clock.now_ns()

    def reset(self) -> None:
        """Make the next tick one period from now.

        Cancel safety: not a wait (nothing to cancel); a ``tick()`` waiting in another task
        meanwhile waits for the new deadline instead.
        """
        self._sleep.reset(Instant._from_ns(self._now() + self._period))

    def reset_immediately(self) -> None:
        """Make the next tick immediate; the ticks after it follow one period apart.

        Cancel safety: not a wait (nothing to cancel); a ``tick()`` waiting in another task
        meanwhile waits for the new deadline instead.
        """
        self._sleep.reset(Instant._from_ns(self._now()))

    def reset_after(self, after: float) -> None:
        """Make the next tick ``after`` seconds from now.

        Raises:
            TypeError, ValueError: ``after`` is not a finite number.

        Cancel safety: not a wait (nothing to cancel); a ``tick()`` waiting in another task
        meanwhile waits for the new deadline instead.
        """
        self._sleep.reset(Instant._from_ns(self._now() + _offset_ns(after, "reset_after()")))

    def reset_at(self, deadline: Instant) -> None:
        """Make the next tick at ``deadline``.

        Raises:
            TypeError: ``deadline`` is not an :class:`Instant`.

        Cancel safety: not a wait (nothing to cancel); a ``tick()`` waiting in another task
        meanwhile waits for the new deadline instead.
        """
        self._sleep.reset(deadline)

    def __repr__(self) -> str:
        return f"<rt.time.Interval period={self.period} {self._behavior.name}>"


def _period_ns(period: object, what: str) -> int:
    p = _seconds(period, what)
    if not p > 0 or p > MAX_DURATION_S:
        raise ValueError(f"{what} needs a positive, finite period, got {_shown(period)}")
    return duration_ns(p)


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
    p = _period_ns(period, "rt.time.interval()")
    driver = _driver("rt.time.interval()")
    sleep = Sleep(driver, driver.clock.now_ns())
    return Interval(p, MissedTickBehavior(missed_tick_behavior), sleep)


def interval_at(
    start: Instant | float,
    period: float,
    *,
    missed_tick_behavior: MissedTickBehavior = MissedTickBehavior.BURST,
) -> Interval:
    """Like :func:`interval`, with the first tick at ``start``.

    Raises:
        ValueError: ``period`` is not positive.
        RuntimeError: outside a runtime, or the runtime has no timer driver.
    """
    p = _period_ns(period, "rt.time.interval_at()")
    first = _deadline_of(start, "rt.time.interval_at()")
    sleep = Sleep(_driver("rt.time.interval_at()"), first)
    return Interval(p, MissedTickBehavior(missed_tick_behavior), sleep)


def pause() -> None:
    """Freeze the runtime's clock (Tokio's ``time::pause``).

    While paused, the clock moves only with :func:`advance`, or by itself to the next timer
    when every task is idle (no runnable task, no blocking job in flight): sleeps in tests
    finish at once, in order, deterministically, and the clock lands exactly on each deadline.

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
        ValueError: ``seconds`` is negative, NaN, infinite or more than ~146 years.

    Cancel safety: cancel-safe in effect: the clock has moved by the time a cancellation is
    seen (advancing is not undone).
    """
    s = _seconds(seconds, "rt.time.advance()")
    if s < 0:
        raise ValueError(f"rt.time.advance() cannot go back in time ({_shown(seconds)})")
    if not s <= MAX_DURATION_S:
        raise ValueError(
            f"rt.time.advance() takes a finite number of seconds up to {MAX_DURATION_S:.0f} "
            f"(about 146 years), got {_shown(seconds)}"
        )
    driver = _driver("rt.time.advance()")
    driver.clock.advance(duration_ns(s) if s else 0)
    driver.process()
    await checkpoint()


def is_paused() -> bool:
    """Return whether the current runtime's clock is paused."""
    return _driver("rt.time.is_paused()").clock.paused


@final
class TimerStatistics:
    """A snapshot of the current runtime's timer driver (immutable)."""

    __slots__ = ("armed_timers", "paused")

    armed_timers: int
    """Timers waiting to fire (cancelled ones are freed at once and not counted)."""
    paused: bool
    """Whether the clock is paused."""

    def __init__(self, armed_timers: int, paused: bool) -> None:
        object.__setattr__(self, "armed_timers", armed_timers)
        object.__setattr__(self, "paused", paused)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"TimerStatistics is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"TimerStatistics is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TimerStatistics):
            return NotImplemented
        return (self.armed_timers, self.paused) == (other.armed_timers, other.paused)

    def __hash__(self) -> int:
        return hash((self.armed_timers, self.paused))

    def __repr__(self) -> str:
        return f"TimerStatistics(armed_timers={self.armed_timers!r}, paused={self.paused!r})"


def statistics() -> TimerStatistics:
    """Return :class:`TimerStatistics` for the current runtime."""
    driver = _driver("rt.time.statistics()")
    return TimerStatistics(armed_timers=driver.armed(), paused=driver.clock.paused)
