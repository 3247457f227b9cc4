"""Errors and helpers shared by rt.io and rt.net."""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

_E = TypeVar("_E", bound=BaseException)

_WRITTEN_ATTR: Final = "bytes_written"


def check_read_size(n: object, what: str = "read") -> int:
    """``n`` as a byte count for a read, or a ``ValueError`` saying what a size must be."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{what} size must be an int >= 0, got {n!r}")
    return n


class IncompleteReadError(EOFError):
    """``read_exact(n)`` reached end of stream before ``n`` bytes arrived.

    ``partial`` holds the bytes that did arrive (they are consumed); ``expected`` is ``n``.
    """

    def __init__(self, partial: bytes, expected: int) -> None:
        super().__init__(
            f"end of stream after {len(partial)} of {expected} expected bytes "
            "(the bytes that arrived are in .partial)"
        )
        self.partial = partial
        self.expected = expected

    def __reduce__(self) -> tuple[type[IncompleteReadError], tuple[bytes, int]]:
        return type(self), (self.partial, self.expected)


async def read_exact_from(
    read: Callable[[int], Awaitable[bytes]], n: int, unread: Callable[[bytes], None]
) -> bytes:
    """``read`` until ``n`` bytes arrived; on cancellation (or any error but EOF) hand the
    bytes read so far to ``unread``, so the next read returns them first.

    Raises:
        IncompleteReadError: EOF came first (the partial bytes are in the error, consumed).
    """
    check_read_size(n, "read_exact")
    parts: list[bytes] = []
    got = 0
    try:
        while got < n:
            chunk = await read(n - got)
            if not chunk:
                raise IncompleteReadError(b"".join(parts), n)
            parts.append(chunk)
            got += len(chunk)
    except BaseException as exc:
        if parts and not isinstance(exc, IncompleteReadError):
            unread(b"".join(parts))
        raise
    return parts[0] if len(parts) == 1 else b"".join(parts)


def bytes_written(exc: BaseException) -> int | None:
    """How many bytes a ``write_all`` interrupted by ``exc`` had written, or ``None``.

    ``write_all`` is not atomic: when it is cancelled, or the connection fails half-way, a
    prefix of the data may already be in the kernel. It records the length of that prefix on
    the exception it raises (and in a note on the exception), and this function reads it::

        try:
            await stream.write_all(payload)
        except rt.Cancelled as exc:
            sent = rt.io.bytes_written(exc)  # resume from payload[sent:] later
            raise
    """
    value = getattr(exc, _WRITTEN_ATTR, None)
    return value if isinstance(value, int) else None


def record_written(exc: BaseException, written: int, total: int) -> None:
    try:
        setattr(exc, _WRITTEN_ATTR, written)
    except AttributeError:  # pragma: no cover - exceptions with __slots__
        return
    exc.add_note(f"write_all wrote {written} of {total} bytes before this")


def chained(err: _E, cause: BaseException | None) -> _E:
    """Return ``err`` with ``cause`` chained: ``raise chained(err, c)`` is ``raise err from c``.

    rt-net's compiled modules spell it this way: mypyc does not chain on ``raise ... from``.
    """
    err.__cause__ = cause  # also sets __suppress_context__, as ``from`` does
    return err


def closed_error(what: str, op: str) -> OSError:
    return OSError(errno.EBADF, f"{op} on a closed {what}: it was closed by close()")


def byte_view(data: object, op: str) -> memoryview:
    """``data`` as a flat view of bytes (an ``array('i')`` counts 4 per item), or a
    ``TypeError`` that says what ``op`` takes."""
    if isinstance(data, str):
        raise TypeError(f"{op} takes bytes, got a str: encode it first (data.encode())")
    try:
        return memoryview(data).cast("B")  # type: ignore[arg-type]
    except TypeError:
        kind = type(data).__name__
        if isinstance(data, memoryview):
            kind = "a memoryview that is not contiguous: copy it first (bytes(view))"
        # mypyc ignores `raise ... from`: chained() drops the context in both builds
        raise chained(  # noqa: B904
            TypeError(f"{op} takes bytes, a bytearray or another buffer, got {kind}"), None
        )
