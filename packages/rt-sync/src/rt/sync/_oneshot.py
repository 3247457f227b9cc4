"""Implementation of :mod:`rt.sync.oneshot` (Tokio's ``sync::oneshot``).

A channel for exactly one value.

The receiver is awaited directly (``await rx``) or with ``await rx.recv()``. If the sender is
closed or garbage-collected without sending, the receiver gets :class:`ChannelClosed`; if the
receiver is closed or gone, ``send`` raises :class:`ChannelClosed` carrying the value.

This module compiles in the optional mypyc build; ``channel`` (a ``tuple`` subclass, which mypyc
cannot compile) lives in :mod:`rt.sync._oneshot_channel`.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any, Final, Generic, TypeVar, final

from rt.lowlevel import budget_spent, checkpoint

from ._errors import ChannelClosed, ChannelEmpty, blocking_guard
from ._plain import WaitQueue
from ._waitqueue import QueueBranch, Waiter, hook_compiled_select, park, wait_until

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.

T = TypeVar("T")


class _Once(Generic[T]):
    __slots__ = (
        "closed_waiters",
        "has_value",
        "lock",
        "rx_closed",
        "taken",
        "tx_closed",
        "value",
        "waiters",
    )

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.value: T | None = None
        self.has_value = False
        self.taken = False
        self.tx_closed = False
        self.rx_closed = False
        self.waiters = WaitQueue()
        self.closed_waiters = WaitQueue()  # Sender.closed() callers


@final
class Sender(Generic[T]):
    """The sending half: :meth:`send` once."""

    __slots__ = ("_once",)

    def __init__(self, once: _Once[T]) -> None:
        self._once = once

    def send(self, value: T) -> None:
        """Send the value (never waits).

        Raises:
            ChannelClosed: the receiver is closed or gone, or a value was already sent; the
                value is in ``.value``.
        """
        o = self._once
        o.lock.acquire()
        try:
            if o.rx_closed:
                raise ChannelClosed("the receiver is closed", value=value)
            if o.tx_closed:
                raise ChannelClosed("this oneshot sender was already used or closed", value=value)
            o.value = value
            o.has_value = True
            o.tx_closed = True
            waiters = o.waiters.drain()
        finally:
            o.lock.release()
        for w in waiters:
            w.wake()

    def close(self) -> None:
        """Give up sending: the receiver gets ChannelClosed (a no-op after send)."""
        o = self._once
        with o.lock:
            if o.tx_closed:
                return
            o.tx_closed = True
            waiters = o.waiters.drain()
        for w in waiters:
            w.wake()

    def is_closed(self) -> bool:
        """Return whether the receiver is closed or gone."""
        return self._once.rx_closed

    async def closed(self) -> None:
        """Wait until the receiver is closed or garbage-collected (nobody wants the value).

        Cancel safety: cancel-safe: waiting consumes nothing.
        """
        o = self._once
        await wait_until(o.lock, o.closed_waiters, lambda: o.rx_closed)

    def __del__(self) -> None:
        if hasattr(self, "_once"):
            self.close()


@final
class Receiver(Generic[T]):
    """The receiving half: ``await rx`` (or ``await rx.recv()``) for the value."""

    __slots__ = ("_once",)

    def __init__(self, once: _Once[T]) -> None:
        self._once = once

    def _ready(self) -> bool:
        """Whether :meth:`_poll` would complete (lock held)."""
        o = self._once
        return o.has_value or o.tx_closed or o.rx_closed

    def _poll(self) -> tuple[bool, T | None]:
        o = self._once
        if o.has_value:
            if o.taken:
                raise ChannelClosed("the value was already received")
            o.taken = True
            value = o.value
            o.value = None
            return True, value
        if o.tx_closed or o.rx_closed:
            raise ChannelClosed("the sender was closed without sending")
        return False, None

    async def recv(self) -> T:
        """Wait for the value.

        Raises:
            ChannelClosed: the sender was closed or garbage-collected without sending.

        Cancel safety: cancel-safe: a cancelled ``recv`` leaves the value in the channel.
        """
        o = self._once
        if budget_spent():
            await checkpoint()
        w: Waiter | None
        while True:
            o.lock.acquire()
            try:
                done, value = self._poll()
                if not done:
                    w = Waiter.for_task()
                    o.waiters.push(w)
                    if self._ready() and o.waiters.remove(w):  # look again (see _waitqueue)
                        w = None
            finally:
                o.lock.release()
            if done:
                return value  # type: ignore[return-value]
            if w is not None:
                await park(o.lock, o.waiters, w)

    def __await__(self) -> Generator[Any, None, T]:
        """Wait for the value: ``await rx`` is ``await rx.recv()``.

        Cancel safety: cancel-safe, like ``recv``.
        """
        return self.recv().__await__()

    def __rt_select__(self, awaitable: object) -> QueueBranch | None:
        """Let ``rt.select`` poll ``rx`` or ``rx.recv()`` in place (a loser takes nothing)."""
        if awaitable is not self:
            code = getattr(awaitable, "cr_code", None)
            if code is None or code is not _RECV_CODE:
                return None
        return self._branch()

    def _branch(self) -> QueueBranch:
        o = self._once
        return QueueBranch(o.lock, o.waiters, self._ready, self._poll)

    def try_recv(self) -> T:
        """Return the value if it has arrived.

        Raises:
            ChannelEmpty: not sent yet.
            ChannelClosed: the sender is gone without sending (or the value was taken).
        """
        self._once.lock.acquire()
        try:
            done, value = self._poll()
        finally:
            self._once.lock.release()
        if not done:
            raise ChannelEmpty("no value has been sent yet")
        return value  # type: ignore[return-value]

    def blocking_recv(self) -> T:
        """Block the calling plain thread until the value arrives.

        Raises:
            ChannelClosed: the sender is gone without sending.
            RuntimeError: called from a task.
        """
        blocking_guard("oneshot.Receiver.blocking_recv()")
        o = self._once
        w: Waiter | None
        while True:
            with o.lock:
                done, value = self._poll()
                if not done:
                    w = Waiter.for_thread()
                    o.waiters.push(w)
                    if self._ready() and o.waiters.remove(w):  # look again (see _waitqueue)
                        w = None
            if done:
                return value  # type: ignore[return-value]
            if w is not None:
                w.block()

    def close(self) -> None:
        """Refuse the value: a later ``send`` raises ChannelClosed with its value.

        A sender waiting in ``closed()`` wakes up.
        """
        o = self._once
        with o.lock:
            o.rx_closed = True
            waiters = o.closed_waiters.drain()
        for w in waiters:
            w.wake()

    def __del__(self) -> None:
        if hasattr(self, "_once"):
            self.close()


# The code of ``rx.recv()``'s coroutine, which ``rt.select`` hands to ``__rt_select__``; None
# in the compiled build, whose coroutines have no code object (the hook below stands in).
_RECV_CODE: Final = getattr(Receiver.recv, "__code__", None)

hook_compiled_select(Receiver(_Once()).recv(), Receiver, Receiver._branch)
