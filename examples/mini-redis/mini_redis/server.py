"""The mini-redis server: one task per connection, pipelining, pub/sub, graceful shutdown.

Shutdown follows Tokio's mini-redis: a ``watch`` channel carries the signal; the accept loop
runs as ``select(accept loop, shutdown.changed())`` and each connection as ``select(serve the
connection, shutdown.changed())``. A reply that was
computed is always written (the write is shielded), so in-flight requests finish; the
connection stops at its next read. The listener is closed first, so new connections are
refused.
"""

from __future__ import annotations

import errno
import logging
from typing import Final

import rt
import rt.time
from rt.net import TcpListener, TcpStream
from rt.sync import ChannelClosed, Lagged, Semaphore, SemaphorePermit, broadcast, mpsc, watch

from . import resp
from .commands import CONNECTION_COMMAND, Commands, Session, wrong_arity
from .db import Db
from .resp import Frame, ProtocolError

READ_SIZE: Final = 65536
_OUT_OF_FDS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
logger: Final = logging.getLogger("mini_redis")
SUBSCRIBED_OK: Final = frozenset({b"SUBSCRIBE", b"UNSUBSCRIBE", b"PING", b"QUIT", b"RESET"})
MID_REQUEST_EOF: Final = "Protocol error: connection closed mid-request"


class Connection:
    """A stream with an input buffer (requests are parsed as they arrive) and an output
    buffer."""

    __slots__ = ("out", "reqs", "stream")

    def __init__(self, stream: TcpStream, max_request: int = resp.MAX_REQUEST) -> None:
        self.stream = stream
        self.reqs = resp.RequestReader(max_request)
        self.out = bytearray()

    async def read_frame(self) -> Frame | None:
        """The next frame, reading as needed; ``None`` at a clean EOF.

        Cancel safety: cancel-safe: bytes are consumed only when a whole frame is returned.
        """
        reqs = self.reqs
        while True:
            frame = reqs.next()
            if frame is not None:
                return frame
            data = await self.stream.read(READ_SIZE)
            if not data:
                if reqs.pending:
                    raise ProtocolError(MID_REQUEST_EOF)
                return None
            reqs.feed(data)

    def send_now(self) -> bytes | None:
        """Write the buffered replies the kernel takes now; return what is left, if anything.

        Never a suspension point, so never cancelled half-way: usually it sends everything.
        ``try_write`` is synchronous, so it sends straight from the buffer (asyncio's
        ``write`` may keep what it is given, so the asyncio server must copy it first).
        """
        out = self.out
        try:
            sent = self.stream.try_write(out)
        except BlockingIOError:
            sent = 0
        rest = bytes(out[sent:]) if sent < len(out) else None
        out.clear()
        return rest

    async def flush(self) -> None:
        """Write every buffered reply. Shielded: a computed reply is never dropped.

        Cancel safety: the write completes even when the caller is cancelled meanwhile.
        """
        if self.out:
            rest = self.send_now()
            if rest is not None:
                with rt.CancelScope(shield=True):
                    await self.stream.write_all(rest)


class Server(Commands):
    """Serve ``listener`` until :meth:`shutdown`."""

    def __init__(
        self,
        listener: TcpListener,
        *,
        db: Db | None = None,
        max_connections: int = 10_000,
        max_request: int = resp.MAX_REQUEST,
    ) -> None:
        super().__init__(db if db is not None else Db())
        self.listener = listener
        self.max_connections = max_connections
        self.max_request = max_request
        self._limit = Semaphore(max_connections)
        self._shutdown, self._shutdown_rx = watch.channel(False)

    def connected_clients(self) -> int:
        """Connections being served now."""
        return self.max_connections - self._limit.available_permits()

    def shutdown(self) -> None:
        """Stop accepting, let in-flight requests finish, close every connection. Any thread."""
        self._shutdown.send_replace(True)

    async def run(self) -> None:
        """Accept and serve connections until :meth:`shutdown`; then wait for them to finish.

        Cancel safety: cancelling ``run`` aborts every connection at its next checkpoint;
        call :meth:`shutdown` and await ``run`` for a graceful stop.
        """
        self.db.start()
        stop = self._shutdown.subscribe()
        try:
            async with rt.TaskGroup() as tg:
                # As in Tokio's mini-redis, one select for the whole accept loop (not one per
                # accept): when the shutdown signal comes, the loop is cancelled at its
                # accept(), which is cancel-safe: a connection is either spawned or still
                # queued in the kernel.
                if not stop.borrow():
                    await rt.select(self._accept_loop(tg), stop.changed())
                self.listener.close()  # from here on, connecting is refused
        finally:
            self.listener.close()
            await self.db.close()

    async def _accept_loop(self, tg: rt.TaskGroup) -> None:
        while True:
            try:
                stream, _peer = await self.listener.accept()
            except OSError as exc:
                if exc.errno not in _OUT_OF_FDS:
                    raise
                # Out of file descriptors: the connection stays queued. Serve the others and
                # try again shortly, as Redis does, instead of dying.
                logger.warning("mini-redis: %s", exc)
                await rt.time.sleep(0.1)
                continue
            permit = self._limit.try_acquire()
            if permit is None:
                tg.spawn(self._refuse(stream))
                continue
            self.connections_served += 1
            tg.spawn(self._connection(stream, permit))

    @staticmethod
    async def _refuse(stream: TcpStream) -> None:
        async with stream:
            try:
                await stream.write_all(resp.error("ERR max number of clients reached"))
            except OSError:
                pass

    async def _connection(self, stream: TcpStream, permit: SemaphorePermit) -> None:
        stop = self._shutdown.subscribe()
        conn = Connection(stream, self.max_request)
        try:
            if not stop.borrow():
                await rt.select(self._serve(conn), stop.changed())
        except ProtocolError as exc:
            conn.out += resp.error(f"ERR {exc}")
            await _flush_quietly(conn)
        except (ConnectionError, OSError):
            pass  # the client went away: nothing to answer
        except Exception:
            # A bug in a command must cost this connection only, never the server.
            logger.exception("mini-redis: internal error; closing this connection")
            conn.out += resp.error("ERR internal error")
            await _flush_quietly(conn)
        finally:
            stream.close()
            permit.release()

    async def _serve(self, conn: Connection) -> None:
        # The request loop: answer every request that is buffered into conn.out, and when
        # none is left, flush and read. Written out for speed, as the asyncio server's loop
        # is: no helper coroutine per request. ``out`` is ``conn.out`` itself, so replies
        # computed before a cancellation are still flushed.
        stream = conn.stream
        out = conn.out
        reqs = conn.reqs
        take = reqs.take
        execute = Session(self).execute
        while True:
            frames = take()
            if frames:
                for frame in frames:
                    if not frame:
                        continue  # an empty inline line
                    self.commands_processed += 1
                    reply = execute(frame)
                    if reply is CONNECTION_COMMAND:
                        if frame[0].upper() == b"QUIT":
                            out += resp.OK
                            await conn.flush()
                            return
                        # SUBSCRIBE: the requests pipelined after it are read in subscribed
                        # mode.
                        i = next(i for i, f in enumerate(frames) if f is frame)
                        reqs.unread(frames[i + 1 :])
                        await self._subscribed(conn, frame)
                        return
                    out += reply
                continue  # take again: a malformed request after these raises now
            if out:
                rest = conn.send_now()
                if rest is not None:
                    with rt.CancelScope(shield=True):
                        await stream.write_all(rest)
            data = await stream.read(READ_SIZE)
            if not data:
                if reqs.pending:
                    raise ProtocolError(MID_REQUEST_EOF)
                return
            reqs.feed(data)

    # -- pub/sub --------------------------------------------------------------------------

    async def _subscribed(self, conn: Connection, first: Frame) -> None:
        """Subscribed mode: forward messages, accept (UN)SUBSCRIBE and PING until none left."""
        messages_tx: mpsc.Sender[tuple[bytes, bytes]]
        messages: mpsc.Receiver[tuple[bytes, bytes]]
        messages_tx, messages = mpsc.channel(1024)
        forwarders: dict[bytes, rt.JoinHandle[None]] = {}
        started: list[rt.JoinHandle[None]] = []  # every forwarder, awaited before we return

        async def forward(channel: bytes, rx: broadcast.Receiver[bytes]) -> None:
            tx = messages_tx.clone()
            while True:
                try:
                    msg = await rx.recv()
                except Lagged:
                    continue  # a slow subscriber skips what it missed, as Redis drops it
                except ChannelClosed:
                    return
                await tx.send((channel, msg))

        def subscribe(channels: list[bytes]) -> None:
            for ch in channels:
                if ch not in forwarders:
                    forwarders[ch] = rt.spawn(forward(ch, self.db.subscribe(ch)))
                    started[:] = [h for h in started if not h.is_finished()]
                    started.append(forwarders[ch])
                conn.out += resp.array(
                    [resp.bulk(b"subscribe"), resp.bulk(ch), resp.integer(len(forwarders))]
                )

        def unsubscribe(channels: list[bytes]) -> None:
            for ch in channels or list(forwarders) or [b""]:
                h = forwarders.pop(ch, None)
                if h is not None:
                    h.abort()
                name = resp.bulk(ch) if ch or channels else resp.NULL
                conn.out += resp.array(
                    [resp.bulk(b"unsubscribe"), name, resp.integer(len(forwarders))]
                )

        try:
            subscribe(first[1:])
            while forwarders:
                await conn.flush()
                idx, got = await rt.select(conn.read_frame(), messages.recv(), biased=True)
                if idx == 1:
                    assert isinstance(got, tuple)
                    ch, msg = got
                    conn.out += resp.array([resp.bulk(b"message"), resp.bulk(ch), resp.bulk(msg)])
                    continue
                if got is None:
                    return
                assert isinstance(got, list)
                frame: Frame = got
                if not frame:
                    continue
                name = frame[0].upper()
                self.commands_processed += 1
                if name == b"SUBSCRIBE":
                    if len(frame) > 1:
                        subscribe(frame[1:])
                    else:
                        conn.out += wrong_arity(name)
                elif name == b"UNSUBSCRIBE":
                    unsubscribe(frame[1:])
                elif name == b"PING":
                    conn.out += resp.array(
                        [resp.bulk(b"pong"), resp.bulk(frame[1] if len(frame) > 1 else b"")]
                    )
                elif name in (b"QUIT", b"RESET"):
                    conn.out += resp.OK
                    return
                else:
                    conn.out += resp.error(
                        f"ERR Can't execute '{frame[0].decode(errors='replace').lower()}': only "
                        "(P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in "
                        "this context"
                    )
            await conn.flush()
            await self._serve(conn)  # every channel left: back to normal mode
        finally:
            for h in forwarders.values():
                h.abort()
            # No forwarder outlives its connection (they run on any worker thread).
            with rt.CancelScope(shield=True):
                for h in started:
                    try:
                        await h
                    except rt.JoinError:
                        pass
            await conn.flush()


async def _flush_quietly(conn: Connection) -> None:
    try:
        await conn.flush()
    except OSError:
        pass


async def serve(addr: str = "127.0.0.1:6379", *, max_connections: int = 10_000) -> None:
    """Run a server on ``addr`` until Ctrl-C, then shut down gracefully.

    Cancel safety: cancelling it is the Ctrl-C path: a graceful shutdown (at most 5 s).
    """
    listener = await TcpListener.bind(addr)
    server = Server(listener, max_connections=max_connections)
    host, port = listener.local_addr()[:2]
    print(f"mini-redis listening on {host}:{port}", flush=True)
    task = rt.spawn(server.run())
    try:
        await task
    finally:
        server.shutdown()
        with rt.CancelScope(shield=True), rt.time.timeout(5):
            await task


def main() -> None:
    """``python -m mini_redis.server [--port N] [--host H]``."""
    import argparse

    p = argparse.ArgumentParser(description="mini-redis server on rt")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6379)
    p.add_argument("--max-connections", type=int, default=10_000)
    args = p.parse_args()

    @rt.main
    async def run() -> None:
        await serve(f"{args.host}:{args.port}", max_connections=args.max_connections)

    run()


if __name__ == "__main__":
    main()
