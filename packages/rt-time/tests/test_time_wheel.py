"""The hierarchical wheel (integer nanoseconds) against a sorted-list model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rt.time._wheel import FAR, TICK_SHIFT, TimerEntry, Wheel

TICK = 1 << TICK_SHIFT


def drain(w: Wheel) -> list[tuple[int, int]]:
    """Poll the wheel at each deadline it asks for; return (deadline, fired at) pairs."""
    fired: list[tuple[int, int]] = []
    steps = 0
    while w.count:
        now = w.next_deadline()
        assert now is not None
        out: list[TimerEntry] = []
        w.poll(now, out)
        fired.extend((e.deadline, now) for e in out)
        steps += 1
        assert steps < 10_000
    return fired


def test_entries_fire_in_deadline_order_at_their_exact_deadline() -> None:
    w = Wheel()
    deadlines = [5, 64 * TICK, 63 * TICK + 1, 4096 * TICK - 7, 1, 262_144 * TICK, 70, 10**15, 3]
    for d in deadlines:
        assert w.insert(TimerEntry(d, None, None))
    fired = drain(w)
    assert [d for d, _ in fired] == sorted(deadlines)
    assert all(at == d for d, at in fired)


def test_removed_entry_frees_its_slot_and_never_fires() -> None:
    w = Wheel()
    keep = TimerEntry(100 * TICK, None, None)
    drop = TimerEntry(100 * TICK, None, None)
    near_drop = TimerEntry(5, None, None)  # within the current tick: in the heap
    for e in (keep, drop, near_drop):
        w.insert(e)
    w.remove(drop)
    w.remove(near_drop)
    assert w.count == 1
    fired: list[TimerEntry] = []
    w.poll(1000 * TICK, fired)
    assert fired == [keep]
    assert w.count == 0 and w.occupied == [0] * len(w.occupied)


def test_a_deadline_not_in_the_future_is_refused() -> None:
    w = Wheel()
    w.poll(50, [])
    assert not w.insert(TimerEntry(50, None, None))
    assert w.insert(TimerEntry(51, None, None))


def test_far_deadlines_are_refiled_until_due() -> None:
    w = Wheel()
    deadline = (FAR * 5 + 17) * TICK + 3
    w.insert(TimerEntry(deadline, None, None))
    assert drain(w) == [(deadline, deadline)]


def test_many_cancelled_entries_in_the_heap_are_compacted() -> None:
    w = Wheel()
    entries = [TimerEntry(10 + i, None, None) for i in range(1000)]
    for e in entries:
        w.insert(e)
    for e in entries[:900]:
        w.remove(e)
    assert len(w.near) < 300
    out: list[TimerEntry] = []
    w.poll(TICK, out)
    assert out == entries[900:]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["add", "remove", "poll", "plan"]),
            st.integers(min_value=1, max_value=1 << 50),
        ),
        max_size=120,
    )
)
def test_wheel_matches_a_sorted_model(ops: list[tuple[str, int]]) -> None:
    w = Wheel()
    live: dict[int, TimerEntry] = {}
    now = 0
    n = 0
    for op, value in ops:
        if op == "add":
            e = TimerEntry(now + value % (1 << (value % 48 + 1)) + 1, None, None)
            assert w.insert(e)
            live[n] = e
            n += 1
        elif op == "remove" and live:
            key = sorted(live)[value % len(live)]
            w.remove(live.pop(key))
        elif op == "plan":
            # The wheel asks to be polled no later than the earliest deadline.
            nxt = w.next_deadline()
            if live:
                assert nxt is not None and now <= nxt <= min(e.deadline for e in live.values())
            else:
                assert nxt is None
        elif op == "poll":
            now += value % (1 << 40)
            fired: list[TimerEntry] = []
            w.poll(now, fired)
            for e in fired:
                assert e.deadline <= now
                key = next(k for k, v in live.items() if v is e)
                del live[key]
            assert all(e.deadline > now for e in live.values())
        assert w.count == len(live)
