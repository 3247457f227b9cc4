"""copy and copy_bidirectional."""

from __future__ import annotations

import rt

from ._traits import AsyncRead, AsyncWrite

DEFAULT_CHUNK = 65536


async def copy(reader: AsyncRead, writer: AsyncWrite, *, chunk_size: int = DEFAULT_CHUNK) -> int:
    """Copy ``reader`` into ``writer`` until EOF; return the number of bytes copied.

    The writer is not shut down (do that yourself, or use :func:`copy_bidirectional`).

    Cancel safety: not cancel-safe: a chunk read but not yet written when cancelled is lost.
    """
    total = 0
    while True:
        data = await reader.read(chunk_size)
        if not data:
            return total
        await writer.write_all(data)
        total += len(data)


async def _one_way(src: AsyncRead, dst: AsyncWrite, chunk_size: int) -> int:
    n = await copy(src, dst, chunk_size=chunk_size)
    await dst.shutdown()  # pass the half-close on
    return n


async def copy_bidirectional(
    a: AsyncRead | AsyncWrite, b: AsyncRead | AsyncWrite, *, chunk_size: int = DEFAULT_CHUNK
) -> tuple[int, int]:
    """Copy ``a`` → ``b`` and ``b`` → ``a`` at once, until both directions reach EOF.

    When one side's reader reaches EOF, the other side's writer is shut down (the half-close
    travels through), and the other direction keeps flowing until it ends too. Returns
    ``(bytes a→b, bytes b→a)``. An error in either direction cancels the other and is raised
    as itself (not wrapped in a group).

    Cancel safety: not cancel-safe: bytes in flight when cancelled are lost.
    """
    for side, name in ((a, "a"), (b, "b")):
        if not (isinstance(side, AsyncRead) and isinstance(side, AsyncWrite)):
            raise TypeError(
                f"copy_bidirectional: {name} must have read(), write(), write_all() and shutdown()"
            )
    ra: AsyncRead = a  # type: ignore[assignment]
    wa: AsyncWrite = a  # type: ignore[assignment]
    rb: AsyncRead = b  # type: ignore[assignment]
    wb: AsyncWrite = b  # type: ignore[assignment]
    try:
        async with rt.TaskGroup() as tg:
            ab = tg.spawn(_one_way(ra, wb, chunk_size), name="copy a->b")
            ba = tg.spawn(_one_way(rb, wa, chunk_size), name="copy b->a")
    except ExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    return await ab, await ba
