"""RESP2: parse requests incrementally from a buffer, encode replies.

``parse(buf, pos)`` never consumes anything: it returns the frame and where it ends, or
``None`` when the buffer does not yet hold a whole frame. The connection advances its read
position only after a whole frame is parsed, which makes reading a frame cancel-safe.
"""

from __future__ import annotations

from typing import Final, TypeAlias

Frame: TypeAlias = "list[bytes]"
"""A request: the command name and its arguments, as bytes."""

MAX_BULK: Final = 512 * 1024 * 1024
MAX_INLINE: Final = 64 * 1024
MAX_ARGS: Final = 1024 * 1024


class ProtocolError(Exception):
    """The client sent something that is not RESP; the server answers and closes."""


def parse(buf: bytes, pos: int = 0) -> tuple[Frame, int] | None:
    """Parse one request at ``buf[pos:]``: ``(args, end_position)``, or ``None`` if incomplete."""
    n = len(buf)
    if pos >= n:
        return None
    if buf[pos] != 0x2A:  # not '*': an inline command ("PING\r\n"), as redis-benchmark sends
        end = buf.find(b"\n", pos)
        if end < 0:
            if n - pos > MAX_INLINE:
                raise ProtocolError("Protocol error: too big inline request")
            return None
        return buf[pos:end].rstrip(b"\r").split(), end + 1
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return None
    try:
        count = int(buf[pos + 1 : end])
    except ValueError:
        raise ProtocolError("Protocol error: invalid multibulk length") from None
    if count > MAX_ARGS:
        raise ProtocolError("Protocol error: invalid multibulk length")
    pos = end + 2
    args: Frame = []
    append = args.append
    for _ in range(count):
        if pos >= n:
            return None
        if buf[pos] != 0x24:  # '$'
            raise ProtocolError(f"Protocol error: expected '$', got '{chr(buf[pos])}'")
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None
        try:
            size = int(buf[pos + 1 : end])
        except ValueError:
            raise ProtocolError("Protocol error: invalid bulk length") from None
        if size < 0 or size > MAX_BULK:
            raise ProtocolError("Protocol error: invalid bulk length")
        pos = end + 2 + size
        if pos + 2 > n:
            return None
        if buf[pos : pos + 2] != b"\r\n":
            raise ProtocolError("Protocol error: bulk string not terminated by CRLF")
        append(buf[end + 2 : pos])
        pos += 2
    return args, pos


def parse_all(buf: bytes, pos: int = 0) -> tuple[list[Frame], int]:
    """Every whole request at ``buf[pos:]``: ``(frames, end_position)``.

    The same frames :func:`parse` gives when called until it returns ``None``, found faster
    for a pipelined batch: the buffer is split at every CRLF once, and a request in the usual
    form (an array of bulk strings, each length written plainly, no CRLF inside the data) is
    checked by comparing each length line with a table instead of scanning for it. Anything
    else (a CRLF inside a value, an unusual length, a malformed or incomplete request) goes
    through :func:`parse` from there on, so what is accepted or refused does not change.

    Raises:
        ProtocolError: the first request is malformed. A malformed request after whole ones
            ends the list instead; the next call, starting there, raises.
    """
    frames: list[Frame] = []
    n = len(buf)
    if pos >= n:
        return frames, pos
    if n - pos <= MAX_BULK:  # (a larger buffer could hold a bulk string parse() refuses)
        lines = (buf[pos:] if pos else buf).split(b"\r\n")
        last = len(lines) - 1  # lines[last] is what follows the final CRLF
        bare_lf = -1  # is there an LF that is not part of a CRLF? (-1: not looked yet)
        append = frames.append
        counts_get = _COUNTS.get
        header = _HEADER
        i = 0
        while i < last:
            head = lines[i]
            count = counts_get(head)
            if count is not None:  # "*1" to "*1024": an array, usually of bulk strings
                end = i + 1 + 2 * count
                if end > last:
                    break  # incomplete
                # Each length line must read exactly "$<length of the next piece>". A CRLF
                # inside a value splits it, so its first piece is shorter than its length.
                k = i + 1
                while k < end and lines[k] == header[len(lines[k + 1])]:
                    k += 2
                if k < end:
                    break  # parse() sorts it out
                append(lines[i + 2 : end : 2])
                i = end
            elif head[:1] == b"*":
                break  # another array header: parse() does it
            else:  # an inline command
                if bare_lf < 0:
                    bare_lf = buf.count(b"\n", pos) != last
                if bare_lf and head.find(b"\n") >= 0:
                    break  # lines ended by a bare LF: parse() splits them
                append(head.split())
                i += 1
        if i == last:
            pos = n - len(lines[last])
        else:
            pos += sum(map(len, lines[:i])) + 2 * i
    try:
        while (got := parse(buf, pos)) is not None:
            frames.append(got[0])
            pos = got[1]
    except ProtocolError:
        if not frames:
            raise
    return frames, pos


_FAST_ARGS: Final = 1024
_COUNTS: Final = {b"*%d" % n: n for n in range(1, _FAST_ARGS + 1)}
"""The array headers :func:`parse_all` handles itself (longer arrays go through parse())."""


class _Headers(dict[int, bytes]):
    """Length -> its bulk string header: ``_HEADER[3] == b"$3"``."""

    def __missing__(self, n: int) -> bytes:
        return b"$%d" % n  # a long value: not kept


_HEADER: Final = _Headers({n: b"$%d" % n for n in range(1025)})


# -- replies ----------------------------------------------------------------------------------

OK: Final = b"+OK\r\n"
PONG: Final = b"+PONG\r\n"
NULL: Final = b"$-1\r\n"
EMPTY_ARRAY: Final = b"*0\r\n"


def simple(text: str) -> bytes:
    return b"+" + text.encode() + b"\r\n"


def error(text: str) -> bytes:
    return b"-" + text.replace("\r", " ").replace("\n", " ").encode() + b"\r\n"


def integer(n: int) -> bytes:
    return b":%d\r\n" % n


def bulk(data: bytes | None) -> bytes:
    if data is None:
        return NULL
    return b"$%d\r\n%b\r\n" % (len(data), data)


def array(items: list[bytes]) -> bytes:
    """An array of already-encoded replies."""
    return b"*%d\r\n" % len(items) + b"".join(items)


def command(*args: bytes | str | int) -> bytes:
    """Encode a request the way clients do: an array of bulk strings."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return array([bulk(p) for p in parts])


# -- reading replies (the client side) ----------------------------------------------------------

Reply: TypeAlias = "bytes | int | list[Reply] | RespError | None"


class RespError(Exception):
    """An error reply from the server (``-ERR ...``)."""


def parse_reply(buf: bytes | bytearray, pos: int = 0) -> tuple[Reply, int] | None:
    """Parse one reply at ``buf[pos:]``: ``(value, end)`` or ``None`` if incomplete."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return None
    kind = buf[pos]
    line = bytes(buf[pos + 1 : end])
    nxt = end + 2
    if kind == 0x2B:  # '+'
        return line, nxt
    if kind == 0x2D:  # '-'
        return RespError(line.decode(errors="replace")), nxt
    if kind == 0x3A:  # ':'
        return int(line), nxt
    if kind == 0x24:  # '$'
        size = int(line)
        if size < 0:
            return None, nxt
        if nxt + size + 2 > len(buf):
            return None
        return bytes(buf[nxt : nxt + size]), nxt + size + 2
    if kind == 0x2A:  # '*'
        count = int(line)
        if count < 0:
            return None, nxt
        items: list[Reply] = []
        for _ in range(count):
            got = parse_reply(buf, nxt)
            if got is None:
                return None
            item, nxt = got
            items.append(item)
        return items, nxt
    raise ProtocolError(f"unexpected reply type byte {chr(kind)!r}")
