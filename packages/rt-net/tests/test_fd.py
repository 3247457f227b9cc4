"""rt.io.AsyncFd: readiness on a file descriptor rt does not own."""

from __future__ import annotations

import os
import threading

import pytest

import rt
from rt.io import AsyncFd


async def test_async_fd_reads_a_pipe_written_by_a_plain_thread() -> None:
    r, w = os.pipe()
    os.set_blocking(r, False)
    afd = AsyncFd(r)
    t = threading.Thread(target=os.write, args=(w, b"through a pipe"))
    t.start()
    data = await afd.read_with(lambda: os.read(r, 100))
    t.join()
    assert data == b"through a pipe"
    reader = rt.spawn(afd.readable())
    await rt.yield_now()
    afd.close()  # closes r, wakes the waiter
    with pytest.raises(rt.JoinError) as info:
        await reader
    assert isinstance(info.value.exception, OSError)
    with pytest.raises(OSError, match="closed"):
        await afd.readable()
    os.close(w)
    with pytest.raises(TypeError, match="fileno"):
        AsyncFd(object())
