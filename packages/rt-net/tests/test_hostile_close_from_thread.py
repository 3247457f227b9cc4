"""Hostile closes: a socket or fd closed by a plain thread while a task is parked reading or
accepting on it wakes that task with ``EBADF``, on both flavors; it never hangs it.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import rt
import rt.io
import rt.net
import rt.time

LIMIT = 10.0

# each case: (what the task awaits, the object a plain thread closes, what else to close after)
Case = tuple[Awaitable[Any], Any, list[Any]]


async def tcp_read() -> Case:
    listener = await rt.net.TcpListener.bind("127.0.0.1:0")
    client = await rt.net.TcpStream.connect(listener.local_addr())
    server, _ = await listener.accept()
    return server.read(10), server, [client, listener]


async def tcp_accept() -> Case:
    listener = await rt.net.TcpListener.bind("127.0.0.1:0")
    return listener.accept(), listener, []


async def udp_recv() -> Case:
    sock = await rt.net.UdpSocket.bind("127.0.0.1:0")
    return sock.recv(10), sock, []


async def unix_read() -> Case:
    a, b = rt.net.UnixStream.pair()
    return a.read(10), a, [b]


async def async_fd_readable() -> Case:
    r, w = os.pipe()
    fd = rt.io.AsyncFd(r)
    return fd.readable(), fd, [_Fd(w)]


class _Fd:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


CASES: dict[str, Callable[[], Awaitable[Case]]] = {
    "tcp-read": tcp_read,
    "tcp-accept": tcp_accept,
    "udp-recv": udp_recv,
    "unix-read": unix_read,
    "asyncfd-readable": async_fd_readable,
}


async def wait_on(aw: Awaitable[Any]) -> Any:
    return await aw


@pytest.mark.parametrize("case", sorted(CASES))
async def test_closing_from_a_plain_thread_wakes_the_parked_task_with_ebadf(case: str) -> None:
    aw, victim, others = await CASES[case]()
    task = rt.spawn(wait_on(aw))
    for _ in range(5):
        await rt.yield_now()  # let it park on the reactor
    assert not task.is_finished()
    closer = threading.Thread(target=victim.close, name="hostile-closer")
    closer.start()
    try:
        with pytest.raises(rt.JoinError) as info:
            await rt.time.timeout(LIMIT, task)
    except rt.time.Elapsed:
        raise AssertionError(f"hung: {case} after a plain thread closed it") from None
    finally:
        await rt.spawn_blocking(closer.join, LIMIT)
        for other in others:
            other.close()
    err = info.value.exception
    assert isinstance(err, OSError) and err.errno == errno.EBADF, repr(err)
