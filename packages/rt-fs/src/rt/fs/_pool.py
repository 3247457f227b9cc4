"""Running file-system calls on the blocking pool, and the argument checks they share.

Every call here is one pool job: the whole operation (open, read everything, close) runs in
one function on a pool thread, so a free function costs one round trip whatever it does.
The job's own exception is raised to the caller as itself (not wrapped in ``rt.JoinError``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

import rt

T = TypeVar("T")

StrOrBytesPath: TypeAlias = "str | bytes | os.PathLike[str] | os.PathLike[bytes]"


def fspath(path: object, what: str = "path") -> str | bytes:
    """``os.fspath(path)`` with an error that says what a path may be."""
    if isinstance(path, str | bytes):
        return path
    try:
        result: str | bytes = os.fspath(path)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(
            f"{what} must be a str, bytes or os.PathLike object, got {type(path).__name__} {path!r}"
        ) from None
    return result


async def join(handle: rt.JoinHandle[T]) -> T:
    """Await a pool job's handle and raise the job's own exception if it failed.

    Cancel safety: cancel-safe in the sense that the job is not stopped: it finishes in the
    background whether or not anyone awaits it.
    """
    try:
        return await handle
    except rt.JoinError as err:
        exc = err.exception
        if exc is None:
            raise
        raise exc from None


async def run(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on the blocking pool and return its result.

    Cancel safety: not cancel-safe: once called, the job runs to completion even if the
    caller is cancelled (its result is then dropped).
    """
    return await join(rt.spawn_blocking(fn, *args))
