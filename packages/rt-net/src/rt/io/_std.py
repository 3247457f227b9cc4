"""The standard streams: ``rt.io.stdin()``, ``stdout()`` and ``stderr()``.

How a stream is served is chosen once, when the object is made, from what the fd is:

* **A pipe or a terminal** is reopened through ``/proc/self/fd/N``: that makes a file
  description of our own for the same pipe or terminal, which we set non-blocking and wait
  on with the reactor. The process's fd 0/1/2 keep their flags, so ``print()``, ``input()``
  and child processes that share them are unaffected (setting ``O_NONBLOCK`` on the shared
  fd would make a plain ``print`` fail with ``BlockingIOError`` when the pipe is full). A
  read of a terminal waiting for a key is then cancelled like any other wait, and leaves
  nothing behind that runtime shutdown would wait for.
* **A socket** is served through a duplicate of the fd, with ``MSG_DONTWAIT`` on each call
  (again: the shared flags stay as they are).
* **Anything else** (a regular file, ``/dev/null``), and a pipe or terminal that cannot be
  reopened (no ``/proc``), goes to the blocking pool, one job per operation, as in Tokio (a
  regular file behind stdin is read at least ``POOL_READAHEAD`` bytes per job).
  The job in flight finishes even when its caller is cancelled; the next operation waits for
  it, and a read's bytes are kept for the next read, so nothing is lost or reordered. A read
  blocked there (on a terminal or pipe that could not be reopened) holds a
  pool thread until input comes, and runtime shutdown waits for that thread (Tokio has the
  same limit): shut down with ``Runtime.shutdown(timeout=...)`` to bound the wait.

Writes are not buffered (wrap in :class:`rt.io.BufWriter` for that): each ``write_all``
reaches the fd before it returns. Mixing them with ``print`` needs ``sys.stdout.flush()``
first, as for any two writers of one fd.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from types import TracebackType
from typing import Any, Final, Self, final

import rt
from rt.lowlevel import READ, WRITE, IoDriver, budget_spent, checkpoint, current_io

from ._errors import read_exact_from, record_written

DEFAULT_READ: Final = 65536
POOL_READAHEAD: Final = 256 * 1024

Buffer = bytes | bytearray | memoryview


# The most one read asks the OS for (a read returns "up to n" bytes anyway).
_MAX_READ: Final = 1 << 20


def _check_size(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{what} size must be an int >= 0, got {n!r}")
    return n


class _OwnFd:
    """A private fd in the shape the reactor's ``close`` takes."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        os.close(self.fd)


# The start of the reactor's error for a second task waiting on one fd in one direction.
_BUSY: Final = "another task is already waiting for fd"
_BUSY_FIX: Final = {
    "reading": (
        "one task at a time reads a stream (Tokio's read takes &mut self for this reason). "
        "Read in one task and hand the data on (an rt.sync channel)"
    ),
    "writing": (
        "one task at a time writes a stream, or their bytes would interleave. Write from one "
        "task (others send it the data through an rt.sync channel), or hold an "
        "rt.sync.Mutex around each write_all"
    ),
}


class _ReactorBackend:
    """A non-blocking private fd (a reopened pipe) or a socket, waited on with the reactor."""

    __slots__ = ("_closed", "_io", "_name", "_obj", "_reg", "_sock")

    def __init__(self, io: IoDriver, obj: _OwnFd | socket.socket, name: str) -> None:
        self._io = io
        self._obj = obj
        self._name = name
        self._closed = False
        self._sock = obj if isinstance(obj, socket.socket) else None
        # A wait from another runtime's task raises the reactor's error, in these words.
        self._reg = io.register(
            obj,
            what=f"this rt.io.{name} was made",
            fix=f"call rt.io.{name.lower()}() again in the runtime that uses it",
        )

    async def read(self, n: int) -> bytes:
        if budget_spent():
            await checkpoint()
        sock = self._sock
        while True:
            try:
                if sock is not None:
                    return sock.recv(n, socket.MSG_DONTWAIT)
                return os.read(self._obj.fileno(), n)
            except BlockingIOError:
                pass
            try:
                await self._reg.wait(READ)
            except (RuntimeError, OSError) as exc:
                raise self._wait_failed(exc, "read()", "reading")  # noqa: B904 - cause set

    async def write(self, data: Buffer) -> int:
        if budget_spent():
            await checkpoint()
        sock = self._sock
        while True:
            try:
                if sock is not None:
                    return sock.send(data, socket.MSG_DONTWAIT)
                return os.write(self._obj.fileno(), data)
            except BlockingIOError:
                pass
            try:
                await self._reg.wait(WRITE)
            except (RuntimeError, OSError) as exc:
                raise self._wait_failed(exc, "write()", "writing")  # noqa: B904 - cause set

    def _wait_failed(self, exc: Exception, op: str, doing: str) -> Exception:
        """What to raise when a wait for readiness failed with ``exc``: the reactor's words
        for a second waiting task or a close meanwhile, put in this stream's terms."""
        err: Exception
        if isinstance(exc, RuntimeError):
            if not str(exc).startswith(_BUSY):
                return exc  # e.g. a task of another runtime: its words name the fix
            err = RuntimeError(
                f"{op} on an rt.io.{self._name} that another task is already {doing}: "
                f"{_BUSY_FIX[doing]}"
            )
        elif self._closed:
            err = OSError(
                errno.EBADF, f"{op} on a closed rt.io.{self._name}: it was closed by close()"
            )
        else:
            return exc  # the runtime shut down while the task waited
        err.__cause__ = exc
        return err

    async def settle(self) -> None:
        return None

    def close(self) -> None:
        self._closed = True
        self._io.close(self._obj)


def _write_fully(fd: int, data: Buffer) -> int:
    view = memoryview(data).cast("B")
    total = len(view)
    while view:
        view = view[os.write(fd, view) :]
    return total


class _PoolBackend:
    """The process's own fd, used from the blocking pool; one job in flight at most."""

    __slots__ = ("_fd", "_job", "_kept", "_readahead")

    def __init__(self, fd: int, readahead: int = 0) -> None:
        self._fd = fd
        # A regular file (``< input.txt``) is read in chunks of at least this much, so small
        # reads (a BufReader's) do not cost a pool round trip each.
        self._readahead = readahead
        self._job: rt.JoinHandle[Any] | None = None
        self._kept = b""  # bytes a cancelled read's job brought

    async def settle(self) -> Any:
        job = self._job
        if job is None:
            return None
        try:
            result = await job
        except rt.JoinError as err:
            if self._job is job:
                self._job = None
            exc = err.exception
            if exc is None:
                raise
            raise exc from None
        if self._job is job:
            self._job = None
            if isinstance(result, bytes):
                self._kept += result
        return result

    async def read(self, n: int) -> bytes:
        await self.settle()
        if not self._kept:
            self._job = rt.spawn_blocking(os.read, self._fd, max(n, self._readahead))
            await self.settle()
        data, self._kept = self._kept[:n], self._kept[n:]
        return data

    async def write(self, data: Buffer) -> int:
        await self.settle()
        # The pool writes a copy: the caller may reuse its buffer once we return, and a
        # cancelled write goes on in the background.
        self._job = rt.spawn_blocking(_write_fully, self._fd, bytes(data))
        written: int = await self.settle()
        return written

    def close(self) -> None:
        return None  # the process's fd is not ours to close


def _backend(fd: int, writing: bool, name: str) -> _ReactorBackend | _PoolBackend:
    what = f"rt.io.{name.lower()}()"
    rt.Handle.current()  # a clear error outside a runtime
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        raise OSError(exc.errno, f"{what}: fd {fd} is not open in this process") from None
    try:
        io = current_io()
    except RuntimeError:  # a runtime built with enable_io=False
        return _PoolBackend(fd)
    if stat.S_ISFIFO(mode) or (stat.S_ISCHR(mode) and os.isatty(fd)):
        # A terminal too: a read blocked on the pool could not be cancelled, and runtime
        # shutdown waits for the pool, so rt.run never returned after a timed-out read of a
        # terminal until a key was pressed. O_NOCTTY: a process without a controlling
        # terminal must not acquire this one by opening it.
        flags = (os.O_WRONLY if writing else os.O_RDONLY) | os.O_NONBLOCK | os.O_NOCTTY
        try:
            own = os.open(f"/proc/self/fd/{fd}", flags | os.O_CLOEXEC)
        except OSError:
            return _PoolBackend(fd)
        return _ReactorBackend(io, _OwnFd(own), name)
    if stat.S_ISSOCK(mode):
        sock = socket.socket(fileno=os.dup(fd))
        return _ReactorBackend(io, sock, name)
    return _PoolBackend(fd, POOL_READAHEAD if stat.S_ISREG(mode) and not writing else 0)


class _Std:
    __slots__ = ("__weakref__", "_backend", "_closed", "_fd", "_name")

    _backend: _ReactorBackend | _PoolBackend

    def __init__(self) -> None:
        raise TypeError(
            f"rt.io.{type(self).__name__} is not built directly: call "
            f"rt.io.{type(self).__name__.lower()}()"
        )

    def _init(self, fd: int, name: str, writing: bool) -> None:
        self._fd = fd
        self._name = name
        self._closed = True  # until there is a backend to close
        self._backend = _backend(fd, writing, name)
        self._closed = False

    @property
    def nonblocking(self) -> bool:
        """Whether the reactor serves this stream (a pipe, terminal or socket), not the
        blocking pool."""
        return isinstance(self._backend, _ReactorBackend)

    def fileno(self) -> int:
        """Return the process's fd this stream reads or writes (0, 1 or 2)."""
        return self._fd

    def _check(self, op: str) -> None:
        if self._closed:
            raise ValueError(f"{op} on a closed rt.io.{self._name} (it was closed by close())")

    def close(self) -> None:
        """Release what this object holds (its private fd, if any); the process's fd stays open.

        Calling it again does nothing. A task waiting on the stream wakes with ``OSError``.
        """
        if not self._closed:
            self._closed = True
            self._backend.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()

    def __repr__(self) -> str:
        how = "reactor" if self.nonblocking else "blocking pool"
        state = ", closed" if self._closed else ""
        return f"<rt.io.{self._name} fd={self._fd} ({how}{state})>"


@final
class Stdin(_Std):
    """The process's standard input as an rt reader (``await read(n)``, ``b""`` at EOF).

    Make one with :func:`rt.io.stdin`; wrap it in :class:`rt.io.BufReader` for lines.
    """

    __slots__ = ("_unread",)

    _unread: bytes

    async def read(self, n: int = DEFAULT_READ) -> bytes:
        """Read up to ``n`` bytes, waiting for at least one; ``b""`` at end of input.

        Args:
            n: The most bytes to return (any size: one read returns at most a mebibyte).

        Returns:
            The bytes read, or ``b""`` at end of input.

        Raises:
            ValueError: the object is closed, or ``n`` is negative.
            OSError: ``EBADF`` when it is closed while this read waits.
            RuntimeError: another task is already waiting to read it (a pipe, terminal or
                socket: one task at a time reads a stream).

        Cancel safety: cancel-safe: no byte is lost (bytes a cancelled read's pool job
        brings are returned by the next read).
        """
        self._check("read()")
        _check_size(n, "read")
        if self._unread:
            data, self._unread = self._unread[:n], self._unread[n:]
            return data
        if n == 0:
            return b""
        # os.read allocates its whole size up front: read(2**40) would be a MemoryError.
        return await self._backend.read(n if n <= _MAX_READ else _MAX_READ)

    async def read_exact(self, n: int) -> bytes:
        """Read exactly ``n`` bytes.

        Args:
            n: How many bytes.

        Returns:
            ``n`` bytes.

        Raises:
            rt.io.IncompleteReadError: input ended first (``.partial`` has what came).

        Cancel safety: cancel-safe: bytes read before a cancellation are kept for the next
        read.
        """
        _check_size(n, "read_exact")
        return await read_exact_from(self.read, n, self._give_back)

    def _give_back(self, data: bytes) -> None:
        self._unread = data + self._unread

    async def __aenter__(self) -> Stdin:
        """Return this stream.

        Cancel safety: cancel-safe (it does nothing).
        """
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close this object (not fd 0).

        Cancel safety: cancel-safe (it does not wait).
        """
        self.close()


class _StdWriter(_Std):
    __slots__ = ()

    async def write(self, data: Buffer) -> int:
        """Write some of ``data`` (all of it on a file); return how much.

        Args:
            data: The bytes.

        Returns:
            How many bytes were written.

        Raises:
            ValueError: the object is closed.
            BrokenPipeError: the reading end of the pipe is closed.
            OSError: ``EBADF`` when it is closed while this write waits.
            RuntimeError: another task is already waiting to write it (a pipe, terminal or
                socket).

        Cancel safety: cancel-safe on a pipe, terminal or socket (nothing is written when
        cancelled); on a file the write goes on in the background, and the next operation
        waits for it.
        """
        self._check("write()")
        return await self._backend.write(data)

    async def write_all(self, data: Buffer) -> None:
        """Write all of ``data``.

        Args:
            data: The bytes.

        Raises:
            ValueError: the object is closed.
            BrokenPipeError: the reading end of the pipe is closed.

        Cancel safety: not cancel-safe: a prefix may have been written;
        :func:`rt.io.bytes_written` on the exception says how long.
        """
        self._check("write_all()")
        view = memoryview(data).cast("B")
        total = len(view)
        sent = 0
        try:
            while sent < total:
                sent += await self._backend.write(view[sent:])
        except BaseException as exc:
            record_written(exc, sent, total)
            raise

    async def flush(self) -> None:
        """Wait until every write made so far has reached the fd (writes are not buffered).

        Raises:
            OSError: a write still in flight (cancelled earlier) failed.

        Cancel safety: cancel-safe.
        """
        self._check("flush()")
        await self._backend.settle()

    async def shutdown(self) -> None:
        """Flush (rt.io's writer protocol). The process's fd stays open.

        Raises:
            OSError: a write still in flight failed.

        Cancel safety: cancel-safe.
        """
        await self.flush()

    async def __aenter__(self) -> Self:
        """Return this stream.

        Cancel safety: cancel-safe (it does nothing).
        """
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Flush, then close this object (not the process's fd).

        Cancel safety: cancel-safe, as :meth:`flush`; it is closed either way.
        """
        try:
            await self.flush()
        finally:
            self.close()


@final
class Stdout(_StdWriter):
    """The process's standard output as an rt writer (``write``, ``write_all``, ``flush``).

    Make one with :func:`rt.io.stdout`.
    """

    __slots__ = ()


@final
class Stderr(_StdWriter):
    """The process's standard error as an rt writer. Make one with :func:`rt.io.stderr`."""

    __slots__ = ()


def stdin() -> Stdin:
    """Return the process's standard input (fd 0) as an async reader.

    A pipe, terminal or socket is served by the reactor, a file by the blocking pool (see
    the module notes); the process's own fd and its flags are left as they are.

    Returns:
        A :class:`Stdin`; :meth:`Stdin.close` releases it (not fd 0).

    Raises:
        RuntimeError: outside a running rt runtime.
        OSError: fd 0 is not open.
    """
    self = object.__new__(Stdin)
    self._unread = b""
    self._init(0, "Stdin", writing=False)
    return self


def stdout() -> Stdout:
    """Return the process's standard output (fd 1) as an async writer.

    Returns:
        A :class:`Stdout`; :meth:`Stdout.close` releases it (not fd 1).

    Raises:
        RuntimeError: outside a running rt runtime.
        OSError: fd 1 is not open.
    """
    self = object.__new__(Stdout)
    self._init(1, "Stdout", writing=True)
    return self


def stderr() -> Stderr:
    """Return the process's standard error (fd 2) as an async writer.

    Returns:
        A :class:`Stderr`; :meth:`Stderr.close` releases it (not fd 2).

    Raises:
        RuntimeError: outside a running rt runtime.
        OSError: fd 2 is not open.
    """
    self = object.__new__(Stderr)
    self._init(2, "Stderr", writing=True)
    return self
