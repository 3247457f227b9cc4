"""Reaping children nobody waits for any more, and watching exits without a pidfd.

A :class:`~rt.process.Child` dropped before its exit was collected (its task was cancelled,
the runtime shut down, the object simply went away) must not leave a zombie behind. As in
Tokio's orphan queue, the parent keeps the duty: the child goes to the *orphan reaper*, one
process-wide daemon thread that waits on the children's pidfds (``poll(2)``) and collects each
exit as it happens. The thread starts with the first orphan and ends when the last one has been
reaped, so a program that waits for its children never has it. An orphan that never exits (a
server started without ``kill_on_drop``) keeps it alive, as it keeps the child itself.

Where pidfds are unavailable (``os.pidfd_open`` missing, or the kernel refuses it) exits are
SIGCHLD-driven instead, through the *SIGCHLD watcher* (:data:`WATCHER`), as Tokio does on
such systems:

* **One listener for the process.** The watcher registers one runtime-less listener for
  ``SIGCHLD`` with rt-signal's registry (:func:`rt.signal._registry.register_raw`: rt-signal's
  handler writes a byte to its pipe) and one daemon thread waits for that pipe with
  ``poll(2)``. The thread exists while at least one watched child has not been reaped. The
  listener, and with it the ``SIGCHLD`` handler, stays for the life of the process once the
  watcher first needed it, as Tokio's does: putting the previous handler back races with a
  ``SIGCHLD`` already on its way (CPython then reports "Signal 17 ignored due to race
  condition" as an unraisable error).
* **Only our children.** Each wake-up calls ``waitpid(pid, WNOHANG)`` (through the child's
  ``poll()``) for every child the watcher knows, never ``waitpid(-1)``: children of other
  libraries are left to them.
* **Nothing lost.** ``SIGCHLD`` deliveries coalesce (one signal for several exits, or one
  landing before the child was registered), so a wake-up checks *every* pending child, and
  registering a child wakes the thread for one check too.
* **Waking the owner through its reactor.** Each watched child has a pipe whose read end its
  runtime's reactor watches (as it would watch a pidfd); the watcher closes the write end once
  it has collected the exit, and ``Child.wait()`` wakes, on whichever thread and scheduler
  flavor drives that runtime. A dropped child stays watched, so it is reaped all the same,
  also after its runtime shut down.
* **Where the signal is handled.** Python runs signal handlers on the main thread only, and
  ``SIGCHLD`` goes to the thread that spawned the child (or another one not blocking it). The
  watcher hears of it when the main thread next runs Python code: at once while the main
  thread drives an rt runtime (rt points the process's signal wakeup fd at it, so any signal
  wakes it) or runs Python code, but only when it next wakes if it sits in a plain blocking
  call (``Thread.join()``) while another thread drives the runtime, as for every Python signal
  handler.
* **A replaced handler.** A program's own ``signal.signal(SIGCHLD, ...)`` made after rt's
  means SIGCHLD no longer reaches the watcher. While it watches children the thread looks
  every second whether the handler is still rt's; once it is not, it checks its children on
  a timer instead (with backoff) and logs one warning through the ``rt`` logger.

:data:`_force_sigchld` (private, read at every spawn) makes tests use the watcher where
pidfds work.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
from typing import Final

from rt.signal._registry import RawListener, handler_in_place, register_raw

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
_force_sigchld = False  # tests set it to run the SIGCHLD watcher where pidfds work


def use_pidfd() -> bool:
    """Whether a child spawned now is watched through a pidfd (else by :data:`WATCHER`)."""
    return not _force_sigchld and pidfd_works()


def _close_fds(*fds: int) -> None:
    """Close those of ``fds`` that are open (not -1)."""
    for fd in fds:
        if fd >= 0:
            os.close(fd)


class _OrphanReaper:
    """One daemon thread reaping dropped children (see the module notes)."""

    def __init__(self) -> None:
        # Re-entrant, and nothing that allocates much runs under it: ``Child.__del__`` calls
        # adopt(), and the collector may run it on a thread inside one of these sections.
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._orphans: dict[int, Process] = {}  # pidfd -> child
        self._thread: threading.Thread | None = None
        self._starting = False  # a thread is being made (with the lock released)
        self._wake_r = self._wake_w = -1

    def adopt(self, proc: Process) -> None:
        """Take over reaping ``proc``, which has not been waited for."""
        if proc.poll() is not None:
            return
        try:
            pidfd = os.pidfd_open(proc.pid)
        except ProcessLookupError:  # pragma: no cover - reaped by someone else meanwhile
            proc.poll()
            return
        with self._lock:
            self._orphans[pidfd] = proc
            if self._thread is not None:
                os.write(self._wake_w, b"\0")
                return
            if self._starting:
                return  # the thread being made looks at every orphan as it starts
            self._starting = True
        # The thread is made with the lock released: making it allocates, and a finalizer
        # run there may adopt another child (it finds ``_starting`` and only adds it).
        wake_r = wake_w = -1
        try:
            wake_r, wake_w = os.pipe()
            thread = threading.Thread(
                target=self._run, args=(wake_r,), name="rt-process-reaper", daemon=True
            )
        except BaseException:
            # Out of fds or memory: no thread is being made any more. The orphans stay
            # listed, and the next adoption tries again (its thread looks at every one).
            _close_fds(wake_r, wake_w)
            with self._lock:
                self._starting = False
                self._idle.notify_all()
            raise
        with self._lock:
            self._wake_r, self._wake_w = wake_r, wake_w
            self._thread = thread
            self._starting = False
        thread.start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no orphan is left (and the thread has ended); for tests and shutdown."""
        with self._idle:
            return self._idle.wait_for(lambda: self._thread is None and not self._starting, timeout)

    def pending(self) -> int:
        """Number of orphans not reaped yet."""
        with self._lock:
            return len(self._orphans)

    def _run(self, wake_r: int) -> None:
        _block_signals()
        poller = select.poll()
        watched: set[int] = set()
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


_ORPHANS: Final = _OrphanReaper()


def _block_signals() -> None:
    # Signals are for the main thread (Python runs handlers there): a helper thread that took
    # one would only delay it.
    if hasattr(signal, "pthread_sigmask"):
        faults = {
            getattr(signal, name)
            for name in ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGABRT", "SIGSYS")
            if hasattr(signal, name)
        }
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals() - faults)


class _Watched:
    __slots__ = ("orphan", "proc", "wfd")

    def __init__(self, proc: Process, wfd: int) -> None:
        self.proc = proc
        self.wfd = wfd
        self.orphan = False


class _SigchldWatcher:
    """The SIGCHLD-driven exit watcher (see the module notes)."""

    def __init__(self) -> None:
        # Re-entrant, as the orphan reaper's (``Child.__del__`` calls adopt()); the thread is
        # made with it released.
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._children: dict[int, _Watched] = {}  # pid -> child
        self._thread: threading.Thread | None = None  # the current thread, once started
        self._starting = False
        self._threads = 0  # threads not finished yet (one may be ending while the next starts)
        self._wake_w = -1
        #: rt-signal's registration of SIGCHLD, made on first use and kept for the life of the
        #: process (see the module notes)
        self._listener: RawListener | None = None

    def watch(self, proc: Process) -> int:
        """Watch ``proc`` (not reaped yet); return a pipe's read end that reads end of file
        once its exit has been collected."""
        r, w = os.pipe()
        os.set_blocking(r, False)
        try:
            self._add(proc.pid, _Watched(proc, w))
        except BaseException:
            os.close(r)
            os.close(w)
            raise
        return r

    def adopt(self, proc: Process) -> None:
        """Reap ``proc`` in the background: its ``Child`` was dropped."""
        with self._lock:
            entry = self._children.get(proc.pid)
            if entry is not None and entry.proc is proc:
                entry.orphan = True
                self._done(entry)  # nobody reads the pipe any more
                return
        if proc.poll() is None:  # pragma: no cover - not watched: a caller's mistake
            entry = _Watched(proc, -1)
            entry.orphan = True
            self._add(proc.pid, entry)

    def forget(self, proc: Process) -> None:
        """Stop watching ``proc``, whose exit its owner has collected."""
        with self._lock:
            entry = self._children.get(proc.pid)
            if entry is None or entry.proc is not proc:
                return
            del self._children[proc.pid]
            self._done(entry)
            if not self._children:
                self._poke()  # let the thread go now

    def pending(self) -> int:
        """Number of dropped children not reaped yet."""
        with self._lock:
            return sum(entry.orphan for entry in self._children.values())

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no child is watched and the thread has ended."""
        with self._idle:
            return self._idle.wait_for(
                lambda: self._thread is None and not self._starting and not self._threads,
                timeout,
            )

    def _poke(self) -> None:
        # Lock held. While starting there is no pipe yet: the first sweep checks everything.
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"\0")
            except BlockingIOError:  # pragma: no cover - full: a wake-up is pending anyway
                pass

    def _add(self, pid: int, entry: _Watched) -> None:
        with self._lock:
            old = self._children.get(pid)
            if old is not None:
                # Its owner collected it and the pid was reused before it said so (forget):
                # that exit is collected, so let its pipe go.
                self._done(old)
            self._children[pid] = entry
            if self._thread is not None or self._starting:
                # One check for this child: it may have exited before it was registered.
                self._poke()
                return
            # Registering installs rt-signal's handler; off the main thread that waits for
            # the main thread, which may need this lock meanwhile (a Child dropped there):
            # register with the lock released, marked as starting.
            self._starting = True
        listener = self._listener
        wake_r = wake_w = -1
        try:
            if listener is None:
                listener = self._listener = register_raw(signal.SIGCHLD, lifelong=True)
            wake_r, wake_w = os.pipe()
            os.set_blocking(wake_r, False)
            os.set_blocking(wake_w, False)
            thread = threading.Thread(  # lock released: see _OrphanReaper.adopt
                target=self._run,
                args=(listener, wake_r, wake_w),
                name="rt-process-sigchld",
                daemon=True,
            )
        except BaseException:
            # Registering failed, or making the thread did (out of fds or memory): this child
            # is not watched (the caller gets the error), nothing is starting any more, and
            # the next child tries again.
            _close_fds(wake_r, wake_w)
            with self._lock:
                self._children.pop(pid, None)
                self._starting = False
                self._idle.notify_all()
            raise
        with self._lock:
            self._starting = False
            self._wake_w = wake_w
            self._threads += 1
            self._thread = thread
        thread.start()

    def _done(self, entry: _Watched) -> None:
        # Lock held: close the pipe's write end, which wakes the owner's reactor once the
        # exit is collected (or which nobody reads any more: the Child was dropped).
        if entry.wfd >= 0:
            os.close(entry.wfd)
            entry.wfd = -1

    def _sweep(self) -> bool:
        """Collect every watched child that has exited; whether any is left."""
        with self._lock:
            for pid, entry in list(self._children.items()):
                if entry.proc.poll() is not None:  # waitpid(pid, WNOHANG)
                    del self._children[pid]
                    self._done(entry)
            return bool(self._children)

    def _run(self, listener: RawListener, wake_r: int, wake_w: int) -> None:
        _block_signals()
        poller = select.poll()
        poller.register(listener.rfd, select.POLLIN)
        poller.register(wake_r, select.POLLIN)
        delay = _POLL_FIRST_MS  # the next wait while rt's handler is replaced (backoff)
        try:
            while True:
                # Drain first, then check: a SIGCHLD landing after the drain wakes us again.
                listener.drain()
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
                # Looked at before the sweep, so that the sweep that finds the exit SIGCHLD did
                # not announce (and ends the thread) is not the one that stays silent.
                ours = handler_in_place(signal.SIGCHLD)
                if not ours:
                    _warn_replaced()
                if not self._sweep():
                    with self._lock:
                        if not self._children:
                            # Stop in the same locked section that saw the table empty: a
                            # child added after this starts a new thread.
                            self._thread = None
                            self._wake_w = -1
                            break
                if ours:
                    # SIGCHLD wakes us; the timeout only looks again whether it still will.
                    timeout, delay = _CHECK_MS, _POLL_FIRST_MS
                else:
                    timeout, delay = delay, min(delay * 2, _POLL_MAX_MS)
                if poller.poll(timeout):
                    delay = _POLL_FIRST_MS  # a new child (or a chained SIGCHLD): look soon
        finally:
            os.close(wake_r)
            os.close(wake_w)
            with self._lock:
                if self._thread is threading.current_thread():  # pragma: no cover - it raised
                    self._thread = None
                    self._wake_w = -1
                self._threads -= 1
                self._idle.notify_all()


# While rt's SIGCHLD handler is in place the watcher sleeps until it hears of a SIGCHLD, but
# looks every _CHECK_MS whether the handler is still rt's. Once it is not (a program's own
# signal.signal(SIGCHLD, ...) replaced it), SIGCHLD tells it nothing any more: it then sweeps
# on a timer, _POLL_FIRST_MS after a wake-up, doubling to _POLL_MAX_MS.
_CHECK_MS: Final = 1000
_POLL_FIRST_MS: Final = 1
_POLL_MAX_MS: Final = 100
_warned_replaced = False  # the warning is given once per process


def _warn_replaced() -> None:
    global _warned_replaced
    if _warned_replaced:
        return
    _warned_replaced = True
    logging.getLogger("rt").warning(
        "rt.process: the SIGCHLD handler rt installed to see its children exit (this system "
        "has no pidfds) was replaced by %r; unless that handler calls rt's, SIGCHLD no longer "
        "tells rt of an exit, so rt now also checks its children's exits on a timer (every %d "
        "ms at most). To have exits "
        "seen at once, listen with rt.signal.unix.signal(SignalKind.child()) instead of "
        "signal.signal(SIGCHLD, ...), or put back the handler signal.signal returned",
        signal.getsignal(signal.SIGCHLD),
        _POLL_MAX_MS,
    )


WATCHER: Final = _SigchldWatcher()


class _Reapers:
    """The orphan reaper and the SIGCHLD watcher, as one for callers and tests."""

    def adopt(self, proc: Process, *, watched: bool) -> None:
        """Take over reaping ``proc``, which has not been waited for; ``watched`` if the
        SIGCHLD watcher watches it (it spawned without a pidfd)."""
        if watched:
            WATCHER.adopt(proc)
        else:
            _ORPHANS.adopt(proc)

    def pending(self) -> int:
        """Number of dropped children not reaped yet."""
        return _ORPHANS.pending() + WATCHER.pending()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until both are idle (no thread left); for tests and shutdown."""
        return _ORPHANS.wait_idle(timeout) and WATCHER.wait_idle(timeout)


REAPER: Final = _Reapers()
