"""Reaping children nobody waits for any more, and watching exits without a pidfd.

A :class:`~rt.process.Child` dropped before its exit was collected (its task was cancelled,
the runtime shut down, the object simply went away) must not leave a zombie behind. As in
Tokio's orphan queue, the parent keeps the duty: the child goes to the *orphan reaper*, one
process-wide daemon thread that waits on the children's pidfds (``poll(2)``) and collects each
exit as it happens. The thread starts with the first orphan and ends when the last one has been
reaped, so a program that waits for its children never has it. An orphan that never exits (a
server started without ``kill_on_drop``) keeps it alive, as it keeps the child itself.

Where ``os.pidfd_open`` does not exist (not Linux, or a kernel older than 5.3) each watched
child gets a small daemon thread blocked in ``waitid(..., WNOWAIT)``, which wakes the runtime
through a pipe the reactor watches (:func:`exit_pipe`); the child is still reaped by its owner
(``Popen.poll``), so the pid cannot be reused while a ``kill`` might target it.
"""

from __future__ import annotations

import os
import select
import threading
from typing import Final

from ._proc import Process

HAVE_PIDFD: Final = hasattr(os, "pidfd_open")


def pidfd_works() -> bool:
    """Whether this kernel supports pidfds (``os.pidfd_open`` exists and succeeds)."""
    global _pidfd_ok
    if _pidfd_ok is None:
        if not HAVE_PIDFD:
            _pidfd_ok = False
        else:
            try:
                os.close(os.pidfd_open(os.getpid()))
                _pidfd_ok = True
            except OSError:  # pragma: no cover - kernel < 5.3, or seccomp
                _pidfd_ok = False
    return _pidfd_ok


_pidfd_ok: bool | None = None


class _OrphanReaper:
    """One daemon thread reaping dropped children (see the module notes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._orphans: dict[int, Process] = {}  # pidfd -> child
        self._thread: threading.Thread | None = None
        self._wake_r = self._wake_w = -1

    def adopt(self, proc: Process) -> None:
        """Take over reaping ``proc``, which has not been waited for."""
        if proc.poll() is not None:
            return
        if not pidfd_works():
            threading.Thread(target=proc.wait, name="rt-process-reaper", daemon=True).start()
            return
        try:
            pidfd = os.pidfd_open(proc.pid)
        except ProcessLookupError:  # pragma: no cover - reaped by someone else meanwhile
            proc.poll()
            return
        with self._lock:
            self._orphans[pidfd] = proc
            if self._thread is None:
                self._wake_r, self._wake_w = os.pipe()
                self._thread = threading.Thread(
                    target=self._run, name="rt-process-reaper", daemon=True
                )
                self._thread.start()
            else:
                os.write(self._wake_w, b"\0")

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no orphan is left (and the thread has ended); for tests and shutdown."""
        with self._idle:
            return self._idle.wait_for(lambda: self._thread is None, timeout)

    def pending(self) -> int:
        """Number of orphans not reaped yet."""
        with self._lock:
            return len(self._orphans)

    def _run(self) -> None:
        _block_signals()
        poller = select.poll()
        watched: set[int] = set()
        wake_r = self._wake_r
        poller.register(wake_r, select.POLLIN)
        while True:
            with self._lock:
                for pidfd in self._orphans.keys() - watched:
                    poller.register(pidfd, select.POLLIN)
                    watched.add(pidfd)
            for fd, _mask in poller.poll():
                if fd == wake_r:
                    os.read(wake_r, 512)
                    continue
                with self._lock:
                    proc = self._orphans.pop(fd)
                poller.unregister(fd)
                watched.discard(fd)
                os.close(fd)
                proc.poll()
            with self._lock:
                if not self._orphans:
                    os.close(self._wake_r)
                    os.close(self._wake_w)
                    self._wake_r = self._wake_w = -1
                    self._thread = None
                    self._idle.notify_all()
                    return


REAPER: Final = _OrphanReaper()


def _block_signals() -> None:
    # Signals are for the main thread (Python runs handlers there): a helper thread that took
    # one would only delay it.
    import signal

    if hasattr(signal, "pthread_sigmask"):
        faults = {
            getattr(signal, name)
            for name in ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGABRT", "SIGSYS")
            if hasattr(signal, name)
        }
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals() - faults)


def exit_pipe(pid: int) -> int:
    """Return the read end of a pipe that becomes readable when child ``pid`` exits.

    For kernels without pidfds: a daemon thread waits for the exit without collecting it
    (``WNOWAIT``) and closes the write end.
    """
    r, w = os.pipe()

    def watch() -> None:
        _block_signals()
        try:
            while True:
                try:
                    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
                    break
                except ChildProcessError:
                    break  # already collected
                except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                    continue
        finally:
            os.close(w)

    threading.Thread(target=watch, name=f"rt-process-wait-{pid}", daemon=True).start()
    return r
