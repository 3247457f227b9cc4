"""The diagnostics endpoint: a Unix socket that answers ``ps``, ``pstree`` and the console.

``Runtime(console=PATH)`` (or ``RT_CONSOLE=PATH`` in the environment) opens it; ``console=True``
/ ``RT_CONSOLE=1`` use :func:`default_path` for the process id, so ``python -m rt ps PID`` finds
it. The socket file is made owner-only (``0600``, in a ``0700`` directory for the default path)
since a dump shows source paths and task names.

Protocol: one JSON object per line each way. A request is ``{"cmd": NAME}``; the answer is
``{"ok": true, ...}`` or ``{"ok": false, "error": TEXT}``. Commands: ``hello`` (pid, flavor,
protocol version), ``dump`` (``TaskDump.to_dict()``), ``metrics`` (``RuntimeMetrics`` as a dict)
and ``stats`` (per-task poll counts and busy time; the runtime starts timing steps when the
first client attaches, so busy time counts from then).

The endpoint is a thread of its own, so it answers while a task blocks the runtime's thread;
it stops, and its socket file is removed, when the runtime shuts down (or, for a runtime never
shut down, when the program exits), if the file is still its own. A path where a live process
listens is refused (a socket file left by a process that died is replaced); under
``RT_CONSOLE=1`` a second runtime of the same process serves at ``PID-2.sock``. A request line
is at most :data:`MAX_REQUEST` bytes.

Each client is served by a thread of its own, at most :data:`MAX_CLIENTS` at once: a client
beyond that gets one error line (``{"ok": false, "error": "... too many clients ..."}``) and
is closed at once, from the accepting thread, so no local process can make the runtime's
process start a thread per connection it opens. ``python -m rt`` opens one connection per
request and closes it, so the cap is reached only by clients that stay connected.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import stat
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Final

PROTOCOL: Final = 1
#: the longest request line the endpoint reads (requests are ``{"cmd": NAME}``)
MAX_REQUEST: Final = 64 * 1024
#: the most clients served at once (one thread each); one more is refused with :data:`_BUSY`
MAX_CLIENTS: Final = 16
_BUSY: Final = (
    json.dumps(
        {
            "ok": False,
            "error": f"too many clients at once (the endpoint serves at most {MAX_CLIENTS} "
            "together); try again once one has disconnected",
        }
    ).encode()
    + b"\n"
)


def default_path(pid: int | None = None) -> str:
    """The socket path ``RT_CONSOLE=1`` uses for process ``pid`` (this process by default)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(base, f"rt-console-{uid}", f"{pid or os.getpid()}.sock")


def resolve_setting(console: object) -> str | None:
    """Turn ``Runtime(console=...)`` (or ``RT_CONSOLE``) into a socket path, or ``None``.

    Raises:
        ValueError: ``console`` is neither a bool, a path string nor ``None``.
    """
    if console is None:
        console = os.environ.get("RT_CONSOLE") or None
        word = console.strip().lower() if console is not None else None
        if word in ("", "0", "false", "no", "off"):  # (any case: RT_CONSOLE=False is off)
            return None
        if word in ("1", "true", "yes", "on"):
            console = True
    if console is None or console is False:
        return None
    if console is True:
        return default_path()
    if isinstance(console, (str, os.PathLike)):
        path = os.fspath(console)
        if isinstance(path, str) and path and "\0" not in path:
            return path
        raise ValueError(
            f"console must be a socket path (or True), got {console!r}: "
            + ("an empty path" if not path else "a path holds no NUL byte")
            + "; pass Runtime(console=True) for the default path, or a file path"
        )
    raise ValueError(
        f"console must be True, a socket path, or None; got {console!r} "
        "(RT_CONSOLE=1 or RT_CONSOLE=/path/to/socket in the environment)"
    )


def _nothing() -> None:
    pass


#: the longest Unix socket path (``sun_path`` holds 108 bytes on Linux, 104 on the BSDs and
#: macOS, one of them the terminating NUL)
_MAX_PATH: Final = 107 if sys.platform.startswith("linux") else 103


def _identity(path: str) -> tuple[int, int] | None:
    """The device and inode of the file at ``path`` (None: there is none)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _remove(path: str, identity: tuple[int, int] | None) -> None:
    """Remove the socket file at ``path`` if it is still the one with ``identity`` (not one
    that another process has since put there)."""
    if identity is not None and _identity(path) == identity:
        try:
            os.unlink(path)
        except OSError:
            pass


def _free_default(path: str) -> str:
    """The default path ``path`` (``PID.sock``), or, when another runtime of this process
    serves there (``RT_CONSOLE=1`` gives every runtime the default), ``PID-2.sock`` and on:
    the first runtime keeps the path ``python -m rt ps PID`` opens, a later one is logged
    with its own path rather than refused (an environment variable should not make building
    a second runtime fail) or taking the first one's."""
    if not _listening(path):
        return path
    stem = path.removesuffix(".sock")
    for n in range(2, 1000):
        candidate = f"{stem}-{n}.sock"
        if not _listening(candidate):
            logging.getLogger("rt").warning(
                "rt console: %s is another runtime's of this process; this runtime's "
                "endpoint is %s (python -m rt ps %s)",
                path,
                candidate,
                candidate,
            )
            return candidate
    return path  # (refused by _bind, which says why)


def _listening(path: str) -> bool:
    """Whether a process accepts connections on the Unix socket at ``path`` (a socket file
    left by a process that died refuses them)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except TimeoutError:  # a listener whose backlog is full: it lives
        return True
    except OSError:
        return False
    finally:
        probe.close()
    return True


class ConsoleServer:
    """Serve diagnostics for one runtime on a Unix socket, from a thread of its own."""

    def __init__(
        self,
        path: str,
        flavor: str,
        dump: Callable[[], dict[str, Any]],
        metrics: Callable[[], dict[str, Any]],
    ) -> None:
        if path == default_path():
            path = _free_default(path)
        self.path = path
        self._flavor = flavor
        self._dump = dump
        self._metrics = metrics
        #: per live task counters, set by the runtime's Diagnostics when it starts
        self.task_stats: Callable[[], dict[str, dict[str, float]]] = dict
        #: called when a client sends its first request (the runtime starts timing steps)
        self.attached: Callable[[], None] = _nothing
        self._stop = threading.Event()
        self._clients: dict[socket.socket, threading.Thread] = {}
        self._lock = threading.Lock()
        self._sock = self._bind(path)
        #: the socket file's identity, so close removes only the file this endpoint made
        self._file = _identity(path)
        # A program that exits without shutting its runtime down still removes the file.
        self._remove = weakref.finalize(self, _remove, path, self._file)
        self._thread = threading.Thread(target=self._serve, name="rt-console", daemon=True)
        self._thread.start()

    @staticmethod
    def _bind(path: str) -> socket.socket:
        directory = os.path.dirname(path) or "."
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, mode=0o700, exist_ok=True)
            if os.path.exists(path):
                if not stat.S_ISSOCK(os.stat(path).st_mode):
                    what = "a directory" if os.path.isdir(path) else "a file that is not a socket"
                    raise FileExistsError(errno.EEXIST, f"it exists and is {what}")
                if _listening(path):  # another runtime's (or program's) live endpoint
                    raise FileExistsError(
                        errno.EADDRINUSE,
                        "a live process listens on it (another runtime given the same path?)",
                    )
                os.unlink(path)  # a stale socket from a process that died
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                old = os.umask(0o177)
                try:
                    sock.bind(path)
                finally:
                    os.umask(old)
                os.chmod(path, 0o600)
                sock.listen(64)
            except BaseException:
                sock.close()
                raise
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if "too long" in reason:
                reason += f" (a Unix socket path holds at most {_MAX_PATH} bytes)"
            raise OSError(
                getattr(exc, "errno", None) or errno.EINVAL,
                f"rt console: cannot open the diagnostics endpoint at {path!r}: "
                f"{reason}; pick another path with Runtime(console='/some/path') "
                "or RT_CONSOLE=/some/path",
            ) from None
        return sock

    # -- serving ---------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                if self._stop.is_set():
                    conn.close()
                    return
                full = len(self._clients) >= MAX_CLIENTS
                if not full:
                    t = threading.Thread(
                        target=self._client, args=(conn,), name="rt-console-client"
                    )
                    self._clients[conn] = t
            if full:
                _refuse(conn)
            else:
                t.start()

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        if cmd == "hello":
            return {"ok": True, "pid": os.getpid(), "flavor": self._flavor, "protocol": PROTOCOL}
        if cmd == "dump":
            return {"ok": True, "dump": self._dump()}
        if cmd == "metrics":
            return {"ok": True, "metrics": self._metrics()}
        if cmd == "stats":
            return {"ok": True, "stats": self.task_stats()}
        return {"ok": False, "error": f"unknown command {cmd!r}"}

    def _client(self, conn: socket.socket) -> None:
        try:
            self._converse(conn)
        finally:
            with self._lock:
                self._clients.pop(conn, None)

    def _converse(self, conn: socket.socket) -> None:
        # A client that goes away mid-conversation (killed, or closed with a reply unread:
        # the next read is reset, a write hits a broken pipe) just ends it.
        try:
            first = True
            with conn, conn.makefile("rwb") as f:
                while True:
                    # A request is a line of a few bytes: one longer than MAX_REQUEST (a client
                    # sending without end, or not this protocol) is refused, not buffered.
                    line = f.readline(MAX_REQUEST + 1)
                    if not line:
                        return  # the client closed
                    if first:  # a client that asks (not a probe that only connects, as a
                        first = False  # runtime checking whether a path is live does)
                        self.attached()
                    if len(line) > MAX_REQUEST:
                        error = f"a request is one JSON line of at most {MAX_REQUEST} bytes"
                        f.write(json.dumps({"ok": False, "error": error}).encode() + b"\n")
                        f.flush()
                        return
                    try:
                        reply = self._answer(json.loads(line))
                    except Exception as exc:  # a broken request must not end the endpoint
                        reply = {"ok": False, "error": repr(exc)}
                    f.write(json.dumps(reply).encode() + b"\n")
                    f.flush()
        except OSError:
            return

    def close(self) -> None:
        """Stop serving and remove the socket file; idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._thread.join()
        with self._lock:
            clients = list(self._clients.items())
        for conn, t in clients:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            t.join()
        self._remove()


def _refuse(conn: socket.socket) -> None:
    """Answer a client beyond :data:`MAX_CLIENTS` with the error line and close it, without
    waiting on it (its request, if any, is left unread: a client that sent one still reads
    the answer before the end of the stream)."""
    with conn:
        try:
            conn.setblocking(False)
            conn.send(_BUSY)  # (a fresh socket's buffer holds a line this short)
        except OSError:
            pass


def request(target: str, cmd: str, timeout: float = 5.0) -> dict[str, Any]:
    """Ask the endpoint at ``target`` (a socket path or a process id) for ``cmd``'s answer.

    Raises:
        ConnectionError: nothing listens there (the message says how to enable the endpoint),
            what listens there does not speak the endpoint's protocol, it accepted no
            connection within ``timeout`` (its backlog stayed full) or gave no answer within
            it, or it closed the connection before its answer ended.
        RuntimeError: the endpoint refused the command.
    """
    path = default_path(int(target)) if target.isdigit() else target
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            break
        except BlockingIOError:
            # The endpoint's backlog is full (many clients at once, or its thread has not run
            # yet): a Unix socket refuses at once rather than wait. Try again until the timeout.
            sock.close()
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"the rt diagnostics endpoint at {path} accepted no connection within "
                    f"{timeout} s (too many clients at once?); try again"
                ) from None
            time.sleep(0.005)
        except OSError as exc:
            sock.close()
            raise ConnectionError(
                f"no rt diagnostics endpoint at {path} ({exc.strerror or exc}). Start the "
                "program with RT_CONSOLE=1 in its environment (or Runtime(console=True)) and "
                "pass its process id, or RT_CONSOLE=/some/path and pass that path"
            ) from None
    try:
        with sock, sock.makefile("rb") as f:
            try:
                sock.sendall(json.dumps({"cmd": cmd}).encode() + b"\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed before reading it (too many clients): its answer says why
            line = f.readline()
    except TimeoutError:  # (a bare "timed out" named neither the endpoint nor the wait)
        raise ConnectionError(
            f"the rt diagnostics endpoint at {path} did not answer {cmd!r} within {timeout} s"
        ) from None
    if not line.endswith(b"\n"):  # nothing, or an answer cut short
        raise ConnectionError(
            f"the rt diagnostics endpoint at {path} closed the connection "
            + ("before answering" if not line else "in the middle of its answer")
            + " (did the program exit or shut its runtime down?)"
        )
    # Something else may listen there (another program's socket): an answer that is not the
    # protocol's is a clear error, not a decoding traceback or a key missing further on.
    try:
        reply = json.loads(line)
    except ValueError:
        reply = None
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        raise ConnectionError(_not_rt(path, line))
    if not reply["ok"]:
        raise RuntimeError(f"rt diagnostics endpoint: {reply.get('error')}")
    if cmd in _PAYLOAD and not isinstance(reply.get(cmd), dict):
        raise ConnectionError(_not_rt(path, line))
    return reply


#: the commands whose answer carries a dict under the command's own name
_PAYLOAD: Final = frozenset({"dump", "metrics", "stats"})


def _not_rt(path: str, line: bytes) -> str:
    shown = line[:60].decode("utf-8", "replace").rstrip()
    return (
        f"{path} is not an rt diagnostics endpoint (it answered {shown!r}); pass the process id "
        "of a program started with RT_CONSOLE=1, or the path it was given as RT_CONSOLE=/some/path"
    )
