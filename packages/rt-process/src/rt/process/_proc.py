"""A child started with ``os.posix_spawn``: the part of ``subprocess.Popen`` that rt uses.

``Command.spawn`` takes the ``posix_spawn`` fast path (a ``vfork``-style spawn in the C
library, with no Python in the child) whenever it can, and ``subprocess.Popen`` otherwise
(a working directory, or no ``posix_spawn``). :class:`Child` and the orphan reaper see either
through the same four members: ``pid``, ``returncode``, ``poll()``, ``wait()``, ``kill()``.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Protocol


class Process(Protocol):
    """What rt needs of a started child (``subprocess.Popen`` has it too)."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self) -> int: ...

    def kill(self) -> None: ...


class SpawnedProcess:
    """A child started by ``os.posix_spawn``; exit codes as ``subprocess`` reports them."""

    __slots__ = ("_lock", "pid", "returncode")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._lock = threading.Lock()

    def _reap(self, flags: int) -> int | None:
        with self._lock:
            if self.returncode is not None:
                return self.returncode
            try:
                pid, status = os.waitpid(self.pid, flags)
            except ChildProcessError:
                # Collected behind our back (a SIGCHLD handler set to SIG_IGN, an os.wait()
                # elsewhere): the status is lost; report success, as subprocess does.
                self.returncode = 0
                return 0
            if pid == 0:
                return None
            self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

    def poll(self) -> int | None:
        """Collect the exit status if the child has exited (``waitpid(WNOHANG)``)."""
        return self._reap(os.WNOHANG)

    def wait(self) -> int:
        """Block until the child exits and return its exit code."""
        rc = self._reap(0)
        assert rc is not None
        return rc

    def kill(self) -> None:
        """Send ``SIGKILL`` unless the exit was collected (then the pid may be reused)."""
        with self._lock:
            if self.returncode is None:
                os.kill(self.pid, signal.SIGKILL)
