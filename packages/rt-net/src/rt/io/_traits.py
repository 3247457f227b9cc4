"""The shapes rt.io's utilities accept: anything with these async methods."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class AsyncRead(Protocol):
    """A byte source: ``await read(n)`` returns up to ``n`` bytes, ``b""`` at end of stream."""

    async def read(self, n: int = ..., /) -> bytes:
        """Read up to ``n`` bytes.

        Cancel safety: implementations in rt are cancel-safe (nothing is consumed).
        """
        ...


@runtime_checkable
class AsyncWrite(Protocol):
    """A byte sink."""

    async def write(self, data: bytes | bytearray | memoryview, /) -> int:
        """Write some prefix of ``data`` and return its length.

        Cancel safety: cancel-safe in rt's implementations (nothing is written when cancelled).
        """
        ...

    async def write_all(self, data: bytes | bytearray | memoryview, /) -> None:
        """Write all of ``data``.

        Cancel safety: not cancel-safe; see :func:`rt.io.bytes_written`.
        """
        ...

    async def shutdown(self) -> None:
        """Signal end of stream to the other side (half-close); idempotent.

        Cancel safety: cancel-safe.
        """
        ...
