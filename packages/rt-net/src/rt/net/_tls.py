"""TLS over any rt stream: TlsConnector, TlsAcceptor, TlsStream (stdlib ``ssl``, memory BIOs).

A :class:`TlsStream` owns an ``ssl.SSLObject`` between two ``ssl.MemoryBIO`` s and a plain
*transport* (``TcpStream``, ``UnixStream``, a ``DuplexStream``, anything with ``read``,
``write_all``, ``shutdown`` and ``close``). OpenSSL never touches a socket: the stream moves
ciphertext between the BIOs and the transport itself, so every wait is an ordinary rt wait.

Facts the code relies on:

* **Memory BIOs never block.** ``SSLObject.write`` encrypts all it is given into the outgoing
  BIO; ``read`` / ``do_handshake`` / ``unwrap`` raise ``SSLWantReadError`` when the incoming
  BIO runs dry. ``SSLWantWriteError`` cannot happen.
* **One thread in OpenSSL at a time.** ``SSLObject`` calls release the GIL, and the read half
  and the write half of a split stream may run on two workers at once, so every call on the
  SSL object or its BIOs happens under ``_mutex`` (a plain ``threading.Lock``, never held
  across an ``await``).
* **Ciphertext leaves in order.** Only the holder of the send lock takes bytes out of the
  outgoing BIO, and bytes it took but could not send (a cancelled or failed ``write_all`` on
  the transport, which records how much it sent) wait in ``_wbuf`` and go first next time.
* **Ciphertext arrives in order.** Only the holder of the receive lock reads the transport,
  and it feeds what it read into the incoming BIO before it lets go. ``_rcount`` counts those
  reads: a task that waited for the lock while another one read retries OpenSSL first.
* **Decrypted bytes are never dropped.** ``read`` returns as soon as OpenSSL hands over
  plaintext (there is no ``await`` between the two), and bytes put back by a cancelled
  ``read_exact``, or drained out of OpenSSL before a ``close_notify`` is sent, wait in
  ``_rbuf`` and are served first.
* **Sending ``close_notify`` must not read.** CPython's ``unwrap`` calls ``SSL_shutdown``
  twice; the second call reads the incoming BIO, and application data there is a fatal
  error. The stream parks the incoming bytes (and any decrypted bytes OpenSSL holds) aside
  around the call and puts them back after, so ``shutdown`` is a true half-close.
* **A handshake either finishes or closes the stream.** Cancelled or failed half-way, the
  transport is closed and every later call says why: nothing is left half-open.
"""

from __future__ import annotations

import errno
import ssl
import threading
from collections import deque
from types import TracebackType
from typing import Any, Final, Generic, Protocol, TypeVar

from rt.io import DuplexStream, bytes_written
from rt.io._errors import byte_view, closed_error, read_exact_from
from rt.lowlevel import Abort, current_task, reschedule, wait_task_rescheduled

from ._socket import MAX_READ, SocketStream, check_size

DEFAULT_READ: Final = 65536
# Transport reads take whole records where they can (4 full TLS records plus headers).
_RECV_SIZE: Final = 65536 + 4 * 256
# write / write_all encrypt at most this much plaintext before sending it.
_WRITE_CHUNK: Final = 256 * 1024


class Transport(Protocol):
    """What a :class:`TlsStream` can wrap: rt's streams, or your own with these methods."""

    async def read(self, n: int = ..., /) -> bytes:
        """Read up to ``n`` bytes, ``b""`` at EOF.

        Cancel safety: must be cancel-safe (nothing consumed when cancelled).
        """
        ...

    async def write_all(self, data: bytes | bytearray | memoryview, /) -> None:
        """Write all of ``data``.

        Cancel safety: must record what it sent on the exception (:func:`rt.io.bytes_written`).
        """
        ...

    async def shutdown(self) -> None:
        """Half-close.

        Cancel safety: cancel-safe.
        """
        ...

    def close(self) -> None:
        """Close."""
        ...


_T = TypeVar("_T", bound=Transport)


class _Lock:
    """An async lock usable from any thread (waiters served in order); ``try_acquire`` is the
    uncontended fast path.

    The lock is the ``_flag`` ``threading.Lock``; ``_guard`` orders waiters. A waiter
    registers *before* it tries the flag, and ``release`` frees the flag *before* it looks for
    waiters, so one of the two always sees the other: an uncontended release is one
    ``Lock.release`` and a deque length check. A waiter is handed the flag already held, so
    one cancelled after the hand-off still owns the lock when it resumes and releases it in
    its ``finally``.

    ``_guard`` is re-entrant: a release can run on a waiting thread inside ``acquire``'s or
    the abort's locked lines (a finalizer run by the collector there, a signal handler, that
    ends the holder's critical section). It then hands the flag to the waiter being queued (the
    running task, woken before it parks: its ``_flag.acquire`` fails and it parks already
    rescheduled) or to the one being withdrawn (whose abort then fails: the lock is its).
    With a plain lock that release blocked its own thread for ever.
    """

    __slots__ = ("_flag", "_guard", "_waiters")

    def __init__(self) -> None:
        self._flag = threading.Lock()
        self._guard = threading.RLock()
        self._waiters: deque[Any] = deque()

    def try_acquire(self) -> bool:
        return self._flag.acquire(False)

    async def acquire(self) -> None:
        task = current_task()
        with self._guard:
            self._waiters.append(task)
            if self._flag.acquire(False):
                self._waiters.pop()  # still ours: nobody pops without the flag and the guard
                return

        def abort() -> Abort:
            with self._guard:
                try:
                    self._waiters.remove(task)
                except ValueError:
                    return Abort.FAILED  # the lock is already ours
                return Abort.SUCCEEDED

        await wait_task_rescheduled(abort)

    def release(self) -> None:
        self._flag.release()
        if self._waiters:
            self._hand_off()

    def release_flag(self) -> bool:
        """The first step of :meth:`release` (for a caller that frees the lock inside its own
        critical section); True when a waiter needs ``_hand_off()``, called after that section."""
        self._flag.release()
        return bool(self._waiters)

    def _hand_off(self) -> None:
        with self._guard:
            # Someone may have taken the free flag meanwhile: then its release hands off.
            if not self._waiters or not self._flag.acquire(False):
                return
            task = self._waiters.popleft()
        reschedule(task)


_default_context: ssl.SSLContext | None = None


def default_client_context() -> ssl.SSLContext:
    """``ssl.create_default_context()``, made once (loading the CA store takes milliseconds)."""
    global _default_context
    if _default_context is None:
        _default_context = ssl.create_default_context()
        _refuse_renegotiation(_default_context)
    return _default_context


def _refuse_renegotiation(ctx: ssl.SSLContext) -> None:
    ctx.options |= ssl.OP_NO_RENEGOTIATION


_TRANSPORT_METHODS: Final = ("read", "write_all", "shutdown", "close")


def _check_transport(stream: object, who: str) -> None:
    """Refuse, before taking it over, a ``stream`` TLS cannot run over, saying what it needs."""
    missing = [m for m in _TRANSPORT_METHODS if not callable(getattr(stream, m, None))]
    if not missing:
        return
    import socket

    if isinstance(stream, socket.socket):
        raise TypeError(
            f"{who} takes an rt stream, got a socket.socket: adopt it first with "
            "rt.net.TcpStream.from_socket(sock) (or UnixStream.from_socket), inside the runtime"
        )
    raise TypeError(
        f"{who} takes a connected rt stream (TcpStream, UnixStream, a duplex end, or an object "
        f"with async read(n), write_all(data) and shutdown(), and close()); got a "
        f"{type(stream).__name__}, which has no {', '.join(m + '()' for m in missing)}"
    )


def _check_context(ctx: object, who: str, *, server_side: bool) -> ssl.SSLContext:
    if not isinstance(ctx, ssl.SSLContext):
        raise TypeError(f"{who} needs an ssl.SSLContext, got {type(ctx).__name__}")
    if server_side and ctx.protocol == ssl.PROTOCOL_TLS_CLIENT:
        raise ValueError(
            "TlsAcceptor needs a server context, got a PROTOCOL_TLS_CLIENT one "
            "(ssl.create_default_context() makes client contexts): use "
            "ssl.create_default_context(ssl.Purpose.CLIENT_AUTH), then load_cert_chain()"
        )
    if not server_side and ctx.protocol == ssl.PROTOCOL_TLS_SERVER:
        raise ValueError(
            "TlsConnector needs a client context, got a PROTOCOL_TLS_SERVER one: use "
            "ssl.create_default_context() (or None for the default)"
        )
    return ctx


class TlsConnector:
    """Make client-side TLS streams with one ``ssl.SSLContext`` (tokio-rustls' ``TlsConnector``).

    Args:
        ssl_context: The client context; ``None`` uses ``ssl.create_default_context()``
            (verifies the server's certificate and host name against the system CA store).
            ``ssl.OP_NO_RENEGOTIATION`` is set on it: a server asking to renegotiate gets a
            ``no_renegotiation`` alert.
        suppress_ragged_eofs: What a read returns when the peer closes the connection without
            ``close_notify``: ``b""`` (True, the stdlib default) or raise ``ssl.SSLEOFError``.

    Raises:
        TypeError: ``ssl_context`` is not an ``ssl.SSLContext``.
        ValueError: ``ssl_context`` is a server context (``PROTOCOL_TLS_SERVER``).
    """

    __slots__ = ("_ctx", "_ragged")

    def __init__(
        self, ssl_context: ssl.SSLContext | None = None, *, suppress_ragged_eofs: bool = True
    ) -> None:
        if ssl_context is None:
            self._ctx = default_client_context()
        else:
            self._ctx = _check_context(ssl_context, "TlsConnector", server_side=False)
            _refuse_renegotiation(self._ctx)
        self._ragged = suppress_ragged_eofs

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The context every stream is made with."""
        return self._ctx

    async def connect(
        self,
        server_hostname: str | None,
        stream: _T,
        *,
        session: ssl.SSLSession | None = None,
        do_handshake_on_connect: bool = True,
    ) -> TlsStream[_T]:
        """Start TLS as the client over ``stream`` and (by default) complete the handshake.

        Args:
            server_hostname: The name to send as SNI and to check the certificate against
                (an IP literal checks the certificate's IP addresses). ``None`` is allowed only
                with a context whose ``check_hostname`` is off.
            stream: The connected plain stream; the TLS stream owns it from now on.
            session: An ``ssl.SSLSession`` from an earlier connection (``TlsStream.session``)
                to resume.
            do_handshake_on_connect: ``False`` returns at once; the handshake then runs on
                first use or on :meth:`TlsStream.do_handshake`.

        Returns:
            The TLS stream.

        Raises:
            ssl.SSLCertVerificationError: the certificate is untrusted, expired or for another
                host (``verify_message`` says which).
            ssl.SSLError: the handshake failed otherwise (e.g. the peer does not speak TLS).
            ValueError: ``server_hostname`` is empty or missing while the context checks it.

        Cancel safety: not cancel-safe: a cancelled handshake closes ``stream`` (never left
        half-open); connect again.
        """
        if server_hostname is not None and not isinstance(server_hostname, str):
            raise TypeError(
                "TlsConnector.connect(server_hostname, stream) takes the host name first, then "
                f"the stream; got a {type(server_hostname).__name__} as server_hostname"
            )
        _check_transport(stream, "TlsConnector.connect(server_hostname, stream)")
        in_bio, out_bio = ssl.MemoryBIO(), ssl.MemoryBIO()
        try:
            if not server_hostname and self._ctx.check_hostname:
                raise ValueError(
                    f"TlsConnector.connect() needs a server_hostname (got {server_hostname!r}) "
                    "to check the certificate against; turn check_hostname off on the context "
                    "only if you verify the peer some other way"
                )
            obj = self._ctx.wrap_bio(
                in_bio,
                out_bio,
                server_side=False,
                server_hostname=server_hostname,
                session=session,
            )
        except BaseException:
            stream.close()
            raise
        tls = TlsStream._make(stream, obj, in_bio, out_bio, self._ragged)
        if do_handshake_on_connect:
            await tls.do_handshake()
        return tls


class TlsAcceptor:
    """Make server-side TLS streams with one ``ssl.SSLContext`` (tokio-rustls' ``TlsAcceptor``).

    Args:
        ssl_context: A server context with a certificate chain loaded
            (``ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)`` then
            ``load_cert_chain``). Client certificates, ALPN and an SNI callback
            (``ssl_context.sni_callback``) are configured on it. ``ssl.OP_NO_RENEGOTIATION``
            is set on it: a client asking to renegotiate is refused.
        suppress_ragged_eofs: ``b""`` (True) or ``ssl.SSLEOFError`` when a client closes
            without ``close_notify``.

    Raises:
        TypeError: ``ssl_context`` is not an ``ssl.SSLContext``.
        ValueError: ``ssl_context`` is a client context (``PROTOCOL_TLS_CLIENT``, what
            ``ssl.create_default_context()`` makes).
    """

    __slots__ = ("_ctx", "_ragged")

    def __init__(self, ssl_context: ssl.SSLContext, *, suppress_ragged_eofs: bool = True) -> None:
        self._ctx = _check_context(ssl_context, "TlsAcceptor", server_side=True)
        _refuse_renegotiation(self._ctx)
        self._ragged = suppress_ragged_eofs

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The context every stream is made with."""
        return self._ctx

    async def accept(self, stream: _T, *, do_handshake_on_connect: bool = True) -> TlsStream[_T]:
        """Start TLS as the server over an accepted ``stream``; complete the handshake.

        Run it in the connection's own task (``rt.spawn``), under a timeout of your choice
        (``rt.time.timeout``): a client that never finishes its handshake would otherwise hold
        it forever.

        Args:
            stream: The accepted plain stream; the TLS stream owns it from now on.
            do_handshake_on_connect: ``False`` returns at once; the handshake runs on first use.

        Returns:
            The TLS stream.

        Raises:
            ssl.SSLError: the client does not speak TLS, offers nothing acceptable, or sends
                no valid certificate where one is required.

        Cancel safety: not cancel-safe: a cancelled handshake closes ``stream``.
        """
        _check_transport(stream, "TlsAcceptor.accept(stream)")
        in_bio, out_bio = ssl.MemoryBIO(), ssl.MemoryBIO()
        try:
            obj = self._ctx.wrap_bio(in_bio, out_bio, server_side=True)
        except BaseException:
            stream.close()
            raise
        tls = TlsStream._make(stream, obj, in_bio, out_bio, self._ragged)
        if do_handshake_on_connect:
            await tls.do_handshake()
        return tls


def _version_name(v: ssl.TLSVersion) -> str:
    if v is ssl.TLSVersion.MINIMUM_SUPPORTED:
        return "the oldest OpenSSL allows"
    if v is ssl.TLSVersion.MAXIMUM_SUPPORTED:
        return "the newest OpenSSL knows"
    return v.name.replace("_", ".")


def _hung_up_note(server_side: bool) -> str:
    if server_side:
        return (
            "TlsStream: the client closed the connection during the TLS handshake: it may have "
            "rejected this server's certificate, or not be a TLS client at all (a port probe "
            "or health check)"
        )
    return (
        "TlsStream: the server closed the connection during the TLS handshake: it may not "
        "speak TLS on this port, or it refused this client (a client certificate, TLS version "
        "or server name it does not accept)"
    )


def _handshake_advice(exc: ssl.SSLError, obj: ssl.SSLObject) -> str | None:
    """What to do about a failed handshake (or an alert that ends one in the first read),
    for the failures whose OpenSSL reason alone does not say it."""
    reason = exc.reason
    server = obj.server_side
    if isinstance(exc, ssl.SSLEOFError):
        return _hung_up_note(server)
    if reason == "NO_SHARED_CIPHER" and server:
        return (
            "TlsAcceptor: the client offered nothing this context accepts; if every client "
            "fails so, the context has no certificate: call load_cert_chain() on it"
        )
    if reason in ("HTTP_REQUEST", "HTTPS_PROXY_REQUEST") and server:
        return (
            "TlsStream: the client sent a plaintext HTTP request to this TLS port: it should "
            "connect with https:// (TLS), or to the server's plaintext port"
        )
    if reason == "WRONG_VERSION_NUMBER":
        if server:
            return (
                "TlsStream: the client sent something that is not a TLS handshake: it may speak "
                "plaintext to this TLS port"
            )
        return (
            "TlsStream: the server answered with something that is not TLS: this port may "
            "serve plaintext (connect without TLS, or to the server's TLS port)"
        )
    if reason in ("UNSUPPORTED_PROTOCOL", "TLSV1_ALERT_PROTOCOL_VERSION", "NO_PROTOCOLS_AVAILABLE"):
        ctx = obj.context
        return (
            "TlsStream: the two sides have no TLS version in common; this side accepts "
            f"{_version_name(ctx.minimum_version)} to {_version_name(ctx.maximum_version)} "
            "(the ssl context's minimum_version and maximum_version): widen that range, or "
            "the peer's"
        )
    if reason == "TLSV1_ALERT_UNKNOWN_CA":
        return (
            "TlsStream: the peer does not trust the CA that issued this side's certificate: "
            "give the peer that CA, or use a certificate from a CA it trusts (with its "
            "intermediate certificates in the file given to load_cert_chain())"
        )
    if reason in (
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    ):
        return (
            "TlsStream: the peer rejected this side's certificate: check that it is valid "
            "today and issued for the host name the peer connects to"
        )
    if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED" and not server:
        return (
            "TlsStream: the server requires a client certificate: load one into the client's "
            "ssl context with load_cert_chain()"
        )
    if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE" and server:
        return (
            "TlsAcceptor: this context requires a client certificate (verify_mode is "
            "CERT_REQUIRED) and the client sent none"
        )
    return None


class TlsStream(Generic[_T]):
    """A TLS connection over a plain rt stream, with the reader/writer API of ``TcpStream``.

    Made by :meth:`TlsConnector.connect`, :meth:`TlsAcceptor.accept` or
    ``TcpStream.connect_tls``. ``read``, ``read_exact``, ``write``, ``write_all``,
    ``shutdown``, ``into_split`` and ``async with`` behave as on ``TcpStream``, so
    ``rt.io.BufReader``, ``copy`` and ``copy_bidirectional`` work on it unchanged.

    The handshake runs in ``connect`` / ``accept`` (or on first use, with
    ``do_handshake_on_connect=False``). :meth:`shutdown` sends ``close_notify``;
    :meth:`unwrap` ends TLS and gives the plain stream back (STARTTLS in reverse).
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_done",
        "_eof",
        "_failure",
        "_hs_lock",
        "_in",
        "_mutex",
        "_out",
        "_ragged",
        "_rbuf",
        "_rcount",
        "_rlock",
        "_rsend",
        "_rwait",
        "_slock",
        "_ssl",
        "_transport",
        "_unwrapped",
        "_wbuf",
        "_wclosed",
        "_wcut",
        "_wshut",
    )

    _transport: _T
    _ssl: ssl.SSLObject
    _in: ssl.MemoryBIO
    _out: ssl.MemoryBIO
    _mutex: threading.Lock
    _rlock: _Lock
    _slock: _Lock
    _hs_lock: _Lock
    _rbuf: bytes
    _wbuf: bytes | memoryview
    _rcount: int
    _rsend: bool
    _rwait: bool
    _done: bool
    _eof: bool
    _wshut: bool
    _wcut: bool
    _wclosed: bool
    _closed: bool
    _failure: BaseException | None
    _ragged: bool
    _unwrapped: bool

    def __init__(self) -> None:
        raise TypeError(
            "TlsStream is made by TlsConnector.connect(), TlsAcceptor.accept() or "
            "TcpStream.connect_tls()"
        )

    @classmethod
    def _make(
        cls,
        transport: _T,
        obj: ssl.SSLObject,
        in_bio: ssl.MemoryBIO,
        out_bio: ssl.MemoryBIO,
        ragged: bool,
    ) -> TlsStream[_T]:
        self: TlsStream[_T] = object.__new__(cls)
        self._transport = transport
        self._ssl = obj
        self._in = in_bio
        self._out = out_bio
        self._mutex = threading.Lock()
        self._rlock = _Lock()
        self._slock = _Lock()
        self._hs_lock = _Lock()
        self._rbuf = b""
        self._wbuf = b""
        self._rcount = 0
        # A read holds the send lock, sending output OpenSSL made for it. Set and cleared under
        # _mutex together with taking and freeing that lock, and read under _mutex.
        self._rsend = False
        self._rwait = False  # ... and waits for the transport to take it (set under _mutex)
        self._done = False  # handshake complete
        self._eof = False  # close_notify (or a tolerated ragged EOF) received
        self._wshut = False  # close_notify sent
        self._wcut = False  # the write half was closed mid-write: no close_notify can follow
        self._wclosed = False  # the write half was closed: a read's send never waits after it
        self._closed = False
        self._failure = None
        self._unwrapped = False
        self._ragged = ragged
        return self

    # ----------------------------------------------------------------- introspection

    def get_ref(self) -> _T:
        """The wrapped plain stream (do not read or write it while TLS runs over it)."""
        return self._transport

    @property
    def ssl_object(self) -> ssl.SSLObject:
        """The ``ssl.SSLObject``, for what this class does not wrap."""
        return self._ssl

    @property
    def server_side(self) -> bool:
        """Whether this is the server end."""
        return self._ssl.server_side

    @property
    def server_hostname(self) -> str | None:
        """The host name a client end asked for (``None`` on the server end)."""
        return self._ssl.server_hostname

    @property
    def session(self) -> ssl.SSLSession | None:
        """The TLS session, to resume with ``TlsConnector.connect(..., session=...)``.

        With TLS 1.3 the server sends its session tickets after the handshake: read (or
        exchange) some data first, then take the session.
        """
        return self._ssl.session

    @property
    def session_reused(self) -> bool:
        """Whether the handshake resumed an earlier session."""
        return self._ssl.session_reused

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer's certificate (a dict, or DER bytes with ``binary_form=True``); ``None``
        when the peer sent none.

        Raises:
            ValueError: the handshake has not completed yet.
        """
        if not self._done:
            raise ValueError("getpeercert(): the TLS handshake has not completed yet")
        return self._ssl.getpeercert(binary_form)

    def cipher(self) -> tuple[str, str, int] | None:
        """``(name, protocol version, secret bits)`` of the cipher in use, or ``None``."""
        return self._ssl.cipher()

    def version(self) -> str | None:
        """The protocol version, e.g. ``"TLSv1.3"``; ``None`` before the handshake."""
        return self._ssl.version()

    def selected_alpn_protocol(self) -> str | None:
        """The protocol ALPN picked (e.g. ``"h2"``), or ``None``."""
        return self._ssl.selected_alpn_protocol()

    def peer_addr(self) -> Any:
        """The transport's ``peer_addr()`` (TCP and Unix streams have one)."""
        return self._transport_call("peer_addr")

    def local_addr(self) -> Any:
        """The transport's ``local_addr()``."""
        return self._transport_call("local_addr")

    def _transport_call(self, name: str) -> Any:
        fn = getattr(self._transport, name, None)
        if fn is None:
            raise TypeError(f"the wrapped {type(self._transport).__name__} has no {name}()")
        return fn()

    @property
    def closed(self) -> bool:
        """Whether the stream was closed (by :meth:`close`, or a failed handshake)."""
        return self._closed

    # ----------------------------------------------------------------- handshake

    async def do_handshake(self) -> None:
        """Complete the TLS handshake now (it otherwise runs in ``connect`` / ``accept``, or
        on first use). Returns at once when it is done already.

        Raises:
            ssl.SSLCertVerificationError: the peer's certificate does not verify.
            ssl.SSLError: the handshake failed otherwise; the stream is closed.
            OSError: the transport failed or the stream is closed.

        Cancel safety: not cancel-safe: a cancelled handshake closes the stream (nothing is
        left half-open); later calls raise ``OSError`` saying so.
        """
        if not self._done:
            await self._handshake()

    async def _handshake(self) -> None:
        self._check_usable("do_handshake()")
        lock = self._hs_lock
        if not lock.try_acquire():
            await lock.acquire()
        try:
            if self._done:
                return
            self._check_usable("do_handshake()")
            try:
                await self._drive(self._ssl.do_handshake)
            except ssl.SSLError as exc:
                note = _handshake_advice(exc, self._ssl)
                if note is not None:
                    exc.add_note(note)
                # Tell the peer why (OpenSSL queued an alert); a socket takes it without
                # waiting, other transports within the caller's handshake timeout.
                if not hasattr(self._transport, "try_write"):
                    try:
                        await self._flush("do_handshake()")
                    except (OSError, ssl.SSLError):
                        pass
                self._fail(exc)
                raise
            except BaseException as exc:
                if isinstance(exc, ConnectionError) and not self._closed:
                    exc.add_note(_hung_up_note(self._ssl.server_side))
                self._fail(exc)
                raise
            self._done = True
        finally:
            lock.release()

    async def _drive(self, op: Any) -> Any:
        """Run ``op`` on the SSL object until it stops asking for input, moving ciphertext."""
        if self._ssl.server_side and self._rcount == 0:
            await self._receive(0, "do_handshake()")  # nothing to do before the ClientHello
        while True:
            count = self._rcount
            with self._mutex:
                try:
                    result = op()
                    done = True
                except ssl.SSLWantReadError:
                    result = None
                    done = False
                pending = self._out.pending
                if done and pending and self._ssl.server_side:
                    # A TLS 1.3 server's handshake ends with session tickets only: the client
                    # needs none of them to finish, so they ride with the first write (or go
                    # before the first read that waits), saving a send per connection.
                    pending = pending if self._ssl.version() != "TLSv1.3" else 0
            if pending or self._wbuf:
                await self._flush("do_handshake()")
            if done:
                return result
            await self._receive(count, "do_handshake()")

    def _fail(self, exc: BaseException) -> None:
        """A handshake failed or was cancelled: send the alert if it fits, then close."""
        if self._closed:
            return
        self._failure = exc
        try_write = getattr(self._transport, "try_write", None)
        if try_write is not None and isinstance(exc, ssl.SSLError) and not self._wbuf:
            with self._mutex:
                alert = self._out.read()
            if alert:
                try:
                    try_write(alert)
                except OSError:
                    pass
        self.close()

    def _check_usable(self, op: str) -> None:
        if self._closed:
            raise self._closed_error(op)

    def _closed_error(self, op: str) -> OSError:
        if self._unwrapped:
            return OSError(
                errno.EBADF, f"{op} on a TlsStream after unwrap(): use the plain stream it returned"
            )
        failure = self._failure
        if failure is None:
            return closed_error("TlsStream", op)
        if self._done:
            why = f"sending failed part-way ({failure!r}), so the TLS stream cannot go on"
        elif isinstance(failure, ssl.SSLError | OSError | EOFError):
            why = f"the TLS handshake failed ({failure})"
        else:
            why = f"the TLS handshake was interrupted ({type(failure).__name__})"
        err = OSError(errno.EBADF, f"{op} on a closed TlsStream: {why}; connect again")
        err.__cause__ = failure
        return err

    # ----------------------------------------------------------------- moving ciphertext

    async def _receive(self, count: int, op: str = "read()") -> None:
        """Read the transport once into the incoming BIO (unless another task just did);
        ``op`` names the caller in the error a :meth:`close` from another task causes."""
        lock = self._rlock
        if not lock.try_acquire():
            await lock.acquire()
        try:
            if self._rcount != count:
                return  # another task fed the BIO meanwhile: retry OpenSSL first
            if self._closed:
                raise self._closed_error(op)
            try:
                data = await self._transport.read(_RECV_SIZE)
            except OSError:
                if self._closed:
                    raise self._closed_error(op) from None
                raise
            with self._mutex:
                if data:
                    self._in.write(data)
                else:
                    self._in.write_eof()
                self._rcount = count + 1
        finally:
            lock.release()

    async def _flush(self, op: str = "write()") -> None:
        """Send every ciphertext byte produced so far, in order (``op`` names the caller in
        the error a :meth:`close` from another task causes).

        Cancel safety: cancel-safe: what was not sent stays in ``_wbuf`` and goes first next time.
        """
        lock = self._slock
        if not lock.try_acquire():
            await lock.acquire()
        try:
            await self._flush_locked(op)
        finally:
            lock.release()

    async def _flush_locked(self, op: str = "write()", reading: bool = False) -> None:
        """:meth:`_flush` for the holder of the send lock; ``reading``: the holder is a read
        sending output OpenSSL made for it (see :meth:`_read_send_now`)."""
        transport = self._transport
        while True:
            buf = self._wbuf
            if not buf:
                with self._mutex:
                    buf = self._out.read()
                if not buf:
                    return
            self._wbuf = b""
            if reading:
                buf = self._read_send_now(buf)
                if not buf:
                    continue
            try:
                await transport.write_all(buf)
            except BaseException as exc:
                if self._closed and isinstance(exc, OSError) and self._failure is None:
                    # close() from another task or thread while this send waited: say so
                    # about this stream, not about the transport under it.
                    raise self._closed_error(op) from None
                if self._wcut and isinstance(exc, OSError):
                    raise self._cut_error(op) from None
                sent = bytes_written(exc)
                if sent is None and not isinstance(transport, SocketStream | DuplexStream):
                    # A transport that does not say how much it sent: resending could
                    # duplicate ciphertext, so this stream can no longer be used.
                    self._failure = exc
                    self.close()
                    raise
                self._wbuf = memoryview(buf)[sent or 0 :]
                raise
            finally:
                if reading:
                    with self._mutex:
                        self._rwait = False

    def _read_send_now(self, buf: bytes | memoryview) -> bytes | memoryview:
        """A read's send: what the transport takes without waiting goes now; the rest is
        returned for the read to wait on, marked ``_rwait`` (a write half's close then cuts
        it, which frees the read). Once the write half is closed, a read never waits to send:
        the writing direction is cut instead (see :meth:`_close_write_now`)."""
        try_write = getattr(self._transport, "try_write", None)
        if try_write is not None:
            try:
                sent = try_write(buf)
            except OSError:  # full (BlockingIOError), or broken: write_all says which
                sent = 0
            if sent == len(buf):
                return b""
            buf = memoryview(buf)[sent:]
        with self._mutex:
            wait = not self._wclosed
            self._rwait = wait
        if not wait and self._cut_write():
            self._wbuf = buf
            raise self._cut_error("read()")
        return buf

    async def flush(self) -> None:
        """Send any ciphertext still waiting (from a cancelled ``write``); usually a no-op.

        Cancel safety: cancel-safe: what is not sent when cancelled stays queued.
        """
        self._check_usable("flush()")
        if self._wbuf or self._out.pending:
            await self._flush("flush()")

    # ----------------------------------------------------------------- reading

    async def read(self, n: int = DEFAULT_READ) -> bytes:
        """Read up to ``n`` decrypted bytes, waiting until at least one is available.

        Returns ``b""`` once the peer sent ``close_notify``, and at a transport EOF without
        one when ``suppress_ragged_eofs`` is on (the default).

        Raises:
            ssl.SSLEOFError: the peer closed without ``close_notify`` and
                ``suppress_ragged_eofs`` is off.
            ssl.SSLError: the peer sent something that is not valid TLS, or an alert.
            ConnectionResetError: the transport was reset.
            OSError: ``EBADF`` when the stream is (or gets) closed.

        Cancel safety: cancel-safe: a cancelled ``read`` loses no decrypted bytes; they are
        returned by the next read.
        """
        if (n.__class__ is not int or n <= 0) and check_size(n) == 0:
            return b""
        n = n if n <= MAX_READ else MAX_READ  # SSLObject.read(n) allocates n bytes up front
        if not self._done:
            await self.do_handshake()
        mutex = self._mutex
        obj = self._ssl
        in_bio = self._in
        while True:
            count = self._rcount
            with mutex:
                # _rbuf is filled from other tasks too (shutdown() drains OpenSSL into it),
                # so it is read, like everything else here, under the mutex.
                if self._rbuf:
                    return self._take(n)
                if self._eof:
                    if self._closed:
                        raise self._closed_error("read()")
                    return b""
                if in_bio.pending or in_bio.eof or obj.pending():
                    try:
                        data = obj.read(n)
                    except ssl.SSLWantReadError:
                        data = None
                    except ssl.SSLZeroReturnError:
                        data = b""
                    except ssl.SSLEOFError as exc:
                        if not self._ragged:
                            exc.add_note(
                                "TlsStream: the peer closed the connection without "
                                "close_notify, so the data may be cut short (many peers just "
                                "hang up); suppress_ragged_eofs=True (the default) reads b'' "
                                "instead"
                            )
                            raise
                        data = b""
                    except ssl.SSLError as exc:
                        if exc.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED":
                            # TLS 1.3: a client finishes its handshake before the server
                            # checks its certificate, and hears of a refusal only here.
                            exc.add_note(_handshake_advice(exc, obj) or "")
                        raise
                    if data is not None:
                        if not data:
                            self._eof = True
                        return data
                pending = self._out.pending
            if self._closed:
                raise self._closed_error("read()")
            while pending or self._wbuf:
                # Output OpenSSL made while reading (a TLS 1.3 key update answer, session
                # tickets). A writer holding the send lock sends it anyway; never wait for it
                # here. A peer that is gone is the next receive's news, not this read's error.
                # The lock is taken and freed in one _mutex section with _rsend, so that a
                # write half's close (see _close_write_now) never sees it held by this read
                # without the mark.
                slock = self._slock
                with mutex:
                    if not slock.try_acquire():
                        break
                    self._rsend = True
                try:
                    await self._flush_locked("read()", reading=True)
                except OSError:
                    break
                finally:
                    with mutex:
                        self._rsend = False
                        waiters = slock.release_flag()
                    if waiters:
                        slock._hand_off()
                # A write half closed during that send queued close_notify behind it and left
                # it to this read (see _close_write_now): it may have come after the last look.
                pending = self._out.pending
            await self._receive(count)

    def _take(self, n: int) -> bytes:
        data = self._rbuf
        if n >= len(data):
            self._rbuf = b""
            return data
        self._rbuf = data[n:]
        return data[:n]

    def _unread(self, data: bytes) -> None:
        with self._mutex:
            self._rbuf = data + self._rbuf

    async def read_exact(self, n: int) -> bytes:
        """Read exactly ``n`` decrypted bytes.

        Raises:
            rt.io.IncompleteReadError: EOF came first (an ``EOFError``; ``.partial`` has the
                bytes).

        Cancel safety: cancel-safe: bytes read before a cancellation are put back and
        returned first by the next read.
        """
        check_size(n, "read_exact")
        return await read_exact_from(self.read, n, self._unread)

    # ----------------------------------------------------------------- writing

    def _check_writable(self, op: str) -> None:
        if self._closed:
            raise self._closed_error(op)
        if self._wcut:
            raise self._cut_error(op)
        if self._wshut:
            raise BrokenPipeError(errno.EPIPE, f"{op} after shutdown(): close_notify was sent")

    def _cut_error(self, op: str) -> BrokenPipeError:
        return BrokenPipeError(
            errno.EPIPE,
            f"{op}: the TlsWriteHalf was closed while a write on it was under way, so the "
            "writing direction was cut without close_notify",
        )

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """Encrypt and send a prefix of ``data`` (up to 256 KiB); return its length.

        Raises:
            BrokenPipeError: after :meth:`shutdown`, or the peer closed its read side.
            ssl.SSLError: the TLS session failed.

        Cancel safety: cancel-safe while waiting for earlier ciphertext to drain (nothing of
        ``data`` was taken). Once the prefix is encrypted it is committed: if cancelled while
        it is being sent, the exception carries its length (:func:`rt.io.bytes_written`) and
        the rest of its ciphertext goes out first on the next write, flush or shutdown.
        """
        if not self._done:
            await self.do_handshake()
        if self._closed or self._wshut:
            self._check_writable("write()")
        if not data:
            return 0
        if data.__class__ is not bytes and data.__class__ is not bytearray:
            data = byte_view(data, "write()")  # count bytes, not an array's items
        if self._wbuf:
            # Ciphertext a cancelled or stalled send left behind: wait for it before taking
            # anything of ``data``. Output still in the BIO (a TLS 1.3 server's session
            # tickets) goes out in the same send as ``data``'s records, in order.
            await self._flush("write()")
        n = min(len(data), _WRITE_CHUNK)
        chunk = data if n == len(data) else memoryview(data)[:n]
        with self._mutex:
            if self._closed or self._wshut:  # by another task or thread meanwhile
                self._check_writable("write()")
            self._ssl.write(chunk)
        try:
            await self._flush("write()")
        except BaseException as exc:
            _committed(exc, n, len(data))
            raise
        return n

    async def write_all(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt and send all of ``data``.

        Raises:
            BrokenPipeError: after :meth:`shutdown`, or the peer closed its read side.
            ssl.SSLError: the TLS session failed.

        Cancel safety: not cancel-safe: a prefix of ``data`` may be committed when it is
        cancelled; the exception says how much (:func:`rt.io.bytes_written`), and that
        prefix's remaining ciphertext goes out first on the next write, flush or shutdown.
        """
        if not self._done:
            await self.do_handshake()
        if self._closed or self._wshut:
            self._check_writable("write_all()")
        if data.__class__ is not bytes and data.__class__ is not bytearray:
            data = byte_view(data, "write_all()")  # count bytes, not an array's items
        total = len(data)
        if not total:
            return
        if self._wbuf:  # see write()
            await self._flush("write_all()")
        mutex = self._mutex
        obj = self._ssl
        if total <= _WRITE_CHUNK:
            with mutex:
                if self._closed or self._wshut:  # by another task or thread meanwhile
                    self._check_writable("write_all()")
                obj.write(data)
            try:
                await self._flush("write_all()")
            except BaseException as exc:
                _committed(exc, total, total)
                raise
            return
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < total:
                n = min(total - done, _WRITE_CHUNK)
                with mutex:
                    if self._closed or self._wshut:
                        # shutdown() or close() from another task or thread between chunks
                        self._check_writable("write_all()")
                    obj.write(view[done : done + n])
                done += n
                await self._flush("write_all()")
        except BaseException as exc:
            _committed(exc, done, total)
            raise

    async def shutdown(self) -> None:
        """Send ``close_notify`` and half-close the transport; this side can still read.

        The peer's reads return ``b""``. Idempotent.

        Raises:
            OSError: the stream is closed, or the transport failed.

        Cancel safety: cancel-safe in effect: ``close_notify`` is queued at once; if
        cancelled while sending, call ``shutdown`` (or ``flush``) again to finish.
        """
        if not self._done:
            await self.do_handshake()
        self._check_usable("shutdown()")
        if not self._wshut:
            self._wshut = True
            try:
                self._send_close_notify()
            except ssl.SSLError:
                if not self._eof:
                    raise
                # The peer left without close_notify (a tolerated ragged EOF): OpenSSL
                # refuses to say goodbye on a broken session, and nobody would hear it.
                with self._mutex:
                    self._out.read()
                self._wbuf = b""
        if self._wbuf or self._out.pending:
            await self._flush("shutdown()")
        await self._transport.shutdown()

    def _send_close_notify(self) -> bool:
        """Queue ``close_notify`` in the outgoing BIO; True when the peer's one arrived too."""
        with self._mutex:
            return self._send_close_notify_locked()

    def _send_close_notify_locked(self) -> bool:
        """:meth:`_send_close_notify` for a caller holding ``_mutex``."""
        obj = self._ssl
        # See the module notes: SSL_shutdown must not see application data.
        if obj.pending():
            self._rbuf += obj.read(obj.pending())
        parked = self._in.read()
        try:
            obj.unwrap()
            both = True
        except ssl.SSLWantReadError:
            both = False
        finally:
            if parked:
                self._in.write(parked)
        return both

    async def unwrap(self) -> tuple[_T, bytes]:
        """End TLS (``close_notify`` both ways) and return the plain stream (STARTTLS reversed).

        Read until :meth:`read` returns ``b""`` first if the peer may still send TLS data.

        Returns:
            ``(stream, trailing)``: the plain stream, and the plaintext bytes the peer sent
            after its ``close_notify`` that were already read off the transport (usually
            ``b""``); treat them as the first bytes of the plain stream.

        Raises:
            ssl.SSLError: application data arrived before the peer's ``close_notify``; it is
                kept: read it (until ``b""``) and call ``unwrap`` again.
            ssl.SSLEOFError: the peer closed the connection without ``close_notify``.
            OSError: the stream is closed or the transport failed.

        Cancel safety: cancel-safe in effect: ``close_notify`` is queued at once, and a call
        cancelled while it sends it or waits for the peer's leaves the session half shut
        down; call ``unwrap`` again to finish, or close the stream.
        """
        if not self._done:
            await self.do_handshake()
        self._check_usable("unwrap()")
        if self._rbuf:
            raise ssl.SSLError(
                f"unwrap(): {len(self._rbuf)} decrypted bytes are still unread: read them "
                "(until read() returns b'') and call unwrap() again"
            )
        if not self._wshut:
            self._wshut = True
            self._send_close_notify()
        await self._flush("unwrap()")
        while not self._eof:
            count = self._rcount
            with self._mutex:
                try:
                    data = self._ssl.read(DEFAULT_READ)
                except ssl.SSLWantReadError:
                    data = None
                except ssl.SSLZeroReturnError:
                    data = b""
                except ssl.SSLEOFError as exc:
                    exc.add_note(
                        "unwrap(): the peer closed the connection without close_notify, so "
                        "there is no plain stream left to go on with; close this stream"
                    )
                    raise
            if data is None:
                await self._receive(count, "unwrap()")
                continue
            if not data:
                self._eof = True
                break
            with self._mutex:
                self._rbuf += data
            raise ssl.SSLError(
                f"unwrap(): the peer sent {len(data)} bytes of TLS data before its "
                "close_notify; read them (until read() returns b'') and call unwrap() again"
            )
        with self._mutex:
            try:
                self._ssl.unwrap()
            except ssl.SSLError:
                pass
        await self._flush("unwrap()")
        # Taken only now: a call cancelled in the flush above leaves them for the next one.
        with self._mutex:
            trailing = self._in.read()
        self._closed = self._unwrapped = True  # the TLS stream is spent; the transport lives on
        return self._transport, trailing

    # ----------------------------------------------------------------- closing, splitting

    def close(self) -> None:
        """Close the transport, sending ``close_notify`` first if the socket takes it at once.

        Never waits; for a clean TLS close that waits, ``await shutdown()`` first. Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        if self._done and not self._wshut and not self._wbuf:
            try_write = getattr(self._transport, "try_write", None)
            if try_write is not None:
                self._wshut = True
                try:
                    self._send_close_notify()
                    with self._mutex:
                        data = self._out.read()
                    if data:
                        try_write(data)
                except (OSError, ssl.SSLError):
                    pass
        self._transport.close()

    def _close_write_now(self, finalizing: bool = False) -> None:
        """Send ``close_notify`` if the transport takes it without waiting (a write half
        closed or dropped while the read half goes on): the peer's reads then return ``b""``.

        Whatever part of it the transport does not take at once stays queued in ``_wbuf``,
        ahead of anything a read sends later (a TLS 1.3 key update answer). If a read holds
        the send lock, sending its own output, ``close_notify`` is queued behind that output
        and the read sends it. Once the write half is closed (``_wclosed``), a read's send
        never waits for the peer: one that waits, or would, cuts the writing direction.

        ``finalizing``: called by a dropped write half's finalizer, which the collector may
        run on a thread that is inside a ``_mutex`` section of this very stream (a read, or
        the read's send taking output out of the BIO). ``_mutex`` is a plain lock, so that
        call never waits for it: finding it taken, it cuts the writing direction as for a
        write under way (the peer sees the end without ``close_notify``).
        """
        if self._closed or self._wshut or not self._done:
            return
        mutex = self._mutex
        if finalizing:
            if not mutex.acquire(False):
                self._wclosed = True
                self._cut_write()
                return
        else:
            mutex.acquire()
        slock = self._slock
        data = None
        try_write: Any = None
        try:
            # Under _mutex, the send lock is held by a read exactly when _rsend says so: the
            # read takes and frees it in _mutex sections that set and clear the mark.
            self._wclosed = True
            owned = slock.try_acquire()
            if owned:
                try_write = getattr(self._transport, "try_write", None)
                # On a broken session (nothing to say goodbye on) nothing is queued; with no
                # way to send without waiting, a later read or flush sends what is.
                if self._queue_close_notify() and try_write is not None:
                    data = bytes(self._wbuf) + self._out.read()
                    self._wbuf = b""
            elif self._rsend and not self._rwait:
                # The read half is sending (an answer OpenSSL made while reading) and not
                # waiting: end the writing direction cleanly instead of cutting the read's
                # record. close_notify goes in the outgoing BIO behind that output; the read's
                # send loop takes it, or the read's look at the BIO after it frees the lock
                # (in a _mutex section after this one). Should that send have to wait for the
                # peer, the read cuts instead (_wclosed, see _read_send_now).
                self._queue_close_notify()
                return
        finally:
            mutex.release()
        if not owned:
            # A write is under way on the closed half, or the read's send waits, on a peer
            # that does not read: cut (see _cut_write), which fails that send. A read
            # waiting there would otherwise wait for ever when the peer only writes.
            self._cut_write()
            return
        try:
            if data is None:
                return
            try:
                sent = try_write(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                # The transport is broken (the peer closed, or it was shut): nothing taken out
                # of _wbuf and the BIO could reach the peer any more, and every later send
                # fails the same way, so dropping it loses nothing.
                return
            if sent < len(data):
                self._wbuf = memoryview(data)[sent:]
        finally:
            slock.release()

    def _cut_write(self) -> bool:
        """Cut the transport's writing direction without ``close_notify`` (never touching
        ``_mutex``): a write waiting on a peer that does not read then fails instead of
        waiting for ever (as a ``TcpStream`` write half's does). A record under way is cut off
        mid-way, so the peer sees the connection end without ``close_notify``. False when the
        transport cannot be cut (it has no ``_shut_write_now``)."""
        shut = getattr(self._transport, "_shut_write_now", None)
        if shut is None:
            return False
        if not self._wcut:
            self._wshut = self._wcut = True
            shut()
        return True

    def _queue_close_notify(self) -> bool:
        """Mark the writing direction shut and put ``close_notify`` in the outgoing BIO;
        False on a broken session (nothing to say goodbye on). The caller holds ``_mutex``."""
        self._wshut = True
        try:
            self._send_close_notify_locked()
        except ssl.SSLError:
            return False
        return True

    async def __aenter__(self) -> TlsStream[_T]:
        """Return ``self``; the block closes the stream on exit.

        Cancel safety: cancel-safe (nothing to wait for).
        """
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the stream (see :meth:`close`).

        Cancel safety: cancel-safe (closing does not wait).
        """
        self.close()

    def into_split(self) -> tuple[TlsReadHalf, TlsWriteHalf]:
        """Split into a read half and a write half that two tasks can use at once.

        The stream closes when both halves are closed (or dropped). Closing or dropping the
        write half sends ``close_notify`` if the socket takes it without waiting (the peer
        reads EOF); ``await write_half.shutdown()`` first for a close that waits.
        """
        self._check_usable("into_split()")
        shared = _Shared(self)
        return TlsReadHalf(shared), TlsWriteHalf(shared)

    def __repr__(self) -> str:
        side = "server" if self._ssl.server_side else "client"
        if self._closed:
            state = "closed"
        elif not self._done:
            state = "handshaking"
        else:
            state = str(self._ssl.version())
        return f"<rt.net.tls.TlsStream {side} {state} over {type(self._transport).__name__}>"


def _committed(exc: BaseException, n: int, total: int) -> None:
    """Record on ``exc`` that ``n`` of ``total`` bytes were encrypted (see ``bytes_written``)."""
    try:
        exc.bytes_written = n  # type: ignore[attr-defined]
    except AttributeError:  # pragma: no cover - exceptions with __slots__
        return
    exc.add_note(
        f"TlsStream: {n} of {total} bytes were encrypted and count as written; the rest of "
        "their ciphertext goes out first on the next write, flush or shutdown"
    )


class _Shared:
    __slots__ = ("halves", "stream")

    def __init__(self, stream: TlsStream[Any]) -> None:
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

    def _stream(self, op: str) -> TlsStream[Any]:
        if self._closed:
            raise closed_error(type(self).__name__, op)
        return self._shared.stream

    def close(self) -> None:
        """Release this half; the stream closes when both halves are released. Idempotent."""
        self._release(False)

    def _release(self, finalizing: bool) -> None:
        if not self._closed:
            self._closed = True
            self._shared.release()

    def __del__(self) -> None:
        # Dropped without close(): released as TcpStream's halves are (see TlsWriteHalf.close),
        # by a path that never waits for the stream's _mutex (see _close_write_now).
        try:
            self._release(True)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

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


class TlsReadHalf(_Half):
    """The reading half of a split :class:`TlsStream`."""

    __slots__ = ()

    async def read(self, n: int = DEFAULT_READ) -> bytes:
        """See :meth:`TlsStream.read`.

        Cancel safety: cancel-safe: a cancelled ``read`` loses no decrypted bytes.
        """
        return await self._stream("read()").read(n)

    async def read_exact(self, n: int) -> bytes:
        """See :meth:`TlsStream.read_exact`.

        Cancel safety: cancel-safe: bytes read before a cancellation are put back.
        """
        return await self._stream("read_exact()").read_exact(n)


class TlsWriteHalf(_Half):
    """The writing half of a split :class:`TlsStream`. Closing it ends the writing direction."""

    __slots__ = ()

    def close(self) -> None:
        """Send ``close_notify`` (the peer reads EOF) if the socket takes it without waiting,
        and release this half. Idempotent. For a close that waits until ``close_notify`` is
        out, ``await shutdown()`` first.

        Closed while a write on this half is under way (waiting for a peer that does not
        read), it cuts the transport's writing direction instead: that write fails with
        ``BrokenPipeError``, and the peer sees the connection end without ``close_notify``.
        Closed while the read half is sending (output OpenSSL made for a read, such as a TLS
        1.3 key update answer), it cuts nothing: ``close_notify`` goes out after that output.
        But if that send waits for a peer that does not read (now, or later on), it is cut as
        a write's is, so that the read goes on: it fails nothing, and the peer sees the end
        without ``close_notify``. A half dropped without ``close`` ends the same way, except
        that it cuts when the stream's internal lock is taken at that moment (the collector
        can run its finalizer anywhere, and it never waits).
        """
        self._release(False)

    def _release(self, finalizing: bool) -> None:
        if not self._closed:
            self._shared.stream._close_write_now(finalizing)
        super()._release(finalizing)

    async def write(self, data: bytes | bytearray | memoryview) -> int:
        """See :meth:`TlsStream.write`.

        Cancel safety: cancel-safe until the bytes are encrypted; see :meth:`TlsStream.write`.
        """
        return await self._stream("write()").write(data)

    async def write_all(self, data: bytes | bytearray | memoryview) -> None:
        """See :meth:`TlsStream.write_all`.

        Cancel safety: not cancel-safe; :func:`rt.io.bytes_written` says how much was committed.
        """
        await self._stream("write_all()").write_all(data)

    async def flush(self) -> None:
        """See :meth:`TlsStream.flush`.

        Cancel safety: cancel-safe.
        """
        await self._stream("flush()").flush()

    async def shutdown(self) -> None:
        """Send ``close_notify`` and half-close (see :meth:`TlsStream.shutdown`).

        Cancel safety: cancel-safe in effect; call again to finish.
        """
        await self._stream("shutdown()").shutdown()
