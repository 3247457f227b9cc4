"""RESP2: parse requests incrementally from a buffer, encode replies.

``parse(buf, pos)`` never consumes anything: it returns the frame and where it ends, or
``None`` when the buffer does not yet hold a whole frame. The connection advances its read
position only after a whole frame is parsed, which makes reading a frame cancel-safe.

:class:`RequestReader` is what both servers read requests through: bytes in (``feed``), whole
requests out (``take``), in time linear in the bytes however they are split into reads, and
never holding more than ``max_request`` bytes of one request.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Final, TypeAlias

Frame: TypeAlias = "list[bytes]"
"""A request: the command name and its arguments, as bytes."""

MAX_BULK: Final = 512 * 1024 * 1024
MAX_INLINE: Final = 64 * 1024
MAX_ARGS: Final = 1024 * 1024
MAX_REQUEST: Final = 64 * 1024 * 1024
"""The default largest request a server accepts (bigger ones get ``-ERR`` and a close)."""


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


class RequestReader:
    """Whole requests from a byte stream that arrives in pieces.

    ``feed(data)`` after each read, ``take()`` for every whole request buffered so far.
    Pipelined small requests go through :func:`parse_all` on one ``bytes`` buffer (the fast
    path). A request left incomplete with ``BIG`` bytes or more of it buffered (a large value
    arriving in many reads) switches to a resumable parse: the reads are kept as they came
    (a list of ``bytes``, never re-joined), the arguments already parsed are kept, and nothing
    is looked at again until enough has arrived to make progress (for a value whose length
    is known: all of it). Each byte is then copied once, into the argument it belongs to, so
    a 16 MiB value costs time linear in its size; re-joining and re-parsing the buffer at
    every read cost time quadratic in it.

    A request that declares or reaches more than ``max_request`` bytes raises
    :class:`ProtocolError` as soon as that is known, so the server answers ``-ERR`` instead of
    buffering without bound.
    """

    __slots__ = (
        "_args",
        "_buf",
        "_count",
        "_need",
        "_off",
        "_parts",
        "_pos",
        "_ready",
        "_size",
        "_used",
        "max_request",
    )

    BIG: Final = 64 * 1024

    def __init__(self, max_request: int = MAX_REQUEST) -> None:
        self.max_request = max_request
        self._buf = b""  # the fast path's buffer; unparsed input starts at _buf[_pos]
        self._pos = 0
        self._ready: list[Frame] = []  # parsed, handed back with unread()
        # The resumable parse of one big request (None: the fast path):
        self._parts: deque[bytes] | None = None  # the bytes after what is parsed of it
        self._off = 0  # ... starting at _parts[0][_off]
        self._size = 0  # how many bytes _parts holds from there
        self._need = 0  # parse no further before _size reaches this
        self._count = -1  # its argument count, once its header is parsed
        self._args: Frame = []  # its arguments parsed so far
        self._used = 0  # its bytes parsed so far

    @property
    def pending(self) -> bool:
        """Whether part of a request is buffered (EOF now would cut it)."""
        return self._parts is not None or len(self._buf) > self._pos

    def feed(self, data: bytes) -> None:
        """Append what a read returned."""
        parts = self._parts
        if parts is not None:
            parts.append(data)
            self._size += len(data)
        elif self._buf:
            self._buf = self._buf[self._pos :] + data
            self._pos = 0
        else:
            self._buf = data

    def unread(self, frames: list[Frame]) -> None:
        """Put back requests ``take`` returned: the next ``take`` returns them first."""
        self._ready[:0] = frames

    def next(self) -> Frame | None:
        """The next whole request buffered, or ``None``.

        Raises:
            ProtocolError: as :meth:`take`.
        """
        if not self._ready:
            self._ready = self.take()
            if not self._ready:
                return None
        return self._ready.pop(0)

    def take(self) -> list[Frame]:
        """Every whole request buffered, in order (maybe none).

        Raises:
            ProtocolError: the first request buffered is malformed or too big. (Whole
                requests before a malformed one are returned first; the next call raises.)
        """
        if self._ready:
            frames, self._ready = self._ready, []
            return frames
        frames = []
        if self._parts is not None:
            if self._size < self._need:
                return frames
            frame = self._resume()
            if frame is None:
                return frames
            frames.append(frame)
        buf = self._buf
        if not buf:
            return frames
        try:
            more, pos = parse_all(buf, self._pos)
        except ProtocolError:
            if frames:
                return frames  # answer the big request first; the next call raises
            raise
        frames += more
        if pos == len(buf):
            self._buf, self._pos = b"", 0
        elif len(buf) - pos >= self.BIG:
            self._buf, self._pos = b"", 0
            self._parts = deque([buf[pos:] if pos else buf])
            self._size = len(buf) - pos
            if not frames:  # else the next call resumes (and raises what there is to raise)
                frame = self._resume()
                if frame is not None:
                    frames.append(frame)
                    frames += self.take()
        else:
            self._pos = pos
        return frames

    # -- the resumable parse ------------------------------------------------------------

    def _peek(self, n: int) -> bytes:
        """Up to ``n`` bytes from the front, not consumed (for header lines)."""
        parts = self._parts
        assert parts is not None
        off = self._off
        first = parts[0]
        if len(first) - off >= n or len(parts) == 1:
            return first[off : off + n]
        out = first[off:]
        for part in itertools.islice(parts, 1, None):
            out += part[: n - len(out)]
            if len(out) >= n:
                break
        return out

    def _pop(self, n: int) -> bytes:
        """Consume ``n`` bytes from the front (they are there); one copy at most."""
        parts = self._parts
        assert parts is not None
        self._size -= n
        off = self._off
        first = parts[0]
        avail = len(first) - off
        if avail > n:
            self._off = off + n
            return first[off : off + n]
        if avail == n:
            parts.popleft()
            self._off = 0
            return first if off == 0 else first[off:]
        pieces: list[bytes | memoryview] = [memoryview(first)[off:]]
        parts.popleft()
        n -= avail
        while n:
            part = parts[0]
            if len(part) > n:
                pieces.append(memoryview(part)[:n])
                self._off = n
                break
            pieces.append(part)
            parts.popleft()
            n -= len(part)
        else:
            self._off = 0
        return b"".join(pieces)

    def _header(self, what: str) -> tuple[int, int] | None:
        """Parse the ``*N`` or ``$N`` line in front: ``(N, line length)``, None if partial."""
        head = self._peek(34)
        end = head.find(b"\r\n")
        if end < 0:
            if len(head) >= 34:
                raise ProtocolError(f"Protocol error: invalid {what} length")
            self._need = self._size + 1
            return None
        try:
            return int(head[1:end]), end + 2
        except ValueError:
            raise ProtocolError(f"Protocol error: invalid {what} length") from None

    def _too_big(self) -> ProtocolError:
        return ProtocolError(
            f"Protocol error: request larger than the server's maximum ({self.max_request} bytes)"
        )

    def _resume(self) -> Frame | None:
        """Parse more of the big request; return it when whole (leaving the big mode)."""
        parts = self._parts
        assert parts is not None
        limit = self.max_request
        if self._count < 0:
            if parts[0][self._off] != 0x2A:  # an inline request: parse() refused it
                raise ProtocolError("Protocol error: too big inline request")
            got = self._header("multibulk")
            if got is None:
                return None
            count, line = got
            if count > MAX_ARGS:
                raise ProtocolError("Protocol error: invalid multibulk length")
            self._pop(line)
            self._used = line
            self._count = max(0, count)
        args = self._args
        while len(args) < self._count:
            if not self._size:
                self._need = 1
                return None
            first = parts[0][self._off]
            if first != 0x24:  # '$'
                raise ProtocolError(f"Protocol error: expected '$', got '{chr(first)}'")
            got = self._header("bulk")
            if got is None:
                return None
            size, line = got
            if size < 0 or size > MAX_BULK:
                raise ProtocolError("Protocol error: invalid bulk length")
            whole = line + size + 2
            if self._used + whole > limit:
                raise self._too_big()
            if self._size < whole:
                self._need = whole
                return None
            self._pop(line)
            args.append(self._pop(size))
            if self._pop(2) != b"\r\n":
                raise ProtocolError("Protocol error: bulk string not terminated by CRLF")
            self._used += whole
        self._buf = b"".join(parts)
        if self._off:
            self._buf = self._buf[self._off :]
        self._pos = 0
        self._parts = None
        self._off = self._size = self._need = self._used = 0
        self._count = -1
        self._args = []
        return args


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
