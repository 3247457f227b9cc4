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

    __slots__ = ("_kill_owed", "_lock", "_reaping", "pid", "returncode")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        # Re-entrant: the collector may run a finalizer inside ``_reap`` (``waitpid``'s result
        # is a tuple, an allocation) that kills this child (a ``Child`` dropped with
        # ``kill_on_drop``; the SIGCHLD watcher polls live children on its thread). A plain
        # lock deadlocked that thread. Such a kill is owed (``_reaping``), not sent there:
        # the pid may be collected already, and a reused pid must never be signalled.
        self._lock = threading.RLock()
        self._reaping = False
        self._kill_owed = False

    def _reap(self, flags: int) -> int | None:
        with self._lock:
            if self.returncode is not None:
                return self.returncode
            self._reaping = True
            try:
                try:
                    pid, status = os.waitpid(self.pid, flags)
                except ChildProcessError:
                    # Collected behind our back (a SIGCHLD handler set to SIG_IGN, an
                    # os.wait() elsewhere): the status is lost; report success, as
                    # subprocess does.
                    self.returncode = 0
                    return 0
                if pid != 0:
                    self.returncode = os.waitstatus_to_exitcode(status)
                    return self.returncode
            finally:
                self._reaping = False
            if self._kill_owed:  # asked for inside the waitpid above: the child still runs
                self._kill_owed = False
                os.kill(self.pid, signal.SIGKILL)
            return None

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
            if self.returncode is not None:
                return
            if self._reaping:  # on this thread, inside _reap: see __init__
                self._kill_owed = True
                return
            os.kill(self.pid, signal.SIGKILL)
