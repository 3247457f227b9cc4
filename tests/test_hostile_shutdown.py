"""Hostile shutdown hygiene: a runtime that used every driver (TCP, UDP, timers, blocking jobs,
files, child processes, a signal listener) and still had tasks parked on them leaves nothing
behind once ``shutdown()`` returns, and plain threads blocked on the other end of a channel
whose task the shutdown cancelled are released.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import pytest

import rt
import rt.fs
import rt.net
import rt.process
import rt.signal
import rt.time
from rt.signal.unix import SignalKind
from rt.sync import broadcast, mpsc, oneshot

LIMIT = 10.0


class Closable(Protocol):
    def close(self) -> None: ...


def open_fds() -> dict[int, str]:
    out: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the listing's own fd, closed by now
            pass
    return out


def children() -> list[int]:
    """Pids whose parent is this process (zombies included)."""
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # exited meanwhile
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me:
            found.append(int(entry))
    return found


def wakeup_fd() -> int:
    fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd)
    return fd


pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="needs /proc to list fds and child processes"
)


async def parked_on(aw: Awaitable[Any], *owned: Closable) -> None:
    """Wait on ``aw`` (until shutdown cancels it), closing what the task owns on the way out."""
    try:
        await aw
    finally:
        for thing in owned:
            thing.close()


async def use_every_driver(hostname: Path) -> None:
    """Leave a task parked on each kind of resource, after using each once."""
    listener = await rt.net.TcpListener.bind("127.0.0.1:0")
    client = await rt.net.TcpStream.connect(listener.local_addr())
    server, _ = await listener.accept()
    await client.write_all(b"ping")
    assert await server.read_exact(4) == b"ping"
    rt.spawn(parked_on(server.read(10), server, client))  # parked on the reactor
    rt.spawn(parked_on(listener.accept(), listener))
    udp = await rt.net.UdpSocket.bind("127.0.0.1:0")
    rt.spawn(parked_on(udp.recv(10), udp))
    rt.spawn(rt.time.sleep(1000))  # parked on the timer wheel
    assert await rt.spawn_blocking(lambda: 41 + 1) == 42  # the blocking pool has a thread
    assert await rt.fs.read(hostname) == b"rt\n"
    file = await rt.fs.File.open(hostname)
    assert await file.read(2) == b"rt"
    await file.close()
    assert await rt.process.Command("true").status() == 0
    sleeper = rt.process.Command("sleep").arg("1000").spawn()
    sleeper.start_kill()
    await sleeper.wait()
    listener_usr1 = rt.signal.unix.signal(SignalKind.user_defined1())
    rt.spawn(parked_on(listener_usr1.recv(), listener_usr1))  # parked on the signal driver
    for _ in range(5):
        await rt.yield_now()


def test_shutdown_of_a_runtime_that_used_every_driver_leaves_no_thread_fd_or_child(
    flavor: str | None, tmp_path: Path
) -> None:
    hostname = tmp_path / "hostname"
    hostname.write_bytes(b"rt\n")
    threads = set(threading.enumerate())
    fds = open_fds()
    kids = children()
    handler = signal.getsignal(signal.SIGUSR1)
    wake = wakeup_fd()

    runtime = rt.Runtime(flavor=flavor)
    runtime.block_on(use_every_driver(hostname))
    runtime.shutdown()

    assert set(threading.enumerate()) - threads == set()
    assert {fd: path for fd, path in open_fds().items() if fds.get(fd) != path} == {}
    assert children() == kids
    assert signal.getsignal(signal.SIGUSR1) == handler
    assert wakeup_fd() == wake


def blocked_in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[object]]:
    """Run ``call`` on a plain thread; the list gets its result or its exception."""
    seen: list[object] = []

    def target() -> None:
        try:
            seen.append(call())
        except Exception as err:
            seen.append(err)

    t = threading.Thread(target=target, name="hostile-plain-thread")
    t.start()
    return t, seen


def make_case(kind: str) -> tuple[object, Callable[[], Any]]:
    """The end a task keeps, and the blocking call a plain thread makes on the other end."""
    if kind == "mpsc.blocking_recv":
        tx, rx = mpsc.channel[int](1)
        return tx, rx.blocking_recv
    if kind == "mpsc.blocking_send":
        tx2, rx2 = mpsc.channel[int](1)
        tx2.try_send(0)  # full: the thread's send waits for the receiving task
        return rx2, lambda: tx2.blocking_send(1)
    if kind == "oneshot.blocking_recv":
        otx, orx = oneshot.channel[int]()
        return otx, orx.blocking_recv
    btx, brx = broadcast.channel[int](1)
    return btx, brx.blocking_recv


async def let_it_park() -> None:
    await rt.yield_now()


BLOCKING_CALLS = [
    "mpsc.blocking_recv",
    "mpsc.blocking_send",
    "oneshot.blocking_recv",
    "broadcast.blocking_recv",
]


@pytest.mark.parametrize("kind", BLOCKING_CALLS)
def test_shutdown_cancelling_a_channels_owner_task_releases_a_thread_blocked_on_it(
    flavor: str | None, kind: str
) -> None:
    async def own(end: object) -> None:
        await rt.time.sleep(1000)

    runtime = rt.Runtime(flavor=flavor)
    end, call = make_case(kind)
    runtime.spawn(own(end))
    del end  # the task holds the only reference to its end
    runtime.block_on(let_it_park())
    t, seen = blocked_in_thread(call)
    runtime.shutdown()
    t.join(LIMIT)
    assert not t.is_alive(), f"hung: {kind} after shutdown dropped the task's end"
    assert len(seen) == 1 and isinstance(seen[0], rt.sync.ChannelClosed), seen
