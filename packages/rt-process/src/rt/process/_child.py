"""A spawned child process: its exit is awaited through rt's reactor, never by polling.

Facts the code relies on:

* **Exit readiness.** On Linux the child gets a pidfd (``os.pidfd_open``), which becomes
  readable when the child exits; the reactor watches it like a socket, so ``await wait()``
  parks until the kernel says so, on either scheduler flavor. Without pidfds, a pipe that the
  process-wide SIGCHLD watcher closes once it has collected the exit plays the same role (see
  ``_reaper``).
* **Reaping.** The exit status is collected with ``Popen.poll()`` (``waitpid(WNOHANG)``) once
  the fd is readable, so the returncode speaks ``subprocess``: an ``int``, ``-N`` for a child
  killed by signal ``N``. It is kept: ``wait()`` again returns it at once.
* **Signals go through the pidfd** (``pidfd_send_signal``): until we reap the child its pid
  cannot be reused, and after we reap it we send nothing. Without a pidfd, a ``posix_spawn``
  child is killed under its process object's lock once it is known not to be collected (a
  ``Popen`` one as ``subprocess`` does it).
* **No zombies.** A ``Child`` dropped before its exit was collected is handed to the orphan
  reaper, or left to the SIGCHLD watcher without pidfds (after ``SIGKILL`` if it was spawned
  with ``kill_on_drop(True)``), which collects the exit in the background. That is also
  what happens at runtime shutdown to the children of cancelled tasks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import Any, final

import rt
from rt.lowlevel import READ, Abort, IoDriver, current_task, reschedule, wait_task_rescheduled

from ._pipe import FOREIGN_FIX, ChildStderr, ChildStdin, ChildStdout, _Fd
from ._proc import Process
from ._reaper import REAPER, WATCHER, use_pidfd

# What the error of a write to a stdin that wait() closed says (a task may still hold it).
_STDIN_CLOSER = (
    "Child.{}, which first closes the stdin still held as child.stdin (as Tokio's does, so "
    "that a child reading to end of file can exit); to go on writing while waiting, take it "
    "first: stdin, child.stdin = child.stdin, None"
)


@final
class Child:
    """A child process started by :meth:`rt.process.Command.spawn`.

    ``stdin``, ``stdout`` and ``stderr`` are the parent's ends of the pipes asked for with
    ``Stdio.piped()`` (``None`` otherwise); take them (``child.stdout``) and use them from any
    task. Await :meth:`wait` for the exit code.

    Dropping a ``Child`` does not kill the process (unless ``kill_on_drop(True)`` was set on the
    command): it keeps running and is reaped in the background when it exits.
    """

    __slots__ = (
        "__weakref__",
        "_args",
        "_exit",
        "_followers",
        "_io",
        "_kill_on_drop",
        "_lock",
        "_pidfd",
        "_proc",
        "_reg",
        "_returncode",
        "_waiting",
        "_watched",
        "stderr",
        "stdin",
        "stdout",
    )

    stdin: ChildStdin | None
    stdout: ChildStdout | None
    stderr: ChildStderr | None
    _proc: Process
    _args: list[Any]
    _io: IoDriver
    _exit: _Fd
    _reg: Any  # the reactor registration of _exit
    _pidfd: int
    _watched: bool  # by the SIGCHLD watcher (no pidfd)
    _kill_on_drop: bool
    _returncode: int | None
    _lock: threading.Lock
    _waiting: Any  # the task waiting on the reactor for the exit, if any
    _followers: list[Any]  # tasks waiting for that one

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("rt.process.Child cannot be created directly: use Command(...).spawn()")

    @classmethod
    def _new(
        cls,
        proc: Process,
        args: list[Any],
        io: IoDriver,
        *,
        kill_on_drop: bool,
        stdin: ChildStdin | None,
        stdout: ChildStdout | None,
        stderr: ChildStderr | None,
    ) -> Child:
        self = object.__new__(cls)
        self._proc = proc
        self._args = args
        self._io = io
        self._kill_on_drop = kill_on_drop
        self._returncode = None
        self._lock = threading.Lock()
        self._waiting = None
        self._followers = []
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._watched = not use_pidfd()
        if self._watched:
            self._pidfd = -1
            self._exit = _Fd(WATCHER.watch(proc))
        else:
            self._pidfd = os.pidfd_open(proc.pid)
            self._exit = _Fd(self._pidfd)
        what = "Child.wait(): this child was spawned"
        self._reg = io.register(self._exit, what=what, fix=FOREIGN_FIX)
        return self

    @property
    def id(self) -> int | None:
        """The child's process id, or ``None`` once its exit has been collected."""
        return self._proc.pid if self._returncode is None else None

    @property
    def returncode(self) -> int | None:
        """The exit code once collected (by :meth:`wait` or :meth:`try_wait`), else ``None``."""
        return self._returncode

    def _collect(self) -> int | None:
        with self._lock:
            rc: int | None = self._returncode
            if rc is None:
                rc = self._proc.poll()
                if rc is not None:
                    self._returncode = rc
                    self._pidfd = -1
                    self._io.close(self._exit)
                    if self._watched:
                        WATCHER.forget(self._proc)
        return rc

    async def wait(self) -> int:
        """Close the child's stdin (if piped), then wait for it to exit.

        Closing stdin first (as Tokio does) keeps a child that reads until end of file from
        waiting for a parent that waits for it. Waiting again returns the same code. To keep
        writing stdin (from another task) while waiting, take it off the child first:
        ``stdin, child.stdin = child.stdin, None``; a write left waiting on ``child.stdin``
        fails with ``OSError(EBADF)`` saying ``wait()`` closed it.

        Returns:
            The exit code: ``0`` for success, ``-N`` if signal ``N`` killed the child.

        Any number of tasks may wait at once: one waits on the reactor, the others for it.
        They must be tasks of the runtime that spawned the child (its reactor watches the
        exit): from another runtime, ``wait`` raises ``RuntimeError`` rather than hang.

        Cancel safety: cancel-safe: a cancelled ``wait`` collected nothing; call it again.
        """
        rc = self._returncode
        if rc is not None:
            return rc
        if self.stdin is not None:
            self.stdin._close(_STDIN_CLOSER.format("wait()"))
            self.stdin = None
        while True:
            rc = self._collect()
            if rc is not None:
                return rc
            task = current_task()
            with self._lock:
                leader = self._waiting is None
                if leader:
                    self._waiting = task
                else:
                    self._followers.append(task)
            if not leader:
                await wait_task_rescheduled(self._follower_abort(task))
                continue
            try:
                await self._reg.wait(READ)
            except (OSError, ValueError):
                # Another task collected the exit meanwhile and closed the exit fd: while we
                # waited on it (EBADF), or before our wait began (on another thread, between
                # our look and this wait: the closed fd is refused up front, ValueError). The
                # code is there. Anything else (the runtime shut down) is raised.
                if self.returncode is None:
                    raise
            finally:
                with self._lock:
                    self._waiting = None
                    followers, self._followers = self._followers, []
                for follower in followers:
                    reschedule(follower)

    def _follower_abort(self, task: Any) -> Callable[[], Abort]:
        def abort() -> Abort:
            with self._lock:
                if task in self._followers:
                    self._followers.remove(task)
                    return Abort.SUCCEEDED
            return Abort.FAILED  # the leader is waking it

        return abort

    def try_wait(self) -> int | None:
        """Collect the exit code if the child has exited, without waiting.

        Returns:
            The exit code (as :meth:`wait`), or ``None`` while the child runs.
        """
        rc = self._returncode
        if rc is not None:
            return rc
        return self._collect()

    def start_kill(self) -> None:
        """Send ``SIGKILL`` to the child without waiting for it to exit.

        Does nothing once the exit has been collected. Follow it with :meth:`wait` to reap it
        (or drop the ``Child``: it is reaped in the background).
        """
        with self._lock:  # against a concurrent _collect closing the pidfd
            if self._returncode is not None:
                return
            try:
                if self._pidfd >= 0:
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
                else:
                    self._proc.kill()
            except ProcessLookupError:
                pass  # it exited already: nothing to kill

    async def kill(self) -> None:
        """Send ``SIGKILL`` to the child and wait for it to exit.

        Cancel safety: the signal is sent at once; a cancelled ``kill`` did not collect the
        exit (call :meth:`wait`).
        """
        self.start_kill()
        await self.wait()

    async def wait_with_output(self) -> subprocess.CompletedProcess[bytes]:
        """Read all of the piped stdout and stderr while waiting for the child to exit.

        stdin, if piped, is closed first. Streams that were not piped read as ``b""``.

        Returns:
            A ``subprocess.CompletedProcess`` with ``args``, ``returncode``, ``stdout`` and
            ``stderr`` (bytes).

        Cancel safety: not cancel-safe: output read before a cancellation is lost (the child
        keeps running unless it was spawned with ``kill_on_drop(True)`` and is dropped).
        """
        if self.stdin is not None:
            self.stdin._close(_STDIN_CLOSER.format("wait_with_output()"))
            self.stdin = None
        stdout, stderr = self.stdout, self.stderr
        self.stdout = self.stderr = None
        err_task = rt.spawn(stderr.read_to_end()) if stderr is not None else None
        try:
            out = await stdout.read_to_end() if stdout is not None else b""
            err = await err_task if err_task is not None else b""
            rc = await self.wait()
        finally:
            if err_task is not None and not err_task.is_finished():
                err_task.abort()
            if stdout is not None:
                stdout.close()
            if stderr is not None:
                stderr.close()
        return subprocess.CompletedProcess(self._args, rc, out, err)

    def __del__(self) -> None:
        try:
            proc = self._proc
        except AttributeError:  # never built
            return
        if self._returncode is not None or proc.returncode is not None:
            return
        try:
            if self._kill_on_drop:
                self.start_kill()
            self._io.close(self._exit)
            REAPER.adopt(proc, watched=self._watched)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        if self._returncode is not None:
            return f"<rt.process.Child returncode={self._returncode}>"
        return f"<rt.process.Child pid={self._proc.pid}>"
