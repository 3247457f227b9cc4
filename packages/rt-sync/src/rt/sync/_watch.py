"""Implementation of :mod:`rt.sync.watch` (Tokio's ``sync::watch``).

A single value that receivers can watch for changes.

Receivers see the latest value, not every value: :meth:`Receiver.changed` waits until the
value's version moves past the last one the receiver marked as seen.

Senders can be cloned; the channel closes for receivers when every sender is closed or
garbage-collected. ``Sender.closed()`` waits until every receiver is gone.

This module compiles in the optional mypyc build; ``channel`` (a ``tuple`` subclass, which mypyc
cannot compile) lives in :mod:`rt.sync._watch_channel`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final, Generic, TypeVar, final

from ._errors import ChannelClosed
from ._plain import WaitQueue
from ._waitqueue import QueueBranch, Waiter, hook_compiled_select, park, wait_until

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.

T = TypeVar("T")


def _check_callable(fn: object, what: str) -> None:
    if not callable(fn):
        raise TypeError(f"watch {what} takes a function of the value, got {type(fn).__name__}")


class _Shared(Generic[T]):
    __slots__ = (
        "closed",
        "closed_waiters",
        "lock",
        "receivers",
        "senders",
        "value",
        "version",
        "waiters",
    )

    def __init__(self, value: T) -> None:
        self.lock = threading.RLock()
        self.value = value
        self.version = 0
        self.closed = False  # every sender is closed
        self.senders = 1
        self.receivers = 1
        self.waiters = WaitQueue()
        self.closed_waiters = WaitQueue()  # Sender.closed() callers


@final
class Sender(Generic[T]):
    """The sending half of a watch channel; :meth:`clone` it for more senders."""

    __slots__ = ("_closed", "_shared")

    def __init__(self, shared: _Shared[T]) -> None:
        self._shared = shared
        self._closed = False

    def _publish(self) -> None:
        s = self._shared
        s.version += 1
        waiters = s.waiters.drain()
        s.lock.release()
        try:
            for w in waiters:
                w.wake()
        finally:
            s.lock.acquire()

    def send(self, value: T) -> None:
        """Replace the value and wake the watchers.

        Raises:
            ChannelClosed: there is no receiver (the value is in ``.value``; it is not
                stored). Use :meth:`send_replace` to store it regardless.
        """
        s = self._shared
        s.lock.acquire()
        try:
            if s.receivers == 0:
                raise ChannelClosed("there is no receiver", value=value)
            s.value = value
            self._publish()
        finally:
            s.lock.release()

    def send_replace(self, value: T) -> T:
        """Replace the value even without receivers; return the old value."""
        s = self._shared
        s.lock.acquire()
        try:
            old = s.value
            s.value = value
            self._publish()
            return old
        finally:
            s.lock.release()

    def send_modify(self, fn: Callable[[T], object]) -> None:
        """Call ``fn(value)`` to change the value in place, then notify the watchers.

        Raises:
            TypeError: ``fn`` is not callable.
        """
        _check_callable(fn, "send_modify()")
        s = self._shared
        s.lock.acquire()
        try:
            fn(s.value)
            self._publish()
        finally:
            s.lock.release()

    def send_if_modified(self, fn: Callable[[T], bool]) -> bool:
        """Call ``fn(value)``; notify the watchers only if it returns True. Return that.

        Raises:
            TypeError: ``fn`` is not callable.
        """
        _check_callable(fn, "send_if_modified()")
        s = self._shared
        s.lock.acquire()
        try:
            modified = bool(fn(s.value))
            if modified:
                self._publish()
            return modified
        finally:
            s.lock.release()

    def borrow(self) -> T:
        """Return the current value."""
        return self._shared.value

    def subscribe(self) -> Receiver[T]:
        """Return a receiver that has seen the current value."""
        s = self._shared
        with s.lock:
            s.receivers += 1
            return Receiver(s, s.version)

    def receiver_count(self) -> int:
        """Return the number of live receivers."""
        return self._shared.receivers

    def clone(self) -> Sender[T]:
        """Return another sender of the same channel (Tokio's ``Sender: Clone``).

        Raises:
            RuntimeError: this sender was closed.
        """
        s = self._shared
        with s.lock:
            if self._closed:
                raise RuntimeError("cannot clone a closed watch sender")
            s.senders += 1
        return Sender(s)

    def sender_count(self) -> int:
        """Return the number of open senders."""
        return self._shared.senders

    def close(self) -> None:
        """Close this sender (a no-op the second time).

        Once every sender is closed, watchers' ``changed`` raises ChannelClosed when they are
        current.
        """
        s = self._shared
        with s.lock:
            if self._closed:
                return
            self._closed = True
            s.senders -= 1
            if s.senders:
                return
            s.closed = True
            waiters = s.waiters.drain()
        for w in waiters:
            w.wake()

    def is_closed(self) -> bool:
        """Return whether every receiver is gone."""
        return self._shared.receivers == 0

    async def closed(self) -> None:
        """Wait until every receiver is closed or garbage-collected.

        Cancel safety: cancel-safe: waiting consumes nothing.
        """
        s = self._shared
        await wait_until(s.lock, s.closed_waiters, lambda: s.receivers == 0)

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()


@final
class Receiver(Generic[T]):
    """One watcher of a watch channel."""

    __slots__ = ("_closed", "_seen", "_shared")

    def __init__(self, shared: _Shared[T], seen: int) -> None:
        self._shared = shared
        self._seen = seen
        self._closed = False

    def borrow(self) -> T:
        """Return the current value (without marking it seen)."""
        return self._shared.value

    def borrow_and_update(self) -> T:
        """Return the current value and mark it seen."""
        s = self._shared
        s.lock.acquire()
        try:
            self._seen = s.version
            return s.value
        finally:
            s.lock.release()

    def has_changed(self) -> bool:
        """Return whether the value changed since it was last marked seen.

        Raises:
            ChannelClosed: the sender is closed.
        """
        s = self._shared
        if s.closed:
            raise ChannelClosed("the sender is closed")
        return s.version != self._seen

    async def changed(self) -> None:
        """Wait until the value changes, then mark it seen.

        Raises:
            ChannelClosed: the sender closed and no unseen change is left.

        Cancel safety: cancel-safe: a cancelled ``changed`` marks nothing as seen.
        """
        s = self._shared
        w: Waiter | None
        while True:
            s.lock.acquire()
            try:
                if s.version != self._seen:
                    self._seen = s.version
                    return
                if s.closed:
                    raise ChannelClosed("the sender is closed")
                w = Waiter.for_task()
                s.waiters.push(w)
                if self._ready() and s.waiters.remove(w):  # look again (see _waitqueue)
                    w = None
            finally:
                s.lock.release()
            if w is not None:
                await park(s.lock, s.waiters, w)

    def _ready(self) -> bool:
        """Whether :meth:`changed` would return or raise now (lock held)."""
        s = self._shared
        return s.version != self._seen or s.closed

    def _poll_changed(self) -> tuple[bool, None]:
        s = self._shared
        if s.version != self._seen:
            self._seen = s.version
            return True, None
        if s.closed:
            raise ChannelClosed("the sender is closed")
        return False, None

    def __rt_select__(self, awaitable: object) -> QueueBranch | None:
        """Let ``rt.select`` poll ``rx.changed()`` in place (a losing branch marks nothing)."""
        code = getattr(awaitable, "cr_code", None)
        if code is None or code is not _CHANGED_CODE:
            return None
        return self._branch()

    def _branch(self) -> QueueBranch:
        s = self._shared
        return QueueBranch(s.lock, s.waiters, self._ready, self._poll_changed)

    async def wait_for(self, predicate: Callable[[T], bool]) -> T:
        """Wait until ``predicate(value)`` holds (checking the current value first); return it.

        Raises:
            ChannelClosed: the sender closed before the predicate held.
            TypeError: ``predicate`` is not callable.

        Cancel safety: cancel-safe.
        """
        _check_callable(predicate, "wait_for()")
        while True:
            value = self.borrow_and_update()
            if predicate(value):
                return value
            await self.changed()

    def clone(self) -> Receiver[T]:
        """Return another receiver with the same seen-version."""
        s = self._shared
        with s.lock:
            s.receivers += 1
            return Receiver(s, self._seen)

    def close(self) -> None:
        """Stop watching (a no-op the second time)."""
        s = self._shared
        with s.lock:
            if self._closed:
                return
            self._closed = True
            s.receivers -= 1
            waiters = s.closed_waiters.drain() if s.receivers == 0 else []
        for w in waiters:
            w.wake()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()


# The code of ``rx.changed()``'s coroutine, which ``rt.select`` hands to ``__rt_select__``;
# None in the compiled build, whose coroutines have no code object (the hook below stands in).
_CHANGED_CODE: Final = getattr(Receiver.changed, "__code__", None)

hook_compiled_select(Receiver(_Shared(None), 0).changed(), Receiver, Receiver._branch)
