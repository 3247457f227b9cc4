"""A hierarchical timer wheel (Tokio's ``runtime/time/wheel``), in ticks of 100 µs.

Six levels of 64 slots. Level ``L`` slot ``s`` holds the timers whose deadline tick shares
every bit above ``6·(L+1)`` with the wheel's current tick (``elapsed``) and has ``s`` in bits
``6L .. 6L+5``. So level 0 spans the next 64 ticks (6.4 ms) one tick per slot, level 1 the next
64² ticks (410 ms) 64 ticks per slot, and level 5 about 79 days. Invariants:

* Every timer in level ``L`` expires after every timer in the levels below it, so the first
  non-empty level holds the earliest slot, found with a bit scan of that level's occupancy
  mask: :meth:`Wheel.next_expiration` is O(levels).
* Insert and remove are O(1): a slot is a ``dict`` used as an ordered set, and each entry
  remembers its level and slot.
* When a slot of level ``L > 0`` comes due, its entries are not all due: each is re-inserted
  relative to the advanced ``elapsed``, which files it one level lower or fires it.
* Deadlines more than half a top-level turn away (40 days) are filed at that distance and
  re-filed when reached; a deadline in the top level's next turn wraps around its slots.
* Ticks are rounded up from deadlines, and the current tick down from the clock, so a timer
  never fires early.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from rt.lowlevel import Abort

LEVELS: Final = 6
SLOTS: Final = 64
FAR: Final = SLOTS**LEVELS // 2
TICKS_PER_SECOND: Final = 10_000
_MASK64: Final = (1 << 64) - 1


class TimerEntry:
    """One armed timer. ``task`` is woken, or else ``callback`` called, when it fires.

    ``owner`` is the driver that armed it (None for a bare entry): :meth:`abort`, the abort
    function of a task sleeping on the timer, disarms it through ``owner.cancel`` (a bound
    method of the entry, not a closure made per sleep).
    """

    __slots__ = ("callback", "level", "owner", "slot", "state", "task", "tick")

    PENDING: Final = 0
    FIRED: Final = 1
    CANCELLED: Final = 2

    def __init__(
        self, tick: int, task: Any, callback: Callable[[], object] | None, owner: Any = None
    ):
        self.tick = tick
        self.task = task
        self.callback = callback
        self.owner = owner
        self.level = -1
        self.slot = -1
        self.state = 0  # PENDING

    def abort(self) -> Abort:
        """Disarm the timer for a cancelled sleeper, unless it fired already."""
        owner = self.owner
        return Abort.SUCCEEDED if owner is not None and owner.cancel(self) else Abort.FAILED


class Wheel:
    __slots__ = ("count", "elapsed", "levels", "occupied")

    def __init__(self) -> None:
        self.elapsed = 0
        self.levels: list[list[dict[TimerEntry, None]]] = [
            [{} for _ in range(SLOTS)] for _ in range(LEVELS)
        ]
        self.occupied = [0] * LEVELS
        self.count = 0

    def insert(self, entry: TimerEntry) -> bool:
        """File ``entry``; return False (filing nothing) if its tick is not in the future."""
        # Literals below, not the module constants: this runs for every timer armed, and a
        # constant costs a global lookup each time. 63 is SLOTS - 1, 5 is LEVELS - 1.
        when = entry.tick
        elapsed = self.elapsed
        if when <= elapsed:
            return False
        if when - elapsed > FAR:
            # Too far for the wheel: file it half a top-level turn ahead; ``poll`` re-files
            # entries that are not due when their slot comes.
            when = elapsed + FAR
        level = (((elapsed ^ when) | 63).bit_length() - 1) // 6
        if level > 5:  # noqa: PLR1730 - min() is a call on the hot path
            # ``when`` is in the top level's next turn; the slot index wraps around and
            # ``next_expiration`` adds the turn back.
            level = 5
        entry.level = level
        entry.slot = slot = (when >> (6 * level)) & 63
        self.levels[level][slot][entry] = None
        self.occupied[level] |= 1 << slot
        self.count += 1
        return True

    def remove(self, entry: TimerEntry) -> None:
        """Unfile ``entry`` (it must be filed)."""
        level, slot = entry.level, entry.slot
        bucket = self.levels[level][slot]
        del bucket[entry]
        if not bucket:
            self.occupied[level] &= ~(1 << slot)
        self.count -= 1
        entry.level = entry.slot = -1

    def next_expiration(self) -> tuple[int, int, int] | None:
        """Return ``(level, slot, tick)`` of the earliest non-empty slot, or None."""
        if not self.count:
            return None
        elapsed = self.elapsed
        for level in range(LEVELS):
            occ = self.occupied[level]
            if not occ:
                continue
            shift = 6 * level
            pos = (elapsed >> shift) & (SLOTS - 1)
            rotated = ((occ >> pos) | (occ << (SLOTS - pos))) & _MASK64
            zeros = (rotated & -rotated).bit_length() - 1
            slot = (pos + zeros) & (SLOTS - 1)
            slot_range = 1 << shift
            level_range = slot_range << 6
            level_start = elapsed & ~(level_range - 1)
            tick = level_start + slot * slot_range
            if tick < elapsed and slot < pos:
                tick += level_range
            return level, slot, max(tick, elapsed)
        return None  # pragma: no cover - count says there is one

    def poll(self, now: int, fire: Callable[[TimerEntry], None]) -> int:
        """Advance to tick ``now``, calling ``fire`` for each due entry; return how many fired."""
        fired = 0
        while True:
            nxt = self.next_expiration()
            if nxt is None or nxt[2] > now:
                break
            level, slot, tick = nxt
            bucket = self.levels[level][slot]
            self.levels[level][slot] = {}
            self.occupied[level] &= ~(1 << slot)
            self.count -= len(bucket)
            self.elapsed = max(self.elapsed, tick)
            for entry in bucket:
                entry.level = entry.slot = -1
                if entry.tick <= now or not self.insert(entry):
                    fired += 1
                    fire(entry)
        self.elapsed = max(self.elapsed, now)
        return fired
