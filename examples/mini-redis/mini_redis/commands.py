"""Command execution, shared by the rt server and the asyncio comparison server."""

from __future__ import annotations

import sys
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


TRANSACTION: Final = b"<a transaction command: MULTI, EXEC or DISCARD>"
"""What :meth:`Commands.execute` returns for ``MULTI``, ``EXEC`` and ``DISCARD``, whose
arguments are right: the connection's :class:`Session` carries them out."""

_QUEUED: Final = b"+QUEUED\r\n"


class Commands:
    """Runs commands against a :class:`Db` and returns encoded replies."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.connections_served = 0
        self.commands_processed = 0

    def connected_clients(self) -> int:
        """For ``INFO``; the server overrides it."""
        return 0

    def execute(self, frame: Frame) -> bytes:
        """Run one command (``frame[0]`` is its name, in any case); return the encoded reply.

        The arguments of ``SUBSCRIBE`` and ``QUIT`` are checked here like any command's; if
        they are right, the reply is :data:`CONNECTION_COMMAND` and the caller acts on it.
        """
        name = frame[0]
        handler = _COMMANDS.get(name)  # clients usually send names in upper case
        if handler is None:
            name = name.upper()
            handler = _COMMANDS.get(name)
            if handler is None:
                return unknown_command(frame)
        fn, arity = handler
        if len(frame) not in arity:
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

    def _incr_by(self, key: bytes, by: int) -> bytes:
        try:
            return resp.integer(self.db.incr(key, by))
        except ValueError as exc:
            raise _Error(f"ERR {exc}") from None

    def _incr(self, frame: Frame) -> bytes:
        return self._incr_by(frame[1], 1)

    def _decr(self, frame: Frame) -> bytes:
        return self._incr_by(frame[1], -1)

    def _incrby(self, frame: Frame) -> bytes:
        return self._incr_by(frame[1], _int_arg(frame[2]))

    def _decrby(self, frame: Frame) -> bytes:
        return self._incr_by(frame[1], -_int_arg(frame[2]))

    def _mset(self, frame: Frame) -> bytes:
        if len(frame) % 2 == 0:
            raise _Error("ERR wrong number of arguments for 'mset' command")
        self.db.mset(frame[1:])
        return resp.OK

    def _mget(self, frame: Frame) -> bytes:
        return resp.array([resp.bulk(v) for v in self.db.mget(frame[1:])])

    def _transaction(self, frame: Frame) -> bytes:
        return TRANSACTION

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


class Session:
    """One connection's view of the shared command code: its transaction, if one is open.

    Both servers run every request through :meth:`execute`. Outside ``MULTI`` it is
    :meth:`Commands.execute`; after ``MULTI`` requests are checked and queued (``+QUEUED``)
    until ``EXEC`` runs them all at once (one array of replies, no other connection's command
    in between: the commands never wait) or ``DISCARD`` drops them. A request refused while
    queuing (unknown command, wrong arity) makes ``EXEC`` answer ``-EXECABORT``, as Redis
    does. redis-py's ``pipeline()`` is transactional by default and sends exactly this.
    """

    __slots__ = ("commands", "failed", "queued")

    def __init__(self, commands: Commands) -> None:
        self.commands = commands
        self.queued: list[Frame] | None = None  # None: no MULTI open
        self.failed = False

    def execute(self, frame: Frame) -> bytes:
        """Run (or, inside ``MULTI``, queue) one request; return the encoded reply.

        ``SUBSCRIBE`` and ``QUIT`` give :data:`CONNECTION_COMMAND`, as from
        :meth:`Commands.execute`.
        """
        if self.queued is None:
            reply = self.commands.execute(frame)
            if reply is not TRANSACTION:
                return reply
            name = frame[0].upper()
            if name == b"MULTI":
                self.queued = []
                self.failed = False
                return resp.OK
            return resp.error(f"ERR {name.decode()} without MULTI")
        return self._queue(frame)

    def _queue(self, frame: Frame) -> bytes:
        queued = self.queued
        assert queued is not None
        name = frame[0].upper()
        if name == b"EXEC":
            self.queued = None
            if self.failed:
                return resp.error("EXECABORT Transaction discarded because of previous errors.")
            replies = []
            for f in queued:
                reply = self.commands.execute(f)
                if reply is TRANSACTION or reply is CONNECTION_COMMAND:  # refused when queued
                    reply = resp.error("ERR command not allowed inside a transaction")
                replies.append(reply)
            return resp.array(replies)
        if name == b"DISCARD":
            self.queued = None
            return resp.OK
        if name == b"QUIT":
            return CONNECTION_COMMAND
        if name == b"MULTI":
            return resp.error("ERR MULTI calls can not be nested")
        handler = _COMMANDS.get(name)
        if handler is None or name in (b"SUBSCRIBE", b"UNSUBSCRIBE"):
            self.failed = True
            if handler is None:
                return unknown_command(frame)
            return resp.error(f"ERR {name.decode()} inside MULTI is not supported by mini-redis")
        if len(frame) not in handler[1]:
            self.failed = True
            return wrong_arity(name)
        queued.append(frame)
        return _QUEUED


def unknown_command(frame: Frame) -> bytes:
    """Redis's error for a command it does not know."""
    args = " ".join(f"'{a.decode(errors='replace')}'" for a in frame[1:4])
    return resp.error(
        f"ERR unknown command '{frame[0].decode(errors='replace')}', "
        f"with args beginning with: {args}"
    )


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


def _arity(n: int) -> range:
    """The argument counts (the name included) a command takes: ``n``, or ``-n`` or more."""
    return range(n, n + 1) if n >= 0 else range(-n, sys.maxsize)


_COMMANDS: Final = {
    b"PING": (Commands._ping, _arity(-1)),
    b"ECHO": (Commands._echo, _arity(2)),
    b"GET": (Commands._get, _arity(2)),
    b"SET": (Commands._set, _arity(-3)),
    b"DEL": (Commands._del, _arity(-2)),
    b"EXISTS": (Commands._exists, _arity(-2)),
    b"INCR": (Commands._incr, _arity(2)),
    b"DECR": (Commands._decr, _arity(2)),
    b"INCRBY": (Commands._incrby, _arity(3)),
    b"DECRBY": (Commands._decrby, _arity(3)),
    b"MSET": (Commands._mset, _arity(-3)),
    b"MGET": (Commands._mget, _arity(-2)),
    b"MULTI": (Commands._transaction, _arity(1)),
    b"EXEC": (Commands._transaction, _arity(1)),
    b"DISCARD": (Commands._transaction, _arity(1)),
    b"EXPIRE": (Commands._expire, _arity(3)),
    b"TTL": (Commands._ttl, _arity(2)),
    b"PUBLISH": (Commands._publish, _arity(3)),
    b"UNSUBSCRIBE": (Commands._unsubscribe_idle, _arity(-1)),
    b"SUBSCRIBE": (Commands._connection_command, _arity(-2)),
    b"QUIT": (Commands._connection_command, _arity(-1)),
    b"CONFIG": (Commands._config, _arity(-2)),
    b"INFO": (Commands._info, _arity(-1)),
    b"COMMAND": (Commands._command, _arity(-1)),
    b"SELECT": (Commands._select, _arity(2)),
}
