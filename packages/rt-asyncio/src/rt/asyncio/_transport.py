"""The socket transport of rt's loop: asyncio's, reading into one buffer per loop.

asyncio's ``_SelectorSocketTransport`` reads with ``sock.recv(max_size)``: every read asks
``malloc`` for a fresh 256 KiB block, and the block is shrunk to the bytes that arrived. Whether
that block comes from the heap or from ``mmap`` depends on the process's allocation history
(glibc raises its mmap threshold only after a large mapped block has been freed), and when it
is mapped a 64-byte request costs an ``mmap``, an ``mremap``, a ``munmap`` and two page faults:
more kernel time than the read and the write together. So this transport reads into a 256 KiB
buffer that the loop keeps (``recv_into``) and hands the protocol a copy of the bytes that
arrived, as uvloop does; nothing else changes. Copying is safe because the loop runs one
callback at a time on its thread and the protocol gets its own ``bytes`` before the buffer is
used again.
"""

from __future__ import annotations

from asyncio import selector_events
from typing import Any

# Typed as Any: asyncio's private transport class is not in typeshed.
_Base: Any = selector_events._SelectorSocketTransport  # type: ignore[attr-defined]

# asyncio's read size (the transport's max_size): the buffer holds one such read.
READ_SIZE = 256 * 1024


def new_recv_view() -> memoryview:
    """The loop's read buffer, made with its first socket transport (a loop without sockets
    never pays for it)."""
    return memoryview(bytearray(READ_SIZE))


class RtSocketTransport(_Base):  # type: ignore[misc]
    """asyncio's selector socket transport, reading into its loop's buffer."""

    __slots__ = ()

    def _read_ready__data_received(self) -> None:
        if self._conn_lost:
            return
        view = self._loop._recv_view  # made before this transport was
        if self.max_size != READ_SIZE:  # changed on this transport: asyncio's own read
            super()._read_ready__data_received()
            return
        try:
            n = self._sock.recv_into(view)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not n:
            self._read_ready__on_eof()
            return
        data: Any = view[:n].tobytes()
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")


# Its repr reads as asyncio's (the class name is part of the transport's repr).
RtSocketTransport.__name__ = RtSocketTransport.__qualname__ = "_SelectorSocketTransport"
