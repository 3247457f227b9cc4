"""What every rt.net object shares: a non-blocking socket registered with the runtime's reactor.

Facts the code relies on:

* Operations try the syscall first and wait for readiness only on ``BlockingIOError``; the
  reactor keeps interest registered between waits, so a busy connection costs no
  ``epoll_ctl`` per read.
* Each operation counts against the cooperative budget *before* it takes effect, so a task
  that always finds data ready still yields to its neighbours every 128 operations (a stream
  charges them 32 at a time). A read that waits for readiness first is not charged: the wait
  parks the task, which renews its budget.
* Waits go through the socket's own registration with the reactor (``io.register(sock)``),
  which spares every wait the fd table lookup.
* ``close()`` goes through :meth:`rt.lowlevel.IoDriver.close`: a task waiting on the socket
  wakes with ``OSError(EBADF)``, from whichever thread ``close`` is called.
* A stream holds bytes "given back" by a cancelled ``read_exact`` in ``_pending`` and serves
  them first, so no read operation loses data when cancelled.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, ClassVar, Final, Generic, TypeVar

from rt.io._errors import byte_view, chained, closed_error, read_exact_from, record_written
from rt.lowlevel import READ, WRITE, IoDriver, budget_spent, checkpoint, current_io

from ._addr import SockAddr

_S = TypeVar("_S", bound="SocketResource")

DEFAULT_READ = 65536
# A stream charges the cooperative budget once per _BATCH operations; a task in a hot loop of
# ready reads or writes still yields after COOP_BUDGET of them, give or take a batch.
_BATCH: Final = 32
OUT_OF_FDS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# One recv asks the kernel for at most this much: recv(n) allocates n bytes up front, so a
# read(2**40) would be a MemoryError (a read returns "up to n" bytes anyway).
MAX_READ: Final = 1 << 20
_BUSY: Final = "another task is already waiting"


def busy_error(exc: RuntimeError, what: str, fix: str) -> RuntimeError:
    """``exc``, or when it is the reactor's "another task is already waiting" for this
    socket, an error in the user's terms: ``what`` happened, and ``fix``, what to do."""
    if not str(exc).startswith(_BUSY):
        return exc
    err = RuntimeError(f"{what}: {fix}")
    err.__cause__ = exc
    return err


_READ_FIX: Final = (
    "one task at a time reads a stream (Tokio's read takes &mut self for this reason). Read "
    "in one task and hand the data on (an rt.sync channel), or into_split() the stream to "
    "read in one task and write in another"
)
_WRITE_FIX: Final = (
    "one task at a time writes a stream, or their bytes would interleave. Write from one "
    "task (others send it the data through an rt.sync channel), or hold an rt.sync.Mutex "
    "around each write_all"
)


def _describe(families: tuple[int, ...], socktype: int) -> str:
    names = {int(socket.AF_INET): "IPv4", int(socket.AF_INET6): "IPv6", int(socket.AF_UNIX): "Unix"}
    kinds = {int(socket.SOCK_STREAM): "stream", int(socket.SOCK_DGRAM): "datagram"}
    fams = " or ".join(names.get(int(f), str(f)) for f in families)
    return f"{fams} {kinds.get(int(socktype), str(socktype))}"


def located(exc: OSError, context: str) -> OSError:
    """A copy of ``exc`` (same errno, so the same subclass) whose message ends in ``(context)``.

    An ``OSError`` without an errno (``"AF_UNIX path too long"``) keeps its own words instead
    of becoming ``"[Errno None] None"``.
    """
    if exc.errno is None:
        return chained(OSError(f"{exc} ({context})"), None)
    return chained(OSError(exc.errno, f"{exc.strerror} ({context})"), None)


def check_size(n: object, what: str = "read") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{what} size must be an int >= 0, got {n!r}")
    return n


class SocketResource:
    """A socket owned by rt: non-blocking, watched by the reactor of the runtime that made it."""

    __slots__ = ("_closed", "_io", "_reg", "_sock")

    _kind = "socket"

    def __init__(self, sock: socket.socket, io: IoDriver | None = None) -> None:
        if io is None:
            try:
                io = current_io(f"{type(self).__name__}()")
            except RuntimeError:
                sock.close()  # e.g. bind() outside a runtime: do not leave the socket behind
                raise
        sock.setblocking(False)
        self._sock = sock
        self._io = io
        # Waits go through the socket's own registration: no fd table lookup per wait.
        self._reg = io.register(sock)
        self._closed = False

    # What from_socket() accepts: socket families and type, and whether it must be listening
    # (empty families: any). Set by each class.
    _families: ClassVar[tuple[int, ...]] = ()
    _socktype: ClassVar[int] = 0
    _listening: ClassVar[bool] = False

    @classmethod
    def from_socket(cls: type[_S], sock: socket.socket) -> _S:
        """Adopt an existing ``socket.socket`` (it is made non-blocking). Call inside a runtime.

        Raises:
            TypeError: ``sock`` is not a ``socket.socket``.
            ValueError: ``sock`` is of another kind (a UDP socket for a ``TcpStream``, say),
                or a listener's socket is not listening yet.
        """
        if not isinstance(sock, socket.socket):
            raise TypeError(f"expected a socket.socket, got {type(sock).__name__}")
        name = cls.__name__
        if (cls._families and sock.family not in cls._families) or (
            cls._socktype and sock.type != cls._socktype
        ):
            raise ValueError(
                f"{name}.from_socket() takes {_describe(cls._families, cls._socktype)} sockets; "
                f"this one is {_describe((sock.family,), sock.type)}"
            )
        if cls._listening and not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            raise ValueError(
                f"{name}.from_socket() needs a listening socket: call bind() and listen() on it "
                "first"
            )
        return cls(sock)

    def _busy(self, exc: RuntimeError, op: str, doing: str, fix: str) -> RuntimeError:
        return busy_error(exc, f"{op} on a {self._kind} that another task is already {doing}", fix)

    def fileno(self) -> int:
        """The socket's fd (``-1`` once closed)."""
        return self._sock.fileno()

    @property
    def socket(self) -> socket.socket:
        """The underlying non-blocking ``socket.socket``, for options rt does not wrap."""
        return self._sock

    def local_addr(self) -> SockAddr:
        """The address this socket is bound to, as the ``socket`` module returns it."""
        self._check_open("local_addr()")
        addr: SockAddr = self._sock.getsockname()
        return addr

    def close(self) -> None:
        """Close the socket; a task waiting on it wakes with ``OSError(EBADF)``.

        Idempotent, and safe from any thread.
        """
        if self._closed:
            return
        self._closed = True
        self._io.close(self._sock)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _check_open(self, op: str) -> None:
        if self._closed:
            raise closed_error(self._kind, op)

    async def __aenter__(self: _S) -> _S:
        """Return ``self``; the ``async with`` block closes it on exit.

        Cancel safety: cancel-safe (nothing to wait for).
        """
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the socket.

        Cancel safety: cancel-safe (closing does not wait).
        """
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._sock.fileno()}"
        return f"<{type(self).__module__}.{type(self).__qualname__} {state}>"


async def connect_socket(io: IoDriver, sock: socket.socket, target: Any, label: str) -> None:
    """Connect the non-blocking ``sock`` to ``target``; errors name ``label``.

    Cancel safety: the caller closes ``sock`` when this is cancelled (or fails).
    """
    try:
        sock.connect(target)
        return
    except BlockingIOError:
        pass
    except OSError as exc:
        raise located(exc, f"connecting to {label}")  # noqa: B904 - located() unchains
    await io.wait(sock, WRITE)
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise OSError(err, f"{os.strerror(err)} (connecting to {label})")


class SocketListener(SocketResource):
    """What TCP and Unix listeners share: the accept loop."""

    __slots__ = ()

    async def _accept_socket(self) -> tuple[socket.socket, Any]:
        if budget_spent():
            await checkpoint()
        sock = self._sock
        while True:
            try:
                return sock.accept()
            except BlockingIOError:
                try:
                    await self._reg.wait(READ)
                except RuntimeError as exc:
                    raise self._busy(  # noqa: B904 - busy_error sets the cause
                        exc,
                        "accept()",
                        "accepting on",
                        "run one accept loop and rt.spawn a task per connection it accepts",
                    )
                except OSError:
                    self._check_open("accept()")
                    raise
            except ConnectionAbortedError:
                continue  # the peer gave up before we accepted: take the next one
            except OSError as exc:
                self._check_open("accept()")
                if exc.errno in OUT_OF_FDS:
                    # mypyc ignores `raise ... from`: chained() sets the cause in both builds
                    raise chained(  # noqa: B904
                        OSError(
                            exc.errno,
                            f"{exc.strerror}: cannot accept a connection now. It stays queued "
                            "and the listener stays usable: close some fds or raise "
                            "RLIMIT_NOFILE, then accept again",
                        ),
                        None,
                    )
                raise


_T = TypeVar("_T")


class Incoming(Generic[_T]):
    """``async for`` over a listener's connections (``listener.incoming()``)."""

    __slots__ = ("_accept",)

    def __init__(self, accept: Callable[[], Awaitable[tuple[_T, Any]]]) -> None:
        self._accept = accept

    def __aiter__(self) -> Incoming[_T]:
        return self

    async def __anext__(self) -> _T:
        """Accept the next connection.

        Cancel safety: cancel-safe, like the listener's ``accept``.
        """
        stream, _peer = await self._accept()
        return stream


class SocketStream(SocketResource):
    """A connected byte stream (TCP or Unix)."""

    __slots__ = ("_drained", "_ops", "_pending", "_wshut")

    _kind = "stream"

    def __init__(self, sock: socket.socket, io: IoDriver | None = None) -> None:
        super().__init__(sock, io)
        self._pending = b""
        self._wshut = False
        self._drained = False
        # Operations since the cooperative budget was last charged: a stream charges it
        # _BATCH at a time (finding the running task is most of the cost of a charge).
        self._ops = 0

    def peer_addr(self) -> SockAddr:
        """The address of the other end."""
        self._check_open("peer_addr()")
        addr: SockAddr = self._sock.getpeername()
        return addr

    async def read(self, n: int = DEFAULT_READ) -> bytes:
        """Read up to ``n`` bytes, waiting until at least one is available; ``b""`` at EOF.

        One call returns at most 1 MiB, however large ``n`` is.

        Raises:
            ConnectionResetError: the peer reset the connection.
            OSError: ``EBADF`` when the stream is (or gets) closed.
            RuntimeError: another task is already waiting to read this stream.

        Cancel safety: cancel-safe: a cancelled ``read`` consumed no bytes. Use it freely in a
        ``select`` loop.
        """
        try:
            if self._drained and n > 0 and not self._pending:
                # The last recv returned less than asked: the kernel buffer was empty then, so
                # a recv now would most likely fail with EAGAIN (a syscall plus an exception).
                # Wait for readiness first; level triggering returns at once if data came
                # meanwhile. The wait parks, which renews the task's budget: nothing to charge.
                if self._closed:
                    raise closed_error(self._kind, "read()")
                try:
                    await self._reg.wait(READ)
                except (RuntimeError, OSError) as exc:
                    raise self._wait_failed(exc, "read()", False)  # noqa: B904
            else:
                ops = self._ops + 1
                if ops < _BATCH:
                    self._ops = ops
                else:
                    self._ops = 0
                    if budget_spent(_BATCH):
                        await checkpoint()
                if n <= 0:
                    check_size(n)
                    # read(0) must not look like EOF by asking the kernel for nothing
                    return b""
                if self._pending:
                    return self._take_pending(n)
            n = n if n <= MAX_READ else MAX_READ
            sock = self._sock
            while True:
                try:
                    data = sock.recv(n)
                except BlockingIOError:
                    try:
                        await self._reg.wait(READ)
                    except (RuntimeError, OSError) as exc:
                        raise self._wait_failed(exc, "read()", False)  # noqa: B904
                    continue
                except OSError:
                    self._check_open("read()")
                    raise
                self._drained = len(data) < n
                return data
        except TypeError:
            # A size that is not an int fails the fast path's comparisons: say what is wrong
            # with it (an int size re-raises the original error).
            check_size(n)
            raise

    def _wait_failed(self, exc: Exception, op: str, writing: bool) -> Exception:
        """What to raise when a wait for readiness failed with ``exc``: the reactor's words
        for a second waiting task or a close meanwhile, put in this stream's terms."""
        if isinstance(exc, RuntimeError):
            if writing:
                return self._busy(exc, op, "writing", _WRITE_FIX)
            return self._busy(exc, op, "reading", _READ_FIX)
        if self._closed:
            return closed_error(self._kind, op)
        return exc

    def try_read(self, n: int = DEFAULT_READ) -> bytes:
        """Read what is available now without waiting; ``b""`` at EOF.

        Raises:
            BlockingIOError: nothing is available yet (await :meth:`read` instead).
        """
        check_size(n)
        if self._pending:
            return self._take_pending(n)
        self._check_open("try_read()")
        n = n if n <= MAX_READ else MAX_READ
        data = self._sock.recv(n)
        self._drained = len(data) < n
        return data

    def try_write(self, data: bytes | bytearray | memoryview) -> int:
        """Write what the kernel takes now, without waiting; return the byte count.

        Never a suspension point, so never cancelled half-way: a common first step of a
        shutdown-proof flush (``try_write``, then ``write_all`` of the rest under a shield).

        Raises:
            BlockingIOError: the socket buffer is full.
            BrokenPipeError: after :meth:`shutdown`, or the peer closed its read side.
        """
        if self._closed or self._wshut:
            self._check_writable("try_write()")
        return self._sock.send(data)

    def _take_pending(self, n: int) -> bytes:
        data = self._pending
        if n >= len(data):
            self._pending = b""
            return data
        self._pending = data[n:]
        return data[:n]

    async def read_exact(self, n: object) -> bytes:
        """Read exactly ``n`` bytes.

        Args:
            n: How many bytes (an ``int >= 0``; typed ``object`` so that the compiled build
                reports a bool or float with the same ``ValueError`` as the pure one).

        Raises:
            ValueError: ``n`` is not an ``int >= 0``.
            IncompleteReadError: EOF came first (an ``EOFError``; ``.partial`` has the bytes).

        Cancel safety: cancel-safe: if cancelled part-way, the bytes read so far are put back
        and the next read returns them first.
        """
        size = check_size(n, "read_exact")
        return await read_exact_from(self.read, size, self._unread)

    def _unread(self, data: bytes) -> None:
        self._pending = data + self._pending

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write some prefix of ``data``, waiting until the socket can take at least one byte.

        Returns the number of bytes written.

        Raises:
            BrokenPipeError: after :meth:`shutdown`, or the peer closed its read side.
            ConnectionResetError: the peer reset the connection.

        Cancel safety: cancel-safe: a cancelled ``write`` wrote nothing.
        """
        ops = self._ops + 1
        if ops < _BATCH:
            self._ops = ops
        else:
            self._ops = 0
            if budget_spent(_BATCH):
                await checkpoint()
        self._check_writable("write()")
        if not data:
            return 0
        sock = self._sock
        while True:
            try:
                return sock.send(data)
            except BlockingIOError:
                try:
                    await self._reg.wait(WRITE)
                except (RuntimeError, OSError) as exc:
                    raise self._wait_failed(exc, "write()", True)  # noqa: B904
            except OSError:
                self._check_writable("write()")
                raise

    async def write_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write all of ``data``, waiting for buffer space as needed.

        Raises:
            BrokenPipeError: after :meth:`shutdown`, or the peer closed its read side.
            ConnectionResetError: the peer reset the connection.

        Cancel safety: not cancel-safe: a prefix of ``data`` may have been sent when it is
        cancelled (or fails). The exception records how much: :func:`rt.io.bytes_written`.
        """
        ops = self._ops + 1
        if ops < _BATCH:
            self._ops = ops
        else:
            self._ops = 0
            if budget_spent(_BATCH):
                await checkpoint()
        if self._closed or self._wshut:
            self._check_writable("write_all()")
        if data.__class__ is not bytes and data.__class__ is not bytearray:
            # Count bytes, not items: len() of an array('i') or its memoryview is 4x short,
            # and the loop below would stop with most of it unsent.
            data = byte_view(data, "write_all()")
        sock = self._sock
        total = len(data)
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._check_writable("write_all()")
            raise
        if sent == total:
            return
        view = memoryview(data).cast("B")
        wait = self._reg.wait
        try:
            while sent < total:
                try:
                    await wait(WRITE)
                except (RuntimeError, OSError) as exc:
                    raise self._wait_failed(exc, "write_all()", True)  # noqa: B904
                try:
                    sent += sock.send(view[sent:])
                except BlockingIOError:
                    continue
                except OSError:
                    self._check_writable("write_all()")
                    raise
        except BaseException as exc:
            record_written(exc, sent, total)
            raise

    async def shutdown(self) -> None:
        """Half-close: the peer reads EOF; this side can still read. Idempotent.

        Cancel safety: cancel-safe (it does not wait).
        """
        self._check_open("shutdown()")
        if self._wshut:
            return
        self._wshut = True
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno != errno.ENOTCONN:  # the peer already reset the connection
                raise

    def _shut_write_now(self) -> None:
        """``shutdown()`` without the ``await``, best effort: a send waiting on this socket
        wakes and fails with ``BrokenPipeError`` (a write half closed, a TLS write half cut)."""
        if self._closed or self._wshut:
            return
        self._wshut = True
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _check_writable(self, op: str) -> None:
        if self._closed:
            raise closed_error(self._kind, op)
        if self._wshut:
            raise BrokenPipeError(errno.EPIPE, f"{op} after shutdown(): this side is closed")

    def into_split(self) -> tuple[ReadHalf, WriteHalf]:
        """Split into a read half and a write half that two tasks can use at once.

        The stream closes when both halves are closed (or dropped); closing or dropping the
        write half shuts down the writing direction first, so the peer reads EOF.
        """
        self._check_open("into_split()")
        shared = _Shared(self)
        return ReadHalf(shared), WriteHalf(shared)


class _Shared:
    __slots__ = ("halves", "stream")

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.halves = 2

    def release(self) -> None:
        self.halves -= 1
        if self.halves == 0:
            self.stream.close()


class _Half:
    __slots__ = ("_closed", "_shared")

    def __init__(self, shared: _Shared) -> None:
        self._shared = shared
        self._closed = False

    def peer_addr(self) -> SockAddr:
        """The address of the other end."""
        return self._shared.stream.peer_addr()

    def local_addr(self) -> SockAddr:
        """This end's address."""
        return self._shared.stream.local_addr()

    def close(self) -> None:
        """Release this half; the socket closes when both halves are released. Idempotent."""
        if not self._closed:
            self._closed = True
            self._shared.release()

    def __del__(self) -> None:
        # A half dropped without close() is released as Tokio's owned halves are on drop: a
        # dropped write half shuts the writing direction down (the peer reads EOF instead of
        # waiting for ever), and the socket closes once both halves are gone.
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def _stream(self, op: str) -> SocketStream:
        if self._closed:
            raise closed_error(f"{type(self).__name__}", op)
        return self._shared.stream

    async def __aenter__(self: _H) -> _H:
        """Return ``self``; the block releases the half on exit.

        Cancel safety: cancel-safe.
        """
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Release the half.

        Cancel safety: cancel-safe.
        """
        self.close()


_H = TypeVar("_H", bound=_Half)


class ReadHalf(_Half):
    """The reading half of a split stream (:meth:`TcpStream.into_split`)."""

    __slots__ = ()

    async def read(self, n: int = DEFAULT_READ) -> bytes:
        """See :meth:`TcpStream.read`.

        Cancel safety: cancel-safe: a cancelled ``read`` consumed no bytes.
        """
        return await self._stream("read()").read(n)

    def try_read(self, n: int = DEFAULT_READ) -> bytes:
        """See :meth:`TcpStream.try_read`."""
        return self._stream("try_read()").try_read(n)

    async def read_exact(self, n: object) -> bytes:
        """See :meth:`TcpStream.read_exact`.

        Cancel safety: cancel-safe: bytes read before a cancellation are put back.
        """
        return await self._stream("read_exact()").read_exact(n)


class WriteHalf(_Half):
    """The writing half of a split stream. Closing it shuts down the writing direction."""

    __slots__ = ()

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """See :meth:`TcpStream.write`.

        Cancel safety: cancel-safe: a cancelled ``write`` wrote nothing.
        """
        return await self._stream("write()").write(data)

    def try_write(self, data: bytes | bytearray | memoryview) -> int:
        """See :meth:`TcpStream.try_write`."""
        return self._stream("try_write()").try_write(data)

    async def write_all(self, data: bytes | bytearray | memoryview) -> None:
        """See :meth:`TcpStream.write_all`.

        Cancel safety: not cancel-safe; :func:`rt.io.bytes_written` says how much was sent.
        """
        await self._stream("write_all()").write_all(data)

    async def shutdown(self) -> None:
        """Half-close the stream's writing direction.

        Cancel safety: cancel-safe.
        """
        await self._stream("shutdown()").shutdown()

    def close(self) -> None:
        """Shut down writing (the peer reads EOF) and release this half. Idempotent."""
        if not self._closed:
            self._shared.stream._shut_write_now()
        super().close()
