"""duplex(max_buf): an in-memory two-way byte pipe with backpressure, usable across threads."""

from __future__ import annotations

import errno
import threading
from typing import Any

from rt.lowlevel import (
    Abort,
    budget_spent,
    checkpoint,
    current_task,
    reschedule,
    wait_task_rescheduled,
)

from ._errors import check_read_size, closed_error, read_exact_from, record_written


class _Pipe:
    """One direction: a bounded buffer, at most one waiting reader and one waiting writer.

    A waiter registers under the lock and then looks at what it waits for again before it
    parks: code run on its own thread while it registers (a finalizer, such as the other
    end's ``__del__`` run by the collector, or a signal handler) re-enters the lock, and a
    close or shutdown made there finds no waiter to wake.
    """

    __slots__ = ("buf", "cap", "eof", "lock", "reader", "reader_gone", "writer", "writer_gone")

    def __init__(self, cap: int) -> None:
        self.lock = threading.RLock()
        self.buf = bytearray()
        self.cap = cap
        self.eof = False  # the writing end shut down or closed
        self.reader_gone = False  # the reading end closed
        self.writer_gone = False  # the writing end closed
        self.reader: Any = None
        self.writer: Any = None

    def _abort_for(self, attr: str, task: Any) -> Any:
        def abort() -> Abort:
            with self.lock:
                if getattr(self, attr) is task:
                    setattr(self, attr, None)
                    return Abort.SUCCEEDED
            return Abort.FAILED

        return abort

    async def read(self, n: int) -> bytes:
        while True:
            with self.lock:
                if self.reader_gone:  # this end was closed, maybe while this read waited
                    raise closed_error("DuplexStream", "read()")
                buf = self.buf
                if buf:
                    data = bytes(buf[:n])
                    del buf[:n]
                    woken, self.writer = self.writer, None
                    break
                if self.eof:
                    return b""
                if self.reader is not None:
                    raise RuntimeError("two tasks are reading one DuplexStream at once")
                task = self.reader = current_task()
                if self.buf or self.eof or self.reader_gone:
                    # Changed while registering (see the class notes): look again.
                    self.reader = None
                    continue
            await wait_task_rescheduled(self._abort_for("reader", task))
        if woken is not None:
            reschedule(woken)
        return data

    def unread(self, data: bytes) -> None:
        with self.lock:
            self.buf[:0] = data

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        while True:
            with self.lock:
                # This end was closed (maybe while this write waited), the other end was, or
                # this end shut down.
                if self.writer_gone or self.reader_gone or self.eof:
                    self._refuse_write("write()")
                room = self.cap - len(self.buf)
                if room > 0:
                    n = min(room, len(data))
                    self.buf += data[:n]
                    woken, self.reader = self.reader, None
                    break
                if self.writer is not None:
                    raise RuntimeError("two tasks are writing one DuplexStream at once")
                task = self.writer = current_task()
                if self.reader_gone or self.eof or len(self.buf) < self.cap:
                    # Changed while registering (see the class notes): look again.
                    self.writer = None
                    continue
            await wait_task_rescheduled(self._abort_for("writer", task))
        if woken is not None:
            reschedule(woken)
        return n

    def _refuse_write(self, op: str) -> None:
        """Raise the error of a write to a pipe that takes no more (under the lock)."""
        if self.writer_gone:
            raise closed_error("DuplexStream", op)
        if self.reader_gone:
            raise BrokenPipeError(errno.EPIPE, "the other end of the duplex was closed")
        raise BrokenPipeError(errno.EPIPE, f"{op} after shutdown() on a DuplexStream")

    def try_write(self, data: bytes | bytearray | memoryview) -> int:
        """What fits now, never waiting; ``BlockingIOError`` when the buffer is full."""
        with self.lock:
            if self.writer_gone or self.reader_gone or self.eof:
                self._refuse_write("try_write()")
            room = self.cap - len(self.buf)
            if room <= 0:
                raise BlockingIOError(errno.EAGAIN, "the DuplexStream's buffer is full")
            n = min(room, len(data))
            self.buf += data[:n]
            woken, self.reader = self.reader, None
        if woken is not None:
            reschedule(woken)
        return n

    def shut_write(self, closing: bool = False) -> None:
        """The writing end shut down (or closed): wake the reader for its EOF, and a writer
        of that end still waiting for room, which then fails saying why."""
        with self.lock:
            self.eof = True
            if closing:
                self.writer_gone = True
            woken, self.reader = self.reader, None
            writer, self.writer = self.writer, None
        if woken is not None:
            reschedule(woken)
        if writer is not None:
            reschedule(writer)

    def shut_read(self) -> None:
        with self.lock:
            self.reader_gone = True
            self.buf.clear()
            woken, self.writer = self.writer, None
            reader, self.reader = self.reader, None  # this end's own read, closed under it
        if woken is not None:
            reschedule(woken)
        if reader is not None:
            reschedule(reader)


class DuplexStream:
    """One end of :func:`duplex`: what one end writes, the other reads.

    It behaves like a connected socket: ``read(n)`` (``b""`` once the other end shut down or
    closed), ``write`` (waits while the other end's buffer is full: backpressure), ``shutdown``,
    ``close``. Safe to use between tasks on different runtimes or threads.
    """

    __slots__ = ("__weakref__", "_closed", "_rx", "_tx")

    def __init__(self, rx: _Pipe, tx: _Pipe) -> None:
        self._rx = rx
        self._tx = tx
        self._closed = False

    async def read(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes; waits while nothing is buffered; ``b""`` at EOF.

        Cancel safety: cancel-safe: a cancelled ``read`` took nothing.
        """
        if budget_spent():
            await checkpoint()
        if self._closed:
            raise closed_error("DuplexStream", "read()")
        if (n.__class__ is not int or n <= 0) and check_read_size(n) == 0:
            return b""
        return await self._rx.read(n)

    async def read_exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes.

        Raises:
            IncompleteReadError: EOF came first.

        Cancel safety: cancel-safe: on cancellation the bytes read so far are put back.
        """
        return await read_exact_from(self.read, n, self._rx.unread)

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write as much of ``data`` as fits (at least one byte); return the count.

        Raises:
            BrokenPipeError: the other end closed, or this end shut down.

        Cancel safety: cancel-safe: a cancelled ``write`` wrote nothing.
        """
        if budget_spent():
            await checkpoint()
        if self._closed:
            raise closed_error("DuplexStream", "write()")
        if not data:
            return 0
        return await self._tx.write(data)

    def try_write(self, data: bytes | bytearray | memoryview) -> int:
        """Write what fits in the other end's buffer now, without waiting; return the count.

        Never a suspension point (as :meth:`rt.net.TcpStream.try_write`): a ``TlsStream`` over
        a duplex sends ``close_notify`` with it as it closes.

        Raises:
            BlockingIOError: the buffer is full.
            BrokenPipeError: the other end closed, or this end shut down.
            OSError: ``EBADF``: this end is closed.
        """
        if self._closed:
            raise closed_error("DuplexStream", "try_write()")
        if not data:
            return 0
        return self._tx.try_write(memoryview(data).cast("B"))

    async def write_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data``, waiting for the reader to make room.

        Cancel safety: not cancel-safe: see :func:`rt.io.bytes_written`.
        """
        view = memoryview(data).cast("B")
        sent = 0
        try:
            while sent < len(view):
                sent += await self.write(view[sent:])
        except BaseException as exc:
            if sent:
                record_written(exc, sent, len(view))
            raise

    async def shutdown(self) -> None:
        """The other end reads ``b""`` once it has drained the buffer. Idempotent.

        Cancel safety: cancel-safe.
        """
        self._shut_write_now()

    def _shut_write_now(self) -> None:
        """``shutdown()`` without the ``await``: a write of this end waiting for room fails
        with ``BrokenPipeError`` (what a TLS write half cut mid-write relies on)."""
        self._tx.shut_write()

    def close(self) -> None:
        """Shut down both directions: the other end reads EOF and its writes fail; a read or
        write of this end still waiting fails with ``OSError`` (``EBADF``) saying so."""
        if self._closed:
            return
        self._closed = True
        self._tx.shut_write(closing=True)
        self._rx.shut_read()

    def __del__(self) -> None:
        # A dropped end must not leave the other end waiting forever (Tokio drops the same way).
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    async def __aenter__(self) -> DuplexStream:
        """Return ``self``; ``close`` on exit.

        Cancel safety: cancel-safe.
        """
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close this end.

        Cancel safety: cancel-safe.
        """
        self.close()


def duplex(max_buf: int) -> tuple[DuplexStream, DuplexStream]:
    """Two connected in-memory streams; each direction buffers at most ``max_buf`` bytes.

    Handy for testing protocol code without sockets. Writers wait while the buffer is full.
    """
    if isinstance(max_buf, bool) or not isinstance(max_buf, int) or max_buf < 1:
        raise ValueError(f"duplex needs max_buf >= 1, got {max_buf!r}")
    ab, ba = _Pipe(max_buf), _Pipe(max_buf)
    return DuplexStream(ba, ab), DuplexStream(ab, ba)
