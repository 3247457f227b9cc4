"""The socket transport of rt's loop: asyncio's, with a shorter path for each read and write.

asyncio's ``_SelectorSocketTransport`` reads with ``sock.recv(max_size)``: every read asks
``malloc`` for a fresh 256 KiB block, and the block is shrunk to the bytes that arrived. Whether
that block comes from the heap or from ``mmap`` depends on the process's allocation history
(glibc raises its mmap threshold only after a large mapped block has been freed), and when it
is mapped a 64-byte request costs an ``mmap``, an ``mremap``, a ``munmap`` and two page faults:
more kernel time than the read and the write together. So this transport reads into a 256 KiB
buffer that the loop keeps (``recv_into``) and hands the protocol a copy of the bytes that
arrived, as uvloop does. Copying is safe because the loop runs one callback at a time on its
thread and the protocol gets its own ``bytes`` before the buffer is used again.

Two more changes, both on the path every request of a server takes, and both falling back to
asyncio's own code for everything else:

* **Reading**: the fd's handle calls ``_read_ready``, which in asyncio only dispatches to
  ``_read_ready__data_received`` or ``_read_ready__get_buffer``. Here it does the
  ``data_received`` read itself when the protocol is a plain ``Protocol`` (one Python call
  less per read); a ``BufferedProtocol`` (and SSL's protocol, which is one) still goes
  through asyncio's dispatch.
* **Writing**: ``write(bytes)`` on a transport with nothing buffered sends at once, as
  asyncio's does, and returns when the kernel took it all, without asyncio's checks for
  other types and states (each checked here by one test) and without slicing what was sent.
  What the kernel did not take is buffered as asyncio buffers it; any other case is
  asyncio's ``write``.
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

    # True while the protocol is a plain Protocol: _read_ready reads for data_received itself.
    _plain = False

    def __init__(self, loop: Any, *args: Any) -> None:
        # Both read by every _read_ready: as attributes of the instance (asyncio's max_size is
        # the class's) they are specialized loads on 3.11, not a look through the classes.
        self.max_size = READ_SIZE
        self._view: memoryview = loop._recv_view  # the loop's buffer, made before us
        super().__init__(loop, *args)  # (sock, protocol, waiter, extra, server)

    def set_protocol(self, protocol: Any) -> None:
        super().set_protocol(protocol)
        # asyncio picks the read callback by the protocol's kind (its __init__ comes here too).
        cb = self._read_ready_cb
        self._plain = getattr(cb, "__func__", None) is _Base._read_ready__data_received

    def _read_ready(self) -> None:
        if not self._plain or self.max_size != READ_SIZE:
            # A BufferedProtocol, or max_size changed on this transport: asyncio's own read.
            self._read_ready_cb()
            return
        if self._conn_lost:
            return
        view = self._view
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

    def write(self, data: Any) -> None:
        if (
            data.__class__ is not bytes
            or not data
            or self._buffer
            or self._conn_lost
            or self._eof
            or self._empty_waiter is not None
        ):
            super().write(data)  # every check and every buffered case: asyncio's
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
