"""Property tests: channels against simple models under random interleavings.

Each example drives a channel with random operations: producer tasks sending with ``send``,
``try_send`` from the driver, receives that get cancelled at random points, producer aborts,
and receiver closes. The invariants: nothing received twice, nothing received that was not
sent, per-producer order kept, every acknowledged send received (after draining), and a send
refused with ``ChannelClosed`` never received. ``OPS`` sets the operations per channel kind;
CI runs at least 1e5 per kind.
"""

from __future__ import annotations

import os
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rt
from rt.sync import ChannelClosed, ChannelEmpty, ChannelFull, Lagged, broadcast, mpsc

EXAMPLES = int(os.environ.get("RT_PROPERTY_EXAMPLES", "250"))
OPS_PER_EXAMPLE = 400  # 250 x 400 = 1e5 operations per channel kind

MPSC_OPS = [
    "spawn_producer",
    "try_send",
    "recv_task",
    "try_recv",
    "yield",
    "abort_producer",
    "close_rx",
    "cancel_recv",
]
BROADCAST_OPS = ["send", "recv", "subscribe", "drop"]


def program(seed: int, names: list[str], top: int) -> list[tuple[str, int]]:
    """A random program of OPS_PER_EXAMPLE operations, derived from a hypothesis-drawn seed
    (drawing 400-element lists directly makes hypothesis itself the bottleneck)."""
    rng = random.Random(seed)
    # Closing the receiver ends the interesting part of a program: make it rare (about once
    # in every other program), the other operations equally likely.
    weights = [0.002 if n == "close_rx" else 1.0 for n in names]
    picks = rng.choices(names, weights, k=OPS_PER_EXAMPLE)
    return [(name, rng.randint(0, top)) for name in picks]


def _check_mpsc(
    ops: list[tuple[str, int]], capacity: int | None, flavor: str | None = None
) -> None:
    async def main() -> None:
        if capacity is None:
            utx, rx = mpsc.unbounded_channel()
            tx: Any = utx
        else:
            tx, rx = mpsc.channel(capacity)
        acked: set[tuple[int, int]] = set()
        refused: set[tuple[int, int]] = set()
        attempted: set[tuple[int, int]] = set()
        received: list[tuple[int, int]] = []
        producers: list[rt.JoinHandle[None]] = []
        recv_task: rt.JoinHandle[None] | None = None
        # One sequence per sending task (a task's sends must arrive in order; two tasks may
        # interleave, and on a multi-thread runtime they run in parallel): producer tasks get
        # their own keys, the main task's try_sends use keys 0-3.
        next_seq: dict[int, int] = {}

        def next_value(k: int) -> tuple[int, int]:
            v = (k, next_seq.get(k, 0))
            next_seq[k] = v[1] + 1
            attempted.add(v)
            return v

        async def producer(k: int, n: int, sender: Any) -> None:
            try:
                for _ in range(n):
                    v = next_value(k)
                    try:
                        if capacity is None:
                            sender.send(v)
                        else:
                            await sender.send(v)
                    except ChannelClosed as e:
                        assert e.value == v
                        refused.add(v)
                        return
                    acked.add(v)
            finally:
                sender.close()

        async def receiver() -> None:
            received.append(await rx.recv())

        for name, arg in ops:
            if name == "spawn_producer":
                key = 4 + len(producers)
                producers.append(rt.spawn(producer(key, arg + 1, tx.clone())))
            elif name == "try_send":
                v = next_value(arg % 4)
                try:
                    tx.try_send(v) if capacity is not None else tx.send(v)
                    acked.add(v)
                except (ChannelFull, ChannelClosed) as e:
                    assert e.value == v
                    if isinstance(e, ChannelClosed):
                        refused.add(v)
                    next_seq[arg % 4] -= 1  # not sent: the sequence may reuse it
                    attempted.discard(v)
            elif name == "recv_task" and recv_task is None:
                recv_task = rt.spawn(receiver())
            elif name == "cancel_recv" and recv_task is not None:
                recv_task.abort()
                try:
                    await recv_task
                except rt.JoinError:
                    pass
                recv_task = None
            elif name == "try_recv" and recv_task is None:
                try:
                    received.append(rx.try_recv())
                except (ChannelEmpty, ChannelClosed):
                    pass
            elif name == "yield":
                for _ in range(arg + 1):
                    await rt.yield_now()
            elif name == "abort_producer" and producers:
                producers[arg % len(producers)].abort()
            elif name == "close_rx":
                rx.close()
        # Wind down: stop the producers, close our sender, drain everything.
        if recv_task is not None:
            recv_task.abort()
            try:
                await recv_task
            except rt.JoinError:
                pass
        for p in producers:
            p.abort()
        for p in producers:
            try:
                await p
            except rt.JoinError:
                pass
        tx.close()
        received.extend([v async for v in rx])

        assert len(received) == len(set(received)), "a value was received twice"
        assert set(received) <= attempted, "received a value nobody sent"
        assert acked <= set(received), "an acknowledged send was lost"
        assert not (refused & set(received)), "a refused send was delivered"
        for k in next_seq:
            seqs = [s for kk, s in received if kk == k]
            assert seqs == sorted(seqs), "per-producer order broken"

    rt.run(main(), flavor=flavor)
    RUNS["mpsc"] = RUNS.get("mpsc", 0) + 1


RUNS: dict[str, int] = {}

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # ``flavor`` is the only function-scoped fixture these take: a string, nothing to reset.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)


SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


@SETTINGS
@given(SEEDS, st.integers(1, 8))
def test_bounded_mpsc_loses_duplicates_and_reorders_nothing(
    flavor: str | None, seed: int, capacity: int
) -> None:
    _check_mpsc(program(seed, MPSC_OPS, 7), capacity, flavor=flavor)


@SETTINGS
@given(SEEDS)
def test_unbounded_mpsc_loses_duplicates_and_reorders_nothing(
    flavor: str | None, seed: int
) -> None:
    _check_mpsc(program(seed, MPSC_OPS, 7), None, flavor=flavor)


@SETTINGS
@given(SEEDS, st.integers(1, 6))
def test_broadcast_matches_a_ring_buffer_model(seed: int, capacity: int) -> None:
    ops = program(seed, BROADCAST_OPS, 5)
    tx, first = broadcast.channel(capacity)
    sent: list[int] = []
    receivers: list[tuple[broadcast.Receiver[int], list[int]]] = [(first, [0])]
    for name, arg in ops:
        if name == "send":
            if receivers:
                n = tx.send(len(sent))
                assert n == len(receivers)
                sent.append(len(sent))
        elif name == "subscribe":
            receivers.append((tx.subscribe(), [len(sent)]))
        elif name == "drop" and len(receivers) > 1:
            rx, _ = receivers.pop(arg % len(receivers))
            rx.close()
        elif name == "recv" and receivers:
            rx, pos = receivers[arg % len(receivers)]
            oldest = max(0, len(sent) - capacity)
            try:
                v = rx.try_recv()
            except Lagged as e:
                assert pos[0] < oldest and e.skipped == oldest - pos[0]
                pos[0] = oldest
            except ChannelEmpty:
                assert pos[0] == len(sent)
            else:
                assert pos[0] >= oldest and v == sent[pos[0]]
                pos[0] += 1


WATCH_OPS = ["send", "modify", "borrow", "changed_ready", "subscribe", "drop", "wait_task"]


@SETTINGS
@given(SEEDS)
def test_watch_matches_a_versioned_value_model(flavor: str | None, seed: int) -> None:
    """Receivers always borrow the latest value; ``changed`` fires iff a newer version exists."""
    from rt.sync import watch

    ops = program(seed, WATCH_OPS, 5)

    async def main() -> None:
        tx, first = watch.channel(0)
        value = 0
        version = 0
        receivers: list[tuple[watch.Receiver[int], list[int]]] = [(first, [0])]
        waiters: list[tuple[rt.JoinHandle[None], list[int]]] = []

        async def wait_changed(rx: watch.Receiver[int], seen: list[int]) -> None:
            await rx.changed()
            seen[0] = version_box[0]

        version_box = [0]
        for name, arg in ops:
            if name in ("send", "modify") and receivers:
                value += 1
                version += 1
                version_box[0] = version
                if name == "send":
                    tx.send(value)
                else:
                    tx.send_modify(lambda _v: None)
                    tx.send_replace(value)
                    version += 1
                    version_box[0] = version
            elif name == "borrow" and receivers:
                rx, _ = receivers[arg % len(receivers)]
                assert rx.borrow() == value == tx.borrow()
            elif name == "changed_ready" and receivers:
                rx, seen = receivers[arg % len(receivers)]
                assert rx.has_changed() == (seen[0] != version)
                if seen[0] != version:
                    await rx.changed()  # must not wait: a newer version exists
                    seen[0] = version
                assert rx.borrow_and_update() == value
                seen[0] = version
            elif name == "subscribe":
                receivers.append((tx.subscribe(), [version]))
            elif name == "drop" and len(receivers) > 1:
                rx, _ = receivers.pop(arg % len(receivers))
                rx.close()
            elif name == "wait_task" and receivers and not waiters:
                rx, seen = receivers[arg % len(receivers)]
                clone = rx.clone()  # the clone starts at rx's seen-version, tracked apart
                clone_seen = [seen[0]]
                waiters.append((rt.spawn(wait_changed(clone, clone_seen)), clone_seen))
                await rt.yield_now()
        tx.send_replace(value + 1)
        for h, _seen in waiters:
            await h  # a pending changed() always completes once a newer value is sent
        tx.close()

    rt.run(main(), flavor=flavor)


ONESHOT_OPS = ["send", "close_rx", "close_tx", "try_recv", "recv_task", "cancel_recv"]


@SETTINGS
@given(SEEDS)
def test_oneshot_delivers_at_most_once_and_never_loses_a_sent_value(
    flavor: str | None, seed: int
) -> None:
    from rt.sync import oneshot

    rng = random.Random(seed)
    counter = iter(range(10**9))

    async def one_program() -> None:
        tx, rx = oneshot.channel()
        sent: list[int] = []
        refused: list[int] = []
        got: list[int] = []
        receiver: rt.JoinHandle[None] | None = None

        async def recv_into() -> None:
            got.append(await rx)

        for _ in range(8):
            name = rng.choice(ONESHOT_OPS)
            if name == "send":
                v = next(counter)  # unique, so sent / refused / received can be told apart
                try:
                    tx.send(v)
                    sent.append(v)
                except ChannelClosed as e:
                    assert e.value == v
                    refused.append(v)
            elif name == "close_rx":
                rx.close()
            elif name == "close_tx":
                tx.close()
            elif name == "try_recv" and receiver is None:
                try:
                    got.append(rx.try_recv())
                except (ChannelEmpty, ChannelClosed):
                    pass
            elif name == "recv_task" and receiver is None:
                receiver = rt.spawn(recv_into())
                await rt.yield_now()
            elif name == "cancel_recv" and receiver is not None:
                receiver.abort()
                try:
                    await receiver
                except rt.JoinError:
                    pass
                receiver = None
        tx.close()
        if receiver is not None:
            try:
                await receiver
            except rt.JoinError:
                pass
        assert len(sent) <= 1
        assert len(got) <= 1 and set(got) <= set(sent)
        assert not (set(refused) & set(got))
        if sent and not got:
            # not received yet: it is still there, exactly once
            assert rx.try_recv() == sent[0]

    async def main() -> None:
        for _ in range(OPS_PER_EXAMPLE // 8):
            await one_program()

    rt.run(main(), flavor=flavor)
