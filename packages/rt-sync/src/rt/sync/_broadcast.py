"""Implementation of :mod:`rt.sync.broadcast` (Tokio's ``sync::broadcast``).

Every receiver sees every value.

The channel keeps the last ``capacity`` values. Each receiver reads at its own pace from its
own position; a receiver that falls more than ``capacity`` values behind gets
:class:`Lagged` (with ``.skipped``) once, then continues with the oldest value still kept.
``Sender.send`` never waits and returns how many receivers will see the value.

Invariants (under the lock): the buffer holds the values of sequence numbers
``[next_seq - len(buf), next_seq)``, each in a slot counting the receivers that have yet to
read it (those alive when it was sent, less those that read it or closed since). A slot whose
count reaches zero is dropped as Tokio drops it: such slots always form a prefix of the buffer
(a receiver that has not read a value has not read the later ones it was counted in), so they
are popped from the left and the value is released at once instead of when newer sends
overwrite it.

This module compiles in the optional mypyc build; ``channel`` (a ``tuple`` subclass, which mypyc
cannot compile) lives in :mod:`rt.sync._broadcast_channel`.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, final

from rt.lowlevel import budget_spent, checkpoint

from ._errors import ChannelClosed, ChannelEmpty, Lagged, blocking_guard, chained
from ._plain import WaitQueue
from ._waitqueue import QueueBranch, Waiter, hook_compiled_select, park, wait_until

if TYPE_CHECKING:
    from ._stats import BroadcastStatistics

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.

T = TypeVar("T")


class _Slot:
    __slots__ = ("pending", "value")

    def __init__(self, value: Any, pending: int) -> None:
        self.value = value
        self.pending = pending  # receivers that have yet to read it


class _Shared(Generic[T]):
    __slots__ = (
        "buf",
        "cap",
        "closed_waiters",
        "lock",
        "next_seq",
        "receivers",
        "senders",
        "waiters",
    )

    def __init__(self, cap: int) -> None:
        self.lock = threading.RLock()
        self.buf: deque[_Slot] = deque()
        self.cap = cap
        self.next_seq = 0  # sequence number of the next value sent
        self.senders = 1
        self.receivers = 1
        self.waiters = WaitQueue()
        self.closed_waiters = WaitQueue()  # Sender.closed() callers

    def read(self, slot: _Slot) -> None:
        """One receiver is done with ``slot`` (lock held): drop the seen-by-all prefix."""
        slot.pending -= 1
        if slot.pending == 0:
            buf = self.buf
            while buf and buf[0].pending == 0:
                buf.popleft().value = None


@final
class Sender(Generic[T]):
    """The sending half; :meth:`subscribe` makes receivers, :meth:`clone` more senders."""

    __slots__ = ("_closed", "_shared")

    def __init__(self, shared: _Shared[T]) -> None:
        self._shared = shared
        self._closed = False

    def send(self, value: T) -> int:
        """Send ``value`` to every receiver; return how many there are.

        Raises:
            ChannelClosed: there is no receiver (the value is in ``.value``), or this sender
                was closed.
        """
        s = self._shared
        s.lock.acquire()
        try:
            if self._closed:
                raise ChannelClosed("this sender was closed", value=value)
            if s.receivers == 0:
                raise ChannelClosed("there is no receiver", value=value)
            s.buf.append(_Slot(value, s.receivers))
            if len(s.buf) > s.cap:
                s.buf.popleft().value = None  # overwritten: laggards get Lagged
            s.next_seq += 1
            n = s.receivers
            waiters = s.waiters.drain()
        finally:
            s.lock.release()
        for w in waiters:
            w.wake()
        return n

    def subscribe(self) -> Receiver[T]:
        """Return a new receiver that sees the values sent from now on."""
        s = self._shared
        with s.lock:
            s.receivers += 1
            return Receiver(s, s.next_seq)

    def receiver_count(self) -> int:
        """Return the number of live receivers."""
        return self._shared.receivers

    def is_closed(self) -> bool:
        """Return whether every receiver is gone (a send would fail)."""
        return self._shared.receivers == 0

    async def closed(self) -> None:
        """Wait until every receiver is closed or garbage-collected.

        Cancel safety: cancel-safe: waiting consumes nothing.
        """
        s = self._shared
        await wait_until(s.lock, s.closed_waiters, lambda: s.receivers == 0)

    def clone(self) -> Sender[T]:
        """Return another sender for the same channel."""
        s = self._shared
        with s.lock:
            s.senders += 1
        return Sender(s)

    def close(self) -> None:
        """Close this sender; receivers end (ChannelClosed) when all senders are closed."""
        s = self._shared
        with s.lock:
            if self._closed:
                return
            self._closed = True
            s.senders -= 1
            waiters = s.waiters.drain() if s.senders == 0 else []
        for w in waiters:
            w.wake()

    def statistics(self) -> BroadcastStatistics:
        """Return a :class:`BroadcastStatistics` snapshot."""
        from ._stats import BroadcastStatistics

        s = self._shared
        with s.lock:
            return BroadcastStatistics(len(s.buf), s.cap, s.senders, s.receivers, len(s.waiters))

    def __repr__(self) -> str:
        return f"<rt.sync.broadcast.Sender receivers={self._shared.receivers}>"

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()


@final
class Receiver(Generic[T]):
    """One subscriber's view of a broadcast channel."""

    __slots__ = ("_closed", "_next", "_shared")

    def __init__(self, shared: _Shared[T], next_seq: int) -> None:
        self._shared = shared
        self._next = next_seq
        self._closed = False

    def _ready(self) -> bool:
        """Whether :meth:`_poll` would complete or raise (lock held)."""
        s = self._shared
        return self._next != s.next_seq or s.senders == 0 or self._closed

    def _poll(self) -> tuple[bool, T | None]:
        """Lock held. (True, value), or (False, None) to wait; raises Lagged / ChannelClosed."""
        s = self._shared
        oldest = s.next_seq - len(s.buf)
        if self._next < oldest:
            skipped = oldest - self._next
            self._next = oldest
            raise Lagged(skipped)
        if self._next < s.next_seq:
            slot = s.buf[self._next - oldest]
            value = slot.value
            self._next += 1
            s.read(slot)
            return True, value
        if s.senders == 0 or self._closed:
            raise ChannelClosed("every sender is closed")
        return False, None

    async def recv(self) -> T:
        """Receive the next value.

        Raises:
            Lagged: this receiver missed ``.skipped`` values; receive again to go on.
            ChannelClosed: every sender is closed and this receiver has seen everything.

        Cancel safety: cancel-safe: a cancelled ``recv`` does not move the receiver on.
        """
        s = self._shared
        if budget_spent():
            await checkpoint()
        w: Waiter | None
        while True:
            s.lock.acquire()
            try:
                ok, value = self._poll()
                if not ok:
                    w = Waiter.for_task()
                    s.waiters.push(w)
                    if self._ready() and s.waiters.remove(w):  # look again (see _waitqueue)
                        w = None
            finally:
                s.lock.release()
            if ok:
                return value  # type: ignore[return-value]
            if w is not None:
                await park(s.lock, s.waiters, w)

    def __rt_select__(self, awaitable: object) -> QueueBranch | None:
        """Let ``rt.select`` poll ``rx.recv()`` in place (a losing branch reads nothing)."""
        code = getattr(awaitable, "cr_code", None)
        if code is None or code is not _RECV_CODE:
            return None
        return self._branch()

    def _branch(self) -> QueueBranch:
        s = self._shared
        return QueueBranch(s.lock, s.waiters, self._ready, self._poll)

    def try_recv(self) -> T:
        """Receive the next value if there is one.

        Raises:
            ChannelEmpty: nothing new; Lagged, ChannelClosed: as :meth:`recv`.
        """
        self._shared.lock.acquire()
        try:
            ok, value = self._poll()
        finally:
            self._shared.lock.release()
        if not ok:
            raise ChannelEmpty("no new value")
        return value  # type: ignore[return-value]

    def blocking_recv(self) -> T:
        """Receive from a plain thread, blocking it until a value arrives.

        Raises:
            Lagged, ChannelClosed: as :meth:`recv`; RuntimeError: called from a task.
        """
        blocking_guard("broadcast.Receiver.blocking_recv()")
        s = self._shared
        w: Waiter | None
        while True:
            with s.lock:
                ok, value = self._poll()
                if not ok:
                    w = Waiter.for_thread()
                    s.waiters.push(w)
                    if self._ready() and s.waiters.remove(w):  # look again (see _waitqueue)
                        w = None
            if ok:
                return value  # type: ignore[return-value]
            if w is not None:
                w.block()

    def resubscribe(self) -> Receiver[T]:
        """Return a new receiver starting at the newest position."""
        s = self._shared
        with s.lock:
            s.receivers += 1
            return Receiver(s, s.next_seq)

    def close(self) -> None:
        """Stop receiving (a no-op the second time); the values it had not read are released."""
        s = self._shared
        with s.lock:
            if self._closed:
                return
            self._closed = True
            s.receivers -= 1
            oldest = s.next_seq - len(s.buf)
            for i in range(max(0, self._next - oldest), len(s.buf)):
                s.buf[i].pending -= 1
            while s.buf and s.buf[0].pending == 0:
                s.buf.popleft().value = None
            waiters = s.closed_waiters.drain() if s.receivers == 0 else []
        for w in waiters:
            w.wake()

    def __aiter__(self) -> Receiver[T]:
        return self

    async def __anext__(self) -> T:
        """Receive the next value; stop when every sender is gone.

        Cancel safety: cancel-safe, like ``recv``.
        """
        try:
            return await self.recv()
        except ChannelClosed:
            raise chained(StopAsyncIteration(), None)  # noqa: B904 - mypyc ignores `from`

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()


# The code of ``rx.recv()``'s coroutine, which ``rt.select`` hands to ``__rt_select__``; None
# in the compiled build, whose coroutines have no code object (the hook below stands in).
_RECV_CODE: Final = getattr(Receiver.recv, "__code__", None)

hook_compiled_select(Receiver(_Shared(1), 0).recv(), Receiver, Receiver._branch)
