"""A hierarchical timer wheel (Tokio's ``runtime/time/wheel``) over integer nanoseconds.

Deadlines are nanoseconds on the runtime's clock. The wheel files them by *tick*, a deadline's
high bits (``deadline >> TICK_SHIFT``, ticks of 2**20 ns, about 1.05 ms), and fires them by
their exact deadline:

* Six levels of 64 slots. Level ``L`` slot ``s`` holds the timers whose tick shares every bit
  above ``6·(L+1)`` with the wheel's current tick (``elapsed``) and has ``s`` in bits
  ``6L .. 6L+5``. So level 0 spans the next 64 ticks (67 ms) one tick per slot, level 1 the
  next 64² ticks (4.3 s) 64 ticks per slot, and level 5 about 2.3 years.
* The last stretch is a heap (``near``) ordered by exact deadline: a timer whose tick is the
  current one goes there on insert, and :meth:`Wheel.next_deadline` moves the earliest level-0
  slot there before the driver parks. So the driver sleeps to the earliest deadline itself,
  not to a tick boundary, and wakes once per batch of due timers rather than once per tick
  and again for the rest (Tokio rounds to its 1 ms tick instead).
* Every timer in level ``L`` expires after every timer in the levels below it, so the first
  non-empty level holds the earliest slot, found with a bit scan of that level's occupancy
  mask: :meth:`Wheel.next_expiration` is O(levels).
* Insert and remove are O(1) in the levels (a slot is a ``dict`` used as an ordered set; each
  entry remembers its level and slot) and O(log n) in the heap, where a removed entry is left
  behind, marked dead, and dropped when it surfaces or when dead ones are the majority.
* When a slot of level ``L > 0`` comes due, its entries are not all due: each is re-inserted
  relative to the advanced ``elapsed``, which files it one level lower or into the heap.
* Deadlines more than half a top-level turn away (1.1 years) are filed at that distance and
  re-filed when reached; a deadline in the top level's next turn wraps around its slots.
* A timer fires once the clock has reached its deadline, never earlier.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any, Final

LEVELS: Final = 6
SLOTS: Final = 64
FAR: Final = SLOTS**LEVELS // 2
TICK_SHIFT: Final = 20
NEAR: Final = -2  # TimerEntry.level of an entry in the heap
_MASK64: Final = (1 << 64) - 1
_heappush: Final = heapq.heappush
_heappop: Final = heapq.heappop


class TimerEntry:
    """One armed timer. ``task`` is woken, or else ``callback`` called, at ``deadline`` (ns)."""

    __slots__ = ("callback", "deadline", "level", "slot", "state", "task")

    PENDING: Final = 0
    FIRED: Final = 1
    CANCELLED: Final = 2

    def __init__(self, deadline: int, task: Any, callback: Callable[[], object] | None):
        self.deadline = deadline
        self.task = task
        self.callback = callback
        self.level = -1  # -1: not filed; NEAR: in the heap; else the level
        self.slot = -1  # the slot in the level; in the heap, the entry's sequence number
        self.state = 0  # PENDING


class Wheel:
    __slots__ = ("count", "elapsed", "levels", "near", "near_dead", "now", "occupied", "seq")

    def __init__(self, now: int = 0) -> None:
        self.now = now  # the clock as of the last poll (ns)
        self.elapsed = now >> TICK_SHIFT
        self.levels: list[list[dict[TimerEntry, None]]] = [
            [{} for _ in range(SLOTS)] for _ in range(LEVELS)
        ]
        self.occupied = [0] * LEVELS
        self.near: list[tuple[int, int, TimerEntry]] = []
        self.near_dead = 0
        self.seq = 0
        self.count = 0

    def insert(self, entry: TimerEntry) -> bool:
        """File ``entry``; return False (filing nothing) if its deadline is not in the future."""
        # Literals below, not the module constants: this runs for every timer armed, and a
        # constant costs a global lookup each time. 63 is SLOTS - 1, 5 is LEVELS - 1, 20 is
        # TICK_SHIFT.
        deadline = entry.deadline
        if deadline <= self.now:
            return False
        when = deadline >> 20
        elapsed = self.elapsed
        if when <= elapsed:
            self._push_near(entry)
            self.count += 1
            return True
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

    def _push_near(self, entry: TimerEntry) -> None:
        self.seq = seq = self.seq + 1
        entry.level = NEAR
        entry.slot = seq
        _heappush(self.near, (entry.deadline, seq, entry))

    def remove(self, entry: TimerEntry) -> None:
        """Unfile ``entry`` (it must be filed)."""
        level, slot = entry.level, entry.slot
        entry.level = entry.slot = -1
        self.count -= 1
        if level == NEAR:
            self.near_dead = dead = self.near_dead + 1
            if dead > 32 and dead * 2 > len(self.near):
                self.near = [item for item in self.near if item[2].slot == item[1]]
                heapq.heapify(self.near)
                self.near_dead = 0
            return
        bucket = self.levels[level][slot]
        del bucket[entry]
        if not bucket:
            self.occupied[level] &= ~(1 << slot)

    def next_expiration(self) -> tuple[int, int, int] | None:
        """Return ``(level, slot, tick)`` of the earliest non-empty slot, or None."""
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
        return None

    def _near_top(self) -> int | None:
        """The earliest live deadline in the heap (dropping dead entries from its top)."""
        near = self.near
        while near:
            deadline, seq, entry = near[0]
            if entry.slot == seq:
                return deadline
            _heappop(near)
            self.near_dead -= 1
        return None

    def next_deadline(self) -> int | None:
        """Return when the wheel next needs polling (ns), or None when it is empty.

        That is the earliest deadline when it is within the next level-0 slot (the slot's
        timers move to the heap, ordered by deadline), or else the start of the earliest slot
        of a higher level, whose timers must then be filed lower.
        """
        if not self.count:
            return None
        top = self._near_top()
        nxt = self.next_expiration()
        if nxt is None:
            return top
        level, slot, tick = nxt
        start = tick << TICK_SHIFT
        if top is not None and top <= start:
            return top
        if level:
            return start
        bucket = self.levels[0][slot]
        self.levels[0][slot] = {}
        self.occupied[0] &= ~(1 << slot)
        for entry in bucket:
            self._push_near(entry)
        return self._near_top()

    def poll(self, now: int, out: list[TimerEntry]) -> None:
        """Advance to ``now`` (ns), appending each entry due by then to ``out``."""
        self.now = max(self.now, now)
        tick_now = now >> TICK_SHIFT
        while True:
            nxt = self.next_expiration()
            if nxt is None or nxt[2] > tick_now:
                break
            level, slot, tick = nxt
            bucket = self.levels[level][slot]
            self.levels[level][slot] = {}
            self.occupied[level] &= ~(1 << slot)
            self.count -= len(bucket)
            self.elapsed = max(self.elapsed, tick)
            for entry in bucket:
                entry.level = entry.slot = -1
                if entry.deadline <= now or not self.insert(entry):
                    out.append(entry)
        self.elapsed = max(self.elapsed, tick_now)
        near = self.near
        while near and near[0][0] <= now:
            _, seq, entry = _heappop(near)
            if entry.slot == seq:
                entry.level = entry.slot = -1
                self.count -= 1
                out.append(entry)
            else:
                self.near_dead -= 1
