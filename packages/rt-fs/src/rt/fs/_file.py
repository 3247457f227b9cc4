"""File and OpenOptions: an open file whose I/O runs on the blocking pool, in batches.

Regular files are always "ready" to the reactor, so their reads and writes run on pool threads
(as in Tokio). A pool round trip costs tens of microseconds, far more than a read served from
the page cache, so a File batches:

- **Reads ahead**, into one buffer of ``READ_AHEAD`` bytes the File keeps (a fresh large
  ``bytes`` per read would cost page faults on every refill). On Linux it first tries
  ``preadv2(RWF_NOWAIT)`` right on the runtime thread: that copies from the page cache and
  returns ``EAGAIN`` instead of waiting for the disk, so a cached file is read with no pool
  round trip at all, and only a read that needs the disk goes to the pool. Later reads are
  served from ``_rview[_rpos:_rend]`` without leaving the task. Pipes and devices get no
  read-ahead: the pool reads exactly what was asked.
- **Collects writes.** ``write`` copies into ``_wbuf[:_wlen]`` and returns; when the next
  write would not fit, the batch goes to the pool as one job, which runs while the caller goes
  on filling the other of two buffers (at most one job in flight: a full buffer waits for the
  job before it). The buffers are kept and reused (fresh large ones would cost page faults),
  growing from ``FIRST_WRITE_BUF`` to ``WRITE_BATCH`` only for a File that writes that much.

Invariants the code relies on:

1. At most one pool job per File is in flight (``_job``), and every job runs under the fd's
   lock, so jobs never overlap, also when a File is dropped with one in flight.
2. A job does, in order: rewind the OS position by ``_rewind`` (read-ahead given back), write the
   collected bytes, then its own operation. Bytes therefore reach the OS in the order they were
   written, and every operation sees the writes made before it.
3. Every operation first waits for the job in flight (``_settle``). If an operation is cancelled
   while its job runs, the job finishes in the background; the next operation waits for it,
   applies its effect (a read's bytes go to the read-ahead buffer, so none are lost) and raises
   its error if it failed. Nothing is torn or reordered by cancellation.
4. The OS position is ``_buffered()`` bytes ahead of the caller's position while read-ahead
   is buffered (``_unread`` and ``_rview[_rpos:_rend]``); any operation other than a read gives
   it back first (``_rewind``). The read-ahead buffer is written only while it holds nothing
   unread: by the runtime thread with no job in flight, or by the one job in flight.
5. One operation at a time: a second task entering while one waits on the pool gets a
   ``RuntimeError`` (Tokio enforces this with ``&mut self``).
"""

from __future__ import annotations

import errno
import io
import os
import stat as stat_mod
import threading
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, final

import rt
from rt.io import IncompleteReadError
from rt.lowlevel import budget_spent, checkpoint

from ._pool import StrOrBytesPath, fspath, join

READ_AHEAD: Final = 1 << 20
# Bytes per read(2) / write(2). Measured on Linux (ext4, CPython 3.11): one syscall of 256 KiB
# or more moves fewer bytes per second than several of 128 KiB, often by 3 to 5 times.
SYSCALL_CHUNK: Final = 128 * 1024
# Bytes per read-ahead from the page cache on the runtime thread: a copy of 512 KiB takes tens
# of microseconds, and fewer, larger copies brought a 64 KiB-chunk read loop from 1.2-1.3x
# plain Python's time to 1.1-1.15x in the same measurement.
NOWAIT_CHUNK: Final = 512 * 1024
_NOWAIT: Final = getattr(os, "RWF_NOWAIT", 0) if hasattr(os, "preadv") else 0
WRITE_BATCH: Final = 1 << 20
FIRST_WRITE_BUF: Final = 64 * 1024
DEFAULT_READ: Final = 65536
_BATCH: Final = 16  # reads served from the read-ahead per charge to the cooperative budget

Buffer = bytes | bytearray | memoryview


_NOWAIT_UNSUPPORTED: Final = frozenset(
    {errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS, errno.ESPIPE, errno.EBADF}
)


def _check_size(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{what} size must be an int >= 0, got {n!r}")
    return n


def _unsupported(op: str, what: str) -> io.UnsupportedOperation:
    return io.UnsupportedOperation(
        f"{op}: this rt.fs.File is not open for {what} (see rt.fs.OpenOptions)"
    )


def _closed_error(op: str) -> ValueError:
    return ValueError(f"{op} on a closed rt.fs.File (it was closed by close() or 'async with')")


class _Fd:
    """The fd and the lock every pool job holds while using it.

    A job keeps this object alive, so a File dropped with a job in flight closes its fd only
    after the job is done.
    """

    __slots__ = ("fd", "lock")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock:
            fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        fd = getattr(self, "fd", -1)
        if fd >= 0:
            self.fd = -1
            os.close(fd)


def _write_fully(fd: int, data: Buffer) -> None:
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view[:SYSCALL_CHUNK]) :]


def _job(
    box: _Fd,
    rewind: int,
    chunks: list[Buffer] | None,
    op: Callable[[int, Any], Any] | None,
    arg: Any,
) -> Any:
    """Invariant 2, on a pool thread: rewind, write what was collected, then ``op``."""
    with box.lock:
        fd = box.fd
        if fd < 0:
            raise ValueError("I/O operation on a closed rt.fs.File")
        if rewind:
            os.lseek(fd, -rewind, os.SEEK_CUR)
        if chunks:
            for chunk in chunks:
                _write_fully(fd, chunk)
        return op(fd, arg) if op is not None else None


def _op_read(fd: int, size: int) -> bytes:
    return os.read(fd, size)


def _op_readinto(fd: int, view: memoryview) -> int:
    got = 0
    size = len(view)
    while got < size:
        n = os.readv(fd, [view[got : got + SYSCALL_CHUNK]])
        got += n
        if n < SYSCALL_CHUNK:
            break
    return got


def _op_read_to_end(fd: int, _: object) -> bytes:
    try:
        st = os.fstat(fd)
        pos = os.lseek(fd, 0, os.SEEK_CUR)
        hint = st.st_size - pos if stat_mod.S_ISREG(st.st_mode) else 0
    except OSError:
        hint = 0
    parts: list[bytes] = []
    size = max(hint + 1, READ_AHEAD) if hint > 0 else READ_AHEAD
    while True:
        data = os.read(fd, size)
        if not data:
            break
        parts.append(data)
        size = READ_AHEAD
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _op_seek(fd: int, arg: tuple[int, int]) -> int:
    return os.lseek(fd, arg[0], arg[1])


def _op_flush(fd: int, _: object) -> None:
    return None


def _op_sync_all(fd: int, _: object) -> None:
    os.fsync(fd)


def _op_sync_data(fd: int, _: object) -> None:
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS
        os.fsync(fd)


def _op_set_len(fd: int, size: int) -> None:
    os.ftruncate(fd, size)


def _op_metadata(fd: int, _: object) -> os.stat_result:
    return os.fstat(fd)


class _Opening:
    """The hand-over of an fd opened on the pool to the task that asked for it.

    The task may be cancelled while the job runs: then whichever side comes second (the job
    finishing, or the task giving up) closes the fd, so an abandoned open leaks nothing.
    """

    __slots__ = ("abandoned", "fd", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.abandoned = False
        self.fd: int | None = None

    def abandon(self) -> None:
        """The task gave up: close the fd if the job already handed one over."""
        with self.lock:
            self.abandoned = True
            fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


def _open_job(
    opening: _Opening, path: str | bytes, flags: int, mode: int
) -> tuple[int, os.stat_result]:
    fd = os.open(path, flags, mode)
    try:
        st = os.fstat(fd)
        if stat_mod.S_ISDIR(st.st_mode):
            raise IsADirectoryError(
                21, "Is a directory (use rt.fs.read_dir to list it)", os.fsdecode(path)
            )
        with opening.lock:
            abandoned = opening.abandoned
            if not abandoned:
                opening.fd = fd
    except BaseException:
        os.close(fd)
        raise
    if abandoned:  # nobody takes the result
        os.close(fd)
        return -1, st
    return fd, st


@final
class OpenOptions:
    """Build the options a file is opened with (Tokio's ``OpenOptions``).

    Every setter returns the builder, so calls chain::

        f = await rt.fs.OpenOptions().append(True).create(True).open("app.log")

    The defaults open nothing: set at least one of :meth:`read`, :meth:`write` or
    :meth:`append`.
    """

    __slots__ = (
        "_append",
        "_create",
        "_create_new",
        "_flags",
        "_mode",
        "_read",
        "_truncate",
        "_write",
    )

    def __init__(self) -> None:
        self._read = False
        self._write = False
        self._append = False
        self._truncate = False
        self._create = False
        self._create_new = False
        self._mode = 0o666
        self._flags = 0

    def read(self, read: bool = True) -> OpenOptions:
        """Open for reading.

        Args:
            read: Whether to read.

        Returns:
            This builder.
        """
        self._read = bool(read)
        return self

    def write(self, write: bool = True) -> OpenOptions:
        """Open for writing (at the start of the file, overwriting; see :meth:`append`).

        Args:
            write: Whether to write.

        Returns:
            This builder.
        """
        self._write = bool(write)
        return self

    def append(self, append: bool = True) -> OpenOptions:
        """Open for appending: every write goes to the end of the file (implies writing).

        Args:
            append: Whether to append.

        Returns:
            This builder.
        """
        self._append = bool(append)
        return self

    def truncate(self, truncate: bool = True) -> OpenOptions:
        """Cut the file to length 0 when it is opened (needs :meth:`write`).

        Args:
            truncate: Whether to truncate.

        Returns:
            This builder.
        """
        self._truncate = bool(truncate)
        return self

    def create(self, create: bool = True) -> OpenOptions:
        """Create the file if it does not exist (needs :meth:`write` or :meth:`append`).

        Args:
            create: Whether to create.

        Returns:
            This builder.
        """
        self._create = bool(create)
        return self

    def create_new(self, create_new: bool = True) -> OpenOptions:
        """Create the file, failing with ``FileExistsError`` if it exists (atomic).

        Overrides :meth:`create` and :meth:`truncate`.

        Args:
            create_new: Whether to require a new file.

        Returns:
            This builder.
        """
        self._create_new = bool(create_new)
        return self

    def mode(self, mode: int) -> OpenOptions:
        """Set the permission bits a created file gets (before the umask); default ``0o666``.

        Args:
            mode: Permission bits, e.g. ``0o600``.

        Returns:
            This builder.

        Raises:
            ValueError: ``mode`` is not an int between 0 and 0o7777.
        """
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            raise ValueError(f"mode must be an int between 0 and 0o7777, got {mode!r}")
        self._mode = mode
        return self

    def custom_flags(self, flags: int) -> OpenOptions:
        """Add ``os.O_*`` flags to the ``open(2)`` call (the access mode bits are ignored).

        Args:
            flags: Flags such as ``os.O_NOFOLLOW`` or ``os.O_SYNC``.

        Returns:
            This builder.
        """
        if isinstance(flags, bool) or not isinstance(flags, int):
            raise ValueError(f"flags must be an int of os.O_* bits, got {flags!r}")
        self._flags = flags & ~os.O_ACCMODE
        return self

    def _os_flags(self) -> int:
        writing = self._write or self._append
        if not (self._read or writing):
            raise ValueError(
                "OpenOptions opens nothing: call .read(), .write() or .append() before .open()"
            )
        if (self._truncate or self._create or self._create_new) and not writing:
            raise ValueError(
                "OpenOptions: .truncate(), .create() and .create_new() need .write() or .append()"
            )
        if self._truncate and self._append and not self._create_new:
            raise ValueError("OpenOptions: .truncate() and .append() contradict each other")
        flags = (os.O_RDWR if self._read else os.O_WRONLY) if writing else os.O_RDONLY
        if self._append:
            flags |= os.O_APPEND
        if self._create_new:
            flags |= os.O_CREAT | os.O_EXCL
        else:
            if self._create:
                flags |= os.O_CREAT
            if self._truncate:
                flags |= os.O_TRUNC
        return flags | self._flags | getattr(os, "O_CLOEXEC", 0)

    async def open(self, path: StrOrBytesPath) -> File:
        """Open ``path`` with these options.

        Args:
            path: The file to open (``str``, ``bytes`` or ``os.PathLike``).

        Returns:
            The open :class:`File`.

        Raises:
            ValueError: the options contradict each other or open nothing.
            FileNotFoundError: ``path`` does not exist (and :meth:`create` is not set).
            FileExistsError: :meth:`create_new` is set and ``path`` exists.
            IsADirectoryError: ``path`` is a directory.
            PermissionError: the permission bits do not allow the access asked for.

        Cancel safety: not cancel-safe: when cancelled after the open started, the file may be
        created (and is closed again at once).
        """
        p = fspath(path)
        flags = self._os_flags()
        opening = _Opening()
        try:
            fd, st = await join(rt.spawn_blocking(_open_job, opening, p, flags, self._mode))
        except BaseException:
            opening.abandon()  # closes the fd if the job opened it after all
            raise
        return File._new(fd, p, st, flags)

    def __repr__(self) -> str:
        on = [
            n
            for n in ("read", "write", "append", "truncate", "create", "create_new")
            if getattr(self, "_" + n)
        ]
        return f"<rt.fs.OpenOptions {' '.join(on) or 'nothing'} mode={self._mode:#o}>"


@final
class File:
    """An open file; its I/O runs on rt's blocking pool, batched (see the module notes).

    Open one with :meth:`open`, :meth:`create`, :meth:`create_new` or :class:`OpenOptions`,
    and close it with :meth:`close` or ``async with``::

        async with await rt.fs.File.create("out.bin") as f:
            await f.write_all(payload)
        # closed, and everything written is in the OS

    A File is a reader and a writer in rt.io's sense, so ``rt.io.BufReader(f).lines()``,
    ``rt.io.copy(f, stream)`` and ``rt.io.copy(stream, f)`` work on it.

    **Writes are buffered.** ``write`` returns once the bytes are in the File's buffer; they
    reach the OS in the background (each ``WRITE_BATCH`` bytes) and at :meth:`flush`,
    :meth:`close` or any other operation. A write error shows up at the next operation, as in
    Tokio. Data the OS has is not yet on disk: call :meth:`sync_all` for that.

    One operation at a time: use a File from one task, or guard it with an ``rt.sync.Mutex``.
    """

    __slots__ = (
        "__weakref__",
        "_busy",
        "_fd",
        "_job",
        "_nowait",
        "_on_done",
        "_ops",
        "_path",
        "_readable",
        "_readahead",
        "_rend",
        "_rewind",
        "_rpos",
        "_rview",
        "_seekable",
        "_unread",
        "_wbuf",
        "_wlen",
        "_writable",
        "_wspare",
    )

    _fd: _Fd | None
    _path: str | bytes
    _seekable: bool
    _readahead: bool
    _nowait: bool
    _readable: bool
    _writable: bool
    _ops: int
    _rview: memoryview | None
    _rpos: int
    _rend: int
    _unread: bytes
    _rewind: int
    _wbuf: memoryview | None
    _wspare: memoryview | None
    _wlen: int
    _job: rt.JoinHandle[Any] | None
    _on_done: Callable[[Any], None] | None
    _busy: bool

    def __init__(self) -> None:
        raise TypeError(
            "rt.fs.File is not built directly: use await rt.fs.File.open(path), "
            "File.create(path) or rt.fs.OpenOptions().open(path)"
        )

    @classmethod
    def _new(cls, fd: int, path: str | bytes, st: os.stat_result, flags: int) -> File:
        self = object.__new__(cls)
        self._fd = _Fd(fd)
        self._path = path
        access = flags & os.O_ACCMODE
        self._readable = access != os.O_WRONLY
        self._writable = access != os.O_RDONLY
        regular = stat_mod.S_ISREG(st.st_mode)
        self._seekable = regular or stat_mod.S_ISBLK(st.st_mode)
        self._readahead = regular
        self._nowait = regular and _NOWAIT != 0
        self._ops = 0
        self._rview = None
        self._rpos = self._rend = 0
        self._unread = b""
        self._rewind = 0
        self._wbuf = self._wspare = None
        self._wlen = 0
        self._job = None
        self._on_done = None
        self._busy = False
        return self

    # -- opening -------------------------------------------------------------------------

    @staticmethod
    async def open(path: StrOrBytesPath) -> File:
        """Open ``path`` for reading.

        Args:
            path: The file (``str``, ``bytes`` or ``os.PathLike``).

        Returns:
            The open :class:`File`.

        Raises:
            FileNotFoundError: ``path`` does not exist (the error names it).
            IsADirectoryError: ``path`` is a directory.
            PermissionError: reading is not allowed.

        Cancel safety: cancel-safe in effect: a file opened after the caller was cancelled is
        closed again.
        """
        return await OpenOptions().read().open(path)

    @staticmethod
    async def create(path: StrOrBytesPath) -> File:
        """Open ``path`` for writing, creating it, or truncating it if it exists.

        Args:
            path: The file (``str``, ``bytes`` or ``os.PathLike``).

        Returns:
            The open :class:`File`.

        Raises:
            FileNotFoundError: the parent directory does not exist.
            IsADirectoryError: ``path`` is a directory.
            PermissionError: writing is not allowed.

        Cancel safety: not cancel-safe: the file may be created (or truncated) although the
        caller was cancelled.
        """
        return await OpenOptions().write().create().truncate().open(path)

    @staticmethod
    async def create_new(path: StrOrBytesPath) -> File:
        """Create ``path`` for reading and writing; fail if it exists.

        Args:
            path: The file (``str``, ``bytes`` or ``os.PathLike``).

        Returns:
            The open :class:`File`.

        Raises:
            FileExistsError: ``path`` exists.

        Cancel safety: not cancel-safe: the file may be created although the caller was
        cancelled.
        """
        return await OpenOptions().read().write().create_new().open(path)

    @staticmethod
    def options() -> OpenOptions:
        """Return a new :class:`OpenOptions` builder (same as ``OpenOptions()``).

        Returns:
            A builder with nothing set.
        """
        return OpenOptions()

    # -- plumbing ------------------------------------------------------------------------

    def _enter(self, op: str) -> _Fd:
        box = self._fd
        if box is None:
            raise _closed_error(op)
        if self._busy:
            raise RuntimeError(
                f"{op}: another task is using this rt.fs.File; a File does one operation at "
                "a time (share it through an rt.sync.Mutex)"
            )
        return box

    def _buffered(self) -> int:
        return len(self._unread) + self._rend - self._rpos

    def _drop_read_ahead(self) -> None:
        unread = self._buffered()
        if unread and self._seekable:
            self._rewind += unread
            self._unread = b""
            self._rpos = self._rend = 0

    def _submit(
        self,
        box: _Fd,
        op: Callable[[int, Any], Any] | None,
        arg: Any = None,
        on_done: Callable[[Any], None] | None = None,
        extra: Buffer | None = None,
    ) -> None:
        assert self._job is None
        chunks: list[Buffer] | None = None
        if self._wlen:
            assert self._wbuf is not None
            chunks = [self._wbuf[: self._wlen]]
            # The job owns that buffer until it is settled; fill the other one meanwhile.
            self._wbuf, self._wspare = self._wspare, self._wbuf
            self._wlen = 0
        if extra is not None:
            if chunks is None:
                chunks = [extra]
            else:
                chunks.append(extra)
        rewind = self._rewind
        self._rewind = 0
        # spawn_blocking hands the job to the pool at once, under the pool's lock, which may
        # let another worker's task run meanwhile: it must find this File in use, not start
        # an operation of its own.
        self._busy = True
        try:
            self._job = rt.spawn_blocking(_job, box, rewind, chunks, op, arg)
        finally:
            self._busy = False
        self._on_done = on_done

    async def _settle(self) -> Any:
        """Wait for the job in flight, apply its effect, raise its error (invariant 3)."""
        job = self._job
        if job is None:
            return None
        self._busy = True
        try:
            result = await job
        except rt.JoinError as err:
            if self._job is job:
                self._job = None
                self._on_done = None
            exc = err.exception
            if exc is None:
                raise
            raise exc from None
        finally:
            self._busy = False
        if self._job is job:
            self._job = None
            on_done = self._on_done
            self._on_done = None
            if on_done is not None:
                on_done(result)
        return result

    async def _run(self, box: _Fd, op: Callable[[int, Any], Any] | None, arg: Any = None) -> Any:
        if self._job is not None:
            await self._settle()
        self._drop_read_ahead()
        self._submit(box, op, arg)
        return await self._settle()

    def _filled(self, count: int) -> None:
        self._rpos = 0
        self._rend = count

    def _kept(self, data: bytes) -> None:
        self._unread += data

    def _take(self, n: int) -> bytes:
        unread = self._unread
        if unread:
            if len(unread) <= n:
                self._unread = b""
                return unread
            self._unread = unread[n:]
            return unread[:n]
        pos = self._rpos
        end = min(pos + n, self._rend)
        self._rpos = end
        assert self._rview is not None
        return bytes(self._rview[pos:end])

    def _read_now(self, box: _Fd) -> int | None:
        """Read ahead from the page cache on this thread; ``None`` if that would wait."""
        view = self._rview
        if view is None:
            view = self._rview = memoryview(bytearray(READ_AHEAD))
        try:
            count = os.preadv(box.fd, [view[:NOWAIT_CHUNK]], -1, _NOWAIT)
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno in _NOWAIT_UNSUPPORTED:
                self._nowait = False
                return None
            raise
        self._rpos = 0
        self._rend = count
        return count

    def _submit_read(self, box: _Fd, n: int) -> None:
        if not self._readahead or n >= READ_AHEAD:
            self._submit(box, _op_read, n, self._kept)
            return
        view = self._rview
        if view is None:
            view = self._rview = memoryview(bytearray(READ_AHEAD))
        self._submit(box, _op_readinto, view, self._filled)

    # -- reading -------------------------------------------------------------------------

    async def read(self, n: int = DEFAULT_READ) -> bytes:
        """Read up to ``n`` bytes from the current position; ``b""`` at end of file.

        A read at the end of a file that grows later returns the new bytes then (the end is
        not remembered), which is what a log tailer needs.

        Args:
            n: The most bytes to return.

        Returns:
            Between 1 and ``n`` bytes, or ``b""`` at end of file (or when ``n`` is 0).

        Raises:
            ValueError: the file is closed, or ``n`` is negative.
            io.UnsupportedOperation: the file is not open for reading.
            OSError: the read failed (or a background write before it did).

        Cancel safety: cancel-safe: when cancelled while the pool reads, the bytes it read are
        kept for the next read; nothing is lost.
        """
        pos = self._rpos
        if pos < self._rend and not self._unread and not self._busy and n > 0:
            # The hot path (a read served by the read-ahead): kept lean on purpose. The budget
            # is charged every _BATCH reads, before anything is taken.
            ops = self._ops + 1
            if ops < _BATCH:
                self._ops = ops
            else:
                self._ops = 0
                if budget_spent(_BATCH):
                    await checkpoint()
                    return await self.read(n)
            end = pos + n
            end = min(end, self._rend)
            self._rpos = end
            return bytes(self._rview[pos:end])  # type: ignore[index]
        if self._unread and not self._busy and n > 0:
            return self._take(n)
        box = self._enter("read()")
        _check_size(n, "read")
        if not self._readable:
            raise _unsupported("read()", "reading")
        if n == 0:
            return b""
        if self._job is not None:
            await self._settle()
            if self._buffered():
                return self._take(n)
        if self._nowait and not self._wlen and not self._rewind:
            got = self._read_now(box)
            if got is not None:
                if budget_spent():
                    await checkpoint()
                return self._take(n) if got else b""
        self._submit_read(box, n)
        await self._settle()
        return self._take(n) if self._buffered() else b""

    async def read_exact(self, n: int) -> bytes:
        """Read exactly ``n`` bytes.

        Args:
            n: How many bytes.

        Returns:
            ``n`` bytes.

        Raises:
            rt.io.IncompleteReadError: the file ended first (an ``EOFError``; ``.partial`` has
                the bytes there were, which are consumed).
            ValueError: the file is closed, or ``n`` is negative.
            io.UnsupportedOperation: the file is not open for reading.

        Cancel safety: cancel-safe: nothing is consumed unless it returns (or raises
        ``IncompleteReadError``).
        """
        self._enter("read_exact()")
        _check_size(n, "read_exact")
        if not self._readable:
            raise _unsupported("read_exact()", "reading")
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
                self._unread = b"".join(parts) + self._unread
            raise
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def read_to_end(self) -> bytes:
        """Read from the current position to the end of the file.

        Returns:
            Every remaining byte (``b""`` at end of file).

        Raises:
            ValueError: the file is closed.
            io.UnsupportedOperation: the file is not open for reading.
            OSError: the read failed.

        Cancel safety: not cancel-safe: when cancelled while the pool reads, the bytes read so
        far are lost and the position is at the end of the file.
        """
        box = self._enter("read_to_end()")
        if not self._readable:
            raise _unsupported("read_to_end()", "reading")
        if self._job is not None:
            await self._settle()
        buffered = self._buffered()
        head = b""
        while buffered:
            head += self._take(buffered)
            buffered = self._buffered()
        self._submit(box, _op_read_to_end)
        rest: bytes = await self._settle()
        return head + rest if head else rest

    # -- writing -------------------------------------------------------------------------

    async def write(self, data: Buffer) -> int:
        """Write all of ``data`` into the File's buffer; return its length.

        The bytes are copied, so the caller may reuse ``data`` at once. They reach the OS in
        the background in batches, and at :meth:`flush`, :meth:`close` or the next other
        operation; an error doing so is raised by that later operation (as in Tokio).

        Args:
            data: The bytes.

        Returns:
            ``len(data)`` (in bytes): a File write is never short.

        Raises:
            ValueError: the file is closed.
            io.UnsupportedOperation: the file is not open for writing.
            OSError: the previous background write failed (``data`` was not taken then).

        Cancel safety: cancel-safe: when cancelled (while waiting for the previous batch to
        reach the OS), ``data`` was not taken.
        """
        box = self._enter("write()")
        if not self._writable:
            raise _unsupported("write()", "writing")
        n = data.nbytes if isinstance(data, memoryview) else len(data)
        if self._unread or self._rpos < self._rend:
            self._drop_read_ahead()
        if type(data) is memoryview and data.format != "B":
            data = data.cast("B")
        wbuf = self._wbuf
        end = self._wlen + n
        if wbuf is not None and end <= len(wbuf):
            wbuf[self._wlen : end] = data
            self._wlen = end
            return n
        if n >= WRITE_BATCH:
            # Too big to copy into a batch: it goes to the pool as it is, after the batch.
            if self._job is not None:
                await self._settle()
            self._submit(box, None, extra=data if isinstance(data, bytes) else bytes(data))
            return n
        if end > WRITE_BATCH:
            # A full batch: hand it to the pool and return while it writes (one job in
            # flight, so wait for the one before it first).
            if self._job is not None:
                await self._settle()
            self._submit(box, None)
            wbuf = self._wbuf
            end = n
        if wbuf is None or len(wbuf) < end:
            # Buffers grow while a File keeps filling them, up to WRITE_BATCH.
            spare = self._wspare
            size = max(FIRST_WRITE_BUF, 0 if spare is None else len(spare))
            if wbuf is not None:
                size = max(size, len(wbuf) * 2)
            while size < end:
                size *= 2
            grown = memoryview(bytearray(min(size, WRITE_BATCH)))
            if self._wlen:
                assert wbuf is not None
                grown[: self._wlen] = wbuf[: self._wlen]
            wbuf = self._wbuf = grown
        wbuf[self._wlen : end] = data
        self._wlen = end
        return n

    async def write_all(self, data: Buffer) -> None:
        """Write all of ``data``; the same as :meth:`write` (a File write is never short).

        Args:
            data: The bytes.

        Raises:
            ValueError: the file is closed.
            io.UnsupportedOperation: the file is not open for writing.
            OSError: the previous background write failed.

        Cancel safety: cancel-safe, as :meth:`write`: when cancelled, nothing was taken.
        """
        await self.write(data)

    async def flush(self) -> None:
        """Hand every buffered byte to the OS and wait until it has them.

        Raises:
            ValueError: the file is closed.
            OSError: a write failed.

        Cancel safety: cancel-safe in effect: when cancelled, the bytes still reach the OS in
        the background, in order, and the next operation reports an error they hit.
        """
        box = self._enter("flush()")
        if self._job is not None:
            await self._settle()
        if self._wlen:
            self._submit(box, _op_flush)
            await self._settle()

    async def shutdown(self) -> None:
        """Flush (rt.io's writer protocol; a file has no other end to tell).

        Raises:
            ValueError: the file is closed.
            OSError: a write failed.

        Cancel safety: as :meth:`flush`.
        """
        await self.flush()

    # -- positioning, metadata, durability ------------------------------------------------

    async def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move the position, as ``os.lseek``; return the new position from the start.

        Args:
            offset: Bytes, relative to ``whence``.
            whence: ``os.SEEK_SET`` (default), ``os.SEEK_CUR`` or ``os.SEEK_END``.

        Returns:
            The new position.

        Raises:
            ValueError: the file is closed, or ``whence`` is not one of the three.
            OSError: the file is not seekable (``ESPIPE``) or the position would be negative
                (``EINVAL``).

        Cancel safety: not cancel-safe: when cancelled, the position may have moved (buffered
        writes still reach the OS first, in order).
        """
        box = self._enter("seek()")
        if whence not in (os.SEEK_SET, os.SEEK_CUR, os.SEEK_END):
            raise ValueError(f"whence must be os.SEEK_SET, SEEK_CUR or SEEK_END, got {whence!r}")
        result: int = await self._run(box, _op_seek, (offset, whence))
        return result

    async def tell(self) -> int:
        """Return the current position (Tokio's ``stream_position``).

        Returns:
            Bytes from the start of the file.

        Raises:
            ValueError: the file is closed.

        Cancel safety: cancel-safe in effect: buffered writes still reach the OS in order.
        """
        return await self.seek(0, os.SEEK_CUR)

    async def set_len(self, size: int) -> None:
        """Truncate or extend the file to ``size`` bytes; the position does not move.

        Args:
            size: The new length.

        Raises:
            ValueError: the file is closed, or ``size`` is negative.
            OSError: the file is not open for writing (``EINVAL`` / ``EBADF``).

        Cancel safety: not cancel-safe: when cancelled, the length may still change.
        """
        box = self._enter("set_len()")
        _check_size(size, "set_len")
        await self._run(box, _op_set_len, size)

    async def metadata(self) -> os.stat_result:
        """Return the file's metadata (``os.fstat``), after buffered writes reach the OS.

        Returns:
            An ``os.stat_result``.

        Raises:
            ValueError: the file is closed.

        Cancel safety: cancel-safe (it changes nothing; buffered writes go out either way).
        """
        box = self._enter("metadata()")
        if self._job is not None:
            await self._settle()
        self._submit(box, _op_metadata, None)
        result: os.stat_result = await self._settle()
        return result

    async def sync_all(self) -> None:
        """Flush, then wait until the data and metadata are on disk (``fsync``).

        Raises:
            ValueError: the file is closed.
            OSError: a write or the sync failed.

        Cancel safety: cancel-safe in effect: the sync still completes in the background.
        """
        box = self._enter("sync_all()")
        await self._run(box, _op_sync_all)

    async def sync_data(self) -> None:
        """Flush, then wait until the data is on disk (``fdatasync``: metadata may lag).

        Raises:
            ValueError: the file is closed.
            OSError: a write or the sync failed.

        Cancel safety: cancel-safe in effect: the sync still completes in the background.
        """
        box = self._enter("sync_data()")
        await self._run(box, _op_sync_data)

    # -- closing -------------------------------------------------------------------------

    def fileno(self) -> int:
        """Return the OS file descriptor.

        Raises:
            ValueError: the file is closed.
        """
        box = self._fd
        if box is None:
            raise _closed_error("fileno()")
        return box.fd

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._fd is None

    @property
    def name(self) -> str | bytes:
        """The path the file was opened with."""
        return self._path

    async def close(self) -> None:
        """Flush, wait for the pool, and close the file. Calling it again does nothing.

        Raises:
            OSError: a buffered write failed (the file is closed anyway).

        Cancel safety: shielded: a cancelled caller still waits until the buffered bytes
        reach the OS and the fd is closed; the cancellation is seen at its next checkpoint.
        """
        box = self._fd
        if box is None:
            return
        if self._busy:
            raise RuntimeError("close(): another task is using this rt.fs.File")
        # Shielded: a close that gave up half-way would lose buffered bytes or leak the fd.
        with rt.CancelScope(shield=True):
            try:
                if self._job is not None:
                    await self._settle()
                if self._wlen:
                    self._submit(box, _op_flush)
                    await self._settle()
            finally:
                self._fd = None
                self._unread = b""
                self._rview = None
                self._rpos = self._rend = 0
                self._wbuf = self._wspare = None
                self._wlen = 0
                box.close()

    async def __aenter__(self) -> File:
        """Return this file.

        Cancel safety: cancel-safe (it does nothing).
        """
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the file (see :meth:`close`).

        Cancel safety: shielded, as :meth:`close`.
        """
        await self.close()

    def __del__(self) -> None:
        box = getattr(self, "_fd", None)
        if box is None:
            return
        warnings.warn(
            f"rt.fs.File {self._path!r} was never closed: close it with 'await f.close()' "
            "or 'async with'",
            ResourceWarning,
            stacklevel=2,
        )
        # Like io.BufferedWriter: bytes written but not yet handed over are written now, in
        # order after the job in flight (the fd's lock orders them).
        if self._wlen and self._wbuf is not None:
            try:
                with box.lock:
                    if box.fd >= 0:
                        if self._rewind:
                            os.lseek(box.fd, -self._rewind, os.SEEK_CUR)
                        _write_fully(box.fd, self._wbuf[: self._wlen])
            except OSError:
                pass

    def __repr__(self) -> str:
        state = "closed" if self._fd is None else f"fd={self._fd.fd}"
        return f"<rt.fs.File {self._path!r} {state}>"
