"""mpsc: bounded and unbounded channels, reservations, weak senders, closing, cancellation."""

from __future__ import annotations

import gc
import sys
import threading
import types
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from synchelpers import cancelled, in_thread, until

import rt
from rt.sync import (
    ChannelClosed,
    ChannelEmpty,
    ChannelFull,
    SendTimeout,
    mpsc,
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], flavor: str | None = None) -> T:
    return rt.run(coro, flavor=flavor)


async def _cancel(scope: rt.CancelScope) -> None:
    scope.cancel()


# -- reservations (issue: a released permit left recv hanging; close refused reserved slots) --


async def test_recv_on_a_closed_channel_ends_when_the_last_permit_is_released_unused() -> None:
    tx, rx = mpsc.channel[int](2)
    permit = await tx.reserve()
    rx.close()
    receiver = rt.spawn(rx.recv())
    await until(lambda: rx.statistics().receiver_waiting)
    permit.release()
    with pytest.raises(rt.JoinError) as info:
        await receiver  # hung forever before
    assert isinstance(info.value.exception, ChannelClosed)


async def test_recv_ends_when_the_last_sender_is_gone_and_its_permit_is_released() -> None:
    tx, rx = mpsc.channel[int](2)
    permit = await tx.reserve()
    tx.close()
    receiver = rt.spawn(rx.recv())
    await until(lambda: rx.statistics().receiver_waiting)
    assert rx.is_closed()
    permit.release()
    with pytest.raises(rt.JoinError) as info:
        await receiver
    assert isinstance(info.value.exception, ChannelClosed)


async def test_a_permit_reserved_before_receiver_close_still_delivers() -> None:
    tx, rx = mpsc.channel[str](2)
    permit = await tx.reserve()
    rx.close()
    with pytest.raises(ChannelClosed):
        await tx.send("refused")  # new sends fail once closed
    receiver = rt.spawn(rx.recv())
    await until(lambda: rx.statistics().receiver_waiting)
    permit.send("reserved before the close")  # raised ChannelClosed before
    assert await receiver == "reserved before the close"
    with pytest.raises(ChannelClosed):
        await rx.recv()


async def test_a_permit_keeps_the_channel_open_after_every_sender_closed() -> None:
    tx, rx = mpsc.channel[int](1)
    permit = tx.try_reserve()
    tx.close()
    with pytest.raises(ChannelEmpty):
        rx.try_recv()  # not ended: the permit may still send
    permit.send(5)
    assert await rx.recv() == 5
    with pytest.raises(ChannelClosed):
        rx.try_recv()


async def test_a_permit_to_a_garbage_collected_receiver_fails_with_the_value() -> None:
    tx, rx = mpsc.channel[str](1)
    permit = await tx.reserve()
    del rx
    gc.collect()
    with pytest.raises(ChannelClosed) as info:
        permit.send("nobody")
    assert info.value.value == "nobody"


def test_a_permit_released_in_a_plain_thread_ends_a_parked_recv(flavor: str | None) -> None:
    async def main() -> None:
        tx, rx = mpsc.channel[int](1)
        permit = await tx.reserve()
        tx.close()
        receiver = rt.spawn(rx.recv())
        await until(lambda: rx.statistics().receiver_waiting)
        await in_thread(permit.release)
        with pytest.raises(rt.JoinError):
            await receiver

    rt.run(main(), flavor=flavor)


# -- try_reserve, reserve_many, try_reserve_many -----------------------------------------------


async def test_try_reserve_takes_a_slot_or_reports_full_or_closed() -> None:
    tx, rx = mpsc.channel[int](1)
    permit = tx.try_reserve()
    assert tx.capacity() == 0
    with pytest.raises(ChannelFull):
        tx.try_reserve()
    permit.release()
    assert tx.capacity() == 1
    tx.try_reserve().send(1)
    assert rx.try_recv() == 1
    rx.close()
    with pytest.raises(ChannelClosed):
        tx.try_reserve()


async def test_reserve_many_waits_for_all_slots_then_each_permit_sends_once() -> None:
    tx, rx = mpsc.channel[int](3)
    for i in range(3):
        await tx.send(i)
    many = rt.spawn(tx.reserve_many(2))
    await until(lambda: tx.statistics().waiting_senders == 1)
    assert await rx.recv() == 0  # one slot free: not enough for two
    assert tx.statistics().waiting_senders == 1
    assert await rx.recv() == 1
    permits = await many
    assert len(permits) == 2 and tx.capacity() == 0
    permits[1].send(11)
    permits[0].send(10)
    assert [await rx.recv(), await rx.recv(), await rx.recv()] == [2, 11, 10]
    with pytest.raises(RuntimeError):
        permits[0].send(12)
    assert await tx.reserve_many(0) == []


async def test_try_reserve_many_is_all_or_nothing_and_rejects_impossible_counts() -> None:
    tx, _rx = mpsc.channel[int](3)
    await tx.send(0)
    with pytest.raises(ChannelFull):
        tx.try_reserve_many(3)
    assert tx.statistics().reserved == 0
    permits = tx.try_reserve_many(2)
    assert len(permits) == 2 and tx.capacity() == 0
    for p in permits:
        p.release()
    for bad in (-1, 4, True, 1.0):
        with pytest.raises(ValueError, match="reserve"):
            tx.try_reserve_many(bad)  # type: ignore[type-var]
        with pytest.raises(ValueError, match="reserve"):
            await tx.reserve_many(bad)  # type: ignore[type-var]


async def test_a_sender_queued_behind_a_cancelled_reserve_many_gets_the_room() -> None:
    tx, rx = mpsc.channel[int](2)
    await tx.send(0)
    await tx.send(1)
    many = rt.spawn(tx.reserve_many(2))
    await until(lambda: tx.statistics().waiting_senders == 1)
    single = rt.spawn(tx.send(2))
    await until(lambda: tx.statistics().waiting_senders == 2)
    assert await rx.recv() == 0  # one slot: the head (two) cannot use it
    await cancelled(many)
    await single  # served once the big request left the queue
    assert [await rx.recv(), await rx.recv()] == [1, 2]
    assert tx.statistics().reserved == 0


async def test_a_sender_queued_behind_a_cancelled_sender_is_delivered_and_the_other_not() -> None:
    tx, rx = mpsc.channel[str](1)
    await tx.send("full")
    first = rt.spawn(tx.send("cancelled"))
    await until(lambda: tx.statistics().waiting_senders == 1)
    second = rt.spawn(tx.send("second"))
    await until(lambda: tx.statistics().waiting_senders == 2)
    await cancelled(first)
    assert await rx.recv() == "full"
    await second
    assert await rx.recv() == "second"
    with pytest.raises(ChannelEmpty):
        rx.try_recv()


# -- send_timeout -------------------------------------------------------------------------------


@pytest.mark.rt(start_paused=True)
async def test_send_timeout_gives_the_value_back_when_no_room_comes_in_time() -> None:
    tx, rx = mpsc.channel[str](1)
    await tx.send("first")
    with pytest.raises(SendTimeout) as info:
        await tx.send_timeout("late", 0.5)
    assert info.value.value == "late"
    assert isinstance(info.value, ChannelFull) and isinstance(info.value, TimeoutError)
    assert await rx.recv() == "first"
    with pytest.raises(ChannelEmpty):
        rx.try_recv()  # the timed-out value was not sent


@pytest.mark.rt(start_paused=True)
async def test_send_timeout_sends_when_room_appears_before_the_deadline() -> None:
    tx, rx = mpsc.channel[int](1)
    await tx.send(1)

    async def drain_later() -> int:
        await rt.sleep(0.1)
        return await rx.recv()

    h = rt.spawn(drain_later())
    await tx.send_timeout(2, 1.0)
    assert await h == 1
    assert await rx.recv() == 2
    rx.close()
    with pytest.raises(ChannelClosed) as info:
        await tx.send_timeout(3, 1.0)
    assert info.value.value == 3


# -- weak senders, closed(), is_closed() -------------------------------------------------------


async def test_weak_sender_does_not_keep_the_channel_open_and_upgrades_while_one_is() -> None:
    tx, rx = mpsc.channel[int](4)
    weak = tx.downgrade()
    assert weak.strong_count() == 1
    strong = weak.upgrade()
    assert isinstance(strong, mpsc.Sender)
    await strong.send(1)
    strong.close()
    tx.close()
    assert weak.upgrade() is None
    assert await rx.recv() == 1
    with pytest.raises(ChannelClosed):
        await rx.recv()  # the weak sender did not keep it open
    utx, urx = mpsc.unbounded_channel[int]()
    uweak = utx.downgrade()
    upgraded = uweak.upgrade()
    assert isinstance(upgraded, mpsc.UnboundedSender)
    upgraded.send(2)
    assert urx.try_recv() == 2
    upgraded.close()
    with pytest.raises(RuntimeError, match="closed"):
        upgraded.downgrade()


async def test_sender_closed_waits_for_the_receiver_to_close_or_go() -> None:
    tx, rx = mpsc.channel[int](1)
    waiter = rt.spawn(tx.closed())
    await rt.yield_now()
    assert not waiter.is_finished() and not tx.is_closed()
    rx.close()
    await waiter
    await tx.closed()  # already closed: returns at once
    utx, urx = mpsc.unbounded_channel[int]()
    gone = rt.spawn(utx.closed())
    await rt.yield_now()
    del urx
    gc.collect()
    await gone


def test_sender_closed_wakes_when_a_plain_thread_closes_the_receiver(flavor: str | None) -> None:
    async def main() -> None:
        tx, rx = mpsc.channel[int](1)
        waiter = rt.spawn(tx.closed())
        await rt.yield_now()
        await in_thread(rx.close)
        await waiter

    rt.run(main(), flavor=flavor)


async def test_receiver_is_closed_once_every_sender_is_gone() -> None:
    tx, rx = mpsc.channel[int](1)
    tx2 = tx.clone()
    assert not rx.is_closed()
    tx.close()
    assert not rx.is_closed()
    del tx2
    gc.collect()
    assert rx.is_closed()
    _, rx2 = mpsc.unbounded_channel[int]()
    rx2.close()
    assert rx2.is_closed()


def test_blocking_senders_and_a_task_receiver_with_reserve_many_lose_nothing(
    flavor: str | None,
) -> None:
    async def main() -> None:
        tx, rx = mpsc.channel[int](4)
        per_thread = 300

        def produce(base: int, sender: mpsc.Sender[int]) -> None:
            for i in range(per_thread):
                sender.blocking_send(base + i)
            sender.close()

        threads = [threading.Thread(target=produce, args=(k * 1000, tx.clone())) for k in range(3)]
        for t in threads:
            t.start()

        async def reserver() -> None:
            for i in range(per_thread // 3):
                for j, p in enumerate(await tx.reserve_many(3)):
                    p.send(10_000 + 3 * i + j)
            tx.close()

        h = rt.spawn(reserver())
        got = [v async for v in rx]
        await h
        for t in threads:
            t.join()
        assert sorted(got) == sorted(
            [k * 1000 + i for k in range(3) for i in range(per_thread)]
            + [10_000 + i for i in range(per_thread)]
        )

    rt.run(main(), flavor=flavor)


# -- sending, receiving, closing, threads, budget ---------------------------------------------


async def test_bounded_send_waits_for_room_backpressure() -> None:
    tx, rx = mpsc.channel(2)
    log: list[str] = []

    async def producer() -> None:
        for i in range(4):
            await tx.send(i)
            log.append(f"sent {i}")

    h = rt.spawn(producer())
    while len(log) < 2:  # the producer may run on another worker
        await rt.yield_now()
    for _ in range(5):  # nobody receives: the third send must keep waiting
        await rt.yield_now()
    assert log == ["sent 0", "sent 1"]
    assert tx.capacity() == 0
    assert await rx.recv() == 0
    while len(log) < 3:
        await rt.yield_now()
    assert log == ["sent 0", "sent 1", "sent 2"]
    rest = [await rx.recv() for _ in range(3)]
    await h
    result = [*log, str(rest)]
    assert result[-1] == "[1, 2, 3]"


async def test_try_send_and_try_recv_report_full_empty_and_closed_with_the_value() -> None:
    tx, rx = mpsc.channel(1)
    with pytest.raises(ChannelEmpty):
        rx.try_recv()
    tx.try_send("a")
    with pytest.raises(ChannelFull) as full:
        tx.try_send("b")
    assert full.value.value == "b"
    assert rx.try_recv() == "a"
    rx.close()
    with pytest.raises(ChannelClosed) as closed:
        tx.try_send("c")
    assert closed.value.value == "c"
    with pytest.raises(ChannelClosed) as closed2:
        await tx.send("d")
    assert closed2.value.value == "d"
    with pytest.raises(ChannelClosed):
        rx.try_recv()


async def test_receiver_close_keeps_buffered_values_and_fails_waiting_senders() -> None:
    tx, rx = mpsc.channel(1)
    await tx.send(1)

    async def blocked() -> None:
        await tx.send(2)

    h = rt.spawn(blocked())
    await rt.yield_now()
    rx.close()
    with pytest.raises(rt.JoinError) as info:
        await h
    err = info.value.exception
    assert isinstance(err, ChannelClosed) and err.value == 2
    got = [await rx.recv()]
    with pytest.raises(ChannelClosed):
        await rx.recv()
    assert got == [1]


async def test_channel_ends_when_every_sender_is_closed_or_collected() -> None:
    tx, rx = mpsc.unbounded_channel()
    tx2 = tx.clone()
    tx.send(1)
    tx2.send(2)
    tx.close()
    tx.close()  # twice: no-op
    with pytest.raises(ChannelClosed):
        tx.send(3)  # this handle is closed
    del tx2
    gc.collect()
    result = [v async for v in rx]
    assert result == [1, 2]


async def test_recv_many_and_async_iteration() -> None:
    tx, rx = mpsc.channel(10)
    for i in range(5):
        await tx.send(i)
    batch = await rx.recv_many(3)
    tx.close()
    rest = [v async for v in rx]
    result = batch, rest
    assert result == ([0, 1, 2], [3, 4])


async def test_reserve_holds_a_slot_until_the_permit_sends_or_is_released() -> None:
    tx, rx = mpsc.channel(1)
    permit = await tx.reserve()
    with pytest.raises(ChannelFull):
        tx.try_send("x")
    permit.send("reserved")
    with pytest.raises(RuntimeError):
        permit.send("again")
    got = [await rx.recv()]
    p2 = await tx.reserve()
    p2.release()
    tx.try_send("after release")
    got.append(await rx.recv())
    assert got == ["reserved", "after release"]


async def test_cancelled_recv_loses_no_value() -> None:
    tx, rx = mpsc.channel(4)
    with rt.CancelScope() as scope:
        rt.spawn(_cancel(scope))
        await rx.recv()
    assert scope.cancelled_caught
    await tx.send(1)
    await tx.send(2)
    result = [await rx.recv(), await rx.recv()]
    assert result == [1, 2]


async def test_cancelled_send_either_delivered_or_did_nothing() -> None:
    tx, rx = mpsc.channel(1)
    await tx.send(0)
    with rt.CancelScope() as scope:
        rt.spawn(_cancel(scope))
        await tx.send(99)  # waits for room, and is cancelled before any frees up
    assert scope.cancelled_caught
    assert tx.statistics().waiting_senders == 0
    tx.close()
    result = [v async for v in rx]
    assert result == [0]


async def test_two_concurrent_receivers_is_an_error() -> None:
    tx, rx = mpsc.channel(1)
    h = rt.spawn(rx.recv())
    await rt.yield_now()
    with pytest.raises(RuntimeError, match="already receiving"):
        await rx.recv()
    h.abort()
    with pytest.raises(rt.JoinError):
        await h
    del tx


def test_plain_thread_producers_with_blocking_send_and_a_task_consumer(flavor: str | None) -> None:
    async def main() -> list[tuple[int, int]]:
        tx, rx = mpsc.channel(8)

        def producer(k: int, sender: mpsc.Sender[tuple[int, int]]) -> None:
            for i in range(500):
                sender.blocking_send((k, i))
            sender.close()

        threads = [threading.Thread(target=producer, args=(k, tx.clone())) for k in range(4)]
        tx.close()
        for t in threads:
            t.start()
        got = [v async for v in rx]

        def join() -> None:
            for t in threads:
                t.join()

        await rt.spawn_blocking(join)
        return got

    got = run(main(), flavor=flavor)
    assert len(got) == 2000 and len(set(got)) == 2000
    for k in range(4):
        assert [i for kk, i in got if kk == k] == list(range(500))


def test_a_sender_queued_just_after_the_receiver_took_a_value_still_gets_the_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The receiver takes buffered values without the lock, then looks for waiting senders. A
    # sender that found the channel full and queues itself just after that look must notice
    # the room by itself, or it waits forever on a channel with room. Make the receiver take
    # the value at exactly that moment: while the sender builds its waiter.
    from rt.sync import _waitqueue

    if not isinstance(_waitqueue.Waiter.__init__, types.FunctionType):
        pytest.skip(
            "compiled build: mpsc calls Waiter.for_thread natively, so patching the class cannot "
            "time the receive; the pure-Python pass checks it"
        )
    tx, rx = mpsc.channel(1)
    tx.blocking_send(0)
    taken: list[int] = []
    real = _waitqueue.Waiter.for_thread

    def for_thread(n: int = 1) -> _waitqueue.Waiter:
        taken.append(rx.try_recv())
        return real(n)

    monkeypatch.setattr(_waitqueue.Waiter, "for_thread", staticmethod(for_thread))
    sender = threading.Thread(target=tx.blocking_send, args=(1,), daemon=True)
    sender.start()
    sender.join(30)  # returns at once when the send completes; 30 s only if it is stranded
    assert not sender.is_alive(), "the sender waits although the channel has room"
    assert taken == [0]
    assert rx.try_recv() == 1


@pytest.mark.parametrize("capacity", [1, 3])
def test_blocking_senders_racing_the_lock_free_receive_deliver_every_value(
    capacity: int,
    flavor: str | None,
) -> None:
    import sys

    per = 4000

    async def main() -> list[int]:
        tx, rx = mpsc.channel(capacity)

        def producer(k: int, sender: mpsc.Sender[int]) -> None:
            for i in range(per):
                sender.blocking_send(k * per + i)
            sender.close()

        threads = [threading.Thread(target=producer, args=(k, tx.clone())) for k in range(2)]
        tx.close()
        for t in threads:
            t.start()
        got = [v async for v in rx]

        def join() -> None:
            for t in threads:
                t.join()

        await rt.spawn_blocking(join)
        return got

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads between almost any two bytecodes
    try:
        got = run(main(), flavor=flavor)
    finally:
        sys.setswitchinterval(interval)
    assert [v for v in got if v < per] == list(range(per))
    assert [v for v in got if v >= per] == list(range(per, 2 * per))


def test_task_producer_and_plain_thread_consumer_with_blocking_recv(flavor: str | None) -> None:
    out: list[int] = []

    async def main() -> None:
        tx, rx = mpsc.channel(4)

        def consumer() -> None:
            while True:
                try:
                    out.append(rx.blocking_recv())
                except ChannelClosed:
                    return

        t = threading.Thread(target=consumer)
        t.start()
        for i in range(300):
            await tx.send(i)
        tx.close()
        await rt.spawn_blocking(t.join)

    run(main(), flavor=flavor)
    assert out == list(range(300))


# One thread, so "the other task ran first" can only come from the budget yield (on several
# workers it could run in parallel): the current-thread flavor and a one-worker multi-thread one.
@pytest.mark.parametrize(
    "flavor",
    [
        pytest.param({"flavor": "current_thread"}, id="current_thread"),
        pytest.param({"flavor": "multi_thread", "worker_threads": 1}, id="multi_thread_1"),
    ],
)
def test_hot_receive_loop_respects_the_cooperative_budget(flavor: dict[str, Any]) -> None:
    rt.run(_hot_receive_loop(), **flavor)


# One thread: the abort lands while the consumer waits at a budget yield. On several workers
# the consumer could drain all 1000 values in parallel before the abort arrives.
@pytest.mark.parametrize(
    "flavor",
    [
        pytest.param({"flavor": "current_thread"}, id="current_thread"),
        pytest.param({"flavor": "multi_thread", "worker_threads": 1}, id="multi_thread_1"),
    ],
)
def test_cancellation_at_a_budget_yield_loses_no_received_value(flavor: dict[str, Any]) -> None:
    rt.run(_cancel_at_budget_yield(), **flavor)


async def _hot_receive_loop() -> None:
    tx, rx = mpsc.unbounded_channel()
    for i in range(1000):
        tx.send(i)
    order: list[str] = []

    async def consumer() -> None:
        for _ in range(1000):
            await rx.recv()  # always ready: never parks
        order.append("consumer")

    async def other() -> None:
        order.append("other")

    a = rt.spawn(consumer())
    b = rt.spawn(other())
    await a
    await b
    assert order == ["other", "consumer"]


async def _cancel_at_budget_yield() -> None:
    tx, rx = mpsc.unbounded_channel()
    for i in range(1000):
        tx.send(i)
    got: list[int] = []

    async def consumer() -> None:
        while True:
            got.append(await rx.recv())  # always ready: only the budget yields

    h = rt.spawn(consumer())
    await rt.yield_now()  # the consumer runs until its budget makes it yield
    h.abort()
    with pytest.raises(rt.JoinError):
        await h
    left = 0
    while True:
        try:
            assert rx.try_recv() == len(got) + left
            left += 1
        except ChannelEmpty:
            break
    received = len(got)
    assert 0 < received < 1000 and received + left == 1000


def test_permits_used_or_released_in_threads_racing_receiver_close_never_hang_or_lose(
    flavor: str | None,
) -> None:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # thread switches land between any two bytecodes
    try:
        rt.run(_permits_racing_close(rounds=200), flavor=flavor)
    finally:
        sys.setswitchinterval(old)


async def _permits_racing_close(rounds: int) -> None:
    for r in range(rounds):
        tx, rx = mpsc.channel[int](4)
        permits = await tx.reserve_many(3)
        tx.close()
        use = [i % 2 == r % 2 for i in range(3)]  # some permits send, the others release

        def finish(p: mpsc.Permit[int], i: int, send: bool) -> None:
            if send:
                p.send(i)
            else:
                p.release()

        threads = [
            threading.Thread(target=finish, args=(p, i, use[i])) for i, p in enumerate(permits)
        ]
        for t in threads:
            t.start()
        rx.close()  # while the permits are being used: they still deliver
        got = [v async for v in rx]  # ends once every permit is used or released
        for t in threads:
            t.join()
        assert sorted(got) == [i for i in range(3) if use[i]], r


# -- the shutdown contract for plain threads (README, "Shutdown and other threads") ------------


@pytest.mark.parametrize("side", ["blocking_send", "blocking_recv"])
def test_a_plain_thread_blocked_on_a_channel_gets_channel_closed_when_shutdown_ends_the_task_holding_the_other_end(  # noqa: E501
    side: str, flavor: str | None
) -> None:
    # Shutdown cancels the task holding the other end; its coroutine ends and drops that end,
    # which closes it: the plain thread's blocking call ends with ChannelClosed, not a hang.
    runtime = rt.Runtime(flavor=flavor)
    tx, rx = mpsc.channel[int](1)
    outcome: list[object] = []

    async def hold(end: object) -> None:
        await rt.sync.Event().wait()

    if side == "blocking_send":
        tx.blocking_send(0)  # full: the next send waits for the receiver
        runtime.spawn(hold(rx))
        del rx
        call: Any = lambda: tx.blocking_send(1)  # noqa: E731
    else:
        runtime.spawn(hold(tx))
        del tx
        call = rx.blocking_recv

    def plain_thread() -> None:
        try:
            outcome.append(call())
        except ChannelClosed as err:
            outcome.append(err)

    t = threading.Thread(target=plain_thread, name="test-rt-plain")
    t.start()
    runtime.shutdown()
    t.join()
    assert len(outcome) == 1 and isinstance(outcome[0], ChannelClosed), outcome


def test_recv_and_async_iteration_are_the_same_receive_written_out_twice() -> None:
    # Receiver.recv and Receiver.__anext__ each write the whole receive out (no helper call on
    # every consumer's hot path). They differ only where the channel has ended: recv raises
    # ChannelClosed, iteration stops. Anything else that differs is drift.
    import ast
    import inspect
    import textwrap

    from rt.sync._mpsc import Receiver

    if not isinstance(Receiver.recv, types.FunctionType):
        pytest.skip("compiled build: mypyc keeps no source; the pure-Python pass checks it")

    def body(method: object) -> str:
        func = ast.parse(textwrap.dedent(inspect.getsource(method))).body[0]  # type: ignore[arg-type]
        assert isinstance(func, ast.AsyncFunctionDef)
        func.name = "receive"
        func.body = func.body[1:]  # the docstring

        class EndedAsRecv(ast.NodeTransformer):
            # ``try: w = self._register() except ChannelClosed: raise StopAsyncIteration``
            # -> ``w = self._register()`` (recv lets ChannelClosed through).
            def visit_Try(self, node: ast.Try) -> ast.AST:
                handlers = node.handlers
                if (
                    len(handlers) == 1
                    and isinstance(handlers[0].type, ast.Name)
                    and handlers[0].type.id == "ChannelClosed"
                    and isinstance(handlers[0].body[0], ast.Raise)
                ):
                    return node.body[0]
                return self.generic_visit(node)

        return ast.unparse(EndedAsRecv().visit(func))

    assert body(Receiver.recv) == body(Receiver.__anext__)


# -- recv() and async for: one receive, generated twice (tools/gen_hot_paths.py) --------------
# ``Receiver.recv`` and ``Receiver.__anext__`` are two generated copies of one template that
# differ only in how an ended channel ends them. The tests below hold each behaviour of the
# receive to both ways of receiving (each async test runs on both scheduler flavors).

RECEIVE_WAYS = ["recv", "async_for"]


def _generator() -> types.ModuleType:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "tools" / "gen_hot_paths.py"
    spec = importlib.util.spec_from_file_location("gen_hot_paths", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_receive_copies_are_generated_and_a_hand_edit_to_one_fails_the_check() -> None:
    gen = _generator()
    path = gen.SYNC / "_mpsc.py"
    names = gen.TARGETS[path]
    assert set(names) >= {"mpsc_recv", "mpsc_anext"}
    text = path.read_text()
    # The generator's --check on rt-sync's target: both copies there, and up to date.
    assert gen.missing(text, names) == []
    assert gen.render(text) == text, "run python tools/gen_hot_paths.py"
    # A hand edit to either copy is what the check reports (rendering undoes it) ...
    for name in ("mpsc_recv", "mpsc_anext"):
        start = text.index(f"# <generated: {name}>")
        look_again = text.index("if (buf or ch.closed or not ch.senders)", start)
        edited = text[:look_again] + "if (buf or not ch.senders)" + text[look_again + 38 :]
        assert gen.render(edited) == text
    # ... and so is a copy taken out of the generator by deleting its markers.
    unmarked = text.replace("# <generated: mpsc_anext>\n", "").replace(
        "# </generated: mpsc_anext>\n", ""
    )
    assert gen.missing(unmarked, names) == ["mpsc_anext"]


def test_the_two_generated_receives_differ_only_where_the_channel_has_ended() -> None:
    import difflib

    gen = _generator()
    recv = gen.BLOCKS["mpsc_recv"].splitlines()
    anext = gen.BLOCKS["mpsc_anext"].splitlines()
    changed = [
        line[0] + line[1:].strip()
        for line in difflib.unified_diff(recv, anext, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        "-w = self._register()  # the checks and errors, in full (ChannelClosed: ended)",
        "+try:",
        "+w = self._register()  # the checks and errors, in full",
        "+except ChannelClosed:  # the channel ended: so does the iteration",
        "+raise chained(StopAsyncIteration(), None)  # noqa: B904",
    ]


async def _receive_all(rx: mpsc.Receiver[Any], way: str) -> list[Any]:
    """Receive until the channel ends: ``recv`` until ChannelClosed, or ``async for``."""
    got: list[Any] = []
    if way == "recv":
        while True:
            try:
                got.append(await rx.recv())
            except ChannelClosed:
                return got
    async for value in rx:
        got.append(value)
    return got


async def _receive_for_ever(rx: mpsc.Receiver[Any], way: str, got: list[Any]) -> None:
    if way == "recv":
        while True:
            got.append(await rx.recv())
    async for value in rx:
        got.append(value)


@pytest.mark.parametrize("way", RECEIVE_WAYS)
@pytest.mark.parametrize("bounded", [True, False], ids=["bounded", "unbounded"])
async def test_recv_and_async_for_receive_every_value_in_order_then_end(
    way: str, bounded: bool
) -> None:
    # Bounded with room for 2: the producer waits for room and the receiver parks, in turns.
    tx, rx = mpsc.channel[int](2) if bounded else mpsc.unbounded_channel[int]()

    async def produce() -> None:
        for i in range(50):
            if isinstance(tx, mpsc.Sender):
                await tx.send(i)
            else:
                tx.send(i)
                if i % 7 == 0:
                    await rt.yield_now()
        tx.close()

    producer = rt.spawn(produce())
    assert await _receive_all(rx, way) == list(range(50))
    await producer


@pytest.mark.parametrize("way", RECEIVE_WAYS)
async def test_recv_and_async_for_drain_the_values_buffered_when_the_receiver_closes(
    way: str,
) -> None:
    tx, rx = mpsc.channel[str](4)
    for value in "abc":
        await tx.send(value)
    rx.close()
    with pytest.raises(ChannelClosed):
        await tx.send("after the close")
    assert await _receive_all(rx, way) == ["a", "b", "c"]


@pytest.mark.parametrize("way", RECEIVE_WAYS)
async def test_recv_and_async_for_parked_on_an_empty_channel_end_when_the_receiver_closes(
    way: str,
) -> None:
    tx, rx = mpsc.channel[str](4)
    receiver = rt.spawn(_receive_all(rx, way))
    await until(lambda: rx.statistics().receiver_waiting)
    rx.close()
    assert await receiver == []
    assert tx.is_closed()


@pytest.mark.parametrize("way", RECEIVE_WAYS)
async def test_recv_and_async_for_end_when_the_last_sender_is_dropped_after_its_values(
    way: str,
) -> None:
    tx, rx = mpsc.channel[str](4)
    last = tx.clone()
    receiver = rt.spawn(_receive_all(rx, way))
    await until(lambda: rx.statistics().receiver_waiting)
    tx.close()  # another sender is left: the receiver keeps waiting
    assert rx.statistics().receiver_waiting
    await last.send("x")
    await until(lambda: rx.statistics().receiver_waiting)
    last.try_send("y")
    del last  # the last sender, dropped unclosed: "y" is still received, then the end
    assert await receiver == ["x", "y"]


@pytest.mark.parametrize("way", RECEIVE_WAYS)
@pytest.mark.parametrize("sent_first", [False, True], ids=["cancel_then_send", "send_then_cancel"])
async def test_a_receive_cancelled_while_parked_loses_no_value_for_recv_and_async_for(
    way: str, sent_first: bool
) -> None:
    tx, rx = mpsc.channel[int](4)
    got: list[int] = []
    receiver = rt.spawn(_receive_for_ever(rx, way, got))
    await until(lambda: rx.statistics().receiver_waiting)
    if sent_first:
        # Handed to the parked receiver, cancelled before it runs: it still returns the value.
        tx.try_send(1)
        await cancelled(receiver)
    else:
        await cancelled(receiver)
        assert not rx.statistics().receiver_waiting  # the cancelled wait withdrew
        tx.try_send(1)
    tx.try_send(2)
    tx.close()
    # Whatever the cancelled receive did not take goes to the next receives, in order.
    got += await _receive_all(rx, way)
    assert got == [1, 2]
