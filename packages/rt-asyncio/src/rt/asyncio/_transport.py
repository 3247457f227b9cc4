"""The socket transport of rt's loop: asyncio's, with a shorter path for each read and write.

asyncio's ``_SelectorSocketTransport`` reads with ``sock.recv(max_size)``: every read asks
``malloc`` for a fresh 256 KiB block, and the block is shrunk to the bytes that arrived. Whether
that block comes from the heap or from ``mmap`` depends on the process's allocation history
(glibc raises its mmap threshold only after a large mapped block has been freed), and when it
is mapped a 64-byte request costs an ``mmap``, an ``mremap``, a ``munmap`` and two page faults:
more kernel time than the read and the write together. So this transport reads into a 256 KiB
buffer that the loop keeps (``recv_into``) and hands the protocol a copy of the bytes that
arrived, as uvloop does. Copying is safe because the loop runs one callback at a time on its
thread and the protocol gets its own ``bytes`` before the buffer is used again. The buffer is
an anonymous private mapping: its pages become resident only as reads fill them (a server whose
reads are small keeps one page of it, an idle one none), where a zero-filled ``bytearray``
would hold all 256 KiB from the first connection on.

Two more changes, both on the path every request of a server takes, and both falling back to
asyncio's own code for everything else:

* **Reading**: asyncio picks the read callback by the protocol's kind (``_read_ready_cb``, a
  bound method per transport). Here a plain ``Protocol`` at asyncio's read size is marked by
  ``_read_ready_cb`` being ``None`` (no bound method kept per connection), and ``_read_ready``
  does the ``data_received`` read itself (one Python call less per read); the loop's
  readiness callback does the same read inline when the loop waits in rt's drivers
  (``_loop._FdWatch``). A ``BufferedProtocol`` (and SSL's protocol, which is one), or a
  transport whose ``max_size`` was changed, goes through asyncio's read callbacks.
* **Writing**: ``write(bytes)`` on a transport with nothing buffered sends at once, as
  asyncio's does, and returns when the kernel took it all, without asyncio's checks for
  other types and states (each checked here by one test) and without slicing what was sent.
  What the kernel did not take is buffered as asyncio buffers it; any other case is
  asyncio's ``write``.

The transport keeps the instance attributes asyncio's has, no more: an idle connection costs
what it costs on asyncio's loop.
"""

from __future__ import annotations

import mmap
import sys
from asyncio import selector_events
from typing import Any

# Typed as Any: asyncio's private transport class is not in typeshed.
_Base: Any = selector_events._SelectorSocketTransport  # type: ignore[attr-defined]

# asyncio's read size (the transport's max_size): the buffer holds one such read.
READ_SIZE = 256 * 1024

# The messages of asyncio's read errors (the loop's inline read reports them too).
READ_ERROR = "Fatal read error on socket transport"
PROTOCOL_ERROR = "Fatal error: protocol.data_received() call failed."

# asyncio's read callback for a plain Protocol (what its set_protocol picks for one).
_DATA_RECEIVED: Any = _Base._read_ready__data_received


def new_recv_buffer() -> mmap.mmap:
    """The loop's read buffer, made with its first socket transport (a loop without sockets
    never pays for it): anonymous pages, resident once a read fills them; private, so a
    forked child's reads never land in its parent's buffer. A slice of it is the ``bytes``
    handed to the protocol (one copy, no intermediate ``memoryview``)."""
    if sys.platform == "win32":  # anonymous memory there too, and no fork to guard against
        return mmap.mmap(-1, READ_SIZE)
    return mmap.mmap(-1, READ_SIZE, flags=mmap.MAP_PRIVATE)


class RtSocketTransport(_Base):  # type: ignore[misc]
    """asyncio's selector socket transport, reading into its loop's buffer."""

    # asyncio's read size until max_size is set on the transport (a class attribute: the
    # instance holds one only then).
    _max_size = READ_SIZE
    # asyncio's read callback for the protocol's kind; None: a plain Protocol read here.
    _read_ready_cb: Any

    @property
    def max_size(self) -> int:
        """The most bytes one read takes (asyncio's ``max_size``)."""
        return self._max_size

    @max_size.setter
    def max_size(self, value: int) -> None:
        self._max_size = value
        self._pick_read()

    def set_protocol(self, protocol: Any) -> None:
        super().set_protocol(protocol)  # asyncio's __init__ comes here too
        self._pick_read()

    def _pick_read(self) -> None:
        """Mark a plain ``Protocol`` at asyncio's read size: ``_read_ready_cb`` is ``None``
        and the read is this module's (asyncio picks by the protocol's kind)."""
        cb = self._read_ready_cb
        if cb is None or getattr(cb, "__func__", None) is _DATA_RECEIVED:
            # A plain protocol: ours at the usual read size, asyncio's at another.
            self._read_ready_cb = (
                None if self._max_size == READ_SIZE else self._read_ready__data_received
            )

    def _read_ready(self) -> None:
        cb = self._read_ready_cb
        if cb is not None:
            # A BufferedProtocol, or max_size changed on this transport: asyncio's own read.
            cb()
            return
        if self._conn_lost:
            return
        buf = self._loop._recv_buf
        try:
            n = self._sock.recv_into(buf)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, READ_ERROR)
            return
        if not n:
            self._read_ready__on_eof()
            return
        data = buf[:n]
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, PROTOCOL_ERROR)

    def write(self, data: Any) -> None:
        if (
            data.__class__ is not bytes
            or not data
            or self._buffer
            or self._conn_lost
            or self._eof
            or self._empty_waiter is not None
        ):
            # Every check and every buffered case: asyncio's (called by name: a super() would
            # give this method a closure cell to set up on every call).
            _Base.write(self, data)
            return
        # asyncio's "try to send now", when the whole of it was sent.
        try:
            n = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal write error on socket transport")
            return
        if n == len(data):
            return
        # The kernel took part of it or none: buffer the rest and arm the writer, as asyncio
        # does (its buffer is a bytearray up to 3.11, a deque of views from 3.12 on).
        rest = memoryview(data)[n:]
        self._loop._add_writer(self._sock_fd, self._write_ready)
        buffer = self._buffer
        if buffer.__class__ is bytearray:
            buffer.extend(rest)
        else:
            buffer.append(rest)
        self._maybe_pause_protocol()


# Its repr reads as asyncio's (the class name is part of the transport's repr).
RtSocketTransport.__name__ = RtSocketTransport.__qualname__ = "_SelectorSocketTransport"
