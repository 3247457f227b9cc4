"""Command execution, shared by the rt server and the asyncio comparison server."""

from __future__ import annotations

from typing import Final

from . import resp
from .db import Db
from .resp import Frame

VERSION: Final = "7.0.0-mini-rt"

CONNECTION_COMMAND: Final = b"<a command about the connection: SUBSCRIBE or QUIT>"
"""What :meth:`Commands.execute` returns for ``SUBSCRIBE`` and ``QUIT`` (compare with ``is``).

They change the connection itself (subscribed mode, closing), so the server's request loop
carries them out. The loop asks only for this one object after each command, instead of
comparing every command name with both.
"""


class Commands:
    """Runs commands against a :class:`Db` and returns encoded replies."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.connections_served = 0
        self.commands_processed = 0

    def connected_clients(self) -> int:
        """For ``INFO``; the server overrides it."""
        return 0

    def execute(self, name: bytes, frame: Frame) -> bytes:
        """Run one command and return the encoded reply.

        The arguments of ``SUBSCRIBE`` and ``QUIT`` are checked here like any command's; if
        they are right, the reply is :data:`CONNECTION_COMMAND` and the caller acts on it.
        """
        handler = _COMMANDS.get(name)
        if handler is None:
            args = " ".join(f"'{a.decode(errors='replace')}'" for a in frame[1:4])
            return resp.error(
                f"ERR unknown command '{frame[0].decode(errors='replace')}', "
                f"with args beginning with: {args}"
            )
        arity, fn = handler
        if (arity >= 0 and len(frame) != arity) or (arity < 0 and len(frame) < -arity):
            return wrong_arity(name)
        try:
            return fn(self, frame)
        except _Error as exc:
            return resp.error(str(exc))

    def _ping(self, frame: Frame) -> bytes:
        if len(frame) > 2:
            raise _Error("ERR wrong number of arguments for 'ping' command")
        return resp.bulk(frame[1]) if len(frame) == 2 else resp.PONG

    def _connection_command(self, frame: Frame) -> bytes:
        return CONNECTION_COMMAND

    def _echo(self, frame: Frame) -> bytes:
        return resp.bulk(frame[1])

    def _get(self, frame: Frame) -> bytes:
        return resp.bulk(self.db.get(frame[1]))

    def _set(self, frame: Frame) -> bytes:
        ttl: float | None = None
        nx = xx = False
        i = 3
        while i < len(frame):
            opt = frame[i].upper()
            if opt in (b"EX", b"PX") and i + 1 < len(frame) and ttl is None:
                n = _int_arg(frame[i + 1])
                if n <= 0:
                    raise _Error("ERR invalid expire time in 'set' command")
                ttl = n if opt == b"EX" else n / 1000
                i += 2
            elif opt == b"NX" and not xx:
                nx = True
                i += 1
            elif opt == b"XX" and not nx:
                xx = True
                i += 1
            else:
                raise _Error("ERR syntax error")
        done = self.db.set(frame[1], frame[2], ttl=ttl, nx=nx, xx=xx)
        return resp.OK if done else resp.NULL

    def _del(self, frame: Frame) -> bytes:
        return resp.integer(self.db.delete(frame[1:]))

    def _exists(self, frame: Frame) -> bytes:
        return resp.integer(self.db.exists(frame[1:]))

    def _incr(self, frame: Frame) -> bytes:
        try:
            return resp.integer(self.db.incr(frame[1]))
        except ValueError as exc:
            raise _Error(f"ERR {exc}") from None

    def _expire(self, frame: Frame) -> bytes:
        return resp.integer(int(self.db.expire(frame[1], _int_arg(frame[2]))))

    def _ttl(self, frame: Frame) -> bytes:
        return resp.integer(self.db.ttl(frame[1]))

    def _publish(self, frame: Frame) -> bytes:
        return resp.integer(self.db.publish(frame[1], frame[2]))

    def _unsubscribe_idle(self, frame: Frame) -> bytes:
        # UNSUBSCRIBE outside subscribed mode: nothing to leave.
        channels: list[bytes | None] = [*frame[1:]] or [None]
        return b"".join(
            resp.array([resp.bulk(b"unsubscribe"), resp.bulk(ch), resp.integer(0)])
            for ch in channels
        )

    def _config(self, frame: Frame) -> bytes:
        sub = frame[1].upper()
        if sub == b"GET" and len(frame) == 3:
            known = {b"save": b"", b"appendonly": b"no", b"databases": b"1"}
            value = known.get(frame[2].lower())
            if value is None:
                return resp.EMPTY_ARRAY
            return resp.array([resp.bulk(frame[2].lower()), resp.bulk(value)])
        if sub in (b"SET", b"RESETSTAT"):
            return resp.OK
        raise _Error(f"ERR unknown subcommand '{frame[1].decode(errors='replace')}' for 'config'")

    def _info(self, frame: Frame) -> bytes:
        text = (
            "# Server\r\n"
            f"redis_version:{VERSION}\r\n"
            "redis_mode:standalone\r\n"
            "# Clients\r\n"
            f"connected_clients:{self.connected_clients()}\r\n"
            "# Stats\r\n"
            f"total_connections_received:{self.connections_served}\r\n"
            f"total_commands_processed:{self.commands_processed}\r\n"
            "# Keyspace\r\n"
            f"db0:keys={len(self.db)},expires=0,avg_ttl=0\r\n"
        )
        return resp.bulk(text.encode())

    def _command(self, frame: Frame) -> bytes:
        return resp.EMPTY_ARRAY  # COMMAND / COMMAND DOCS: clients cope with an empty table

    def _select(self, frame: Frame) -> bytes:
        if frame[1] != b"0":
            raise _Error("ERR DB index is out of range")
        return resp.OK


def wrong_arity(name: bytes) -> bytes:
    """Redis's error for a command given the wrong number of arguments (``name`` upper-case)."""
    return resp.error(f"ERR wrong number of arguments for '{name.decode().lower()}' command")


class _Error(Exception):
    """A command failed: the message is sent back as a RESP error."""


def _int_arg(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        raise _Error("ERR value is not an integer or out of range") from None


_COMMANDS: Final = {
    b"PING": (-1, Commands._ping),
    b"ECHO": (2, Commands._echo),
    b"GET": (2, Commands._get),
    b"SET": (-3, Commands._set),
    b"DEL": (-2, Commands._del),
    b"EXISTS": (-2, Commands._exists),
    b"INCR": (2, Commands._incr),
    b"EXPIRE": (3, Commands._expire),
    b"TTL": (2, Commands._ttl),
    b"PUBLISH": (3, Commands._publish),
    b"UNSUBSCRIBE": (-1, Commands._unsubscribe_idle),
    b"SUBSCRIBE": (-2, Commands._connection_command),
    b"QUIT": (-1, Commands._connection_command),
    b"CONFIG": (-2, Commands._config),
    b"INFO": (-1, Commands._info),
    b"COMMAND": (-1, Commands._command),
    b"SELECT": (2, Commands._select),
}
