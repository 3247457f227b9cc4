"""The reactor's OS backends: ``epoll`` where it exists, else the ``selectors`` module's best
selector (kqueue on BSD and macOS). Both speak :class:`_Backend`: register, modify, unregister
and poll fds with rt's ``READ`` / ``WRITE`` bits; ``poll`` returns the backend's own bits, which
the dispatcher reads through ``rbits`` / ``wbits``.
"""

from __future__ import annotations

import errno
import math
import select
import selectors
import time
from typing import Final, Protocol

READ: Final = 1
WRITE: Final = 2


class _Backend(Protocol):
    # ``poll`` returns (fd, mask) pairs in the backend's own bits: ``mask & rbits`` means
    # readable (or hung up / failed: a read will say which), ``mask & wbits`` writable.
    rbits: int
    wbits: int

    def register(self, fd: int, mask: int) -> None: ...
    def modify(self, fd: int, mask: int) -> None: ...
    def unregister(self, fd: int) -> None: ...
    def poll(self, timeout: float | None) -> list[tuple[int, int]]: ...
    def close(self) -> None: ...


_EP_IN: Final = select.EPOLLIN if hasattr(select, "EPOLLIN") else 0
_EP_OUT: Final = select.EPOLLOUT if hasattr(select, "EPOLLOUT") else 0
_EP_R: Final = _EP_IN | (
    (select.EPOLLHUP | select.EPOLLERR | select.EPOLLRDHUP) if hasattr(select, "EPOLLHUP") else 0
)
_EP_W: Final = _EP_OUT | ((select.EPOLLHUP | select.EPOLLERR) if hasattr(select, "EPOLLHUP") else 0)


def _timer_slack() -> float:
    """The calling thread's timer slack in seconds (Linux's default, 50 µs, if unreadable)."""
    try:
        with open("/proc/thread-self/timerslack_ns", "rb") as f:
            return int(f.read()) / 1e9
    except (OSError, ValueError):
        return 50e-6


# select() takes fds below this only; the epoll fd of a process that opened more files first
# waits through epoll itself (whole milliseconds, see _EpollBackend).
_FD_SETSIZE: Final = 1024
_monotonic: Final = time.monotonic
_select: Final = select.select


class _EpollBackend:
    """epoll, with timed waits that end on time.

    A timed wait must end as soon after its deadline as possible (the timer driver hands
    down the time to its earliest deadline) and never before it, but the kernel offers
    neither: ``epoll_wait`` counts whole milliseconds (Python rounds up, so a timer due in
    300 µs fired up to 700 µs late), and every sleep, ``select`` and ``epoll_wait`` included,
    may end up to the thread's *timer slack* after the time asked (50 µs by default; Linux
    also allows 0.1% of a wait longer than 50 ms, 0.5% for a niced thread), which it uses to
    batch wake-ups. What a timed wait here does instead:

    * it blocks in ``select`` on the epoll fd (microseconds, readable when any event is
      pending) until the deadline *minus the slack*, so the kernel's latest wake-up is the
      deadline itself, usually the one it picks (it fires a timer early only when another
      one is due within its slack);
    * when that wake-up comes early anyway, it polls without blocking until the deadline:
      at most the slack, 50 µs, and only when the kernel batched the wake-up. (Blocking
      until 25 µs earlier still, to absorb the thread's wake-up latency too, took the
      timers row's median lateness from 0.038 to 0.024 ms but pushed its p99 from 0.92 to
      1.73 ms: not done.)
    * a wait long enough for a slack in proportion (over 10 ms) ends that much early and
      returns, and the caller parks again for the rest.

    So a timer fires one wake-up after its deadline, plus the time the thread takes to be
    scheduled, rather than a slack later (half the median lateness of a burst of timers;
    measured in docs/design-notes.md). An epoll fd at or above ``FD_SETSIZE`` cannot go to
    ``select``: such a process waits in whole milliseconds, rounded down, and polls the last
    one.
    """

    __slots__ = ("_ep", "_poll", "_readers", "_slack")

    rbits = _EP_R
    wbits = _EP_W

    def __init__(self) -> None:
        self._ep = select.epoll()
        self._poll = self._ep.poll
        fd = self._ep.fileno()
        self._readers: list[int] | None = [fd] if fd < _FD_SETSIZE else None
        self._slack = _timer_slack()

    @staticmethod
    def _mask(mask: int) -> int:
        return (_EP_IN if mask & READ else 0) | (_EP_OUT if mask & WRITE else 0)

    def register(self, fd: int, mask: int) -> None:
        self._ep.register(fd, self._mask(mask))

    def modify(self, fd: int, mask: int) -> None:
        self._ep.modify(fd, self._mask(mask))

    def unregister(self, fd: int) -> None:
        self._ep.unregister(fd)

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        # Raw epoll masks are returned: the dispatcher reads them with rbits / wbits.
        if timeout is None:
            return self._poll(-1)
        if timeout <= 0:
            return self._poll(0)
        end = _monotonic() + timeout
        slack = self._slack
        lead = slack if timeout < 0.01 else max(slack, timeout / 200)
        if timeout > lead:
            readers = self._readers
            if readers is not None:
                if _select(readers, (), (), timeout - lead)[0]:
                    return self._poll(0)
                spin = slack
            else:
                events = self._poll(math.floor((timeout - lead) * 1000) / 1000)
                if events:
                    return events
                spin = slack + 0.001  # and what is left of the last millisecond
            if end - _monotonic() > spin:
                return []  # a long wait, woken early: the caller parks again for the rest
        # The last stretch, within the timer slack: poll without blocking until it ends.
        while True:
            events = self._poll(0)
            if events or _monotonic() >= end:
                return events

    def close(self) -> None:
        self._ep.close()


class _SelectorBackend:
    __slots__ = ("_sel",)

    rbits = READ
    wbits = WRITE

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()

    @staticmethod
    def _mask(mask: int) -> int:
        return (selectors.EVENT_READ if mask & READ else 0) | (
            selectors.EVENT_WRITE if mask & WRITE else 0
        )

    def register(self, fd: int, mask: int) -> None:
        try:
            self._sel.register(fd, self._mask(mask))
        except KeyError:
            # Registered already (the reactor's own wake-up fds are, outside its fd table):
            # epoll's error, which the reactor reads (its _refuse_own), not a bare KeyError.
            raise FileExistsError(errno.EEXIST, f"fd {fd} is registered already") from None

    def modify(self, fd: int, mask: int) -> None:
        try:
            self._sel.modify(fd, self._mask(mask))
        except KeyError:
            raise FileNotFoundError(errno.ENOENT, "fd not registered") from None

    def unregister(self, fd: int) -> None:
        try:
            self._sel.unregister(fd)
        except KeyError:
            raise FileNotFoundError(errno.ENOENT, "fd not registered") from None

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        out = []
        for key, ev in self._sel.select(timeout):
            mask = (READ if ev & selectors.EVENT_READ else 0) | (
                WRITE if ev & selectors.EVENT_WRITE else 0
            )
            out.append((key.fd, mask))
        return out

    def close(self) -> None:
        self._sel.close()
