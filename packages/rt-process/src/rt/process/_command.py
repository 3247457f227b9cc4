"""``Command`` (Tokio's process builder) and ``Stdio``."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from typing import IO, Any, Final, Self, TypeAlias, final

import rt
from rt.lowlevel import current_io

from ._child import Child
from ._pipe import ChildStderr, ChildStdin, ChildStdout, _PipeEnd
from ._proc import Process, SpawnedProcess

StrOrBytesPath: TypeAlias = str | bytes | os.PathLike[str] | os.PathLike[bytes]

_HAVE_SIGMASK: Final = hasattr(signal, "pthread_sigmask")
_HAVE_POSIX_SPAWN: Final = hasattr(os, "posix_spawn") and sys.platform == "linux"
# Python ignores these; a child must start with the default action, as subprocess does.
_RESET_SIGNALS: Final = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ", "SIGXFZ") if hasattr(signal, name)
)
_DEVNULL: Final = os.devnull
# Where each program was found on each PATH: a spawn should not stat every PATH entry.
_resolved: dict[tuple[str | bytes, str | bytes | None], str | bytes] = {}


def _which(program: str | bytes, env: dict[Any, Any] | None) -> str | bytes:
    """Resolve ``program`` the way ``execvp`` would, raising ``FileNotFoundError`` naming it."""
    sep = b"/" if isinstance(program, bytes) else "/"
    if sep in program:  # type: ignore[operator]
        return program
    path = (os.environ if env is None else env).get("PATH", os.defpath)
    key = (program, path)
    found = _resolved.get(key)
    if found is None:
        name = os.fsdecode(program)
        hit = shutil.which(name, path=os.fsdecode(path))
        if hit is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", program)
        found = _resolved[key] = hit
    return found


def _interpreter_missing(
    exc: FileNotFoundError, program: str | bytes, env: dict[Any, Any] | None, cwd: Any
) -> FileNotFoundError | None:
    """The error to raise instead of ``exc`` when the program exists: the kernel says
    ``ENOENT`` about the program when the interpreter it names is missing (a script's ``#!``
    line, a binary's dynamic loader). ``None`` when ``exc`` means what it says."""
    if cwd is not None and not os.path.isdir(cwd):
        return None  # the missing file is the working directory
    name = os.fsdecode(program)
    if "/" not in name:
        path = (os.environ if env is None else env).get("PATH", os.defpath)
        found = shutil.which(name, path=os.fsdecode(path))
        if found is None:
            return None
        name = found
    elif cwd is not None:
        name = os.path.join(os.fsdecode(cwd), name)
    try:
        with open(name, "rb") as file:
            head = file.read(256)
    except OSError:
        return None  # it is missing (or unreadable): exc is right
    if head.startswith(b"#!"):
        # As the kernel reads it: up to the newline, split at spaces and tabs only (a
        # carriage return stays in the name).
        words = head[2:].split(b"\n", 1)[0].replace(b"\t", b" ").split(b" ")
        raw = next((w for w in words if w), b"")
        interp = os.fsdecode(raw)
        if raw.endswith(b"\r"):
            why = (
                f"its #! line ends in a carriage return, so the interpreter looked for is "
                f"{interp!r}: the file has Windows (CRLF) line endings; convert it to LF "
                "(dos2unix, or sed -i 's/\\r$//')"
            )
        elif not raw:
            why = "its #! line names no interpreter"
        elif os.path.exists(interp):
            why = (
                f"the interpreter its #! line names, {interp}, could not be run itself (a "
                "script whose own #! interpreter is missing, or a program whose dynamic "
                "loader is)"
            )
        else:
            why = f"the interpreter its #! line names, {interp}, does not exist"
    elif head.startswith(b"\x7fELF"):
        why = (
            "its dynamic loader (ELF interpreter) does not exist: it was built for another "
            "system or C library"
        )
    else:
        return None
    better = FileNotFoundError(errno.ENOENT, f"the program exists but {why}", name)
    better.__cause__ = exc
    return better


def _environ() -> Mapping[Any, Any]:
    # posix_spawn converts its env mapping item by item: through os.environ's Python-level
    # decode/encode that costs more than the rest of a spawn's Python code together. The
    # bytes dict behind it (os.environ._data, kept in step by putenv) is read in C.
    data = getattr(os.environ, "_data", None)
    return data if isinstance(data, dict) else os.environ


def _posix_spawn(
    argv: list[str | bytes], stdio: list[Any], env: dict[Any, Any] | None, cmd: Command
) -> Process:
    key = (argv[0], (os.environ if env is None else env).get("PATH", os.defpath))
    remembered = key in _resolved
    program = _which(argv[0], env)
    actions: list[tuple[Any, ...]] = []
    for target, cfg in enumerate(stdio):
        if cfg is None:
            continue
        if cfg == subprocess.DEVNULL:
            flags = os.O_RDONLY if target == 0 else os.O_WRONLY
            actions.append((os.POSIX_SPAWN_OPEN, target, _DEVNULL, flags, 0))
        else:
            actions.append((os.POSIX_SPAWN_DUP2, cfg, target))
    options: dict[str, Any] = {}
    if cmd._pgroup is not None:
        options["setpgroup"] = cmd._pgroup
    if cmd._new_session:
        options["setsid"] = True
    while True:
        try:
            # setsigmask=(): rt's worker threads block the asynchronous signals (they are for
            # the main thread) and a child inherits its parent thread's mask; start it with
            # none, as Rust's Command does, so it can be stopped with SIGTERM.
            pid = os.posix_spawn(
                program,
                argv,
                _environ() if env is None else env,
                file_actions=actions,
                setsigmask=(),
                setsigdef=_RESET_SIGNALS,
                **options,
            )
        except (FileNotFoundError, PermissionError):
            # Where an earlier spawn found the program may be gone or no longer executable
            # while PATH holds another copy (execvp would run that one): look it up again,
            # once. A lookup made just now is not repeated.
            _resolved.pop(key, None)
            if not remembered:
                raise
            remembered = False
            program = _which(argv[0], env)
            continue
        return SpawnedProcess(pid)


_INHERIT: Final = 0
_PIPED: Final = 1
_NULL: Final = 2


@final
class Stdio:
    """What a child's standard stream is connected to: build it with :meth:`piped`,
    :meth:`null` or :meth:`inherit`.

    ``Command.stdin/stdout/stderr`` also take a pipe end of another child (a pipeline: the
    other child's ``stdout`` becomes this one's ``stdin``), an open file, or an fd.
    """

    __slots__ = ("_kind",)

    _kind: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("use Stdio.piped(), Stdio.null() or Stdio.inherit()")

    @classmethod
    def _make(cls, kind: int) -> Stdio:
        self = object.__new__(cls)
        self._kind = kind
        return self

    @staticmethod
    def piped() -> Stdio:
        """Connect the stream to a new pipe; the parent's end is ``child.stdin`` / ``stdout`` /
        ``stderr``.

        Returns:
            The configuration.
        """
        return _STDIO_PIPED

    @staticmethod
    def null() -> Stdio:
        """Connect the stream to ``/dev/null`` (reads see end of file, writes are discarded).

        Returns:
            The configuration.
        """
        return _STDIO_NULL

    @staticmethod
    def inherit() -> Stdio:
        """Give the child the parent's own stream.

        Returns:
            The configuration.
        """
        return _STDIO_INHERIT

    def __repr__(self) -> str:
        return f"Stdio.{('inherit', 'piped', 'null')[self._kind]}()"


_STDIO_INHERIT: Final = Stdio._make(_INHERIT)
_STDIO_PIPED: Final = Stdio._make(_PIPED)
_STDIO_NULL: Final = Stdio._make(_NULL)

StdioLike: TypeAlias = Stdio | ChildStdin | ChildStdout | ChildStderr | IO[Any] | int


def _check_stdio(name: str, cfg: object) -> StdioLike:
    if isinstance(cfg, Stdio | _PipeEnd):
        return cfg  # type: ignore[return-value]
    if isinstance(cfg, int) and not isinstance(cfg, bool):
        if cfg < 0:
            # subprocess.PIPE / DEVNULL / STDOUT (asyncio.subprocess's too) are these.
            hint = {
                subprocess.PIPE: "subprocess.PIPE: use rt.process.Stdio.piped()",
                subprocess.DEVNULL: "subprocess.DEVNULL: use rt.process.Stdio.null()",
                subprocess.STDOUT: (
                    "subprocess.STDOUT: rt.process cannot merge stderr into stdout; pass "
                    "both the same open file, or read both pipes"
                ),
            }.get(cfg)
            if hint is not None:
                raise ValueError(f"{name}() got {hint}")
            raise ValueError(f"{name}: a file descriptor must be >= 0, got {cfg}")
        return cfg
    if callable(getattr(cfg, "fileno", None)):
        return cfg  # type: ignore[return-value]
    raise TypeError(
        f"{name}() takes Stdio.piped(), Stdio.null(), Stdio.inherit(), another child's pipe, "
        f"an open file or an fd, got {cfg!r}"
    )


def _stdio_fd(name: str, cfg: Any) -> int:
    """The fd behind an open file (or an fd) given as a child's stream, checked now."""
    if isinstance(cfg, int):
        fd = cfg
    else:
        try:
            fd = cfg.fileno()
        except (OSError, ValueError) as exc:  # a closed file: "I/O operation on closed file"
            raise ValueError(f"{name}: {cfg!r} has no open file descriptor ({exc})") from None
    try:
        os.fstat(fd)
    except OSError as exc:
        raise OSError(exc.errno, f"{name}: fd {fd} is not open in this process") from None
    return fd


def _arg(value: object, what: str) -> str | bytes:
    if isinstance(value, str | bytes):
        arg: str | bytes = value
    elif isinstance(value, os.PathLike):
        arg = os.fspath(value)
    else:
        raise TypeError(
            f"{what} must be str, bytes or os.PathLike, got {type(value).__name__} {value!r}"
        )
    if ("\0" if isinstance(arg, str) else b"\0") in arg:  # type: ignore[operator]
        raise ValueError(f"{what} {arg!r} holds a NUL character, which no program can receive")
    return arg


def _env_key(key: object, what: str) -> str:
    # One spelling per variable: os.environ's keys are str, so a bytes key is decoded the
    # way os.environ decodes them; b"PATH" and "PATH" are then the same variable.
    name = os.fsdecode(_arg(key, what))
    if not name or "=" in name:
        raise ValueError(f"{what} {name!r} is not a variable name (empty, or holds '=')")
    return name


@final
class Command:
    """Build a child process the way Tokio's (and Rust's) ``Command`` does, then start it.

    ::

        out = await Command("git").args(["log", "-1"]).cwd(repo).output()
        child = Command("cat").stdin(Stdio.piped()).stdout(Stdio.piped()).spawn()

    Every builder method returns the command itself, so calls chain. A command can be spawned
    any number of times. The program is looked up on ``PATH`` (the child's, if ``env`` changed
    it) unless it contains a ``/``.

    Args:
        program: The program to run, as ``str``, ``bytes`` or a path.

    Raises:
        TypeError: ``program`` is not a str, bytes or path.
    """

    __slots__ = (
        "_argv",
        "_cwd",
        "_env",
        "_env_clear",
        "_kill_on_drop",
        "_new_session",
        "_pgroup",
        "_stderr",
        "_stdin",
        "_stdout",
    )

    def __init__(self, program: StrOrBytesPath) -> None:
        self._argv: list[str | bytes] = [_arg(program, "program")]
        self._env: dict[str, str | bytes | None] = {}
        self._env_clear = False
        self._cwd: str | bytes | None = None
        self._stdin: StdioLike | None = None
        self._stdout: StdioLike | None = None
        self._stderr: StdioLike | None = None
        self._kill_on_drop = False
        self._pgroup: int | None = None
        self._new_session = False

    def arg(self, arg: StrOrBytesPath) -> Self:
        """Append one argument.

        Returns:
            The command.
        """
        self._argv.append(_arg(arg, "arg"))
        return self

    def args(self, args: Iterable[StrOrBytesPath]) -> Self:
        """Append several arguments.

        Returns:
            The command.

        Raises:
            TypeError: ``args`` is a single string (use :meth:`arg`) or holds a non-string.
        """
        if isinstance(args, str | bytes):
            raise TypeError("args() takes an iterable of arguments; use arg() for one string")
        self._argv.extend(_arg(a, "each of args") for a in args)
        return self

    def env(self, key: str | bytes, value: str | bytes) -> Self:
        """Set one environment variable of the child.

        ``str`` and ``bytes`` names are the same variable (``b"PATH"`` is ``"PATH"``), as in
        ``os.environ``.

        Returns:
            The command.

        Raises:
            TypeError: ``key`` or ``value`` is not a str or bytes (``str(value)`` a number).
            ValueError: ``key`` is empty or holds ``=``, or either holds a NUL character.
        """
        self._env[_env_key(key, "env key")] = _arg(value, f"env value of {key!r}")
        return self

    def envs(self, vars: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]) -> Self:
        """Set several environment variables (a mapping or ``(key, value)`` pairs).

        Returns:
            The command.
        """
        items = vars.items() if isinstance(vars, Mapping) else vars
        for key, value in items:
            self.env(key, value)
        return self

    def env_remove(self, key: str | bytes) -> Self:
        """Remove one variable from the environment the child inherits.

        Returns:
            The command.
        """
        self._env[_env_key(key, "env key")] = None
        return self

    def env_clear(self) -> Self:
        """Start the child with an empty environment (and forget earlier :meth:`env` calls).

        Returns:
            The command.
        """
        self._env.clear()
        self._env_clear = True
        return self

    def cwd(self, path: StrOrBytesPath) -> Self:
        """Run the child in directory ``path``.

        Returns:
            The command.
        """
        self._cwd = _arg(path, "cwd")
        return self

    def stdin(self, cfg: StdioLike) -> Self:
        """Set the child's stdin (default: inherited; ``null`` for :meth:`output`).

        Args:
            cfg: A :class:`Stdio`, another child's ``stdout``/``stderr`` (taken over: it is
                closed in this process once the child starts), an open file or an fd.

        Returns:
            The command.
        """
        self._stdin = _check_stdio("stdin", cfg)
        return self

    def stdout(self, cfg: StdioLike) -> Self:
        """Set the child's stdout (default: inherited; ``piped`` for :meth:`output`).

        Returns:
            The command.
        """
        self._stdout = _check_stdio("stdout", cfg)
        return self

    def stderr(self, cfg: StdioLike) -> Self:
        """Set the child's stderr (default: inherited; ``piped`` for :meth:`output`).

        Returns:
            The command.
        """
        self._stderr = _check_stdio("stderr", cfg)
        return self

    def kill_on_drop(self, kill: bool) -> Self:
        """Kill the child (``SIGKILL``) when its :class:`Child` is dropped before it exited.

        This covers a task cancelled while it waits for the child, and the runtime shutting
        down. Either way the child is reaped in the background. Default: ``False`` (the child
        keeps running, as in Tokio, and is reaped when it exits).

        Returns:
            The command.
        """
        self._kill_on_drop = bool(kill)
        return self

    def process_group(self, pgroup: int) -> Self:
        """Put the child in process group ``pgroup`` (``0``: a new group led by the child).

        Returns:
            The command.
        """
        if isinstance(pgroup, bool) or not isinstance(pgroup, int) or pgroup < 0:
            raise ValueError(f"process_group must be an int >= 0, got {pgroup!r}")
        self._pgroup = pgroup
        return self

    def start_new_session(self, new_session: bool = True) -> Self:
        """Run the child in a new session (``setsid()``): no controlling terminal, so a
        Ctrl-C in the terminal does not reach it.

        Returns:
            The command.
        """
        self._new_session = bool(new_session)
        return self

    def get_program(self) -> str | bytes:
        """The program this command runs."""
        return self._argv[0]

    def get_args(self) -> list[str | bytes]:
        """The arguments after the program."""
        return self._argv[1:]

    def spawn(self) -> Child:
        """Start the child and return it without waiting. Call inside an rt runtime.

        Streams not configured are inherited from this process.

        Returns:
            The :class:`Child`.

        Raises:
            FileNotFoundError: the program (or ``cwd``, or the interpreter a script's ``#!``
                line names) does not exist; the error names it.
            PermissionError: the program is not executable (or is a directory).
            OSError: the child could not be started (out of processes or fds, ...).
            RuntimeError: outside a runtime, or the runtime was built with ``enable_io=False``.
        """
        return self._spawn(_STDIO_INHERIT, _STDIO_INHERIT, _STDIO_INHERIT)

    def _spawn(self, stdin: Stdio, stdout: Stdio, stderr: Stdio, off_loop: bool = False) -> Child:
        io = current_io()
        env: dict[Any, Any] | None = None
        if self._env or self._env_clear:
            env = {} if self._env_clear else dict(os.environ)
            for key, value in self._env.items():
                if value is None:
                    env.pop(key, None)
                else:
                    env[key] = value
        parent_fds: list[int] = []  # our ends of new pipes, closed if the spawn fails
        child_fds: list[int] = []  # fds to close in this process once the child has them
        cfgs = (
            stdin if self._stdin is None else self._stdin,
            stdout if self._stdout is None else self._stdout,
            stderr if self._stderr is None else self._stderr,
        )
        popen_stdio: list[Any] = []
        try:
            for index, cfg in enumerate(cfgs):
                if isinstance(cfg, Stdio):
                    if cfg._kind == _PIPED:
                        r, w = os.pipe()
                        mine, theirs = (w, r) if index == 0 else (r, w)
                        parent_fds.append(mine)
                        child_fds.append(theirs)
                        popen_stdio.append(theirs)
                    else:
                        popen_stdio.append(None if cfg._kind == _INHERIT else subprocess.DEVNULL)
                        parent_fds.append(-1)
                elif isinstance(cfg, _PipeEnd):
                    fd = cfg._detach()
                    child_fds.append(fd)
                    popen_stdio.append(fd)
                    parent_fds.append(-1)
                else:
                    popen_stdio.append(_stdio_fd(("stdin", "stdout", "stderr")[index], cfg))
                    parent_fds.append(-1)
            # os.posix_spawn keeps the GIL while the C library spawns (about a millisecond);
            # subprocess.Popen releases it. On the scheduler's thread nothing else could run
            # anyway and posix_spawn's lighter Python side wins; on the blocking pool, where
            # spawns overlap, Popen lets the others (and the scheduler) run meanwhile.
            if self._cwd is None and _HAVE_POSIX_SPAWN and not off_loop:
                proc: Process = _posix_spawn(self._argv, popen_stdio, env, self)
            else:
                proc = self._popen(popen_stdio, env)
        except BaseException as exc:
            for fd in parent_fds:
                if fd >= 0:
                    os.close(fd)
            if isinstance(exc, FileNotFoundError):
                better = _interpreter_missing(exc, self._argv[0], env, self._cwd)
                if better is not None:
                    raise better from exc
            raise
        finally:
            for fd in child_fds:
                os.close(fd)
        try:
            return Child._new(
                proc,
                list(self._argv),
                io,
                kill_on_drop=self._kill_on_drop,
                stdin=ChildStdin(parent_fds[0], io) if parent_fds[0] >= 0 else None,
                stdout=ChildStdout(parent_fds[1], io) if parent_fds[1] >= 0 else None,
                stderr=ChildStderr(parent_fds[2], io) if parent_fds[2] >= 0 else None,
            )
        except BaseException:  # pragma: no cover - out of fds for the pidfd
            proc.kill()
            proc.wait()
            raise

    def _popen(self, stdio: list[Any], env: dict[Any, Any] | None) -> Process:
        # A child inherits its parent thread's signal mask, and rt's worker threads block
        # the asynchronous signals (they are for the main thread): spawn with an empty
        # mask, as Rust's Command does, so the child can be stopped with SIGTERM.
        mask = signal.pthread_sigmask(signal.SIG_SETMASK, ()) if _HAVE_SIGMASK else None
        try:
            return subprocess.Popen(
                self._argv,
                stdin=stdio[0],
                stdout=stdio[1],
                stderr=stdio[2],
                env=env,
                cwd=self._cwd,
                process_group=self._pgroup,
                start_new_session=self._new_session,
            )
        finally:
            if mask:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    async def _spawn_off_loop(self, stdin: Stdio, stdout: Stdio, stderr: Stdio) -> Child:
        # A spawn blocks its thread for a millisecond or so (the kernel copies no memory, but
        # the parent waits until the child has exec'd). The awaitable forms do it on the
        # blocking pool: the scheduler keeps running, and concurrent spawns overlap.
        try:
            return await rt.spawn_blocking(self._spawn, stdin, stdout, stderr, True)
        except rt.JoinError as exc:
            cause = exc.__cause__
            if isinstance(cause, Exception):
                raise cause.with_traceback(cause.__traceback__) from None
            raise

    async def output(self) -> subprocess.CompletedProcess[bytes]:
        """Run the child to completion and collect its output.

        stdout and stderr are piped and stdin is ``null`` unless configured otherwise.

        Returns:
            A ``subprocess.CompletedProcess`` (``args``, ``returncode``, ``stdout`` and
            ``stderr`` as bytes; ``b""`` for a stream that was not piped). A non-zero exit is
            not an error: check ``returncode`` or call ``check_returncode()``.

        Raises:
            FileNotFoundError: the program (or ``cwd``, or the interpreter a script's ``#!``
                line names) does not exist; the error names it.
            PermissionError: the program is not executable.

        Cancel safety: not cancel-safe: the output is lost; the child keeps running (and is
        reaped in the background) unless ``kill_on_drop(True)`` was set.
        """
        child = await self._spawn_off_loop(_STDIO_NULL, _STDIO_PIPED, _STDIO_PIPED)
        return await child.wait_with_output()

    async def status(self) -> int:
        """Run the child to completion (streams inherited unless configured) and return its
        exit code (``-N`` if signal ``N`` killed it).

        Raises:
            FileNotFoundError: the program (or ``cwd``, or the interpreter a script's ``#!``
                line names) does not exist; the error names it.
            PermissionError: the program is not executable.

        Cancel safety: cancel-safe as far as this process goes: a cancelled ``status`` leaves
        the child running (reaped in the background) unless ``kill_on_drop(True)`` was set.
        """
        child = await self._spawn_off_loop(_STDIO_INHERIT, _STDIO_INHERIT, _STDIO_INHERIT)
        return await child.wait()

    def __repr__(self) -> str:
        return f"rt.process.Command({self._argv!r})"
