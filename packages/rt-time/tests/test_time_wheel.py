"""The hierarchical wheel against a sorted-list model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rt.time._wheel import FAR, TimerEntry, Wheel


def test_entries_fire_in_tick_order_and_never_early() -> None:
    w = Wheel()
    ticks = [5, 64, 63, 4096, 1, 262_144, 70, 4095, 10**9, 3]
    entries = [TimerEntry(t, None, None) for t in ticks]
    for e in entries:
        assert w.insert(e)
    fired: list[int] = []
    now = 0
    while w.count:
        nxt = w.next_expiration()
        assert nxt is not None
        now = nxt[2]
        w.poll(now, lambda e: fired.append(e.tick))
        assert all(t <= now for t in fired)
    assert fired == sorted(ticks)


def test_removed_entry_frees_its_slot_and_never_fires() -> None:
    w = Wheel()
    keep = TimerEntry(100, None, None)
    drop = TimerEntry(100, None, None)
    w.insert(keep)
    w.insert(drop)
    w.remove(drop)
    assert w.count == 1
    fired: list[TimerEntry] = []
    w.poll(1000, fired.append)
    assert fired == [keep]
    assert w.count == 0 and w.occupied == [0] * len(w.occupied)


def test_a_tick_not_in_the_future_is_refused() -> None:
    w = Wheel()
    w.poll(50, lambda e: None)
    assert not w.insert(TimerEntry(50, None, None))
    assert w.insert(TimerEntry(51, None, None))


def test_far_deadlines_are_refiled_until_due() -> None:
    w = Wheel()
    far = TimerEntry(FAR * 5 + 17, None, None)
    w.insert(far)
    fired: list[int] = []
    steps = 0
    while w.count:
        nxt = w.next_expiration()
        assert nxt is not None
        w.poll(nxt[2], lambda e: fired.append(e.tick))
        steps += 1
        assert steps < 200
    assert fired == [FAR * 5 + 17]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["add", "remove", "poll"]),
            st.integers(min_value=1, max_value=1 << 40),
        ),
        max_size=120,
    )
)
def test_wheel_matches_a_sorted_model(ops: list[tuple[str, int]]) -> None:
    w = Wheel()
    live: dict[int, TimerEntry] = {}
    fired: list[TimerEntry] = []
    now = 0
    n = 0
    for op, value in ops:
        if op == "add":
            e = TimerEntry(now + value % (1 << 38) + 1, None, None)
            assert w.insert(e)
            live[n] = e
            n += 1
        elif op == "remove" and live:
            key = sorted(live)[value % len(live)]
            w.remove(live.pop(key))
        elif op == "poll":
            now += value % (1 << 30)
            before = len(fired)
            w.poll(now, fired.append)
            for e in fired[before:]:
                assert e.tick <= now
                key = next(k for k, v in live.items() if v is e)
                del live[key]
            assert all(e.tick > now for e in live.values())
        assert w.count == len(live)
