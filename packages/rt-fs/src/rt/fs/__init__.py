"""rt.fs: Tokio's file system module: File, OpenOptions, read_dir and the free functions.

Files are "always ready" to an event loop, so, as in Tokio, their I/O runs on the runtime's
blocking pool (``rt.spawn_blocking``). Round trips to the pool are what costs, so rt.fs
batches them:

- every free function (:func:`read`, :func:`write`, :func:`copy`, :func:`metadata`, ...) is one
  pool job, whatever it does;
- a :class:`File` reads ahead, straight from the page cache on the runtime thread when the
  data is there (``preadv2(RWF_NOWAIT)``, no job at all) and a mebibyte per job when it is
  not, and collects writes into batches that go to the pool while the caller goes on writing;
- :func:`read_dir` lists a directory a batch of entries per job, with each entry's kind found in
  the same job.

Paths are ``str``, ``bytes`` or ``os.PathLike``; errors are the matching ``OSError``
subclasses (``FileNotFoundError`` naming the path, ``IsADirectoryError``,
``PermissionError``, ...); a closed :class:`File` raises ``ValueError``. Every awaitable's
docstring says what a cancellation leaves behind: work handed to the pool always finishes,
and a File orders everything after it, so nothing is torn or reordered. A job that blocks in
the OS (opening or reading a FIFO nobody writes to) holds its pool thread, and runtime
shutdown waits for the pool, as in Tokio: ``Runtime.shutdown(timeout=...)`` bounds the wait.
"""

from __future__ import annotations

from rt._exports import public

from ._file import File, OpenOptions
from ._ops import (
    canonicalize,
    copy,
    create_dir,
    create_dir_all,
    hard_link,
    metadata,
    read,
    read_link,
    read_to_string,
    remove_dir,
    remove_dir_all,
    remove_file,
    rename,
    set_permissions,
    symlink,
    symlink_metadata,
    try_exists,
    write,
)
from ._read_dir import DirEntry, FileType, ReadDir, read_dir

__all__ = [
    "DirEntry",
    "File",
    "FileType",
    "OpenOptions",
    "ReadDir",
    "canonicalize",
    "copy",
    "create_dir",
    "create_dir_all",
    "hard_link",
    "metadata",
    "read",
    "read_dir",
    "read_link",
    "read_to_string",
    "remove_dir",
    "remove_dir_all",
    "remove_file",
    "rename",
    "set_permissions",
    "symlink",
    "symlink_metadata",
    "try_exists",
    "write",
]

public(globals())
