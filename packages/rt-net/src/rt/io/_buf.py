"""BufReader and BufWriter over any rt stream (anything with ``read`` / ``write_all``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ._errors import IncompleteReadError, check_read_size
from ._traits import AsyncRead, AsyncWrite

DEFAULT_CAPACITY = 8192


def _stream(inner: object, method: str, role: str) -> None:
    if not callable(getattr(inner, method, None)):
        raise TypeError(
            f"{role} wraps a stream with an async {method}() method (a TcpStream, an rt.fs.File, "
            f"a DuplexStream, ...), got {type(inner).__name__}"
        )


def _capacity(capacity: object) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"capacity must be an int >= 1, got {capacity!r}")
    return capacity


class BufReader:
    """Buffer reads from ``inner``: fewer syscalls for small reads, and line/delimiter reads.

    Every read method is cancel-safe: bytes are only taken out of the buffer when a method
    returns, so a cancelled ``read_line`` leaves what it has read for the next call.
    """

    __slots__ = ("_buf", "_cap", "_inner")

    def __init__(self, inner: AsyncRead, capacity: int = DEFAULT_CAPACITY) -> None:
        _stream(inner, "read", "BufReader")
        self._inner = inner
        self._cap = _capacity(capacity)
        self._buf = bytearray()

    def get_ref(self) -> AsyncRead:
        """The wrapped reader."""
        return self._inner

    def buffer(self) -> bytes:
        """The bytes read ahead and not yet returned."""
        return bytes(self._buf)

    async def _fill(self) -> bool:
        chunk = await self._inner.read(self._cap)
        if not chunk:
            return False
        self._buf += chunk
        return True

    async def read(self, n: int = DEFAULT_CAPACITY) -> bytes:
        """Up to ``n`` bytes: from the buffer if it has any, else one read of the inner stream.

        Raises:
            ValueError: ``n`` is not an int >= 0.

        Cancel safety: cancel-safe.
        """
        if n.__class__ is not int or n <= 0:
            check_read_size(n)
            if not n:
                return b""  # as TcpStream.read(0): no wait, and not EOF
        if not self._buf:
            if n >= self._cap:
                return await self._inner.read(n)
            if not await self._fill():
                return b""
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    async def read_exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes.

        Raises:
            IncompleteReadError: EOF first (``.partial`` has what arrived).
            ValueError: ``n`` is not an int >= 0.

        Cancel safety: cancel-safe: nothing is consumed unless it returns.
        """
        check_read_size(n, "read_exact")
        while len(self._buf) < n:
            if not await self._fill():
                partial = bytes(self._buf)
                self._buf.clear()
                raise IncompleteReadError(partial, n)
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    async def read_until(self, delimiter: bytes, *, limit: int | None = None) -> bytes:
        """Bytes up to and including ``delimiter``; at EOF, whatever is left (``b""`` if none).

        Raises:
            ValueError: ``limit`` bytes arrived without the delimiter (they stay buffered).

        Cancel safety: cancel-safe: the bytes read so far stay in the buffer.
        """
        if not delimiter:
            raise ValueError("read_until needs a non-empty delimiter")
        start = 0
        while True:
            i = self._buf.find(delimiter, start)
            if i >= 0:
                end = i + len(delimiter)
                if limit is not None and end > limit:
                    raise ValueError(f"no {delimiter!r} within {limit} bytes")
                data = bytes(self._buf[:end])
                del self._buf[:end]
                return data
            if limit is not None and len(self._buf) >= limit:
                raise ValueError(f"no {delimiter!r} within {limit} bytes")
            start = max(0, len(self._buf) - len(delimiter) + 1)
            if not await self._fill():
                data = bytes(self._buf)
                self._buf.clear()
                return data

    async def read_line(self, *, limit: int | None = None) -> bytes:
        """One line including its ``b"\\n"`` (the last line may lack it); ``b""`` at EOF.

        Cancel safety: cancel-safe.
        """
        return await self.read_until(b"\n", limit=limit)

    async def lines(self) -> AsyncIterator[bytes]:
        """Yield lines without their ending (``\\n`` or ``\\r\\n``) until EOF.

        Cancel safety: cancel-safe, like :meth:`read_line`.
        """
        while True:
            line = await self.read_line()
            if not line:
                return
            if line.endswith(b"\n"):
                line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
            yield line

    def __getattr__(self, name: str) -> Any:
        # write_all / shutdown / peer_addr ... of a bidirectional inner stream pass through.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)


class BufWriter:
    """Collect small writes and send them in one ``write_all`` when full or on :meth:`flush`.

    Call ``await flush()`` (or :meth:`shutdown`) before dropping it: buffered bytes are not
    sent on garbage collection.
    """

    __slots__ = ("_buf", "_cap", "_inner")

    def __init__(self, inner: AsyncWrite, capacity: int = DEFAULT_CAPACITY) -> None:
        _stream(inner, "write_all", "BufWriter")
        self._inner = inner
        self._cap = _capacity(capacity)
        self._buf = bytearray()

    def get_ref(self) -> AsyncWrite:
        """The wrapped writer."""
        return self._inner

    def buffer(self) -> bytes:
        """The bytes buffered and not yet sent."""
        return bytes(self._buf)

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Buffer ``data`` (flushing first if it would not fit); returns ``len(data)``.

        Cancel safety: cancel-safe in the sense that matters: when cancelled during the
        implicit flush, ``data`` was not buffered and the buffer holds what is still unsent.
        """
        await self.write_all(data)
        return len(data)

    async def write_all(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer all of ``data``, flushing as needed; large writes bypass the buffer.

        Cancel safety: not cancel-safe across the flush, like the inner ``write_all``.
        """
        if len(self._buf) + len(data) > self._cap:
            await self.flush()
        if len(data) >= self._cap:
            await self._inner.write_all(data)
        else:
            self._buf += data

    async def flush(self) -> None:
        """Send everything buffered.

        Cancel safety: cancel-safe: the unsent remainder stays in the buffer (the part the
        inner stream took is removed), so calling ``flush`` again continues correctly.
        """
        if not self._buf:
            return
        data = bytes(self._buf)
        try:
            await self._inner.write_all(data)
        except BaseException as exc:
            from ._errors import bytes_written

            sent = bytes_written(exc)
            if sent:
                del self._buf[:sent]
            raise
        self._buf.clear()

    async def shutdown(self) -> None:
        """Flush, then shut down the inner writer.

        Cancel safety: cancel-safe like :meth:`flush`.
        """
        await self.flush()
        await self._inner.shutdown()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)
