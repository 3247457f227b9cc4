"""The one wait-queue engine under every rt.sync primitive.

A primitive holds a ``threading.RLock`` and one or more :class:`WaitQueue` (re-entrant: a
garbage collection inside a locked section may run a finalizer that touches the same
primitive on the same thread). To wait, a caller
builds a :class:`Waiter` (for the running task, or for a plain thread), pushes it under the
lock, releases the lock and parks (:func:`park` for tasks, :meth:`Waiter.block` for threads).
A waker pops it under the lock, fills in ``value`` if the primitive hands something over, and
calls :meth:`Waiter.wake` (after releasing the lock, or under it: it never blocks).

The invariant that makes every primitive cancel-safe: a waiter is in its queue exactly until
somebody takes it out. The abort function of :func:`park` takes it out under the same lock; if it
is no longer there, a waker got there first and whatever it handed over (a lock, permits, a
value) belongs to the task, which resumes normally and sees its cancellation at the next
checkpoint. So a cancelled wait either had no effect, or completed.

**Look again after queueing.** The lock is re-entrant, so code run on the waiting thread
*inside* its locked section can take the waking side: a finalizer that the collector runs while
the waiter is being allocated (or, from Python 3.12 on, where the interpreter checks for
pending work: a call's entry or end, a backward jump), or a signal handler (those same points,
on the main thread). Such a ``set()`` / ``release()`` / ``send()`` finds the queue without our
waiter, wakes nobody, and the wait would last for ever. So every wait, once its waiter is in
the queue and still under the lock, checks its condition again:
``if <ready> and queue.remove(w):`` the condition came true before the waiter was queued, and
the wait takes its fast-path outcome instead of parking. (A waker that ran after the push has
taken the waiter out, handing it whatever it hands over: ``remove`` fails and the wait parks
and resumes as usual. That holds also when the waker runs at ``remove``'s own entry, so
``remove`` comes last in the test and its result decides.) The check costs nothing on the fast
path, which never queues.

Fast paths (the operation completes without waiting) spend the cooperative budget *first*:
``if budget_spent(): await checkpoint()``, then take the value, lock or permits. The yield is a
checkpoint, so a cancellation landing on it must find nothing taken.

Queues are ``OrderedDict``s used as ordered sets: O(1) push, pop-first and removal of a
cancelled waiter from the middle.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Awaitable, Callable, Coroutine
from types import CoroutineType
from typing import Any, Final, Protocol, TypeVar

from rt.lowlevel import Abort, checkpoint, current_task, reschedule, wait_task_rescheduled

from ._plain import WaitQueue

# Hot paths take their lock as ``lock.acquire()`` / ``try`` / ``finally: lock.release()``
# rather than ``with lock:``: half the instructions per lock on CPython 3.11-3.13
# (docs/design-notes.md, "Locks without with"); cold paths keep ``with``.

_O = TypeVar("_O")


class Waiter:
    """One party waiting: a task, or a plain thread blocked on a lock."""

    __slots__ = ("_block", "_lock", "_queue", "n", "task", "value", "woken")

    # Set by park() (a task's wait), read by its abort function.
    _lock: threading.RLock
    _queue: WaitQueue

    def __init__(self, task: Any, n: int = 1) -> None:
        self.task = task
        self.n = n
        self.value: Any = None
        self.woken = False
        self._block: threading.Lock | None = None

    @classmethod
    def for_task(cls, n: int = 1) -> Waiter:
        """A waiter for the running task (raises RuntimeError outside a task)."""
        return cls(current_task(), n)

    @classmethod
    def for_thread(cls, n: int = 1) -> Waiter:
        w = cls(None, n)
        w._block = threading.Lock()
        w._block.acquire()
        return w

    def wake(self) -> None:
        self.woken = True
        if self.task is not None:
            reschedule(self.task)
        else:
            assert self._block is not None
            self._block.release()

    def block(self) -> None:
        """Block the calling thread until :meth:`wake`."""
        assert self._block is not None
        self._block.acquire()

    def __call__(self) -> Abort:
        """The abort function of :func:`park`: take this waiter out of its queue if still in.

        The waiter is its own abort function: no bound method made (and held) per wait.
        """
        self._lock.acquire()
        try:
            if self._queue.remove(self):
                return Abort.SUCCEEDED
        finally:
            self._lock.release()
        return Abort.FAILED


class CallbackWaiter(Waiter):
    """A waiter that calls a function instead of waking a task: how ``rt.select`` waits on a
    branch it polls in place (several branches, one task). It is never handed a value: the
    woken side polls the primitive again, so a branch that loses the race has taken nothing."""

    __slots__ = ("_cb",)

    def __init__(self, cb: Callable[[], object]) -> None:
        super().__init__(None, POLL)
        self._cb = cb

    def wake(self) -> None:
        self.woken = True
        self._cb()


# Waiter.n of a CallbackWaiter: primitives that hand values to woken waiters must not do it
# for this kind (the value would be lost if the branch loses the select).
POLL: Final = -2


class SelectBranch(Protocol):
    """What ``__rt_select__`` returns: a wait that ``rt.select`` can poll in place.

    ``poll()`` completes the operation now if it can (``(True, value)``, or raises its error)
    and otherwise returns ``(False, None)`` having taken nothing. ``arm(wake)`` registers
    ``wake`` to be called (from any thread) once ``poll`` may succeed and returns True, or
    returns False without registering when it may succeed already. ``disarm()`` withdraws the
    registration (a no-op when there is none).
    """

    def poll(self) -> tuple[bool, Any]: ...

    def arm(self, wake: Callable[[], object]) -> bool: ...

    def disarm(self) -> None: ...


class QueueBranch:
    """A :class:`SelectBranch` for a primitive whose waiters sit in one :class:`WaitQueue`
    and are woken without being handed anything (broadcast, oneshot, watch).

    ``ready()`` and ``poll()`` are the primitive's own checks, called with its lock held.
    """

    __slots__ = ("_lock", "_poll", "_queue", "_ready", "_w")

    def __init__(
        self,
        lock: threading.RLock,
        queue: WaitQueue,
        ready: Callable[[], bool],
        poll: Callable[[], tuple[bool, Any]],
    ) -> None:
        self._lock = lock
        self._queue = queue
        self._ready = ready
        self._poll = poll
        self._w: CallbackWaiter | None = None

    def poll(self) -> tuple[bool, Any]:
        self._lock.acquire()
        try:
            return self._poll()
        finally:
            self._lock.release()

    def arm(self, wake: Callable[[], object]) -> bool:
        self._lock.acquire()
        try:
            if self._ready():
                return False
            w = CallbackWaiter(wake)
            self._queue.push(w)
            if self._ready() and self._queue.remove(w):  # look again (module docstring)
                return False
            self._w = w
        finally:
            self._lock.release()
        return True

    def disarm(self) -> None:
        w = self._w
        if w is not None:
            self._w = None
            self._lock.acquire()
            try:
                self._queue.remove(w)
            finally:
                self._lock.release()


def park(lock: threading.RLock, queue: WaitQueue, waiter: Waiter) -> Awaitable[None]:
    """Park the running task until ``waiter`` is woken (``waiter`` is already in ``queue``).

    A plain function returning the trap itself (no coroutine frame in between): every
    contended channel operation and lock goes through here.

    Cancel safety: see the module docstring: a cancelled park either left no trace, or the
    waiter was woken first and the task resumes normally.
    """

    # The waiter itself is the abort function (``Waiter.__call__``): no closure or bound
    # method per contended wait.
    waiter._lock = lock
    waiter._queue = queue
    return wait_task_rescheduled(waiter, waiter.task)


async def wait_until(lock: threading.RLock, queue: WaitQueue, done: Callable[[], bool]) -> None:
    """Wait until ``done()`` (looked at under ``lock``) holds; whoever makes it hold drains
    ``queue`` and wakes it. Every channel's ``Sender.closed()`` is this.

    Cancel safety: cancel-safe: waiting consumes nothing.
    """
    with lock:
        if done():
            w = None
        else:
            w = Waiter.for_task()
            queue.push(w)
            if done() and queue.remove(w):  # look again (module docstring)
                w = None
    if w is None:
        await checkpoint()
    else:
        await park(lock, queue, w)


def hook_compiled_select(
    probe: Coroutine[Any, Any, Any], owner: type[_O], branch: Callable[[_O], object]
) -> None:
    """In the compiled build, let ``rt.select`` poll a compiled method's coroutine in place.

    ``rt.select`` finds the object a Python coroutine was called on in its frame and asks its
    ``__rt_select__``; a coroutine compiled by mypyc has no frame, so ``rt.select`` looks for
    ``__rt_select__`` on its class instead. ``probe`` is one such coroutine (closed here), made
    by the method of ``owner`` that ``branch(obj)`` stands in for. The collector's view of the
    coroutine tells what it was called on: before it first runs it refers to its ``self`` and
    to nothing else (once started it refers to its locals too, and then it runs as an ordinary
    branch). A no-op in pure Python, whose coroutines ``rt.select`` reads directly.
    """
    kind = type(probe)
    probe.close()
    if kind is CoroutineType:
        return

    def select_hook(coro: object, awaitable: object) -> object:
        refs = gc.get_referents(coro)
        if len(refs) == 1 and isinstance(refs[0], owner):
            return branch(refs[0])
        return None

    setattr(kind, "__rt_select__", select_hook)  # noqa: B010 - a native class
