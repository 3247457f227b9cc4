"""The free functions: each is one blocking-pool job, whatever it does (open, read, close).

Cancel safety, for all of them: a call handed to the pool completes there even when the caller
is cancelled (a running thread cannot be interrupted); only its result is dropped. So a
cancelled ``write`` may still write the file, a cancelled ``remove_file`` may still remove it.
"""

from __future__ import annotations

import os
import shutil
import stat as stat_mod

from ._file import _write_fully
from ._pool import StrOrBytesPath, fspath, run

Buffer = bytes | bytearray | memoryview


def _read(path: str | bytes) -> bytes:
    with open(path, "rb", buffering=0) as f:
        return f.readall()


def _read_text(path: str | bytes, encoding: str, errors: str) -> str:
    with open(path, "rb", buffering=0) as f:
        return f.readall().decode(encoding, errors)


def _write(path: str | bytes, data: Buffer) -> None:
    with open(path, "wb", buffering=0) as f:
        _write_fully(f.fileno(), data)


def _copy(src: str | bytes, dst: str | bytes) -> int:
    shutil.copyfile(src, dst)
    shutil.copymode(src, dst)
    return os.stat(dst).st_size


def _remove_dir_all(path: str | bytes) -> None:
    st = os.lstat(path)
    if not stat_mod.S_ISDIR(st.st_mode):
        raise NotADirectoryError(20, "Not a directory (use rt.fs.remove_file)", os.fsdecode(path))
    shutil.rmtree(path)


def _create_dir_all(path: str | bytes) -> None:
    os.makedirs(path, exist_ok=True)


def _canonicalize(path: str | bytes) -> str | bytes:
    return os.path.realpath(path, strict=True)


def _try_exists(path: str | bytes) -> bool:
    try:
        os.stat(path)
    except FileNotFoundError:
        return False
    return True


def _mode(mode: object) -> int:
    if isinstance(mode, os.stat_result):
        return stat_mod.S_IMODE(mode.st_mode)
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
        raise ValueError(f"mode must be an int between 0 and 0o7777 (e.g. 0o644), got {mode!r}")
    return mode


async def read(path: StrOrBytesPath) -> bytes:
    """Read a whole file.

    Args:
        path: The file (``str``, ``bytes`` or ``os.PathLike``).

    Returns:
        Its contents.

    Raises:
        FileNotFoundError: ``path`` does not exist (the error names it).
        IsADirectoryError: ``path`` is a directory.
        PermissionError: reading is not allowed.

    Cancel safety: cancel-safe (it changes nothing; the read finishes in the background).
    """
    return await run(_read, fspath(path))


async def read_to_string(
    path: StrOrBytesPath, *, encoding: str = "utf-8", errors: str = "strict"
) -> str:
    """Read a whole file and decode it (UTF-8 by default, as in Tokio).

    Args:
        path: The file (``str``, ``bytes`` or ``os.PathLike``).
        encoding: The text encoding.
        errors: How decoding errors are handled, as in ``bytes.decode``.

    Returns:
        The text.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a directory.
        UnicodeDecodeError: the bytes are not valid in ``encoding`` (with ``errors="strict"``).

    Cancel safety: cancel-safe (it changes nothing).
    """
    return await run(_read_text, fspath(path), encoding, errors)


async def write(path: StrOrBytesPath, data: Buffer | str) -> None:
    """Write ``data`` to a file, creating it or replacing its contents.

    Args:
        path: The file (``str``, ``bytes`` or ``os.PathLike``).
        data: Bytes, or a ``str``, which is written UTF-8 encoded.

    Raises:
        FileNotFoundError: the parent directory does not exist.
        IsADirectoryError: ``path`` is a directory.
        PermissionError: writing is not allowed.

    Cancel safety: not cancel-safe: the file may be written although the caller was cancelled.
    """
    p = fspath(path)
    if isinstance(data, str):
        payload: Buffer = data.encode()
    elif isinstance(data, bytes):
        payload = data
    elif isinstance(data, bytearray | memoryview):
        payload = bytes(data)  # the caller may change it while the pool writes
    else:
        raise TypeError(f"data must be bytes-like or str, got {type(data).__name__}")
    await run(_write, p, payload)


async def copy(src: StrOrBytesPath, dst: StrOrBytesPath) -> int:
    """Copy a file's contents and permission bits to ``dst`` (replacing it); return the size.

    Args:
        src: The file to copy.
        dst: Where to (a file path, not a directory).

    Returns:
        The number of bytes copied.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        IsADirectoryError: ``src`` or ``dst`` is a directory.
        shutil.SameFileError: ``src`` and ``dst`` are the same file (an ``OSError``).

    Cancel safety: not cancel-safe: the copy may complete (or be left partial) in the
    background.
    """
    return await run(_copy, fspath(src, "src"), fspath(dst, "dst"))


async def rename(src: StrOrBytesPath, dst: StrOrBytesPath) -> None:
    """Rename ``src`` to ``dst``, replacing ``dst`` if it is a file (``os.replace``).

    Args:
        src: The current path.
        dst: The new path.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        IsADirectoryError: ``src`` is a file and ``dst`` a directory.
        OSError: across file systems (``EXDEV``), or ``dst`` is a non-empty directory.

    Cancel safety: not cancel-safe: the rename may happen although the caller was cancelled.
    """
    await run(os.replace, fspath(src, "src"), fspath(dst, "dst"))


async def remove_file(path: StrOrBytesPath) -> None:
    """Remove a file (or a symbolic link).

    Args:
        path: The file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a directory (use :func:`remove_dir`).

    Cancel safety: not cancel-safe: the file may be removed although the caller was cancelled.
    """
    await run(os.remove, fspath(path))


async def remove_dir(path: StrOrBytesPath) -> None:
    """Remove an empty directory.

    Args:
        path: The directory.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NotADirectoryError: ``path`` is not a directory.
        OSError: the directory is not empty (``ENOTEMPTY``; use :func:`remove_dir_all`).

    Cancel safety: not cancel-safe: it may be removed although the caller was cancelled.
    """
    await run(os.rmdir, fspath(path))


async def remove_dir_all(path: StrOrBytesPath) -> None:
    """Remove a directory and everything in it (symbolic links are removed, not followed).

    Args:
        path: The directory.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        NotADirectoryError: ``path`` is not a directory (a symbolic link to one included).

    Cancel safety: not cancel-safe: removal goes on in the background when cancelled.
    """
    await run(_remove_dir_all, fspath(path))


async def create_dir(path: StrOrBytesPath) -> None:
    """Create a directory; its parent must exist.

    Args:
        path: The new directory.

    Raises:
        FileExistsError: ``path`` exists.
        FileNotFoundError: the parent does not exist (use :func:`create_dir_all`).

    Cancel safety: not cancel-safe: it may be created although the caller was cancelled.
    """
    await run(os.mkdir, fspath(path))


async def create_dir_all(path: StrOrBytesPath) -> None:
    """Create a directory and any missing parents; a directory already there is fine.

    Args:
        path: The directory.

    Raises:
        FileExistsError: ``path`` (or a parent) exists and is not a directory.

    Cancel safety: not cancel-safe: some of them may be created when cancelled.
    """
    await run(_create_dir_all, fspath(path))


async def metadata(path: StrOrBytesPath) -> os.stat_result:
    """Return a path's metadata, following symbolic links (``os.stat``).

    Args:
        path: The path.

    Returns:
        An ``os.stat_result`` (``rt.fs.FileType.of(result)`` tells its kind).

    Raises:
        FileNotFoundError: ``path`` does not exist.

    Cancel safety: cancel-safe (it changes nothing).
    """
    return await run(os.stat, fspath(path))


async def symlink_metadata(path: StrOrBytesPath) -> os.stat_result:
    """Return a path's metadata without following a final symbolic link (``os.lstat``).

    Args:
        path: The path.

    Returns:
        An ``os.stat_result``.

    Raises:
        FileNotFoundError: ``path`` does not exist.

    Cancel safety: cancel-safe (it changes nothing).
    """
    return await run(os.lstat, fspath(path))


async def canonicalize(path: StrOrBytesPath) -> str | bytes:
    """Return the absolute path with every symbolic link, ``.`` and ``..`` resolved.

    Args:
        path: An existing path.

    Returns:
        The canonical path (``bytes`` for a ``bytes`` argument, ``str`` otherwise).

    Raises:
        FileNotFoundError: ``path`` (or a link in it) does not exist.

    Cancel safety: cancel-safe (it changes nothing).
    """
    return await run(_canonicalize, fspath(path))


async def hard_link(src: StrOrBytesPath, dst: StrOrBytesPath) -> None:
    """Create ``dst`` as a new name (hard link) for the file ``src``.

    Args:
        src: The existing file.
        dst: The new name.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        FileExistsError: ``dst`` exists.

    Cancel safety: not cancel-safe: the link may be made although the caller was cancelled.
    """
    await run(os.link, fspath(src, "src"), fspath(dst, "dst"))


async def symlink(original: StrOrBytesPath, link: StrOrBytesPath) -> None:
    """Create the symbolic link ``link`` pointing to ``original`` (which need not exist).

    Args:
        original: What the link points to (relative to the link's directory if relative).
        link: The path of the new link.

    Raises:
        FileExistsError: ``link`` exists.

    Cancel safety: not cancel-safe: the link may be made although the caller was cancelled.
    """
    await run(os.symlink, fspath(original, "original"), fspath(link, "link"))


async def read_link(path: StrOrBytesPath) -> str | bytes:
    """Return what the symbolic link ``path`` points to.

    Args:
        path: A symbolic link.

    Returns:
        The link's target as stored (``bytes`` for a ``bytes`` argument).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        OSError: ``path`` is not a symbolic link (``EINVAL``).

    Cancel safety: cancel-safe (it changes nothing).
    """
    return await run(os.readlink, fspath(path))


async def set_permissions(path: StrOrBytesPath, mode: int | os.stat_result) -> None:
    """Set a path's permission bits (``os.chmod``).

    Args:
        path: The path (symbolic links are followed).
        mode: The bits, e.g. ``0o644``, or an ``os.stat_result`` whose bits to copy.

    Raises:
        ValueError: ``mode`` is not between 0 and 0o7777.
        FileNotFoundError: ``path`` does not exist.
        PermissionError: the caller does not own ``path``.

    Cancel safety: not cancel-safe: the change may happen although the caller was cancelled.
    """
    await run(os.chmod, fspath(path), _mode(mode))


async def try_exists(path: StrOrBytesPath) -> bool:
    """Return whether ``path`` exists (following symbolic links), as Tokio's ``try_exists``.

    Unlike ``os.path.exists``, errors other than "not found" are raised, not hidden.

    Args:
        path: The path.

    Returns:
        ``True`` if it exists, ``False`` if it (or a symbolic link's target) does not.

    Raises:
        PermissionError: a directory on the way cannot be searched.
        NotADirectoryError: a component on the way is a file.

    Cancel safety: cancel-safe (it changes nothing).
    """
    return await run(_try_exists, fspath(path))
