"""A mini-redis client on rt: ``Client.connect``, ``get``, ``set``, ``publish``, ``subscribe``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType

from rt.net import Address, TcpStream

from . import resp
from .resp import ProtocolError, Reply, RespError


class Client:
    """One connection; requests are sent and answered one at a time (or pipelined)."""

    def __init__(self, stream: TcpStream) -> None:
        self._stream = stream
        self._buf = bytearray()

    @classmethod
    async def connect(cls, addr: Address = "127.0.0.1:6379") -> Client:
        """Connect to a server.

        Cancel safety: cancel-safe (a cancelled connect leaves no socket open).
        """
        return cls(await TcpStream.connect(addr))

    async def _reply(self) -> Reply:
        while True:
            got = resp.parse_reply(self._buf) if self._buf else None
            if got is not None:
                value, used = got
                del self._buf[:used]
                return value
            data = await self._stream.read()
            if not data:
                raise ConnectionResetError("the server closed the connection")
            self._buf += data

    async def call(self, *args: bytes | str | int) -> Reply:
        """Send one command and return its reply; an error reply raises :class:`RespError`.

        Cancel safety: not cancel-safe: a cancelled call may leave its reply unread, which
        would be taken as the next call's reply. Close the client after cancelling.
        """
        await self._stream.write_all(resp.command(*args))
        reply = await self._reply()
        if isinstance(reply, RespError):
            raise reply
        return reply

    async def pipeline(self, commands: list[tuple[bytes | str | int, ...]]) -> list[Reply]:
        """Send several commands in one write; return their replies in order (errors as values).

        Cancel safety: not cancel-safe, like :meth:`call`.
        """
        await self._stream.write_all(b"".join(resp.command(*c) for c in commands))
        return [await self._reply() for _ in commands]

    async def ping(self, message: bytes | None = None) -> bytes:
        """``PING`` → ``b"PONG"`` (or the message).

        Cancel safety: not cancel-safe, like :meth:`call`.
        """
        reply = await (self.call("PING", message) if message is not None else self.call("PING"))
        assert isinstance(reply, bytes)
        return reply

    async def get(self, key: bytes | str) -> bytes | None:
        """The value at ``key`` or ``None``.

        Cancel safety: not cancel-safe, like :meth:`call`.
        """
        reply = await self.call("GET", key)
        assert reply is None or isinstance(reply, bytes)
        return reply

    async def set(
        self, key: bytes | str, value: bytes | str, *, ex: int | None = None, px: int | None = None
    ) -> None:
        """Store ``value`` (expiring after ``ex`` seconds or ``px`` milliseconds).

        Cancel safety: not cancel-safe, like :meth:`call`.
        """
        args: list[bytes | str | int] = ["SET", key, value]
        if ex is not None:
            args += ["EX", ex]
        if px is not None:
            args += ["PX", px]
        await self.call(*args)

    async def publish(self, channel: bytes | str, message: bytes | str) -> int:
        """Publish; returns the number of subscribers that got it.

        Cancel safety: not cancel-safe, like :meth:`call`.
        """
        reply = await self.call("PUBLISH", channel, message)
        assert isinstance(reply, int)
        return reply

    async def subscribe(self, *channels: bytes | str) -> Subscriber:
        """Enter subscribed mode; the client becomes a :class:`Subscriber`.

        Cancel safety: not cancel-safe, like :meth:`call`.
        """
        if not channels:
            raise ValueError("subscribe() needs at least one channel")
        await self._stream.write_all(resp.command("SUBSCRIBE", *channels))
        for _ in channels:
            reply = await self._reply()
            if not (isinstance(reply, list) and reply and reply[0] == b"subscribe"):
                raise ProtocolError(f"unexpected reply to SUBSCRIBE: {reply!r}")
        return Subscriber(self)

    def close(self) -> None:
        """Close the connection."""
        self._stream.close()

    async def __aenter__(self) -> Client:
        """Return the client; close it on exit.

        Cancel safety: cancel-safe.
        """
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the connection.

        Cancel safety: cancel-safe.
        """
        self.close()


class Subscriber:
    """Messages from subscribed channels: ``async for channel, message in subscriber``."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def next_message(self) -> tuple[bytes, bytes]:
        """The next ``(channel, message)``.

        Cancel safety: cancel-safe: bytes are consumed only when a whole message is parsed.
        """
        while True:
            reply = await self._client._reply()
            if isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":
                ch, msg = reply[1], reply[2]
                assert isinstance(ch, bytes) and isinstance(msg, bytes)
                return ch, msg

    def __aiter__(self) -> AsyncIterator[tuple[bytes, bytes]]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[tuple[bytes, bytes]]:
        while True:
            try:
                yield await self.next_message()
            except ConnectionResetError:
                return

    def close(self) -> None:
        """Close the connection."""
        self._client.close()
