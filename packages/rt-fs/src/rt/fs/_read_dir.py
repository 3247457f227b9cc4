"""read_dir, DirEntry and FileType.

A directory is listed a batch of entries per pool job (``os.scandir`` on the pool thread), the
batches growing from ``FIRST_BATCH`` to ``MAX_BATCH`` so the first entry comes quickly and a
large directory costs few round trips. Each entry's kind is settled in the same job: from the
directory entry itself where the file system reports it (``d_type``), with one ``lstat`` on the
pool thread where it does not, so ``await entry.file_type()`` never leaves the task.
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Generator, Iterator
from typing import Any, Final, final

import rt

from ._pool import StrOrBytesPath, fspath, join, run

FIRST_BATCH: Final = 128
MAX_BATCH: Final = 4096


@final
class FileType:
    """What kind of file a path or directory entry is (Tokio's ``FileType``).

    Symbolic links are reported as links (not followed). Build one from a stat result with
    :meth:`of`.
    """

    __slots__ = ("_fmt",)

    def __init__(self, mode: int) -> None:
        self._fmt = stat_mod.S_IFMT(mode)

    @staticmethod
    def of(st: os.stat_result) -> FileType:
        """Return the file type of a stat result.

        Args:
            st: From :func:`rt.fs.metadata`, ``os.stat`` or similar.

        Returns:
            Its :class:`FileType`.
        """
        return FileType(st.st_mode)

    def is_dir(self) -> bool:
        """Return whether it is a directory."""
        return self._fmt == stat_mod.S_IFDIR

    def is_file(self) -> bool:
        """Return whether it is a regular file."""
        return self._fmt == stat_mod.S_IFREG

    def is_symlink(self) -> bool:
        """Return whether it is a symbolic link."""
        return self._fmt == stat_mod.S_IFLNK

    def is_fifo(self) -> bool:
        """Return whether it is a named pipe."""
        return self._fmt == stat_mod.S_IFIFO

    def is_socket(self) -> bool:
        """Return whether it is a Unix socket."""
        return self._fmt == stat_mod.S_IFSOCK

    def is_block_device(self) -> bool:
        """Return whether it is a block device."""
        return self._fmt == stat_mod.S_IFBLK

    def is_char_device(self) -> bool:
        """Return whether it is a character device."""
        return self._fmt == stat_mod.S_IFCHR

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileType) and other._fmt == self._fmt

    def __hash__(self) -> int:
        return hash(self._fmt)

    def __repr__(self) -> str:
        names = {
            stat_mod.S_IFDIR: "dir",
            stat_mod.S_IFREG: "file",
            stat_mod.S_IFLNK: "symlink",
            stat_mod.S_IFIFO: "fifo",
            stat_mod.S_IFSOCK: "socket",
            stat_mod.S_IFBLK: "block_device",
            stat_mod.S_IFCHR: "char_device",
        }
        return f"<rt.fs.FileType {names.get(self._fmt, 'unknown')}>"


_DIR: Final = FileType(stat_mod.S_IFDIR)
_FILE: Final = FileType(stat_mod.S_IFREG)
_LINK: Final = FileType(stat_mod.S_IFLNK)


@final
class DirEntry:
    """One entry of a directory listed by :func:`read_dir`.

    It is also a path (``os.PathLike``): ``await rt.fs.read(entry)`` reads it.
    """

    __slots__ = ("_entry", "_type")

    _entry: os.DirEntry[Any]
    _type: FileType

    def __init__(self) -> None:
        raise TypeError("rt.fs.DirEntry objects come from rt.fs.read_dir()")

    @classmethod
    def _new(cls, entry: os.DirEntry[Any], ftype: FileType) -> DirEntry:
        self = object.__new__(cls)
        self._entry = entry
        self._type = ftype
        return self

    def path(self) -> str | bytes:
        """Return the entry's full path: the directory joined with :meth:`file_name`.

        Returns:
            ``bytes`` when the directory was given as ``bytes``, ``str`` otherwise.
        """
        path: str | bytes = self._entry.path
        return path

    def file_name(self) -> str | bytes:
        """Return the entry's name inside its directory."""
        name: str | bytes = self._entry.name
        return name

    def ino(self) -> int:
        """Return the entry's inode number."""
        return self._entry.inode()

    async def file_type(self) -> FileType:
        """Return the entry's kind (a symbolic link is reported as one, not followed).

        Returns:
            Its :class:`FileType`, found while listing (no further pool job).

        Cancel safety: cancel-safe (it changes nothing).
        """
        return self._type

    async def metadata(self) -> os.stat_result:
        """Return the entry's metadata, not following a symbolic link (one pool job).

        Returns:
            An ``os.stat_result``.

        Raises:
            FileNotFoundError: the entry was removed since it was listed.

        Cancel safety: cancel-safe (it changes nothing).
        """
        return await run(_lstat_entry, self._entry)

    def __fspath__(self) -> Any:
        return self._entry.path

    def __repr__(self) -> str:
        return f"<rt.fs.DirEntry {self._entry.name!r}>"


def _lstat_entry(entry: os.DirEntry[Any]) -> os.stat_result:
    return entry.stat(follow_symlinks=False)


def _kind(entry: os.DirEntry[Any]) -> FileType:
    # Each of these answers from d_type when the file system filled it in, else lstats once
    # (the result is cached on the entry).
    if entry.is_symlink():
        return _LINK
    if entry.is_dir(follow_symlinks=False):
        return _DIR
    if entry.is_file(follow_symlinks=False):
        return _FILE
    return FileType(entry.stat(follow_symlinks=False).st_mode)


def _next_batch(
    it: Iterator[os.DirEntry[Any]], n: int
) -> tuple[list[tuple[os.DirEntry[Any], FileType]], bool]:
    out = []
    for entry in it:
        try:
            kind = _kind(entry)
        except FileNotFoundError:
            continue  # removed while we listed it: as if listed a moment later
        out.append((entry, kind))
        if len(out) >= n:
            return out, False
    return out, True


def _open_batch(
    path: str | bytes, it: Any, n: int
) -> tuple[Any, list[tuple[os.DirEntry[Any], FileType]], bool]:
    if it is None:
        it = os.scandir(path)
    try:
        batch, done = _next_batch(it, n)
    except BaseException:
        it.close()
        raise
    if done:
        it.close()
    return it, batch, done


@final
class ReadDir:
    """The entries of a directory, as an async iterator (``.`` and ``..`` are left out).

    Iterate it directly, or await it first to open the directory eagerly (Tokio's shape)::

        async for entry in rt.fs.read_dir(path):
            ...
        entries = await rt.fs.read_dir(path)   # raises here if path is missing
        while (entry := await entries.next_entry()) is not None:
            ...

    Entries come a batch per pool job. Leaving the loop early is fine; :meth:`close` (or
    garbage collection) releases the open directory.
    """

    __slots__ = ("_batch", "_busy", "_closed", "_done", "_it", "_job", "_next", "_path", "_pos")

    _path: str | bytes
    _it: Any
    _job: rt.JoinHandle[tuple[Any, list[tuple[os.DirEntry[Any], FileType]], bool]] | None
    _batch: list[tuple[os.DirEntry[Any], FileType]]
    _pos: int
    _next: int
    _done: bool
    _closed: bool
    _busy: bool

    def __init__(self) -> None:
        raise TypeError("rt.fs.ReadDir objects come from rt.fs.read_dir()")

    @classmethod
    def _new(cls, path: str | bytes) -> ReadDir:
        self = object.__new__(cls)
        self._path = path
        self._it = None
        self._job = None
        self._batch = []
        self._pos = 0
        self._next = FIRST_BATCH
        self._done = False
        self._closed = False
        self._busy = False
        return self

    async def _fill(self) -> None:
        if self._busy:
            raise RuntimeError("another task is iterating this rt.fs.ReadDir")
        job = self._job
        if job is None:
            # The iterator is used by one job at a time: a cancelled fill leaves its job here
            # and the next fill takes that job's batch instead of starting another.
            job = self._job = rt.spawn_blocking(_open_batch, self._path, self._it, self._next)
        self._busy = True
        try:
            it, batch, done = await join(job)
        finally:
            self._busy = False
            if job.is_finished():
                self._job = None
        self._next = min(self._next * 2, MAX_BATCH)
        self._it = None if done else it
        self._done = done
        if self._closed:
            self.close()
            return
        self._batch = batch
        self._pos = 0

    async def next_entry(self) -> DirEntry | None:
        """Return the next entry, or ``None`` when the listing is complete.

        Returns:
            A :class:`DirEntry`, or ``None``.

        Raises:
            FileNotFoundError: the directory does not exist (the error names it).
            NotADirectoryError: the path is not a directory.
            PermissionError: the directory cannot be listed.

        Cancel safety: cancel-safe: a batch being read when the caller is cancelled is kept
        for the next call.
        """
        while self._pos >= len(self._batch):
            if self._done:
                return None
            await self._fill()
        entry, kind = self._batch[self._pos]
        self._pos += 1
        return DirEntry._new(entry, kind)

    def __aiter__(self) -> ReadDir:
        return self

    async def __anext__(self) -> DirEntry:
        """Return the next entry; raise ``StopAsyncIteration`` at the end.

        Cancel safety: cancel-safe, as :meth:`next_entry`.
        """
        entry = await self.next_entry()
        if entry is None:
            raise StopAsyncIteration
        return entry

    def __await__(self) -> Generator[Any, None, ReadDir]:
        """Open the directory now (reading the first batch) and return this ``ReadDir``.

        Raises:
            FileNotFoundError: the directory does not exist.
            NotADirectoryError: the path is not a directory.

        Cancel safety: cancel-safe: the batch being read is kept for the first entry.
        """
        if self._it is None and not self._done and not self._batch and not self._busy:
            yield from self._fill().__await__()
        return self

    def close(self) -> None:
        """Stop listing and release the open directory. Calling it again does nothing."""
        self._closed = self._done = True
        self._batch = []
        self._pos = 0
        if self._job is None:  # else the job in flight owns the iterator; _fill closes it
            it, self._it = self._it, None
            if it is not None:
                it.close()

    def __del__(self) -> None:
        it = getattr(self, "_it", None)
        if it is not None and getattr(self, "_job", None) is None:
            it.close()

    def __repr__(self) -> str:
        return f"<rt.fs.ReadDir {self._path!r}>"


def read_dir(path: StrOrBytesPath) -> ReadDir:
    """List a directory: return an async iterator of its entries (see :class:`ReadDir`).

    Args:
        path: The directory (``str``, ``bytes`` or ``os.PathLike``).

    Returns:
        A :class:`ReadDir`; the directory is opened at the first ``await`` or iteration, which
        raises ``FileNotFoundError`` / ``NotADirectoryError`` / ``PermissionError``.
    """
    return ReadDir._new(fspath(path))
