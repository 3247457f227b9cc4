"""The parent's ends of a child's standard streams: non-blocking pipes on rt's reactor.

Facts the code relies on:

* The parent's end of each pipe is non-blocking and close-on-exec; the child's end stays
  blocking (programs expect that) and is closed in the parent right after the spawn.
* Operations try the syscall first and wait for readiness only on ``BlockingIOError``, through
  the pipe's own registration with the reactor of the runtime that spawned the child.
* Python ignores ``SIGPIPE``, so writing to a pipe whose reader is gone (the child exited or
  closed its stdin) fails with ``BrokenPipeError`` instead of killing the process.
* An end garbage-collected without :meth:`close` closes its fd in ``__del__``; the reactor
  notices a new object reusing the fd number (it remembers the owner weakly).
"""

from __future__ import annotations

import errno
import os
from types import TracebackType
from typing import Final, Self, final

from rt.io import IncompleteReadError
from rt.lowlevel import READ, WRITE, IoDriver, budget_spent, checkpoint

DEFAULT_READ: Final = 65536
# The most one read asks the kernel for: os.read allocates its whole size up front, so a
# read(2**40) would fail with MemoryError; a pipe never holds more than this at once anyway.
MAX_READ: Final = 1 << 20


# The end of the reactor's error for a wait from a task of another runtime than the one that
# spawned the child (only its reactor watches the child's pipes and exit).
FOREIGN_FIX: Final = (
    "await it from a task of that runtime (a Handle's spawn reaches it), or spawn the child on "
    "the runtime that awaits it"
)


class _Fd:
    """A bare fd with ``fileno()``/``close()`` that closes itself when collected."""

    __slots__ = ("__weakref__", "fd")

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def detach(self) -> int:
        fd, self.fd = self.fd, -1
        return fd

    def __del__(self) -> None:
        if self.fd >= 0:
            try:
                self.close()
            except OSError:  # pragma: no cover - already closed behind our back
                pass


def _closed_error(end: _PipeEnd, op: str) -> OSError:
    if end._handed:
        why = (
            "it was passed to another child's stdin/stdout/stderr, which owns it now (a "
            "Command given a pipe end can be spawned once)"
        )
    else:
        why = f"it was closed by {end._closer}"
    return OSError(errno.EBADF, f"{op} on a closed {end._kind}: {why}")


# The start of the reactor's error for a second task waiting on one fd in one direction.
_BUSY: Final = "another task is already waiting for fd"
_BUSY_FIX: Final = {
    "reading": (
        "one task at a time reads a pipe (Tokio's read takes &mut self for this reason). "
        "Read in one task and hand the data on (an rt.sync channel)"
    ),
    "writing": (
        "one task at a time writes a pipe, or their bytes would interleave. Write from one "
        "task (others send it the data through an rt.sync channel), or hold an "
        "rt.sync.Mutex around each write_all"
    ),
}


class _PipeEnd:
    __slots__ = ("__weakref__", "_closer", "_fd", "_handed", "_io", "_reg")

    _kind = "pipe"
    _op = "read()"  # the one call that waits on it

    def __init__(self, fd: int, io: IoDriver) -> None:
        os.set_blocking(fd, False)
        self._fd = _Fd(fd)
        self._io = io
        what = f"{self._kind}.{self._op}: this child was spawned"
        self._reg = io.register(self._fd, what=what, fix=FOREIGN_FIX)
        self._handed = False  # given to another child by _detach
        self._closer = "close()"  # what closed it, for the error of a later (or waiting) use

    def fileno(self) -> int:
        """The parent's fd of the pipe (``-1`` once closed)."""
        return self._fd.fd

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._fd.fd < 0

    def close(self) -> None:
        """Close the pipe; a task waiting on it wakes with ``OSError(EBADF)``.

        Idempotent, and safe from any thread.
        """
        self._close("close()")

    def _close(self, closer: str) -> None:
        """Close the pipe, naming ``closer`` in the errors of later (and waiting) uses."""
        if self._fd.fd >= 0:
            self._closer = closer
            self._io.close(self._fd)

    def _wait_failed(self, exc: Exception, op: str) -> Exception:
        """What to raise when a wait for readiness failed with ``exc``: the reactor's words
        for a second waiting task or a close meanwhile, put in this pipe's terms."""
        if isinstance(exc, RuntimeError):
            if not str(exc).startswith(_BUSY):
                return exc  # e.g. a task of another runtime: its words name the fix
            doing = "writing" if self._op == "write()" else "reading"
            err = RuntimeError(
                f"{op} on a {self._kind} that another task is already {doing}: {_BUSY_FIX[doing]}"
            )
            err.__cause__ = exc
            return err
        if self._fd.fd < 0:
            err_closed = _closed_error(self, op)
            err_closed.__cause__ = exc
            return err_closed
        return exc  # the runtime shut down while the task waited

    def _detach(self) -> int:
        """Stop watching the fd and hand it over (blocking again) to the caller."""
        if self._fd.fd < 0:
            raise _closed_error(self, "passing it to another child")
        self._io.notify_closing(self._fd)
        fd = self._fd.detach()
        self._handed = True
        os.set_blocking(fd, True)
        return fd

    async def __aenter__(self) -> Self:
        """Return ``self``; the ``async with`` block closes it on exit.

        Cancel safety: cancel-safe (nothing to wait for).
        """
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the pipe.

        Cancel safety: cancel-safe (closing does not wait).
        """
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._fd.fd}"
        return f"<{type(self).__module__}.{type(self).__qualname__} {state}>"


class _ReadPipe(_PipeEnd):
    __slots__ = ("_pending",)

    def __init__(self, fd: int, io: IoDriver) -> None:
        super().__init__(fd, io)
        self._pending = b""

    async def read(self, n: int = DEFAULT_READ) -> bytes:
        """Read up to ``n`` bytes of the child's output; ``b""`` once the child closed it.

        Args:
            n: The most bytes to return (any size: one read returns at most a mebibyte).

        Returns:
            The bytes read, or ``b""`` at end of stream.

        Raises:
            ValueError: ``n`` is negative.
            OSError: ``EBADF`` when the pipe is (or gets) closed.
            RuntimeError: another task is already reading it, or called from a task of
                another runtime than the one that spawned the child.

        Cancel safety: cancel-safe: a cancelled ``read`` consumed no bytes.
        """
        if budget_spent():
            await checkpoint()
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"read size must be an int >= 0, got {n!r}")
        if self._pending:
            data = self._pending
            self._pending = data[n:]
            return data[:n]
        if n == 0:
            return b""
        fd = self._fd
        while True:
            if fd.fd < 0:
                raise _closed_error(self, "read()")
            try:
                return os.read(fd.fd, n if n <= MAX_READ else MAX_READ)
            except BlockingIOError:
                pass
            try:
                await self._reg.wait(READ)
            except (RuntimeError, OSError) as exc:
                raise self._wait_failed(exc, "read()")  # noqa: B904 - it sets the cause

    async def read_exact(self, n: int) -> bytes:
        """Read exactly ``n`` bytes.

        Raises:
            rt.io.IncompleteReadError: the stream ended first (``.partial`` holds the bytes).
            ValueError: ``n`` is negative.

        Cancel safety: cancel-safe: bytes read before a cancellation are put back and the
        next read returns them first.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"read_exact size must be an int >= 0, got {n!r}")
        parts: list[bytes] = []
        got = 0
        try:
            while got < n:
                chunk = await self.read(n - got)
                if not chunk:
                    raise IncompleteReadError(b"".join(parts), n)
                parts.append(chunk)
                got += len(chunk)
        except BaseException as exc:
            if parts and not isinstance(exc, IncompleteReadError):
                self._pending = b"".join(parts) + self._pending
            raise
        return b"".join(parts)

    async def read_to_end(self) -> bytes:
        """Read until the child closes the stream and return everything.

        Cancel safety: not cancel-safe: bytes read before the cancellation are lost.
        """
        parts: list[bytes] = []
        size = DEFAULT_READ
        while True:
            chunk = await self.read(size)
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)
            if len(chunk) == size and size < (1 << 20):
                size *= 2  # a chatty child: fewer, larger reads


@final
class ChildStdout(_ReadPipe):
    """The read end of a child's stdout (``Stdio.piped()``), an rt async reader.

    ``read(n)``, ``read_exact(n)``, ``read_to_end()``; works with ``rt.io.BufReader`` and
    ``rt.io.copy``. Pass it to another :class:`rt.process.Command`'s ``stdin`` to connect two
    children directly (a pipeline).
    """

    __slots__ = ()
    _kind = "ChildStdout"


@final
class ChildStderr(_ReadPipe):
    """The read end of a child's stderr (``Stdio.piped()``), an rt async reader.

    Same API as :class:`ChildStdout`.
    """

    __slots__ = ()
    _kind = "ChildStderr"


@final
class ChildStdin(_PipeEnd):
    """The write end of a child's stdin (``Stdio.piped()``), an rt async writer.

    ``write``, ``write_all``, ``flush``, ``shutdown`` (closes it: the child reads end of
    file); works with ``rt.io.copy`` and ``rt.io.BufWriter``.
    """

    __slots__ = ()
    _kind = "ChildStdin"
    _op = "write()"

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write some prefix of ``data``, waiting until the pipe takes at least one byte.

        Returns:
            The number of bytes written.

        Raises:
            BrokenPipeError: the child closed its stdin (or exited).
            OSError: ``EBADF`` when the pipe is (or gets) closed: by :meth:`close` /
                :meth:`shutdown`, or by ``Child.wait()`` while it was still ``child.stdin``
                (the error says which).
            RuntimeError: another task is already writing it, or called from a task of
                another runtime than the one that spawned the child.

        Cancel safety: cancel-safe: a cancelled ``write`` wrote nothing.
        """
        if budget_spent():
            await checkpoint()
        if not data:
            return 0
        fd = self._fd
        while True:
            if fd.fd < 0:
                raise _closed_error(self, "write()")
            try:
                return os.write(fd.fd, data)
            except BlockingIOError:
                pass
            try:
                await self._reg.wait(WRITE)
            except (RuntimeError, OSError) as exc:
                raise self._wait_failed(exc, "write()")  # noqa: B904 - it sets the cause

    async def write_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data``.

        Raises:
            BrokenPipeError: the child closed its stdin (or exited) first.
            OSError: ``EBADF`` after :meth:`close` / :meth:`shutdown`.

        Cancel safety: not cancel-safe: a prefix of ``data`` may have been written when it is
        cancelled or fails; :func:`rt.io.bytes_written` on the exception says how much.
        """
        view = memoryview(data).cast("B")
        total = len(view)
        sent = 0
        try:
            while sent < total:
                sent += await self.write(view[sent:])
        except BaseException as exc:
            try:
                exc.bytes_written = sent  # type: ignore[attr-defined]
            except AttributeError:  # pragma: no cover - exceptions with __slots__
                pass
            raise

    async def flush(self) -> None:
        """Do nothing: writes go straight to the pipe.

        Cancel safety: cancel-safe.
        """

    async def shutdown(self) -> None:
        """Close the pipe: the child reads end of file. Idempotent.

        Cancel safety: cancel-safe (it does not wait).
        """
        self._close("shutdown()")
