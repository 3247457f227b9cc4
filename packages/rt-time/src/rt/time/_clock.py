"""The runtime's clock, in integer nanoseconds, and the conversions at the API's edge.

Inside rt-time every point in time and every duration is an ``int`` of nanoseconds: the clock,
deadlines, :class:`~rt.time.Instant`, paused ``advance`` and the wheel. Integer arithmetic is
exact, so with paused time ``start + d`` lands exactly where a sleep of ``d`` wakes, however
many steps the clock took to get there. Floats appear only where a user hands one in or reads
one out, through the functions below:

* :func:`duration_ns` turns float seconds into the *smallest* count of nanoseconds ``n`` whose
  float reading ``n / 1e9`` is not below the value given. Reading ``n`` or more nanoseconds
  back as float seconds (``int / int`` is correctly rounded, hence monotonic) therefore never
  gives less than the value asked for: ``sleep(d)`` then ``elapsed()`` is never below ``d``.
* :func:`to_seconds` reads nanoseconds back as float seconds.
"""

from __future__ import annotations

import operator
import time
from typing import Final

NS_PER_S: Final = 1_000_000_000

MAX_DURATION_NS: Final = 1 << 62
"""About 146 years: a longer wait never ends, and a longer ``advance`` is refused."""

MAX_DURATION_S: Final = MAX_DURATION_NS / NS_PER_S

_monotonic_ns: Final = time.monotonic_ns

# ``int / int`` through the interpreter's own division: compiled by mypyc, ``ns / NS_PER_S``
# becomes ``(double)ns / 1e9``, which rounds twice once ``ns`` passes 2**53 (any monotonic
# reading does) and can come out below the correctly rounded quotient the notes above rely on.
_true_div: Final = operator.truediv


def duration_ns(seconds: float) -> int:
    """Return the nanoseconds for ``seconds`` (finite, 0 < seconds <= MAX_DURATION_S).

    The result ``n`` is the smallest with ``n / NS_PER_S >= seconds`` (see the module notes);
    beyond 2**52 ns it is the exact ceiling of ``seconds * 1e9``, which satisfies that too.
    """
    n = int(seconds * NS_PER_S)
    if n < 1 << 52:
        # The float product is within a nanosecond of the exact one: step up to the answer.
        while n / NS_PER_S < seconds:
            n += 1
        while n > 1 and (n - 1) / NS_PER_S >= seconds:
            n -= 1
        return n
    # Beyond 2**52 ns (52 days) a float step is more than a nanosecond: round up exactly.
    num, den = float(seconds).as_integer_ratio()
    return -((-num * NS_PER_S) // den)


def to_seconds(ns: int) -> float:
    """Return ``ns`` nanoseconds as float seconds (correctly rounded)."""
    seconds: float = _true_div(ns, NS_PER_S)
    return seconds


def point_ns(value: float) -> int:
    """Return the nanosecond nearest to a point in time given in float seconds."""
    if isinstance(value, int):
        return value * NS_PER_S
    num, den = value.as_integer_ratio()
    return (2 * num * NS_PER_S + den) // (2 * den)


class Clock:
    """Monotonic nanoseconds; while paused, time stands still except for :meth:`advance`.

    Readings share ``time.monotonic_ns()``'s origin, so an instant taken outside a runtime
    compares with one taken inside.
    """

    __slots__ = ("_frozen", "_offset", "_paused")

    def __init__(self) -> None:
        self._offset = 0
        self._paused = False
        self._frozen = 0

    def now_ns(self) -> int:
        if self._paused:
            return self._frozen
        return _monotonic_ns() + self._offset

    def now(self) -> float:
        """The clock in float seconds, for an API's edge (``loop.time()``, say)."""
        return to_seconds(self.now_ns())

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        if self._paused:
            raise RuntimeError("time is already paused")
        self._frozen = self.now_ns()
        self._paused = True

    def resume(self) -> None:
        if not self._paused:
            raise RuntimeError("time is not paused")
        self._offset = self._frozen - _monotonic_ns()
        self._paused = False

    def advance(self, ns: int) -> None:
        if not self._paused:
            raise RuntimeError("time can only be advanced while paused: call rt.time.pause() first")
        self._frozen += ns

    def advance_to(self, when: int) -> None:
        """Move the paused clock to ``when`` unless it is already past it."""
        self._frozen = max(self._frozen, when)
