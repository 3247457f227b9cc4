"""rt-time's driver layer: the timer wheel in rt-core's driver stack.

``park(timeout)`` shortens the timeout to the wheel's next deadline, parks the layer below (the
reactor), then fires every timer that is due. With time paused, when nothing else can make
progress (no runnable task, no blocking job in flight, no I/O ready) it jumps the clock to the
next deadline instead of sleeping: an hour of sleeps in a test takes microseconds (Tokio's
auto-advance), and the clock lands exactly on each deadline.

Time is integer nanoseconds here (see ``_clock``); only the timeout handed to the layer below
is float seconds.

Precision: the park sleeps to the earliest deadline itself (the wheel keeps exact deadlines),
not to a tick, and wakes once for it. The reactor below ends a timed park at its end rather
than a timer slack later (it blocks until the end minus the kernel's slack and polls the rest
only when the kernel wakes it early: see rt-core's epoll backend); a park that ends a hair
early fires nothing and parks again, so a timer never fires before its deadline.

Threads: timers are armed and cancelled by tasks (on any worker of a multi-thread runtime) while
another thread may be parked here, so the wheel is guarded by a lock that is never held across
the blocking park below, nor while a timer fires (firing wakes tasks and runs callbacks, which
may cancel other timers). A timer armed earlier than the deadline the parked thread sleeps to
unparks it, so it re-computes its timeout.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from operator import attrgetter
from typing import Any, Final

from rt.lowlevel import Driver, DriverContext, reschedule

from ._clock import NS_PER_S, Clock, _monotonic_ns
from ._wheel import TimerEntry, Wheel

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.

# Without the GIL, an unlocked read of the wheel's count is not ordered after our write of
# ``_parked_until``; the park then always looks at the wheel under its lock.
_FREE_THREADED: Final = not getattr(sys, "_is_gil_enabled", lambda: True)()

_NEVER: Final = 1 << 127  # ``_parked_until`` of a thread parked with no timer armed


_deadline: Final = attrgetter("deadline")


class TimeDriver:
    """The built layer; reach it with ``rt.lowlevel.current_driver("time")``."""

    __slots__ = (
        "_closed",
        "_ctx",
        "_fired",
        "_inner",
        "_lock",
        "_parked_until",
        "_wheel",
        "clock",
    )

    name = "time"

    def __init__(self, inner: Driver, ctx: DriverContext) -> None:
        self._inner = inner
        self._ctx = ctx
        self.clock = Clock()
        self._wheel = Wheel(self.clock.now_ns())
        self._closed = False
        self._lock = threading.RLock()
        self._fired = 0  # batches of timers taken to fire (changes under the lock)
        # The deadline (ns) a thread parked below sleeps to (_NEVER: no timer), None when
        # nobody parks.
        self._parked_until: int | None = None

    # -- arming --------------------------------------------------------------------------

    def arm(
        self, deadline: object, task: Any = None, callback: Callable[[], object] | None = None
    ) -> TimerEntry | None:
        """Arm a timer for ``deadline`` (an int of ns); return None if it has already passed
        (nothing is armed)."""
        # ``deadline`` is typed ``object`` so that the check below sees what the caller passed:
        # compiled by mypyc, an ``int`` parameter refuses a float with its own TypeError (not
        # this one, which says what to pass instead) and turns ``True`` into 1.
        if type(deadline) is not int:
            raise TypeError(
                "TimeDriver.arm() takes the deadline in integer nanoseconds of its clock "
                f"(clock.now_ns() + ...), got {deadline!r}"
            )
        self._lock.acquire()
        try:
            return self._arm_locked(deadline, task, callback)
        finally:
            self._lock.release()

    def _arm_locked(
        self, when: int, task: Any, callback: Callable[[], object] | None
    ) -> TimerEntry | None:
        """:meth:`arm` for a caller that holds the lock and passes an int (``rt.time``'s
        ``Sleep`` does: a second acquisition of the re-entrant lock per sleep is not free)."""
        if self._closed:
            raise RuntimeError("the runtime's timer driver is shut down")
        clock = self.clock
        if when <= (clock._frozen if clock._paused else _monotonic_ns() + clock._offset):
            return None  # (clock.now_ns(), written out: this runs for every timer armed)
        entry = TimerEntry(when, task, callback)
        if not self._wheel.insert(entry):
            return None
        parked_until = self._parked_until
        if parked_until is not None and when < parked_until:
            self._inner.unpark()  # the parked thread sleeps past this timer: re-plan
        return entry

    def cancel(self, entry: TimerEntry) -> bool:
        """Disarm ``entry``; False if it already fired. Frees its slot at once."""
        self._lock.acquire()
        try:
            if entry.state != TimerEntry.PENDING:
                return False
            entry.state = TimerEntry.CANCELLED
            if entry.level != -1:
                self._wheel.remove(entry)
            return True
        finally:
            self._lock.release()

    def pause(self) -> None:
        """Freeze the clock."""
        self.clock.pause()

    def armed(self) -> int:
        """Number of timers armed."""
        return self._wheel.count

    # -- Driver --------------------------------------------------------------------------

    @staticmethod
    def _fire_all(due: list[TimerEntry]) -> None:
        for entry in due:
            task = entry.task
            if task is not None:
                reschedule(task)
            elif entry.callback is not None:
                entry.callback()

    def process(self) -> int:
        """Fire every timer that is due; return how many fired."""
        if not self._wheel.count:
            return 0
        now = self.clock.now_ns()
        due: list[TimerEntry] = []
        self._lock.acquire()
        try:
            self._wheel.poll(now, due)
            if due:
                self._fired += 1
                if len(due) > 1:
                    # A slot of the wheel holds a tick's worth of deadlines in the order they
                    # were armed: fire them earliest deadline first, as asyncio's heap does.
                    due.sort(key=_deadline)
            for entry in due:  # under the lock: cancel() must see them fired
                entry.state = TimerEntry.FIRED
        finally:
            self._lock.release()
        if due:
            self._fire_all(due)
        return len(due)

    def park(self, timeout: float | None) -> None:
        wheel = self._wheel
        if not wheel.count:
            # No timer: ``_park_inner(timeout, _NEVER)`` written out (every idle turn of an
            # I/O server comes here). A timer armed after the second look sees _parked_until.
            if timeout is not None and timeout == 0:  # None first: no rich compare
                self._inner.park(0)
                return
            if _FREE_THREADED:
                self._park_inner(timeout, _NEVER)
                return
            self._parked_until = _NEVER
            try:
                self._inner.park(0 if wheel.count else timeout)
            finally:
                self._parked_until = None
            return
        if timeout != 0 and self.process() and self._ctx.has_runnable_tasks():
            timeout = 0
        if timeout != 0:
            self._lock.acquire()
            try:
                nxt = wheel.next_deadline()
                fired = self._fired
            finally:
                self._lock.release()
            if nxt is not None:
                clock = self.clock
                if clock.paused:
                    self._inner.park(0)
                    if not self._ctx.has_runnable_tasks():
                        if self._ctx.blocking_in_flight():
                            # A blocking job may still wake someone: wait for it in real
                            # time, with the clock standing still.
                            self._inner.park(timeout)
                        elif timeout is None or nxt - clock.now_ns() <= timeout * NS_PER_S:
                            self._auto_advance(fired)
                    self.process()
                    return
                wait = max(0, nxt - clock.now_ns()) / NS_PER_S
                timeout = wait if timeout is None else min(timeout, wait)
                self._park_inner(timeout, nxt)
                self.process()
                return
        self._park_inner(timeout, _NEVER)
        self.process()

    def _auto_advance(self, fired: int) -> None:
        """Jump the paused clock to the wheel's next deadline, exactly, unless a timer fired
        since the caller looked (``fired``) or a task became runnable. On a multi-thread
        runtime another worker may have taken a batch of timers whose tasks are not
        rescheduled yet: jumping now would run the clock past deadlines those tasks are
        about to set (seen as a sleep that woke seconds late)."""
        with self._lock:
            if self._fired != fired or self._ctx.has_runnable_tasks():
                return
            nxt = self._wheel.next_deadline()
            if nxt is not None:
                self.clock.advance_to(nxt)

    def _park_inner(self, timeout: float | None, until: int) -> None:
        if timeout == 0:
            self._inner.park(0)
            return
        self._parked_until = until
        try:
            # A timer armed between the computation of ``until`` and this point saw no parked
            # thread: look again before blocking. (Under the GIL an empty wheel needs no lock:
            # a timer armed after this read sees ``_parked_until``, set above, and unparks us.
            # Without the GIL the lock also orders our write before our read.)
            if self._wheel.count or _FREE_THREADED:
                self._lock.acquire()
                try:
                    nxt = self._wheel.next_deadline()
                finally:
                    self._lock.release()
                if nxt is not None and nxt < until:
                    timeout = 0
            self._inner.park(timeout)
        finally:
            self._parked_until = None

    def unpark(self) -> None:
        self._inner.unpark()

    def shutdown(self) -> None:
        if not self._closed:
            self._closed = True
            self._inner.shutdown()


class _TimeLayer:
    """The ``rt.drivers`` entry point: how rt-core finds and builds this layer."""

    name: Final = "time"
    order: Final = 10
    extra: Final = "time"

    def build(self, inner: Driver, ctx: DriverContext) -> Driver:
        return TimeDriver(inner, ctx)

    def __repr__(self) -> str:
        return "<rt.time driver layer>"


LAYER: Final = _TimeLayer()
