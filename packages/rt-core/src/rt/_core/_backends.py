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


class _EpollBackend:
    __slots__ = ("_ep", "_poll")

    rbits = _EP_R
    wbits = _EP_W

    def __init__(self) -> None:
        self._ep = select.epoll()
        self._poll = self._ep.poll

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
        if timeout is None:
            events = self._poll(-1)
        elif timeout <= 0:
            events = self._poll(0)
        elif timeout < 0.001:
            # epoll_wait counts whole milliseconds (rounded up): a timer due in 300 µs would
            # fire up to 700 µs late. select() takes microseconds; use it for the last stretch.
            select.select([self._ep.fileno()], [], [], timeout)
            events = self._poll(0)
        else:
            # Wake a little early rather than late; the scheduler parks again for the rest.
            events = self._poll(math.floor(timeout * 1000) / 1000)
        return events  # raw epoll masks: the dispatcher reads them with rbits / wbits

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
        self._sel.register(fd, self._mask(mask))

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
