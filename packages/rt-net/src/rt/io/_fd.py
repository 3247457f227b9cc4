"""AsyncFd: readiness for any object with a file descriptor."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from rt.lowlevel import READ, WRITE, current_io

from ._errors import closed_error

T = TypeVar("T")
R = TypeVar("R")


class _RawFd:
    """A bare int fd in the shape ``IoDriver.close`` takes."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        os.close(self.fd)


class AsyncFd(Generic[T]):
    """Wrap a non-blocking fd-like object (a socket, a pipe, a device) to await its readiness.

    ``AsyncFd`` does not read or write itself: it tells you when to. The usual shape is
    :meth:`read_with` / :meth:`write_with`, which call your function and wait for readiness
    each time it raises ``BlockingIOError``::

        afd = AsyncFd(pipe_read_end)          # os.set_blocking(fd, False) first
        data = await afd.read_with(lambda: os.read(afd.fileno(), 4096))

    The wrapped object must stay open while the ``AsyncFd`` is in use; :meth:`close` closes
    it (waking any waiting task with ``OSError(EBADF)``), :meth:`into_inner` hands it back
    without closing. Regular files are always "ready": use ``rt.spawn_blocking`` for them.
    """

    __slots__ = ("_closed", "_inner", "_io")

    def __init__(self, inner: T) -> None:
        fileno = getattr(inner, "fileno", None)
        if not isinstance(inner, int) and fileno is None:
            raise TypeError(f"AsyncFd needs an int fd or an object with fileno(), got {inner!r}")
        self._inner = inner
        self._io = current_io("rt.io.AsyncFd()")
        self._closed = False

    def get_ref(self) -> T:
        """The wrapped object."""
        return self._inner

    def fileno(self) -> int:
        """The wrapped fd."""
        inner: Any = self._inner
        return inner if isinstance(inner, int) else int(inner.fileno())

    async def readable(self) -> None:
        """Wait until the fd is readable (returns at once if it already is).

        Cancel safety: cancel-safe.
        """
        self._check("readable()")
        await self._io.wait(self._inner, READ)

    async def writable(self) -> None:
        """Wait until the fd is writable.

        Cancel safety: cancel-safe.
        """
        self._check("writable()")
        await self._io.wait(self._inner, WRITE)

    async def read_with(self, fn: Callable[[], R]) -> R:
        """Call ``fn()`` until it does not raise ``BlockingIOError``, waiting for readability.

        Cancel safety: cancel-safe when ``fn`` is (it is only ever called when it may succeed;
        a cancellation can only land while waiting, between calls).
        """
        while True:
            self._check("read_with()")
            try:
                return fn()
            except BlockingIOError:
                await self._io.wait(self._inner, READ)

    async def write_with(self, fn: Callable[[], R]) -> R:
        """Call ``fn()`` until it does not raise ``BlockingIOError``, waiting for writability.

        Cancel safety: cancel-safe when ``fn`` is.
        """
        while True:
            self._check("write_with()")
            try:
                return fn()
            except BlockingIOError:
                await self._io.wait(self._inner, WRITE)

    def into_inner(self) -> T:
        """Stop watching the fd (waking waiters with ``EBADF``) and return the object, open."""
        if not self._closed:
            self._closed = True
            self._io.notify_closing(self._inner)
        return self._inner

    def close(self) -> None:
        """Stop watching and close the wrapped object (or fd). Idempotent, any thread."""
        if self._closed:
            return
        self._closed = True
        inner: Any = self._inner
        self._io.close(_RawFd(inner) if isinstance(inner, int) else inner)

    def _check(self, op: str) -> None:
        if self._closed:
            raise closed_error("AsyncFd", op)

    def __repr__(self) -> str:
        return f"<rt.io.AsyncFd {'closed' if self._closed else self._inner!r}>"
