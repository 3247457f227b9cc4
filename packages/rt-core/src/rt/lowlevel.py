"""rt's low-level interface: the trap module, fd readiness, and the driver plug-in interface.

Library authors build on these; applications rarely need them.

**Traps.** Every suspension in rt goes through :func:`wait_task_rescheduled`: register the
running task (:func:`current_task`) where a waker will find it, then park with an abort
function that undoes the registration (see :class:`Abort`). A waker calls :func:`reschedule`
(from any thread). :func:`checkpoint` yields once and raises :class:`rt.Cancelled` in a
cancelled task; :func:`consume_budget` (or, allocation-free, :func:`budget_spent`) counts a
completed operation against the cooperative budget.

**Readiness.** :func:`wait_readable` / :func:`wait_writable` park until an fd is ready (level-
triggered: they return at once when it already is). Try the operation first and wait only on
``BlockingIOError``. Call :func:`notify_closing` before closing an fd another task may be
waiting on: the waiter gets ``OSError(EBADF)`` instead of hanging. I/O libraries (rt-net) hold
the runtime's :class:`IoDriver` (:func:`current_io`) and give each socket a registration of its
own (``reg = io.register(sock)``, as Tokio's I/O resources hold theirs): ``await
reg.wait(READ)`` skips the fd table lookup that ``await io.wait(sock, READ)`` does each time.
They close through :meth:`IoDriver.close`, which is safe from any thread. A wait from a task of
another runtime raises ``RuntimeError`` instead of waiting for ever (only the reactor that made
the registration watches the fd); ``io.register(obj, what=..., fix=...)`` words that error for
the user's object (rt-process names ``Child.wait()``, rt.io the standard stream).

**Another event loop as a task.** A task that runs an event loop of another kind (rt-asyncio's
drainer) may wait in the runtime's drivers itself when nothing else is runnable, through the
function :func:`idle_parker` returns (current-thread flavor): the scheduler's idle wait,
without a park, a wake-up and a scheduler turn of the task per event.

**Drivers.** A distribution adds a layer to every runtime's driver stack by exposing a
:class:`DriverLayer` under an entry point of the ``rt.drivers`` group (see ``_driver``'s
documentation, reproduced on :class:`Driver`); :func:`current_driver` returns the built layer.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._core._base import Scheduler
from ._core._current import (
    COOP_BUDGET,
    STATE,
    budget_spent,
    checkpoint_if_cancelled,
    current_task,
)
from ._core._driver import ENTRY_POINT_GROUP, Driver, DriverContext, DriverLayer
from ._core._exceptions import check_bool
from ._core._options import check_runtime_options as _check_runtime_options
from ._core._reactor import READ, WRITE, IoDriver
from ._core._runtime import current_driver
from ._core._traps import (
    Abort,
    checkpoint,
    consume_budget,
    reschedule,
    wait_task_rescheduled,
)
from ._exports import public

if TYPE_CHECKING:
    from ._core._runtime import Handle

__all__ = [
    "COOP_BUDGET",
    "ENTRY_POINT_GROUP",
    "Abort",
    "Driver",
    "DriverContext",
    "DriverLayer",
    "IoDriver",
    "READ",
    "WRITE",
    "Scheduler",
    "budget_spent",
    "check_bool",
    "check_runtime_options",
    "checkpoint",
    "checkpoint_if_cancelled",
    "consume_budget",
    "current_driver",
    "current_io",
    "current_task",
    "diagnostics_request",
    "idle_parker",
    "notify_closing",
    "outside_task_context",
    "reschedule",
    "wait_readable",
    "wait_task_rescheduled",
    "wait_writable",
]


def check_runtime_options(**options: Any) -> None:
    """Check keyword options for :class:`rt.Runtime` without building a runtime.

    The same checks and the same errors as ``rt.Runtime(**options)``, and nothing built: no
    thread, no fd, no driver. ``flavor=None`` is resolved as a runtime built now would resolve
    it (``RT_FLAVOR``, then the build's default). ``@rt.main`` and ``@rt.test`` call it when
    they decorate, so that a bad option fails at import; a library that builds runtimes later
    from options it takes now can do the same.

    Raises:
        TypeError: an option ``Runtime`` does not take, or a flag that is not a bool.
        ValueError: an option is out of range.
        ImportError: a driver was required (``enable_time=True``) but is not installed.
    """
    _check_runtime_options(options)


def current_io(what: str = "this call") -> IoDriver:
    """Return the current runtime's I/O driver (the reactor).

    ``what`` names the caller's API in the error raised outside a runtime
    (``current_io("TcpStream.connect()")``).

    Its ``await wait(fd, READ | WRITE)``, ``notify_closing(fd)`` and ``close(fileobj)`` are
    what :func:`wait_readable`, :func:`wait_writable` and :func:`notify_closing` call.
    ``close(fileobj)`` notifies and closes, and may be called from any thread.

    Raises:
        RuntimeError: outside a runtime, or the runtime was built with ``enable_io=False``.
    """
    driver = current_driver("io", what)
    assert isinstance(driver, IoDriver)
    return driver


_io = current_io


async def wait_readable(fd: int | Any) -> None:
    """Wait until ``fd`` (an int or an object with ``fileno()``) is readable.

    Raises:
        OSError: ``EBADF`` if :func:`notify_closing` is called on the fd meanwhile.
        RuntimeError: another task is already waiting to read this fd, or outside a runtime.

    Cancel safety: cancel-safe; waiting consumes nothing.
    """
    await _io().wait(fd, READ)


async def wait_writable(fd: int | Any) -> None:
    """Wait until ``fd`` is writable. See :func:`wait_readable`.

    Cancel safety: cancel-safe; waiting consumes nothing.
    """
    await _io().wait(fd, WRITE)


def notify_closing(fd: int | Any) -> None:
    """Wake every task waiting on ``fd`` with ``OSError(EBADF)`` and stop watching it.

    Call it just before closing an fd that tasks may be waiting on.
    """
    _io().notify_closing(fd)


def diagnostics_request(target: str, cmd: str, timeout: float = 5.0) -> dict[str, Any]:
    """Ask a running program's diagnostics endpoint for ``cmd``'s answer (one JSON object).

    The endpoint is opened by ``Runtime(console=...)`` or ``RT_CONSOLE``; ``python -m rt
    ps|pstree|console`` and rt-console are built on this call. Commands: ``"hello"``,
    ``"dump"`` (``TaskDump.to_dict()``), ``"metrics"`` and ``"stats"`` (per-task polls and busy
    time).

    Args:
        target: the program's process id (for ``RT_CONSOLE=1``) or the socket path.
        cmd: the command.
        timeout: seconds to wait for the answer.

    Returns:
        The answer, ``{"ok": True, ...}``.

    Raises:
        ConnectionError: nothing listens there (the message says how to enable the endpoint),
            what listens there is not an rt diagnostics endpoint, or it did not accept or
            answer within ``timeout``, or closed the connection before its answer ended.
        RuntimeError: the endpoint refused the command.
    """
    from ._core._console import request

    return request(target, cmd, timeout)


def idle_parker() -> Callable[[], bool | None] | None:
    """Return the running runtime's *idle park* for a task that is itself an event loop.

    For a task that runs an event loop of another kind (rt-asyncio's drainer): calling the
    returned function from that task, when no other task is runnable and no callback is
    posted, blocks in the runtime's driver stack until an fd is ready, a timer is due or
    another thread wakes the runtime, and dispatches what became ready (tasks rescheduled,
    readiness callbacks called), without parking the calling task: the wait the scheduler
    makes when it is idle, minus the task's park, its wake-up and the scheduler's turn between
    them (one of each per event otherwise). Wake-ups and posts from other threads end it as
    they end the scheduler's own park; a wake-up meant for the calling task itself must come
    through the driver (``current_io().unpark()``), since the task is not parked.

    The function returns ``None`` at once, without waiting, when another task is runnable, a
    callback is posted, or the runtime is shutting down or keeps diagnostics (the slow-poll
    detector would count the wait as the task's own time): the caller then parks as usual.
    After a wait it returns whether a task or a posted callback became runnable meanwhile:
    the caller must then yield to them soon (``await checkpoint()``). Call it only from the
    task that asked for it, on the runtime's thread.

    Returns:
        The function, or ``None`` on a runtime that cannot park from a task (the
        multi-thread flavor, whose workers park on their own).

    Raises:
        RuntimeError: outside a task running on rt.
    """
    st = STATE.get(None)
    if st is None or st._current is None:
        raise RuntimeError("idle_parker() must be called from a task running on an rt runtime")
    sched: Scheduler = st._sched
    if sched.flavor != "current_thread":
        return None
    park: Callable[[], bool | None] = sched.park_idle
    return park


class _OutsideTask:
    """The runtime state seen by code running outside rt's tasks (no current task)."""

    __slots__ = ("_current", "_sched")

    def __init__(self, sched: Any) -> None:
        self._current: Any = None
        self._sched = sched

    def spawn_here(self, coro: object, name: str | None) -> Any:
        return self._sched.spawn(coro, name)


def outside_task_context(
    handle: Handle, ctx: contextvars.Context | None = None
) -> contextvars.Context:
    """Prepare a context for code that runs on ``handle``'s runtime outside rt's tasks.

    Another event loop's callbacks running on an rt runtime (rt-asyncio's) run in such a
    context: there, as in ``spawn_blocking`` threads, ``rt.spawn``, ``rt.spawn_blocking`` and
    ``rt.Handle.current()`` reach the runtime, while awaiting an rt primitive raises the
    "must be called from a task running on an rt runtime" ``RuntimeError`` instead of parking
    whichever rt task happens to run the callback.

    Args:
        handle: The runtime to make current.
        ctx: A context to prepare in place (it must not be entered); by default a copy of the
            current context is made.

    Returns:
        The prepared context.

    Raises:
        RuntimeError: ``ctx`` is entered (running) right now.
    """
    if ctx is None:
        ctx = contextvars.copy_context()
    ctx.run(STATE.set, _OutsideTask(handle._sched))
    return ctx


public(globals())
