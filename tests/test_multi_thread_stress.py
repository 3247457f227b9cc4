"""Stress on the multi-thread flavor with every package: channels, locks, timers and sockets
used from tasks spread over workers and from plain threads waking them at random moments.

Each test checks an exact outcome (every message once and in order, an exact counter, every
echoed byte), so a lost wake-up hangs (and pytest-timeout fails it) and a double poll or a
lost message fails an assertion.
"""

from __future__ import annotations

import random
import socket
import threading
from typing import Any

import pytest

import rt
import rt.time
from rt.net import TcpListener, TcpStream
from rt.sync import Mutex, Notify, mpsc

MT: dict[str, Any] = {"flavor": "multi_thread", "worker_threads": 4}


def test_plain_threads_and_tasks_on_four_workers_lose_and_reorder_nothing() -> None:
    producers, per = 6, 3000

    async def main() -> dict[int, list[int]]:
        tx, rx = mpsc.channel(8)
        seen: dict[int, list[int]] = {p: [] for p in range(producers)}

        def thread_producer(p: int, sender: Any) -> None:
            for i in range(per):
                sender.blocking_send((p, i))
            sender.close()

        async def task_producer(p: int, sender: Any) -> None:
            for i in range(per):
                await sender.send((p, i))
                if random.random() < 0.1:
                    await rt.yield_now()
            sender.close()

        threads = []
        for p in range(producers):
            if p % 2:
                t = threading.Thread(target=thread_producer, args=(p, tx.clone()))
                t.start()
                threads.append(t)
            else:
                rt.spawn(task_producer(p, tx.clone()))
        tx.close()
        async for p, i in rx:
            seen[p].append(i)
        for t in threads:
            await rt.spawn_blocking(t.join)
        return seen

    seen = rt.run(main(), **MT)
    assert seen == {p: list(range(per)) for p in range(producers)}


def test_notify_ping_pong_across_workers_and_threads_never_loses_a_wakeup() -> None:
    rounds = 3000

    async def main() -> int:
        ping, pong = Notify(), Notify()
        count = 0

        async def ponger() -> None:
            for _ in range(rounds):
                await ping.notified()
                pong.notify_one()

        h = rt.spawn(ponger())
        for i in range(rounds):
            if i % 3 == 0:
                # wake from a plain thread, racing with the ponger parking
                t = threading.Thread(target=ping.notify_one)
                t.start()
                await pong.notified()
                t.join()
            else:
                ping.notify_one()
                await pong.notified()
            count += 1
        await h
        return count

    assert rt.run(main(), **MT) == rounds


def test_a_mutex_shared_by_tasks_on_all_workers_and_plain_threads_counts_exactly() -> None:
    tasks, threads, per = 16, 4, 500

    async def main() -> int:
        m = Mutex(0)

        async def bump() -> None:
            for _ in range(per):
                async with m.lock() as g:
                    value = g.value
                    if random.random() < 0.2:
                        await rt.yield_now()  # hold the lock across a suspension
                    g.value = value + 1

        def bump_blocking() -> None:
            for _ in range(per):
                with m.blocking_lock() as g:
                    g.value += 1

        ts = [threading.Thread(target=bump_blocking) for _ in range(threads)]
        for t in ts:
            t.start()
        async with rt.TaskGroup() as tg:
            for _ in range(tasks):
                tg.spawn(bump())
        for t in ts:
            await rt.spawn_blocking(t.join)
        async with m.lock() as g:
            return int(g.value)

    assert rt.run(main(), **MT) == (tasks + threads) * per


def test_a_short_timer_armed_while_another_worker_sleeps_in_the_driver_fires() -> None:
    async def main() -> list[str]:
        order: list[str] = []

        async def far() -> None:
            await rt.time.sleep(3600)  # some worker parks in the driver for an hour
            order.append("far")

        h = rt.spawn(far())
        for _ in range(20):
            # armed from whichever worker runs us: must cut the hour-long park short
            await rt.time.sleep(0.001)
            order.append("near")
        h.abort()
        with pytest.raises(rt.JoinError):
            await h
        return order

    assert rt.run(main(), **MT) == ["near"] * 20


def test_timeouts_and_select_under_load_never_hang() -> None:
    async def never() -> None:
        await rt.time.sleep(3600)

    async def spin() -> None:
        for _ in range(5000):
            await rt.yield_now()

    async def main() -> int:
        busy = [rt.spawn(spin()) for _ in range(4)]
        elapsed = 0
        for i in range(200):
            try:
                await rt.time.timeout(0.0005, never())
            except rt.time.Elapsed:
                elapsed += 1
            idx, _ = await rt.select(never(), rt.time.sleep(0))
            assert idx == 1
            if i % 50 == 0:
                await rt.yield_now()
        for h in busy:
            await h
        return elapsed

    assert rt.run(main(), **MT) == 200


def test_tcp_echo_with_connections_spread_over_workers_returns_every_byte() -> None:
    conns, rounds = 40, 50

    async def main() -> None:
        listener = await TcpListener.bind("127.0.0.1:0")
        addr = listener.local_addr()

        async def echo(stream: TcpStream) -> None:
            async with stream:
                while data := await stream.read(65536):
                    await stream.write_all(data)

        async def serve() -> None:
            async with listener, rt.TaskGroup() as tg:
                for _ in range(conns):
                    stream, _ = await listener.accept()
                    tg.spawn(echo(stream))

        async def client(k: int) -> None:
            async with await TcpStream.connect(addr) as s:
                for r in range(rounds):
                    msg = f"{k}:{r}:".encode() + bytes([k % 256]) * random.randint(1, 3000)
                    await s.write_all(msg)
                    assert await s.read_exact(len(msg)) == msg
                await s.shutdown()
                assert await s.read() == b""

        server = rt.spawn(serve())
        async with rt.TaskGroup() as tg:
            for k in range(conns):
                tg.spawn(client(k))
        await server

    rt.run(main(), **MT)


def test_plain_socket_clients_against_a_multi_thread_server() -> None:
    ready = threading.Event()
    port: list[int] = []

    async def main() -> None:
        listener = await TcpListener.bind("127.0.0.1:0")
        port.append(listener.local_addr()[1])
        ready.set()

        async def echo(stream: TcpStream) -> None:
            async with stream:
                while data := await stream.read(4096):
                    await stream.write_all(data)

        async with listener, rt.TaskGroup() as tg:
            for _ in range(8):
                stream, _ = await listener.accept()
                tg.spawn(echo(stream))

    def client(k: int, errors: list[BaseException]) -> None:
        try:
            with socket.create_connection(("127.0.0.1", port[0])) as s:
                for r in range(100):
                    msg = f"client {k} round {r}".encode()
                    s.sendall(msg)
                    got = b""
                    while len(got) < len(msg):
                        chunk = s.recv(4096)
                        assert chunk
                        got += chunk
                    assert got == msg
        except BaseException as exc:
            errors.append(exc)

    with rt.Runtime(**MT) as runtime:
        server = runtime.spawn(main())
        assert ready.wait(60)
        errors: list[BaseException] = []
        clients = [threading.Thread(target=client, args=(k, errors)) for k in range(8)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        assert errors == []

        async def join() -> None:
            await server

        runtime.block_on(join())
