"""Implementation of :mod:`rt.sync.mpsc`: multi-producer, single-consumer channels.

Tokio's ``sync::mpsc``.

``channel(capacity)`` is bounded: ``send`` waits for room (backpressure). ``unbounded_channel()``
never waits to send. Every method is safe from any thread; plain threads use
``blocking_send`` / ``blocking_recv``.

Invariants (under the channel's lock): ``len(buffer) + reserved <= capacity``; a sender waiting
for room is in ``send_waiters`` with its value; when the receiver frees room it moves the
longest-waiting sender's value into the buffer *before* waking it, so a send that was woken has
happened, and one that was cancelled before that has not (nothing is lost or duplicated).
The channel closes for senders when the receiver is closed or garbage-collected, and for the
receiver when every sender handle is closed or garbage-collected (or the receiver is closed),
the buffer is drained *and* no reserved slot is outstanding: a :class:`Permit` still delivers
after the receiver closed (as in Tokio), so the receive side waits for it. Whatever frees a
slot or ends the channel (a permit used or released, the last sender closed, the receiver
closed) wakes a receiver parked on the empty buffer, so ``recv`` never waits on an ended
channel.

A parked receiver task is handed a value directly by the sender that finds it waiting (it
cannot lose it: a woken task resumes and returns the value even if a cancellation arrives
meanwhile). A receive polled in place by ``rt.select`` is never handed anything: it is woken,
and takes the value only if its branch wins, so a losing branch leaves the value in the
channel (see ``__rt_select__``).

The receiver takes a buffered value *without* the lock (only the receiver removes values, and a
deque's ``popleft`` is atomic), then looks for waiting senders. Taking only ever makes room, so
the invariant holds; what can happen is a sender deciding "full" just before the take and
queueing itself just after the receiver looked. So a sender that queues looks for room once more
(:meth:`_Chan.enqueue_sender`): of two threads that each write, then read what the other writes,
at least one sees the other's write, so either the receiver refills the sender or the sender
refills itself. That needs each thread's write ordered before its read, which the GIL provides;
free-threaded builds keep the receiver under the lock (``_LOCK_FREE_RECEIVE``).
"""

from __future__ import annotations

import gc
import sys
import threading
from collections import deque
from collections.abc import Callable
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, final

from rt.lowlevel import (
    budget_spent,
    checkpoint,
    current_task,
    reschedule,
    wait_task_rescheduled,
)

from ._errors import (
    ChannelClosed,
    ChannelEmpty,
    ChannelFull,
    SendTimeout,
    blocking_guard,
    chained,
)
from ._plain import WaitQueue
from ._waitqueue import CallbackWaiter, Waiter, park, wait_until

if TYPE_CHECKING:
    from ._stats import ChannelStatistics

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.

T = TypeVar("T")
# What the count parameters (reserve_many, try_reserve_many, recv_many) are typed as: a
# value-constrained TypeVar checks like ``int`` for mypy, but mypyc compiles it as ``object``,
# so True or 1.5 still reaches the ValueError below in both builds (a compiled ``int``
# parameter would take True as 1 and refuse a float with its own TypeError).
Count = TypeVar("Count", int, bool)

_SENT: Final = object()  # a send waiter's value was moved into the buffer
_GRANTED: Final = object()  # a reserve waiter got its slot
_RESERVE: Final = 2  # Waiter.n of a reserve() waiter; its value is the number of slots wanted
_SEND: Final = 1
_RECV: Final = 1  # Waiter.n of a parked receiver task or thread: may be handed a value
_HANDOFF: Final = -1  # Waiter.n of a receiver that was handed a value directly
# What a receive loop holds instead of its waiter when it withdrew it before parking (a value
# or the end came while it was being queued, see ``Receiver._withdrawn``): go round again.
_AGAIN: Final = Waiter(None)

# Each handle counts its operations and charges the running task's cooperative budget once per
# _BATCH of them (finding the running task is most of the cost of charging): a task in a hot
# loop still yields after COOP_BUDGET operations, give or take a batch.
_BATCH: Final = 32

# The receiver's lock-free take relies on the GIL ordering each thread's write before its next
# read (see the module docstring); free-threaded builds take the lock (docs/free-threading.md).
_LOCK_FREE_RECEIVE: Final = bool(getattr(sys, "_is_gil_enabled", lambda: True)())


class _Chan(Generic[T]):
    __slots__ = (
        "buf",
        "cap",
        "closed",
        "closed_waiters",
        "lock",
        "recv_waiters",
        "reserved",
        "rx_gone",
        "send_waiters",
        "senders",
    )

    def __init__(self, cap: int | None) -> None:
        self.lock = threading.RLock()
        self.buf: deque[T] = deque()
        self.cap = cap
        self.reserved = 0
        self.recv_waiters = WaitQueue()
        self.send_waiters = WaitQueue()
        self.closed_waiters = WaitQueue()  # Sender.closed() callers
        self.senders = 1
        self.closed = False  # the receiver closed the channel (values may still be drained)
        self.rx_gone = False  # the receiver was garbage-collected: nobody will ever drain

    def has_room(self) -> bool:
        cap = self.cap
        return cap is None or len(self.buf) + self.reserved < cap

    def ended(self) -> bool:
        """Nothing is buffered and nothing more can arrive (lock held)."""
        return not self.buf and not self.reserved and (self.senders == 0 or self.closed)

    def refill(self) -> list[Waiter]:
        """Hand freed room to waiting senders in order (lock held); return those to wake.

        Also wakes a receiver parked on the empty buffer when there is now something to
        receive, or the channel has ended.
        """
        woken = []
        waiters = self.send_waiters
        cap = self.cap
        buf = self.buf
        while waiters:
            w = next(iter(waiters))
            need = w.value if w.n == _RESERVE else 1
            if cap is not None and len(buf) + self.reserved + need > cap:
                break
            del waiters[w]
            if w.n == _RESERVE:
                self.reserved += need
                w.value = _GRANTED
            else:
                buf.append(w.value)
                w.value = _SENT
            woken.append(w)
        if self.recv_waiters and (buf or self.ended()):
            r = self.recv_waiters.pop_first()
            assert r is not None
            woken.append(r)
        return woken

    def enqueue_sender(self, w: Waiter) -> list[Waiter]:
        """Queue a sender or reserver that found no room (lock held); return those to wake.

        The receiver takes values without the lock, so the room this sender saw missing may
        have appeared since, with the receiver looking for waiters before ours was queued. So
        look again now that it is: of two threads that each write then read, at least one sees
        the other's write. If there is room, hand it out (possibly to ``w`` itself: then ``w``
        is in the returned list and must not park). The look again also catches what a
        finalizer or signal handler on this thread did while ``w`` was being queued (see
        ``_waitqueue``): if it closed the receiver, which failed the waiting senders before
        ``w`` was among them, ``w`` is withdrawn and returned unserved (its sender fails).
        """
        self.send_waiters[w] = None
        if self.closed and self.send_waiters.remove(w):
            return [w]
        return self.refill() if self.has_room() else []

    def stats(self) -> ChannelStatistics:
        from ._stats import ChannelStatistics

        with self.lock:
            return ChannelStatistics(
                queued=len(self.buf),
                capacity=self.cap,
                reserved=self.reserved,
                senders=self.senders,
                waiting_senders=len(self.send_waiters),
                receiver_waiting=bool(self.recv_waiters),
                closed=self.closed,
            )


def _wake_all(waiters: list[Waiter]) -> None:
    for w in waiters:
        w.wake()


def _wake_all_but(waiters: list[Waiter], me: Waiter) -> None:
    """Wake ``waiters`` except ``me``, which was served before it parked (it must not)."""
    for w in waiters:
        if w is not me:
            w.wake()


class _SenderBase(Generic[T]):
    __slots__ = ("_chan", "_closed", "_ops")

    def __init__(self, chan: _Chan[T]) -> None:
        self._chan = chan
        self._closed = False
        self._ops = 0

    def _push_now(self, value: T) -> bool:
        """Append ``value`` if there is room and nobody queues before us (lock not held)."""
        ch = self._chan
        ch.lock.acquire()
        try:
            if self._closed or ch.closed:
                raise ChannelClosed(
                    "the receiver is closed" if ch.closed else "this sender was closed",
                    value=value,
                )
            if not ch.has_room() or ch.send_waiters:
                return False
            r = ch.recv_waiters.pop_first() if ch.recv_waiters else None
            if r is not None and not ch.buf and r.n == _RECV:
                r.value = value
                r.n = _HANDOFF
            else:
                ch.buf.append(value)
        finally:
            ch.lock.release()
        if r is not None:
            r.wake()
        return True

    def close(self) -> None:
        """Close this sender handle (a no-op the second time).

        The channel ends for the receiver once every sender handle is closed (or
        garbage-collected) and the buffered values are received.
        """
        if self._closed:
            return
        ch = self._chan
        with ch.lock:
            self._closed = True
            ch.senders -= 1
            r = ch.recv_waiters.pop_first() if ch.recv_waiters and ch.ended() else None
        if r is not None:
            r.wake()

    def is_closed(self) -> bool:
        """Return whether the receiver is closed or gone (sends would fail)."""
        return self._chan.closed

    async def closed(self) -> None:
        """Wait until the receiver is closed or garbage-collected.

        Useful to stop producing once nobody listens (Tokio's ``Sender::closed``).

        Cancel safety: cancel-safe: waiting consumes nothing.
        """
        ch = self._chan
        await wait_until(ch.lock, ch.closed_waiters, lambda: ch.closed)

    def same_channel(self, other: object) -> bool:
        """Return whether ``other`` is a sender or receiver of the same channel."""
        return getattr(other, "_chan", None) is self._chan

    def _clone(self) -> Any:
        ch = self._chan
        with ch.lock:
            if self._closed:
                raise RuntimeError("cannot clone a closed sender")
            ch.senders += 1
        return type(self)(ch)

    def statistics(self) -> ChannelStatistics:
        """Return a :class:`ChannelStatistics` snapshot of the channel."""

        return self._chan.stats()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            try:
                self.close()
            except Exception:  # pragma: no cover - interpreter teardown
                pass


@final
class Permit(Generic[T]):
    """A reserved slot in a bounded channel: :meth:`send` fills it without waiting.

    A permit keeps its slot until it is used or released (or garbage-collected); the receiver
    waits for outstanding permits before it reports the channel closed, even after
    ``Receiver.close()``, so a slot reserved before the close still delivers (as in Tokio).
    """

    __slots__ = ("_chan", "_used")

    def __init__(self, chan: _Chan[T]) -> None:
        self._chan = chan
        self._used = False

    def send(self, value: T) -> None:
        """Put ``value`` in the reserved slot.

        Raises:
            RuntimeError: the permit was already used or released.
            ChannelClosed: the receiver was garbage-collected, so nobody can ever receive the
                value (it is in ``.value``). A receiver that is merely closed still gets it.
        """
        if self._used:
            raise RuntimeError("this Permit was already used")
        self._used = True
        ch = self._chan
        ch.lock.acquire()
        try:
            ch.reserved -= 1
            gone = ch.rx_gone
            if not gone:
                ch.buf.append(value)
            woken = ch.refill()
        finally:
            ch.lock.release()
        _wake_all(woken)
        if gone:
            raise ChannelClosed("the receiver is gone", value=value)

    def release(self) -> None:
        """Give the slot back unused (a no-op once used)."""
        if self._used:
            return
        self._used = True
        ch = self._chan
        ch.lock.acquire()
        try:
            ch.reserved -= 1
            woken = ch.refill()
        finally:
            ch.lock.release()
        _wake_all(woken)

    def __del__(self) -> None:
        if not getattr(self, "_used", True):
            self.release()


@final
class Sender(_SenderBase[T]):
    """The sending half of a bounded channel; :meth:`clone` it for more producers."""

    __slots__ = ()

    def downgrade(self) -> WeakSender[T]:
        """Return a :class:`WeakSender`: it does not keep the channel open.

        Raises:
            RuntimeError: this sender was closed.
        """
        if self._closed:
            raise RuntimeError("cannot downgrade a closed sender")
        return WeakSender(self._chan)

    async def send(self, value: T) -> None:
        """Send ``value``, waiting for room in the channel if it is full.

        Raises:
            ChannelClosed: the receiver is closed; the value is in ``.value``.

        Cancel safety: cancel-safe in the sense that matters: a cancelled ``send`` either
        delivered the value (it was moved into the channel before the cancellation) or did not
        send it at all. The caller loses its place in the queue of waiting senders.
        """
        ch = self._chan
        ops = self._ops + 1
        if ops < _BATCH:
            self._ops = ops
        else:
            self._ops = 0
            if budget_spent(_BATCH):
                await checkpoint()
        # The fast path is written out (no helper calls): it is the hot path of every producer.
        ch.lock.acquire()
        try:
            if self._closed or ch.closed:
                raise ChannelClosed(
                    "the receiver is closed" if ch.closed else "this sender was closed",
                    value=value,
                )
            buf = ch.buf
            if len(buf) + ch.reserved < ch.cap and not ch.send_waiters:  # type: ignore[operator]
                if not ch.recv_waiters:
                    buf.append(value)  # the common case: room, and the receiver is not parked
                    return
                r = ch.recv_waiters.popitem(last=False)[0]
                if buf or r.n != _RECV:
                    buf.append(value)
                else:
                    r.value = value  # the receiver is parked on an empty buffer: hand it over
                    r.n = _HANDOFF
                w = None
            else:
                w = Waiter(current_task(), _SEND)
                w.value = value
                woken = ch.enqueue_sender(w)
        finally:
            ch.lock.release()
        if w is None:
            task = r.task
            if task is None:
                r.wake()  # a thread in blocking_recv, or a select branch polled in place
            else:  # Waiter.wake written out: every round trip through a channel comes here
                r.woken = True
                reschedule(task)
            return
        _wake_all_but(woken, w)
        if w not in woken:  # else it was served by our own look again
            w._lock = ch.lock  # park(), written out (as in Receiver.recv)
            w._queue = ch.send_waiters
            await wait_task_rescheduled(w, w.task)
        if w.value is not _SENT:
            raise ChannelClosed("the receiver is closed", value=value)

    def try_send(self, value: T) -> None:
        """Send ``value`` only if there is room right now.

        Raises:
            ChannelFull: no room (the value is in ``.value``).
            ChannelClosed: the receiver is closed (the value is in ``.value``).
        """
        if not self._push_now(value):
            raise ChannelFull(value=value)

    async def send_timeout(self, value: T, timeout: float) -> None:
        """Send ``value``, waiting at most ``timeout`` seconds for room.

        Needs rt-time (``pip install 'rt[time]'``), imported on first use.

        Args:
            value: The value to send.
            timeout: Seconds to wait for room at most.

        Raises:
            SendTimeout: no room came in time; the value is in ``.value`` (not sent).
            ChannelClosed: the receiver is closed; the value is in ``.value``.
            ImportError: rt-time is not installed.

        Cancel safety: as :meth:`send`: a cancelled (or timed out) ``send_timeout`` either
        delivered the value or did not send it.
        """
        try:
            from rt.time import Elapsed
            from rt.time import timeout as deadline
        except ImportError:
            raise chained(  # noqa: B904
                ImportError(
                    "mpsc.Sender.send_timeout() needs rt-time, which is not installed: "
                    "pip install 'rt[time]' (or use send() inside your own timeout)"
                ),
                None,
            )
        try:
            with deadline(timeout):
                await self.send(value)
        except Elapsed:
            raise chained(SendTimeout(value=value), None)  # noqa: B904

    def try_reserve(self) -> Permit[T]:
        """Reserve one slot if there is room right now.

        Returns:
            A :class:`Permit` for the slot.

        Raises:
            ChannelFull: no room right now (or senders are queued for it).
            ChannelClosed: the receiver is closed, or this sender was closed.
        """
        return self.try_reserve_many(1)[0]

    def try_reserve_many(self, n: Count) -> list[Permit[T]]:
        """Reserve ``n`` slots at once if there is room for all of them right now.

        Args:
            n: How many slots (``0..max_capacity()``).

        Returns:
            ``n`` permits.

        Raises:
            ChannelFull: not enough room right now; nothing is reserved.
            ChannelClosed: the receiver is closed, or this sender was closed.
            ValueError: ``n`` is negative or above the channel's capacity.
        """
        ch = self._chan
        count = self._check_many(n)
        ch.lock.acquire()
        try:
            if self._closed or ch.closed:
                raise ChannelClosed("the channel is closed")
            if ch.send_waiters or len(ch.buf) + ch.reserved + count > ch.cap:  # type: ignore[operator]
                raise ChannelFull("not enough room in the channel to reserve")
            ch.reserved += count
        finally:
            ch.lock.release()
        return [Permit(ch) for _ in range(count)]

    async def reserve(self) -> Permit[T]:
        """Wait for room and reserve one slot; the :class:`Permit` sends without waiting.

        Raises:
            ChannelClosed: the receiver is closed.

        Cancel safety: cancel-safe: a cancelled ``reserve`` holds no slot; the caller loses
        its place in the queue of waiting senders.
        """
        return (await self._reserve(1))[0]

    async def reserve_many(self, n: Count) -> list[Permit[T]]:
        """Wait until ``n`` slots are free and reserve them all at once.

        Args:
            n: How many slots (``0..max_capacity()``).

        Returns:
            ``n`` permits (each sends one value, or gives its slot back when released).

        Raises:
            ChannelClosed: the receiver is closed.
            ValueError: ``n`` is negative or above the channel's capacity (it could never be
                served).

        Cancel safety: cancel-safe: a cancelled ``reserve_many`` holds no slot, and senders
        queued behind it are served as if it had never queued.
        """
        return await self._reserve(self._check_many(n))

    def _check_many(self, n: object) -> int:
        cap = self._chan.cap
        assert cap is not None
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= cap:
            raise ValueError(
                f"cannot reserve {n!r} slots in a channel of capacity {cap}: ask for 0 to {cap}"
            )
        return n

    async def _reserve(self, n: int) -> list[Permit[T]]:
        ch = self._chan
        if budget_spent():
            await checkpoint()
        ch.lock.acquire()
        try:
            if self._closed or ch.closed:
                raise ChannelClosed("the channel is closed")
            if not ch.send_waiters and len(ch.buf) + ch.reserved + n <= ch.cap:  # type: ignore[operator]
                ch.reserved += n
                w = None
            else:
                w = Waiter(current_task(), _RESERVE)
                w.value = n
                woken = ch.enqueue_sender(w)
        finally:
            ch.lock.release()
        if w is None:
            return [Permit(ch) for _ in range(n)]
        _wake_all_but(woken, w)
        try:
            if w not in woken:  # else it was served by our own look again
                await park(ch.lock, ch.send_waiters, w)
        except BaseException:
            if w.value is _GRANTED:
                for _ in range(n):
                    Permit(ch).release()
            else:
                # We left the queue: a smaller request queued behind us may fit now.
                ch.lock.acquire()
                try:
                    woken = ch.refill()
                finally:
                    ch.lock.release()
                _wake_all(woken)
            raise
        if w.value is not _GRANTED:
            raise ChannelClosed("the receiver is closed")
        return [Permit(ch) for _ in range(n)]

    def blocking_send(self, value: T) -> None:
        """Send from a plain thread, blocking it while the channel is full.

        Raises:
            ChannelClosed: the receiver is closed (the value is in ``.value``).
            RuntimeError: called from a task.
        """
        blocking_guard("Sender.blocking_send()")
        if self._push_now(value):
            return
        ch = self._chan
        with ch.lock:
            if ch.closed:
                raise ChannelClosed("the receiver is closed", value=value)
            if ch.has_room() and not ch.send_waiters:
                ch.buf.append(value)
                r = ch.recv_waiters.pop_first()
                w = None
            else:
                w = Waiter.for_thread(_SEND)
                w.value = value
                woken = ch.enqueue_sender(w)
        if w is None:
            if r is not None:
                r.wake()
            return
        _wake_all_but(woken, w)
        if w not in woken:  # else it was served by our own look again
            w.block()
        if w.value is not _SENT:
            raise ChannelClosed("the receiver is closed", value=value)

    def clone(self) -> Sender[T]:
        """Return another sender handle for the same channel.

        Raises:
            RuntimeError: this sender was closed.
        """
        return self._clone()  # type: ignore[no-any-return]

    def capacity(self) -> int:
        """Return the room left right now."""
        ch = self._chan
        assert ch.cap is not None
        return max(0, ch.cap - len(ch.buf) - ch.reserved)

    def max_capacity(self) -> int:
        """Return the channel's capacity."""
        assert self._chan.cap is not None
        return self._chan.cap

    def __repr__(self) -> str:
        return f"<rt.sync.mpsc.Sender capacity={self._chan.cap}>"


@final
class UnboundedSender(_SenderBase[T]):
    """The sending half of an unbounded channel: :meth:`send` never waits."""

    __slots__ = ()

    def send(self, value: T) -> None:
        """Send ``value`` (never waits).

        Raises:
            ChannelClosed: the receiver is closed; the value is in ``.value``.
        """
        self._push_now(value)

    def clone(self) -> UnboundedSender[T]:
        """Return another sender handle for the same channel.

        Raises:
            RuntimeError: this sender was closed.
        """
        return self._clone()  # type: ignore[no-any-return]

    def downgrade(self) -> WeakUnboundedSender[T]:
        """Return a :class:`WeakUnboundedSender`: it does not keep the channel open.

        Raises:
            RuntimeError: this sender was closed.
        """
        if self._closed:
            raise RuntimeError("cannot downgrade a closed sender")
        return WeakUnboundedSender(self._chan)

    def __repr__(self) -> str:
        return "<rt.sync.mpsc.UnboundedSender>"


class _WeakBase(Generic[T]):
    __slots__ = ("_chan",)

    def __init__(self, chan: _Chan[T]) -> None:
        self._chan = chan

    def _upgrade(self) -> _Chan[T] | None:
        ch = self._chan
        with ch.lock:
            if ch.senders == 0:
                return None
            ch.senders += 1
        return ch

    def strong_count(self) -> int:
        """Return how many (strong) sender handles are open."""
        return self._chan.senders


@final
class WeakSender(_WeakBase[T]):
    """A sender handle that does not keep the channel open (Tokio's ``WeakSender``).

    Made by :meth:`Sender.downgrade`; :meth:`upgrade` turns it back into a :class:`Sender`
    while at least one sender is still open.
    """

    __slots__ = ()

    def upgrade(self) -> Sender[T] | None:
        """Return a new :class:`Sender`, or ``None`` once every sender is closed or gone."""
        ch = self._upgrade()
        return None if ch is None else Sender(ch)

    def __repr__(self) -> str:
        return f"<rt.sync.mpsc.WeakSender senders={self._chan.senders}>"


@final
class WeakUnboundedSender(_WeakBase[T]):
    """The weak form of :class:`UnboundedSender` (see :class:`WeakSender`)."""

    __slots__ = ()

    def upgrade(self) -> UnboundedSender[T] | None:
        """Return a new :class:`UnboundedSender`, or ``None`` once every sender is gone."""
        ch = self._upgrade()
        return None if ch is None else UnboundedSender(ch)

    def __repr__(self) -> str:
        return f"<rt.sync.mpsc.WeakUnboundedSender senders={self._chan.senders}>"


class Receiver(Generic[T]):
    """The receiving half of an mpsc channel (one receiver; iterate it with ``async for``)."""

    __slots__ = ("_chan", "_closed", "_ops")

    def __init__(self, chan: _Chan[T]) -> None:
        self._chan = chan
        self._closed = False
        self._ops = 0

    def _take(self, limit: int) -> tuple[list[T], list[Waiter], bool]:
        """Take up to ``limit`` values (lock held). Returns (values, to wake, ended)."""
        ch = self._chan
        buf = ch.buf
        if not buf:
            return [], [], ch.ended()
        if limit == 1:
            values = [buf.popleft()]
        else:
            values = [buf.popleft() for _ in range(min(limit, len(buf)))]
        woken = ch.refill() if ch.send_waiters else []
        return values, woken, False

    def _register(self) -> Waiter:
        """Queue the running task as the receiver waiting for a value (lock held).

        Raises:
            ChannelClosed: the channel is closed and drained: there is nothing to wait for.
            RuntimeError: another task is already waiting to receive.
        """
        ch = self._chan
        if ch.ended():
            raise ChannelClosed("the channel is closed and drained")
        if ch.recv_waiters:
            raise RuntimeError("another task is already receiving on this channel")
        w = Waiter(current_task())
        ch.recv_waiters[w] = None
        return w

    def _withdrawn(self, w: Waiter) -> bool:
        """Look again once the receiver's ``w`` is queued (lock held; see ``_waitqueue``): a
        finalizer or signal handler on this thread may have sent, or ended the channel, while
        ``w`` was being queued, finding no receiver to wake. Then withdraw ``w`` (True): the
        caller takes the value, or the end, as if it had not waited."""
        ch = self._chan
        return bool(ch.buf or ch.ended()) and ch.recv_waiters.remove(w)

    async def _recv(self, limit: int) -> list[T]:
        ch = self._chan
        if budget_spent():
            await checkpoint()
        w: Waiter | None
        while True:
            ch.lock.acquire()
            try:
                values, woken, _ = self._take(limit)
                if not values:
                    w = self._register()  # raises ChannelClosed when the channel has ended
                    if self._withdrawn(w):
                        w = None
            finally:
                ch.lock.release()
            if values:
                _wake_all(woken)
                return values
            if w is not None:
                await park(ch.lock, ch.recv_waiters, w)
                if w.n == _HANDOFF:
                    return [w.value]

    async def recv(self) -> T:
        """Receive the next value, waiting for one.

        Raises:
            ChannelClosed: every sender is gone (or the receiver closed) and nothing is left.

        Cancel safety: cancel-safe: a cancelled ``recv`` took no value from the channel.
        Use it freely as a ``select`` branch.
        """
        # <generated: mpsc_recv>
        ch = self._chan
        # The whole receive is written out here (no helper calls): it is every consumer's
        # hot path, in ``recv`` and in ``async for`` (tools/gen_hot_paths.py writes both
        # from one template). The budget is charged first (a checkpoint must find nothing
        # taken).
        ops = self._ops + 1
        if ops < _BATCH:
            self._ops = ops
        else:
            self._ops = 0
            if budget_spent(_BATCH):
                await checkpoint()
        # Lock-free when a value is buffered: only the receiver removes values, and deque
        # operations are atomic. Senders decide about room under the lock and look again
        # after queueing themselves (``_Chan.enqueue_sender``); we look for them after taking.
        buf = ch.buf
        if buf and _LOCK_FREE_RECEIVE:
            try:
                value = buf.popleft()
            except IndexError:  # another task receives concurrently (misuse): slow path
                pass
            else:
                if ch.send_waiters:
                    ch.lock.acquire()
                    try:
                        refilled = ch.refill()
                    finally:
                        ch.lock.release()
                    _wake_all(refilled)
                return value
        while True:
            ch.lock.acquire()
            try:
                buf = ch.buf
                if buf:
                    value = buf.popleft()
                    woken = ch.refill() if ch.send_waiters else None
                    w = None  # (no `break` inside `try`: mypyc does not implement it)
                elif ch.recv_waiters or ch.reserved or ch.closed or not ch.senders:
                    w = self._register()  # the checks and errors, in full (ChannelClosed: ended)
                    if self._withdrawn(w):
                        w = _AGAIN
                else:  # the common case, written out: only a send or a close ends the wait
                    w = Waiter(current_task())
                    ch.recv_waiters[w] = None
                    # Look again (``_withdrawn``, cheaper): one made while w was being queued.
                    if (buf or ch.closed or not ch.senders) and ch.recv_waiters.remove(w):
                        w = _AGAIN
            finally:
                ch.lock.release()
            if w is None:
                if woken:
                    _wake_all(woken)
                return value
            if w is not _AGAIN:
                w._lock = ch.lock  # park(), written out: one call less per receive that waits
                w._queue = ch.recv_waiters
                await wait_task_rescheduled(w, w.task)
                if w.n == _HANDOFF:
                    return w.value  # type: ignore[no-any-return]
        # </generated: mpsc_recv>

    async def recv_many(self, limit: Count) -> list[T]:
        """Wait for at least one value, then return up to ``limit`` values at once.

        Raises:
            ValueError: ``limit < 1``.
            ChannelClosed: the channel ended and nothing is left.

        Cancel safety: cancel-safe: a cancelled ``recv_many`` took nothing.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"recv_many needs a limit >= 1, got {limit!r}")
        return await self._recv(limit)

    def try_recv(self) -> T:
        """Receive a value only if one is ready.

        Raises:
            ChannelEmpty: nothing buffered, senders still alive.
            ChannelClosed: the channel ended and nothing is left.
        """
        ch = self._chan
        ch.lock.acquire()
        try:
            values, woken, ended = self._take(1)
        finally:
            ch.lock.release()
        _wake_all(woken)
        if values:
            return values[0]
        if ended:
            raise ChannelClosed("the channel is closed and drained")
        raise ChannelEmpty("no value is ready")

    def blocking_recv(self) -> T:
        """Receive from a plain thread, blocking it until a value arrives.

        Raises:
            ChannelClosed: the channel ended and nothing is left.
            RuntimeError: called from a task.
        """
        blocking_guard("Receiver.blocking_recv()")
        ch = self._chan
        w: Waiter | None
        while True:
            with ch.lock:
                values, woken, ended = self._take(1)
                if not values and not ended:
                    w = Waiter.for_thread()
                    ch.recv_waiters.push(w)
                    if self._withdrawn(w):
                        w = None
            if values:
                _wake_all(woken)
                return values[0]
            if ended:
                raise ChannelClosed("the channel is closed and drained")
            if w is not None:
                w.block()
                if w.n == _HANDOFF:
                    return w.value  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the channel for senders; buffered values can still be received.

        Waiting and later senders fail with :class:`ChannelClosed` carrying their value.
        """
        ch = self._chan
        with ch.lock:
            self._closed = True
            ch.closed = True
            waiters = ch.send_waiters.drain()
            waiters += ch.closed_waiters.drain()
            if ch.recv_waiters and ch.ended():
                waiters += ch.recv_waiters.drain()
        _wake_all(waiters)

    def is_closed(self) -> bool:
        """Return whether the channel is closed: by :meth:`close`, or every sender is gone.

        Buffered values (and values of outstanding permits) may still be received.
        """
        ch = self._chan
        return ch.closed or ch.senders == 0

    def __rt_select__(self, awaitable: object) -> _RecvBranch[T] | None:
        """Let ``rt.select`` poll ``rx.recv()`` in place (no task, nothing taken if it loses)."""
        code = getattr(awaitable, "cr_code", None)
        if code is not None and code is _RECV_CODE:
            return _RecvBranch(self)
        return None

    def __len__(self) -> int:
        return len(self._chan.buf)

    def statistics(self) -> ChannelStatistics:
        """Return a :class:`ChannelStatistics` snapshot of the channel."""

        return self._chan.stats()

    def __aiter__(self) -> Receiver[T]:
        return self

    async def __anext__(self) -> T:
        """Receive the next value; stop when the channel is closed and drained.

        Cancel safety: cancel-safe, like ``recv``.
        """
        # <generated: mpsc_anext>
        ch = self._chan
        # The whole receive is written out here (no helper calls): it is every consumer's
        # hot path, in ``recv`` and in ``async for`` (tools/gen_hot_paths.py writes both
        # from one template). The budget is charged first (a checkpoint must find nothing
        # taken).
        ops = self._ops + 1
        if ops < _BATCH:
            self._ops = ops
        else:
            self._ops = 0
            if budget_spent(_BATCH):
                await checkpoint()
        # Lock-free when a value is buffered: only the receiver removes values, and deque
        # operations are atomic. Senders decide about room under the lock and look again
        # after queueing themselves (``_Chan.enqueue_sender``); we look for them after taking.
        buf = ch.buf
        if buf and _LOCK_FREE_RECEIVE:
            try:
                value = buf.popleft()
            except IndexError:  # another task receives concurrently (misuse): slow path
                pass
            else:
                if ch.send_waiters:
                    ch.lock.acquire()
                    try:
                        refilled = ch.refill()
                    finally:
                        ch.lock.release()
                    _wake_all(refilled)
                return value
        while True:
            ch.lock.acquire()
            try:
                buf = ch.buf
                if buf:
                    value = buf.popleft()
                    woken = ch.refill() if ch.send_waiters else None
                    w = None  # (no `break` inside `try`: mypyc does not implement it)
                elif ch.recv_waiters or ch.reserved or ch.closed or not ch.senders:
                    try:
                        w = self._register()  # the checks and errors, in full
                    except ChannelClosed:  # the channel ended: so does the iteration
                        raise chained(StopAsyncIteration(), None)  # noqa: B904
                    if self._withdrawn(w):
                        w = _AGAIN
                else:  # the common case, written out: only a send or a close ends the wait
                    w = Waiter(current_task())
                    ch.recv_waiters[w] = None
                    # Look again (``_withdrawn``, cheaper): one made while w was being queued.
                    if (buf or ch.closed or not ch.senders) and ch.recv_waiters.remove(w):
                        w = _AGAIN
            finally:
                ch.lock.release()
            if w is None:
                if woken:
                    _wake_all(woken)
                return value
            if w is not _AGAIN:
                w._lock = ch.lock  # park(), written out: one call less per receive that waits
                w._queue = ch.recv_waiters
                await wait_task_rescheduled(w, w.task)
                if w.n == _HANDOFF:
                    return w.value  # type: ignore[no-any-return]
        # </generated: mpsc_anext>

    def __del__(self) -> None:
        chan = getattr(self, "_chan", None)
        if chan is not None:
            chan.rx_gone = True
        if not getattr(self, "_closed", True):
            try:
                self.close()
            except Exception:  # pragma: no cover - interpreter teardown
                pass

    def __repr__(self) -> str:
        return f"<rt.sync.mpsc.Receiver queued={len(self._chan.buf)}>"


# The code of ``rx.recv()``'s coroutine, which ``rt.select`` hands to ``__rt_select__``; None
# in the compiled build, whose coroutines have no code object (see _select_compiled_recv).
_RECV_CODE: Final = getattr(Receiver.recv, "__code__", None)

UnboundedReceiver = Receiver


@final
class _RecvBranch(Generic[T]):
    """``rx.recv()`` as a branch ``rt.select`` polls in place (see ``SelectBranch``)."""

    __slots__ = ("_rx", "_w")

    def __init__(self, rx: Receiver[T]) -> None:
        self._rx = rx
        self._w: CallbackWaiter | None = None

    @property
    def waiter(self) -> Receiver[T]:
        """What this branch waits on: ``rt.select`` refuses a second branch on it (a receiver
        holds one wait at a time)."""
        return self._rx

    def poll(self) -> tuple[bool, Any]:
        ch = self._rx._chan
        ch.lock.acquire()
        try:
            values, woken, ended = self._rx._take(1)
        finally:
            ch.lock.release()
        _wake_all(woken)
        if values:
            return True, values[0]
        if ended:
            raise ChannelClosed("the channel is closed and drained")
        return False, None

    def arm(self, wake: Callable[[], object]) -> bool:
        ch = self._rx._chan
        ch.lock.acquire()
        try:
            if ch.buf or ch.ended():
                return False
            if ch.recv_waiters:
                raise RuntimeError("another task is already receiving on this channel")
            w = CallbackWaiter(wake)
            ch.recv_waiters[w] = None
            if self._rx._withdrawn(w):  # look again (see _waitqueue)
                return False
            self._w = w
        finally:
            ch.lock.release()
        return True

    def disarm(self) -> None:
        w = self._w
        if w is not None:
            self._w = None
            ch = self._rx._chan
            ch.lock.acquire()
            try:
                ch.recv_waiters.remove(w)
            finally:
                ch.lock.release()


def _select_compiled_recv(coro: object, awaitable: object) -> _RecvBranch[Any] | None:
    """``rt.select``'s hook on the compiled build's ``rx.recv()`` coroutine: poll it in place.

    ``rt.select`` finds the receiver of a Python coroutine in its frame (``__rt_select__``
    above); a compiled coroutine has no frame. The collector's view of it tells the same:
    before it first runs it refers to its receiver (``self``) and to nothing else, and once
    started it refers to its locals as well (then it runs as an ordinary branch).
    """
    refs = gc.get_referents(coro)
    if len(refs) == 1 and isinstance(refs[0], Receiver):
        return _RecvBranch(refs[0])
    return None


def _hook_compiled_recv() -> None:
    """In the compiled build, let ``rt.select`` poll ``rx.recv()`` in place as it does in
    Python: the hook goes on the class of the coroutines ``Receiver.recv`` returns, where
    ``rt.select`` looks for ``__rt_select__`` on an awaitable that is not a Python coroutine."""
    rx: Receiver[Any] = Receiver(_Chan(None))
    probe = rx.recv()
    kind = type(probe)
    probe.close()
    if kind is not CoroutineType:
        setattr(kind, "__rt_select__", _select_compiled_recv)  # noqa: B010 - a native class


_hook_compiled_recv()
