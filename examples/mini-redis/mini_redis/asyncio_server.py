"""The same server for asyncio (and uvloop), for the benchmark only.

It runs the same command code (``Commands`` over ``Db``, with ``time.monotonic`` as the clock),
the same RESP parser (``RequestReader``), the same per-connection ``Session`` (transactions)
and the same connection loop as the rt server (parse every buffered
request, answer, write once when no more are buffered; after each command, the same one check
for ``SUBSCRIBE`` / ``QUIT``), on asyncio streams. Pub/sub and the graceful shutdown are left
out: the benchmark does not use them (``SUBSCRIBE`` gets an error, then the connection
closes).
``python -m mini_redis.asyncio_server --port N [--uvloop]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

from . import resp
from .commands import CONNECTION_COMMAND, Commands, Session
from .db import Db

NO_PUBSUB = "ERR this comparison server does not do pub/sub: use mini_redis.server"


def connection_handler(
    commands: Commands,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """The ``asyncio.start_server`` callback: the request loop of one connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reqs = resp.RequestReader()
        take = reqs.take
        execute = Session(commands).execute
        out = bytearray()
        try:
            while True:
                frames = take()
                if frames:
                    for frame in frames:
                        if not frame:
                            continue
                        commands.commands_processed += 1
                        reply = execute(frame)
                        if reply is CONNECTION_COMMAND:
                            # QUIT, or SUBSCRIBE (which this comparison server does not do).
                            if frame[0].upper() == b"QUIT":
                                writer.write(bytes(out) + resp.OK)
                            else:
                                writer.write(bytes(out) + resp.error(NO_PUBSUB))
                            await writer.drain()
                            return
                        out += reply
                    continue
                if out:
                    writer.write(bytes(out))
                    out.clear()
                    await writer.drain()
                data = await reader.read(65536)
                if not data:
                    return
                reqs.feed(data)
        except resp.ProtocolError as exc:
            writer.write(bytes(out) + resp.error(f"ERR {exc}"))
            try:
                await writer.drain()
            except ConnectionError:
                pass
        except ConnectionError:
            pass
        finally:
            writer.close()

    return handle


async def serve(port: int) -> None:
    handle = connection_handler(Commands(Db(clock=time.monotonic)))
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print(f"asyncio mini-redis listening on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=6379)
    p.add_argument("--uvloop", action="store_true")
    args = p.parse_args()
    try:
        if args.uvloop:
            import uvloop

            uvloop.run(serve(args.port))
        else:
            asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
