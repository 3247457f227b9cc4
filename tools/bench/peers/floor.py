"""The floor: the least a pure-Python scheduler can do per step, as a column to measure rt by.

A ``deque`` run queue; each step is ``task.ctx.run(task.coro.send, None)``; a task is its own
join handle; one shared trap object for a yield. It is kept honest on what rt promises and
every peer gives: each task runs in a copy of its spawner's context (``copy_context()`` at
spawn, every step inside it), so a ``ContextVar`` set in a task stays in that task. Nothing
else: no cancellation, no error handling beyond returning the result, no timers, no I/O, no
thread safety. Rows it has no honest equivalent for (channels, timers, I/O) are left empty.
"""

from __future__ import annotations

import contextvars
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from .._common import Size, echo_client, listener, per_request_us, port_of, settled_rss

NAME = "floor"


class _Trap:
    """What a task yields to the loop: ``YIELD`` (run me again later) or ``PARK``."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        yield self


YIELD = _Trap()
PARK = _Trap()
_ready: deque[Task] = deque()


class Task:
    """A spawned coroutine; awaiting it waits for its result."""

    __slots__ = ("coro", "ctx", "done", "result", "waiters")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.ctx = contextvars.copy_context()
        self.done = False
        self.result: Any = None
        self.waiters: list[Task] | None = None

    def __await__(self) -> Generator[Any, None, Any]:
        if not self.done:
            me = _current[0]
            if self.waiters is None:
                self.waiters = [me]
            else:
                self.waiters.append(me)
            yield PARK
        return self.result


_current: list[Task] = []


def spawn(coro: Coroutine[Any, Any, Any]) -> Task:
    task = Task(coro)
    _ready.append(task)
    return task


def wake(task: Task) -> None:
    _ready.append(task)


def current() -> Task:
    return _current[0]


class Event:
    """Parks its waiters until ``set()``."""

    __slots__ = ("flag", "waiters")

    def __init__(self) -> None:
        self.flag = False
        self.waiters: list[Task] = []

    def set(self) -> None:
        self.flag = True
        _ready.extend(self.waiters)
        self.waiters.clear()

    async def wait(self) -> None:
        if not self.flag:
            self.waiters.append(_current[0])
            await PARK


def run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``main()`` and every task it spawns to completion; return its result."""
    root = spawn(main())
    popleft, append = _ready.popleft, _ready.append
    cur = _current
    cur.append(root)
    while _ready:
        task = popleft()
        cur[0] = task
        try:
            trap = task.ctx.run(task.coro.send, None)
        except StopIteration as stop:
            task.done = True
            task.result = stop.value
            if task.waiters:
                _ready.extend(task.waiters)
            continue
        if trap is YIELD:
            append(task)
    cur.clear()
    assert root.done, "the floor's main task parked forever"
    return root.result


def timed(body: Callable[[], Coroutine[Any, Any, None]]) -> float:
    async def main() -> float:
        t0 = time.perf_counter()
        await body()
        return time.perf_counter() - t0

    return float(run(main))


def spawn_w(size: Size) -> float:
    async def body() -> None:
        async def child() -> int:
            return 1

        tasks = [spawn(child()) for _ in range(size["tasks"])]
        for t in tasks:
            await t

    return timed(body)


def yield_w(size: Size) -> float:
    async def body() -> None:
        async def worker() -> None:
            for _ in range(size["yields"]):
                await YIELD

        tasks = [spawn(worker()) for _ in range(size["tasks"])]
        for t in tasks:
            await t

    return timed(body)


def chain_w(size: Size) -> float:
    async def link(n: int) -> int:
        if n == 0:
            return 0
        return int(await spawn(link(n - 1))) + 1

    async def body() -> None:
        await link(size["depth"])

    return timed(body)


def pingpong_w(size: Size) -> float:
    async def body() -> None:
        box: dict[str, Task] = {}

        async def player(me: str, other: str, first: bool) -> None:
            box[me] = current()
            if first:
                await YIELD
            for _ in range(size["rounds"]):
                if not first:
                    await PARK
                if other in box:
                    wake(box[other])
                if first:
                    await PARK

        a = spawn(player("a", "b", True))
        spawn(player("b", "a", False))
        await a  # b stays parked: the floor has no abort, and run() ends when nothing is ready

    return timed(body)


def million_w(size: Size) -> float:
    async def body() -> None:
        async def child() -> None:
            await YIELD

        tasks = [spawn(child()) for _ in range(size["tasks"])]
        for t in tasks:
            await t

    return timed(body)


def idletasks_w(size: Size) -> float:
    async def main() -> float:
        event = Event()
        base = settled_rss()
        tasks = [spawn(event.wait()) for _ in range(size["tasks"])]
        await YIELD  # every task runs up to its wait
        used = settled_rss() - base
        event.set()
        for t in tasks:
            await t
        return used / int(size["tasks"])

    return float(run(main))


def echo_w(size: Size) -> float:
    """A bare epoll loop calling recv/send: what the syscalls alone cost from Python."""
    import select

    sock = listener()
    sock.setblocking(False)
    ep = select.epoll()
    client = echo_client(port_of(sock), size)
    t0 = time.process_time()
    conns: dict[int, socket.socket] = {}
    accepted = closed = 0
    ep.register(sock.fileno(), select.EPOLLIN)
    while closed < size["conns"]:
        for fd, _ev in ep.poll():
            if fd == sock.fileno():
                while accepted < size["conns"]:
                    try:
                        c, _ = sock.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    conns[c.fileno()] = c
                    ep.register(c.fileno(), select.EPOLLIN)
                    accepted += 1
                continue
            c = conns[fd]
            try:
                data = c.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                ep.unregister(fd)
                c.close()
                closed += 1
                continue
            sent = c.send(data)
            if sent < len(data):  # rare on loopback: finish blocking
                c.setblocking(True)
                c.sendall(data[sent:])
                c.setblocking(False)
    cpu = time.process_time() - t0
    client.wait()
    ep.close()
    return per_request_us(cpu, size)


WORKLOADS: dict[str, Callable[[Size], Any]] = {
    "spawn": spawn_w,
    "yield": yield_w,
    "chain": chain_w,
    "pingpong": pingpong_w,
    "million": million_w,
    "idletasks": idletasks_w,
    "echo64": echo_w,
    "echo16k": echo_w,
}
