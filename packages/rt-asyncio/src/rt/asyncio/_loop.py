"""``RtEventLoop``: an asyncio event loop whose engine is rt's runtime.

What is rt's and what is the standard library's:

* **The ready queue** (``self._ready``, the deque asyncio's own machinery appends to) is drained
  by one rt task, the *drainer*. It runs every handle queued when a batch starts, batch after
  batch until it has run 128 handles (rt's cooperative budget), then yields to rt's scheduler
  (so rt tasks, I/O and timers get their turn: rt's ``event_interval`` decides how often the
  reactor is polled), and parks with
  :func:`rt.lowlevel.wait_task_rescheduled` when the queue is empty. ``call_soon``,
  ``call_soon_threadsafe``, a timer and a ready fd wake it with :func:`rt.lowlevel.reschedule`
  (rt's eventfd unparks the runtime when the wake comes from another thread). The wake-up
  protocol is lock-free: the drainer puts one token in ``_tokens`` before it parks, and
  whoever pops the token (a waker, or the drainer itself when it finds work after all) owns
  the one wake-up, so the task is rescheduled exactly once. An *owned* loop's drainer, when
  nothing else on its runtime is runnable, does not park: it waits in the runtime's drivers
  itself (:func:`rt.lowlevel.idle_parker`, the scheduler's idle wait), as asyncio's loop
  selects, so a readiness only queues its handle, with no wake-up, task step and scheduler
  turn per event; meanwhile (``_polling``) a wake-up from another thread, and the loop's
  wheel timer when it fires, unpark the reactor instead of rescheduling the drainer.
* **Timers** (``call_later`` / ``call_at``) wait in a heap of the loop's own, ordered by
  deadline and then by scheduling order, as asyncio's loop keeps them; rt-time's timer wheel
  (the one the runtime's ``rt.time.sleep`` uses) holds one timer per loop, for the heap's
  earliest deadline. When it fires, the drainer moves every due handle to the ready queue and
  points the wheel's timer at the next deadline. Arming a handle is a heap push (plus a wheel
  re-arm only when it is the new earliest): a third of what a wheel entry per handle cost, and
  what a burst of new tasks that each sleep pays per task. A cancelled handle stays in the heap
  until it surfaces, or until cancelled ones are the majority (asyncio's rule); when every
  handle is cancelled the wheel's timer is disarmed too. ``loop.time()`` is the wheel's clock
  (``time.monotonic()`` unless rt's time is paused).
* **Readiness** (``add_reader`` / ``add_writer`` and everything built on them: transports,
  ``sock_*``, pipes, the signal self-pipe) comes from rt's reactor, as a selector's events
  come to asyncio's loop: each watched fd direction is armed with
  :meth:`rt.lowlevel.IoDriver.on_ready`, a callback the reactor calls when the fd is ready
  (no rt task per fd). The callback puts the direction's handle in the ready queue (on the
  loop's own thread; another worker of a multi-thread runtime hands it over through
  ``_fired``) and wakes the drainer. On an owned loop the callback stays armed (it returns
  ``True``) and ignores a readiness reported again before the drainer batch that runs the
  handle is over; on an attached loop it is one-shot and the drainer arms the direction
  again once the batch that ran the handle is over. Either way an fd whose handle has not run
  yet is not queued twice. The handle runs in its batch like any other, in asyncio's order;
  except that while an owned loop's drainer waits in the drivers (the ready queue was empty
  when it began to), a socket transport's own read or write callback runs in the reactor's
  dispatch, where the drainer would have run it first thing after the poll (same order).
* **The executor**: ``run_in_executor(None, ...)`` (and so ``getaddrinfo``) runs on rt's
  blocking pool unless ``set_default_executor`` installed another executor.
* **Reused from the standard library**: transports, protocols, SSL, streams, servers,
  subprocess and signal plumbing, via ``asyncio``'s Unix selector loop class whose selector is
  replaced by a read-only view of the watches above (transports' ``repr`` reads it). The
  socket transport is asyncio's with a shorter path per request (``_transport``): it reads
  into a buffer the loop keeps, not into a fresh 256 KiB block per read, reads for a plain
  ``Protocol`` without asyncio's dispatch call, and returns from a ``write`` the kernel took
  whole without asyncio's slicing.

A loop is either *owned* (``new_event_loop()``: a current-thread rt runtime of its own, driven
by ``run_forever``/``run_until_complete`` like any asyncio loop) or *attached* to a runtime
that rt code already drives (``rt.asyncio.aio_as_rt`` and friends): then its tasks are pinned
to one thread with a ``LocalSet`` and it runs until the runtime shuts down.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import errno
import heapq
import inspect
import math
import mmap
import operator
import selectors
import signal
import socket
import sys
import threading
import time
import warnings
import weakref
from asyncio import base_events, coroutines, events, format_helpers, futures
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol, TypeVar, final

import rt
from rt.lowlevel import (
    COOP_BUDGET,
    READ,
    WRITE,
    Abort,
    checkpoint,
    current_driver,
    current_io,
    current_task,
    idle_parker,
    outside_task_context,
    reschedule,
    wait_task_rescheduled,
)
from rt.time._clock import duration_ns

from ._transport import PROTOCOL_ERROR as _PROTOCOL_ERROR
from ._transport import READ_ERROR as _READ_ERROR
from ._transport import RtSocketTransport, new_recv_buffer

# The asyncio loop of each runtime: the owned loop of new_event_loop(), or one attached by
# aio_as_rt. Keyed by rt.Handle (equal for the same runtime).
# Weak values: an idle attached loop that nothing refers to any more is simply dropped.
_LOOPS: weakref.WeakValueDictionary[rt.Handle, RtEventLoop] = weakref.WeakValueDictionary()
# Re-entrant: a loop collected while the lock is held (a garbage collection can run anywhere)
# closes itself without touching the registry, but other cleanup may still come back here.
_LOOPS_LOCK = threading.RLock()


# Set in the context of every asyncio task this loop creates: its children inherit a context
# that is already prepared (see RtEventLoop.create_task).
_IN_LOOP: contextvars.ContextVar[RtEventLoop] = contextvars.ContextVar("rt.asyncio.loop")


_Task = asyncio.Task
_get_ident = threading.get_ident
_copy_context = contextvars.copy_context
_heappush = heapq.heappush
_heappop = heapq.heappop
_INF = math.inf

#: The token an attached loop's host leaves in ``_tokens`` as it goes for want of work: the
#: waker that pops it starts a host again (``RtEventLoop._start_host``). The drainer's own token,
#: put there as it parks, is ``None``.
_REVIVE: Final = object()

_ATTACHED_RUN: Final = (
    "this event loop is attached to an rt runtime and runs as long as it does; "
    "await asyncio code from rt tasks with rt.asyncio.aio_as_rt(...)"
)
_IN_RT_TASK: Final = (
    "an rt.asyncio event loop cannot be run from inside a running rt task (run_until_complete, "
    "asyncio.Runner and asyncio.run would block the thread that runs the task's runtime): "
    "await the asyncio code from the rt task instead, as `await rt.asyncio.aio_as_rt(coro)`"
)
_MIN_CANCELLED = 100  # asyncio's threshold for rebuilding a heap of mostly cancelled timers
_true_div = operator.truediv  # int / int, correctly rounded (see rt.time._clock.to_seconds)
_NS = 1_000_000_000
_FAR_S = 1e9  # call_later delays at or beyond this (~32 years) take the checked path
_FAR_WHEN = 1e15  # loop time (~32 million years) past which the wheel is armed here

# Ready handles the drainer runs in one rt task step before it yields to rt's scheduler (rt's
# cooperative budget): batches queued while it runs (one per round trip of a queue ping-pong)
# are run back to back up to this count, so rt's task switch is paid once per budget, not once
# per batch. rt polls I/O and timers between task steps as before.
_BUDGET = COOP_BUDGET

# _CALL_NOTE: the drainer runs a handle as ``handle._context.run(callback, *args)`` (asyncio's
# Handle._run) would, but writes the arguments out when there are none (a transport's read, a
# task's step) or one (a future's done callback): a star-call builds a list and a tuple per
# handle, half the cost of running a handle that takes no arguments.


# _BATCH_NOTE: a batch is the handles queued when it starts, as in asyncio's iteration; the
# drainer runs them until it has run the one that was last when the batch started (no count to
# keep per handle). A handle object queued twice in one batch (asyncio queues a signal's handle
# each time the signal arrives) ends the batch at its first run: the rest, the second one
# included, run first thing in the next batch, in the same order.


# The two slots of asyncio's Handle that only a repr, a debug-mode cancel() or an error report
# reads: a _Handle leaves them unset until then (see _Handle).
_REPR_SLOT: Any = events.Handle.__dict__["_repr"]
_TRACEBACK_SLOT: Any = events.Handle.__dict__["_source_traceback"]


class _Handle(events.Handle):
    """The handle ``call_soon`` makes outside debug mode: asyncio's, built without its checks.

    ``events.Handle.__init__`` asks the loop for its debug flag on every call; outside debug
    mode the answer is known, so ``call_soon`` makes the object with C's constructor (no
    ``__init__`` frame: a sixth of the cost of a ``call_soon`` on 3.11) and fills its slots in
    place. ``_repr`` and ``_source_traceback`` read as ``None`` until they are set (properties
    over asyncio's slots): two stores less per ``call_soon``.
    """

    __slots__ = ()

    __init__ = object.__init__  # _Handle(): allocation only, the slots are filled by call_soon

    @property
    def _repr(self) -> str | None:
        try:
            return _REPR_SLOT.__get__(self)  # type: ignore[no-any-return]
        except AttributeError:
            return None

    @_repr.setter
    def _repr(self, value: str | None) -> None:
        _REPR_SLOT.__set__(self, value)

    @property
    def _source_traceback(self) -> Any:
        try:
            return _TRACEBACK_SLOT.__get__(self)
        except AttributeError:
            return None

    @_source_traceback.setter
    def _source_traceback(self, value: Any) -> None:
        _TRACEBACK_SLOT.__set__(self, value)


# Its repr reads as asyncio's (the class name is part of Handle.__repr__).
_Handle.__name__ = _Handle.__qualname__ = "Handle"


def unregister(loop: RtEventLoop) -> None:
    """Forget ``loop`` as its runtime's asyncio loop."""
    with _LOOPS_LOCK:
        if _LOOPS.get(loop._rt_handle) is loop:
            del _LOOPS[loop._rt_handle]


class _Timers(Protocol):
    """What the loop uses of rt-time's driver (``rt.lowlevel.current_driver("time")``)."""

    @property
    def clock(self) -> Any: ...

    def arm(
        self, deadline: int, task: Any = None, callback: Callable[[], object] | None = None
    ) -> Any: ...

    def cancel(self, entry: Any) -> bool: ...


def _fileno(fd: Any) -> int:
    if isinstance(fd, int):
        n = fd
    else:
        try:
            n = int(fd.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fd!r}") from None
    if n < 0:
        raise ValueError(f"Invalid file descriptor: {n}")
    return n


_BaseFuture: Any = asyncio.Future


class _ExecutorFuture(_BaseFuture):  # type: ignore[misc]
    """The future of ``run_in_executor`` on an executor given by the user.

    A future refuses ``StopIteration`` (it would end the awaiting coroutine's frame instead of
    raising there): asyncio's ``wrap_future`` reports a ``TypeError`` from its callback and
    leaves the future pending for ever. Here it becomes a ``RuntimeError`` chained from the
    ``StopIteration``, as with rt's own default executor.
    """

    __slots__ = ("_func",)

    _func: Any

    def set_exception(self, exception: Any) -> None:
        if isinstance(exception, StopIteration):
            error = RuntimeError(f"{self._func!r} raised StopIteration in the executor")
            error.__cause__ = exception
            exception = error
        super().set_exception(exception)


# Its repr reads as asyncio's (the class name is part of Future.__repr__).
_ExecutorFuture.__name__ = _ExecutorFuture.__qualname__ = "Future"


class _RtTimerHandle(events.TimerHandle):
    """A ``TimerHandle`` in this loop's timer heap (see the module notes)."""

    __slots__ = ()

    _loop: RtEventLoop
    _scheduled: bool


# Its repr reads as asyncio's (the class name is part of TimerHandle.__repr__).
_RtTimerHandle.__name__ = _RtTimerHandle.__qualname__ = "TimerHandle"
_new_timer = _RtTimerHandle.__new__


# The read callback of rt's socket transport: a reader running it is read inline (_FdWatch).
_TRANSPORT_READ: Any = RtSocketTransport._read_ready


# The state of one direction of an _FdWatch, as far as rt's reactor is concerned.
_IDLE = 0  # no callback armed in the reactor
_ARMED = 1  # the reactor holds the watch's callback for this direction
_FIRED = 2  # the reactor called it: the event waits in the loop's _fired list
_TAKEN = 3  # the drainer queued the handle; the direction is armed again after the batch


class _FdWatch:
    """The callbacks watching one fd, and where each direction stands with rt's reactor.

    A direction is armed with :meth:`rt.lowlevel.IoDriver.on_ready`, one readiness at a time:
    the reactor calls :meth:`read_ready` or :meth:`write_ready` on the thread that
    polled. On the loop's own thread (between task steps, never inside a batch) that puts the
    direction's handle in the ready queue; on another worker of a multi-thread runtime it
    marks the direction and hands the watch to the loop's ``_fired`` list, which the drainer
    turns into the handle. Either way the drainer arms the direction again once the batch
    that ran the handle is over (so a level-triggered fd whose handle has not run yet is not
    queued twice).

    On an owned loop, while it runs (the loop's ``_kept``), the callback returns ``True``
    instead, which keeps it armed in the reactor: no re-arming call per event. It records
    the count of the drainer's finished batches when it queued the handle (``rbatch`` /
    ``wbatch``, against the loop's ``_batch``) and ignores the fd until the count moves on,
    once the batch that ran the handle is over. Its current-thread runtime is then driven
    by the loop's thread alone (``run_forever``'s ``block_on``), which polls only between
    the drainer's steps, so the callback needs no look at which thread called it and no
    other thread sees the fd ready meanwhile; if another thread polls that runtime while the
    loop is not running, the callback goes back to one-shot for that event.
    """

    __slots__ = (
        "fd",
        "fileobj",
        "loop",
        "rbatch",
        "reader",
        "rinline",
        "rstate",
        "wbatch",
        "winline",
        "writer",
        "wstate",
    )

    def __init__(self, loop: RtEventLoop, fd: int, fileobj: Any) -> None:
        self.fd = fd
        # What add_reader / add_writer was given: a file object closed while watched (its
        # fileno() now -1) is still found by identity, as a selector finds it.
        self.fileobj = fileobj
        self.loop = loop
        self.reader: events.Handle | None = None
        self.writer: events.Handle | None = None
        # The direction's callback is a socket transport's, run where it fires (read_ready):
        # for reading the transport itself (its _read_ready is the reader), else None.
        self.rinline: RtSocketTransport | None = None
        self.winline = False
        self.rstate = _IDLE
        self.wstate = _IDLE
        # The loop's ``_batch`` when a kept callback last queued the handle.
        self.rbatch = self.wbatch = -1

    @property
    def events(self) -> int:
        return (selectors.EVENT_READ if self.reader is not None else 0) | (
            selectors.EVENT_WRITE if self.writer is not None else 0
        )

    def read_ready(self) -> bool:
        """The reactor's read callback: the fd is readable (on the thread that polled).

        Armed as a bound method (``on_ready(fd, READ, watch.read_ready)``), not as the watch
        itself with a ``__call__``: the reactor's call of a bound method is specialized by
        the interpreter (a frame pushed in place), a callable instance's goes through
        ``tp_call`` and a nested interpreter loop, about 460 instructions more per event.

        Returns:
            ``True`` to stay armed in the reactor (an owned loop, see ``_kept``).
        """
        loop = self.loop
        t = self.rinline
        if t is not None and loop._polling:
            # The drainer of an owned loop waits in the drivers (so the ready queue was empty
            # when it began to, and every handle a kept callback queued has run) and this is a
            # socket transport's own read: run it here, as the drainer would run it first
            # thing after the poll. asyncio's order holds: what it queues runs after every I/O
            # callback of this poll, the timers due after them. (A transport closes its socket
            # in a later callback, never in this one: the reactor's dispatch never sees this
            # fd closed and reused under it.) For a plain Protocol the transport's
            # _read_ready is written out (one Python call less per read), the protocol called
            # in the handle's context as _read_ready would be; anything else runs the handle.
            handle: Any = self.reader
            if handle._cancelled:
                return True
            if t._read_ready_cb is None and not t._conn_lost:
                buf: Any = loop._recv_buf  # made with the first transport
                try:
                    n = t._sock.recv_into(buf)
                except (BlockingIOError, InterruptedError):
                    return True
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    loop._run_inline(handle, t._fatal_error, exc, _READ_ERROR)
                    return True
                if n:
                    try:
                        handle._context.run(t._protocol.data_received, buf[:n])
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:
                        loop._run_inline(handle, t._fatal_error, exc, _PROTOCOL_ERROR)
                else:
                    loop._run_inline(handle, t._read_ready__on_eof)
                return True
            try:
                handle._context.run(handle._callback)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                loop._report_callback_error(handle, exc)
            return True
        if loop._kept:
            # An owned loop, running: only its own thread polls the runtime, between task
            # steps (never inside a batch). The handle goes straight to the ready queue (what
            # _take_fired would do) and the callback stays armed.
            batch = loop._batch
            if self.rbatch == batch:
                return True  # its handle is queued and has not run: reported once
            handle = self.reader
            if handle is None:  # removed while armed: let the reactor drop the interest
                self.rstate = _IDLE
                return False
            self.rbatch = batch
            loop._ready.append(handle)
            tokens = loop._tokens
            if tokens:  # the drainer is parked: wake it (RtEventLoop._wake, inlined)
                try:
                    token = tokens.pop()
                except IndexError:  # another waker got it
                    return True
                if token is None:
                    reschedule(loop._drainer)
                else:  # an attached loop whose host left
                    loop._start_host()
            return True
        if _get_ident() == loop._thread_id:
            # An attached loop's own thread, polling between task steps: no batch is running,
            # so the handle goes straight to the ready queue; the direction is armed again
            # after the batch that runs it.
            self.rstate = _TAKEN
            handle = self.reader
            if handle is not None:
                loop._ready.append(handle)
            loop._rearm.append(self)
        elif self.rbatch == loop._batch:
            # An owned loop's runtime polled by another thread while the loop is not running,
            # the handle still queued: the reactor drops the callback, and the drainer arms
            # the direction again after the batch that runs the handle.
            self.rstate = _TAKEN
            loop._rearm.append(self)
            return False
        else:
            self.rstate = _FIRED  # before the append: the drainer reads it once it sees us
            loop._fired.append(self)
        tokens = loop._tokens
        if tokens:
            try:
                token = tokens.pop()
            except IndexError:
                return False
            if token is None:
                reschedule(loop._drainer)
            else:  # an attached loop whose host left
                loop._start_host()
        return False

    def write_ready(self) -> bool:
        """The reactor's write callback: the fd is writable (on the thread that polled).

        Returns:
            ``True`` to stay armed in the reactor (an owned loop, see ``_kept``).
        """
        loop = self.loop
        if self.winline and loop._polling:
            # As in read_ready: a socket transport's own write callback runs where it fires.
            handle: Any = self.writer
            if not handle._cancelled:
                try:
                    handle._context.run(handle._callback)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    loop._report_callback_error(handle, exc)
            return True
        if loop._kept:
            batch = loop._batch
            if self.wbatch == batch:
                return True
            handle = self.writer
            if handle is None:
                self.wstate = _IDLE
                return False
            self.wbatch = batch
            loop._ready.append(handle)
            tokens = loop._tokens
            if tokens:
                try:
                    token = tokens.pop()
                except IndexError:
                    return True
                if token is None:
                    reschedule(loop._drainer)
                else:  # an attached loop whose host left
                    loop._start_host()
            return True
        if _get_ident() == loop._thread_id:
            self.wstate = _TAKEN
            handle = self.writer
            if handle is not None:
                loop._ready.append(handle)
            loop._rearm.append(self)
        elif self.wbatch == loop._batch:
            self.wstate = _TAKEN
            loop._rearm.append(self)
            return False
        else:
            self.wstate = _FIRED
            loop._fired.append(self)
        tokens = loop._tokens
        if tokens:
            try:
                token = tokens.pop()
            except IndexError:
                return False
            if token is None:
                reschedule(loop._drainer)
            else:  # an attached loop whose host left
                loop._start_host()
        return False


def _interrupt(signum: int, frame: Any) -> None:
    """SIGINT while an owned loop runs: ``KeyboardInterrupt`` where the main thread is.

    It does what Python's ``signal.default_int_handler`` does, as on asyncio's own loop, and is
    not that function, so that ``Runtime.block_on`` under ``run_forever`` keeps it instead of
    turning Ctrl-C into cancellation of the loop's driver (which ended the run quietly).
    """
    raise KeyboardInterrupt


def _in_rt_task() -> bool:
    """Is an rt task running in this thread (whose runtime an owned loop's run would block)?"""
    try:
        current_task()
    except RuntimeError:
        return False
    return True


def _unstarted(task: asyncio.Task[Any]) -> bool:
    """Has ``task``'s coroutine not started (never run a step)?"""
    coro = task.get_coro()
    return inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED


def _own_sigint() -> Any:
    """Put :func:`_interrupt` in place of Python's default SIGINT handler; the one replaced.

    ``None`` (nothing replaced) off the main thread or when another handler is installed (say
    ``asyncio.Runner``'s, which cancels its main task): that one is left to act.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return None
        return signal.signal(signal.SIGINT, _interrupt)
    except ValueError:  # pragma: no cover - not the main interpreter
        return None


def _watch_of(watches: dict[int, _FdWatch], fd: Any) -> _FdWatch | None:
    """The watch of ``fd`` (an fd or a file object), if any.

    A file object closed while watched has no fd any more (``fileno()`` is -1): its watch is
    found by identity, as asyncio's selector finds its key, so ``remove_reader(sock)`` after
    ``sock.close()`` still drops it.

    Raises:
        ValueError: ``fd`` is neither an fd nor a file object with one, and nothing watches it.
    """
    try:
        return watches.get(_fileno(fd))
    except ValueError:
        if not isinstance(fd, int):
            for w in watches.values():
                if w.fileobj is fd:
                    return w
        raise


class _WatchView(Mapping[Any, selectors.SelectorKey]):
    """The loop's ``_selector``: a read-only, selector-shaped view of the fd watches.

    asyncio's transports read ``loop._selector.get_key(fd)`` in their ``repr``; nothing
    selects on it: readiness comes from rt's reactor.
    """

    def __init__(self, watches: dict[int, _FdWatch]) -> None:
        self._watches = watches

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        w = _watch_of(self._watches, fileobj)
        if w is None or not w.events:
            raise KeyError(f"{fileobj!r} is not registered")
        return selectors.SelectorKey(w.fd, w.fd, w.events, (w.reader, w.writer))

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self

    def __getitem__(self, fileobj: Any) -> selectors.SelectorKey:
        return self.get_key(fileobj)

    def __iter__(self) -> Any:
        return iter([fd for fd, w in self._watches.items() if w.events])

    def __len__(self) -> int:
        return sum(1 for w in self._watches.values() if w.events)

    def close(self) -> None:
        pass


T = TypeVar("T")

# Typed as Any: the loop builds on asyncio's private machinery (_ready, _check_closed, ...),
# which typeshed leaves out; the public surface is asyncio.AbstractEventLoop's.
_BaseLoop: Any = asyncio.SelectorEventLoop


@final
class RtEventLoop(_BaseLoop):  # type: ignore[misc]
    """An asyncio event loop on rt's scheduler, reactor, timer wheel and blocking pool.

    Build one with :func:`rt.asyncio.new_event_loop`; see the module documentation.
    """

    _ready: collections.deque[events.Handle]

    def __init__(self, *, _handle: rt.Handle | None = None) -> None:
        self._watches: dict[int, _FdWatch] = {}
        self._tokens: list[object] = []
        self._drainer: Any = None
        self._timers: _Timers | None = None
        self._clock: Callable[[], float] = time.monotonic
        # The timers (call_later / call_at), earliest first: (when, sequence, handle), as
        # asyncio's loop keeps them; rt's wheel holds one timer for the earliest (_wake_*).
        self._timer_heap: list[tuple[float, int, _RtTimerHandle]] = []
        self._timer_seq = 0
        self._timers_cancelled = 0  # cancelled handles still in the heap
        self._wake_entry: Any = None  # the wheel's timer for the heap's earliest deadline
        self._wake_when = _INF  # its deadline (loop time); _INF: none armed
        # Non-empty once that wheel timer fired (the drainer then moves what is due to the
        # ready queue); appended to from whichever runtime thread fired it.
        self._due: list[None] = []
        self._on_wheel = self._wheel_fired  # the wheel's callback, bound once
        self._crossings = 0  # aio_as_rt calls under way (attached loops)
        self._crossed: list[Any] = []  # their rt tasks, resumed after the batch
        self._winding_down = False  # an attached loop's host cancels its tasks (see _bridge)
        # Watches whose fd the reactor reported ready (appended on any runtime thread), and
        # those whose handles the current batch runs, to be armed again after it.
        self._fired: list[_FdWatch] = []
        self._rearm: list[_FdWatch] = []
        self._io: Any = None  # the runtime's reactor, from the first run on
        self._park_abort = self._abort_park  # bound once: the drainer parks with it often
        self._local: Any = None
        # The socket transports' reads (see _transport), made with the first of them.
        self._recv_buf: mmap.mmap | None = None
        self._attached = _handle is not None
        # Readiness callbacks stay armed between events (see _FdWatch): only on an owned loop,
        # whose current-thread runtime never polls while the drainer is in a step. Another
        # worker of a multi-thread runtime would see a queued fd ready again and again.
        self._keep_armed = not self._attached
        # True while the drainer of an owned loop runs (run_forever's block_on drives the
        # runtime from the loop's thread): the readiness callbacks' fast path.
        self._kept = False
        # True while an owned loop's drainer waits in the runtime's drivers itself (park_idle)
        # instead of parking: a wake-up from another thread then unparks the reactor.
        self._polling = False
        # Counts the drainer's finished batches: a kept callback that queued its handle when
        # the count was b ignores the fd's readiness until the count passes b, after the
        # batch that ran the handle (an fd reported again before it ran is queued once).
        self._batch = 0
        self._runtime: rt.Runtime | None = None
        # The default executor's jobs not finished yet (added on the loop's thread, discarded
        # on the pool's: set operations are atomic), the future shutdown_default_executor
        # waits on until they have, and the thread that finishes the runtime's shutdown when
        # close() found some still running (see close).
        self._jobs: set[object] = set()
        self._jobs_waiter: asyncio.Future[None] | None = None
        self._closer: threading.Thread | None = None
        # The tasks that waited for a run refused from an rt task, never started: close()
        # lets them go quietly (see _refuse_in_rt_task).
        self._unrun: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._refused = False  # a run from an rt task was refused (see _after_refusal)
        if _handle is None:
            self._runtime = rt.Runtime(flavor="current_thread", enable_io=True, enable_time=True)
            self._rt_handle: rt.Handle = self._runtime.handle()
            with _LOOPS_LOCK:
                _LOOPS[self._rt_handle] = self
        else:
            self._rt_handle = _handle
        super().__init__(selector=_WatchView(self._watches))
        if self._runtime is not None:
            # asyncio counts the fds a loop keeps for its own wake-ups in _internal_fds (the
            # self-pipe). An owned loop's is its runtime's reactor wake-up fd (an eventfd),
            # open from here until close() shuts the runtime down; an attached loop owns none.
            self._internal_fds += 1

    # -- the self-pipe: only for signals ---------------------------------------------------

    def _make_self_pipe(self) -> None:
        # Wake-ups are rt's reschedule; the socket pair is made by the first
        # add_signal_handler, as the process's signal wakeup fd.
        self._ssock: socket.socket | None = None
        self._csock: socket.socket | None = None

    def _close_self_pipe(self) -> None:
        ssock = self._ssock
        if ssock is None:
            return
        if ssock.fileno() == -1:
            # The loop was collected in a cycle with its self-pipe's reader (unclosed, as
            # ``__del__`` closes it) and the collector closed the socket pair first: there is
            # no fd to remove (close() drops every watch), only the objects to let go.
            csock = self._csock
            if csock is not None:
                csock.close()
            self._ssock = self._csock = None
            self._internal_fds -= 1
            return
        super()._close_self_pipe()

    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:
        if self._ssock is None and not self.is_closed():
            super()._make_self_pipe()
        super().add_signal_handler(sig, callback, *args)

    # -- transports -------------------------------------------------------------------------

    def _make_socket_transport(
        self,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[Any] | None = None,
        *,
        extra: dict[str, Any] | None = None,
        server: asyncio.Server | None = None,
    ) -> asyncio.Transport:
        self._ensure_fd_no_transport(sock)
        if self._recv_buf is None:
            self._recv_buf = new_recv_buffer()
        return RtSocketTransport(self, sock, protocol, waiter, extra, server)

    # -- the ready queue -------------------------------------------------------------------

    def _wake(self) -> None:
        """Reschedule the parked drainer, or end the drivers' wait it is in (``_polling``);
        safe from any thread and from signal handlers."""
        tokens = self._tokens
        if tokens:
            try:
                token = tokens.pop()
            except IndexError:  # another waker got it
                return
            if token is None:
                reschedule(self._drainer)
            else:
                self._start_host()
        elif self._polling:
            self._io.unpark()

    def _start_host(self) -> None:
        """A waker popped ``_REVIVE``, the token an attached loop's host left as it went for
        want of work (the parked drainer's token is ``None``: wakers reschedule it inline).
        New work came (an rt task's ``call_soon``, ``create_task`` or ``add_reader``, a
        timer, another thread): start the next host."""
        from ._bridge import _revive_host

        _revive_host(self)

    def _revive_if_left(self) -> None:
        """Start the host of an attached loop that left, for an fd to watch (which does not
        go through the ready queue): the drainer arms it as it starts. (A timer needs no
        call: the wheel's timer for it finds the token when it fires.)"""
        tokens = self._tokens
        if tokens and tokens[-1] is _REVIVE:
            self._wake()

    def _abort_park(self) -> Abort:
        try:
            self._tokens.pop()
        except IndexError:
            return Abort.FAILED
        return Abort.SUCCEEDED

    def _write_to_self(self) -> None:
        # call_soon_threadsafe and the signal path end here: rt's reschedule is the self-pipe.
        self._wake()

    def call_soon(
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> events.Handle:
        if self._debug:
            self._check_closed()
            self._check_thread()
            self._check_callback(callback, "call_soon")
            handle = events.Handle(callback, args, self, context)
            if handle._source_traceback:  # type: ignore[attr-defined]
                del handle._source_traceback[-1]  # type: ignore[attr-defined]
        else:
            if self._closed:
                raise RuntimeError("Event loop is closed")
            handle = _Handle()
            handle._callback = callback
            handle._args = args
            handle._cancelled = False
            handle._loop = self
            handle._context = _copy_context() if context is None else context
        self._ready.append(handle)
        if self._tokens:
            self._wake()
        elif self._polling:
            # The drainer waits in the drivers and this is its thread (a finalizer the collector
            # ran on the way there, a signal handler, a callback the drivers dispatch): see
            # IoDriver.unpark_local. The drainer flags the reactor before its last look.
            self._io.unpark_local()
        return handle

    def call_soon_threadsafe(
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> events.Handle:
        handle: events.Handle = super().call_soon_threadsafe(callback, *args, context=context)
        tb = handle._source_traceback  # type: ignore[attr-defined]
        if tb:
            # Debug mode: the handle's traceback ends where the caller called, as asyncio's
            # does (the base method dropped its own frame, this drops this override's).
            del tb[-1]
        host: int | None = self._thread_id  # an attached loop's: None while no host runs
        if host is None and self._attached:
            # An attached loop's host task left when the loop ran out of work (see _bridge):
            # start it again, or the callback (run_coroutine_threadsafe's task, a future set
            # from a plain thread) would wait for the next crossing.
            from ._bridge import _revive_host

            _revive_host(self)
        return handle

    def create_task(
        self,
        coro: Any,
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        if (
            context is None
            and name is None
            and self._task_factory is None
            and not self._closed
            and not self._debug
            and _IN_LOOP.get(None) is self
        ):
            # The hot path: a task started by asyncio code on this loop (base_events'
            # create_task, minus the checks this condition made).
            return _Task(coro, loop=self)
        if self._task_factory is None and (
            _IN_LOOP.get(None) is not self if context is None else context.get(_IN_LOOP) is not self
        ):
            # A task started from outside asyncio code on this loop (plain code, an rt task,
            # asyncio.Runner's context): its context gets the runtime without a current rt
            # task, so rt.spawn works in it and awaiting an rt primitive directly fails
            # loudly (see rt_as_aio). Its children inherit the prepared context.
            try:
                context = outside_task_context(self._rt_handle, context)
                context.run(_IN_LOOP.set, self)
            except RuntimeError:  # the given context is running: leave it alone
                pass
        return super().create_task(coro, name=name, context=context)  # type: ignore[no-any-return]

    def stop(self) -> None:
        self._stopping = True
        self._wake()

    def _run_handle(self, handle: events.Handle) -> None:
        """Run one handle the way asyncio's loop does (debug timing included)."""
        if self._debug:
            self._current_handle = handle
            t0 = self.time()
            handle._run()
            dt = self.time() - t0
            if dt >= self.slow_callback_duration:
                fmt = base_events._format_handle(handle)  # type: ignore[attr-defined]
                base_events.logger.warning(  # type: ignore[attr-defined]
                    "Executing %s took %.3f seconds", fmt, dt
                )
            self._current_handle = None  # type: ignore[assignment]
        else:
            handle._run()
        # As asyncio's loop does: a frame kept by a traceback (an exception raised in a
        # callback, stored in a future) must not keep the handle, its arguments and their
        # exception alive with it.
        handle = None  # type: ignore[assignment]

    def _run_ready(self) -> int:
        """Run the handles queued when the batch starts (asyncio's ``_run_once`` tail).

        Returns:
            How many handles the batch held.
        """
        ready = self._ready
        n = len(ready)
        if self._debug:
            for _ in range(n):
                handle = ready.popleft()
                if not handle._cancelled:
                    self._run_handle(handle)
            handle = None  # type: ignore[assignment]  # no reference cycle (_run_handle)
            return n
        popleft = ready.popleft
        last = ready[-1]  # the batch ends with it (see _BATCH_NOTE)
        while True:
            handle = popleft()
            if not handle._cancelled:
                # Handle._run inlined: one Python call less per callback, and no star-call for
                # the common arities (see _CALL_NOTE).
                try:
                    args = handle._args
                    if not args:
                        handle._context.run(handle._callback)  # type: ignore[attr-defined]
                    elif len(args) == 1:
                        handle._context.run(handle._callback, args[0])  # type: ignore[attr-defined]
                    else:
                        handle._context.run(handle._callback, *args)  # type: ignore[attr-defined]
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    self._report_callback_error(handle, exc)
            if handle is last:
                break
        handle = last = args = None  # type: ignore[assignment]  # no cycle (_run_handle)
        return n

    def _wheel_fired(self) -> None:
        """The wheel's timer for the earliest deadline fired (on any runtime thread)."""
        self._wake_entry = None
        self._wake_when = _INF
        self._due.append(None)
        if self._polling and _get_ident() == self._thread_id:
            # The drainer waits in the drivers (owned loop) and this is its thread: rt-time's
            # park fired this as it started, before the reactor's wait (which then polls, with
            # no write to the wake-up fd), or after it (the drainer looks at _due when
            # park_idle returns): IoDriver.unpark_local.
            self._io.unpark_local()
        elif self._tokens or self._polling:
            # Also while the drainer waits in the drivers from another thread's view: the
            # reactor's wake-up ends that wait (see the drainer).
            self._wake()

    def _set_wake(self, when: float) -> None:
        """Point the wheel's timer at ``when``, the heap's earliest deadline (loop thread)."""
        timers = self._timers
        assert timers is not None
        old = self._wake_entry
        if old is not None and not timers.cancel(old):
            # It fired: its _wheel_fired (maybe still to run, on another worker) forgets the
            # wheel's timer and has the drainer point a new one at the heap's top. Arming one
            # here would be forgotten by it: a second timer nobody disarms.
            return
        # The wheel counts integer nanoseconds; a callback is due once loop.time() >= when,
        # so the wheel's deadline is the first nanosecond that reads as at least ``when``.
        # A deadline past _FAR_WHEN (finite, as call_later(1e300) makes: its nanoseconds
        # overflow a float) is armed at _FAR_WHEN: the wheel fires there, finds nothing due
        # and points the next timer at the heap's top again, as asyncio waits on for it.
        entry = timers.arm(
            duration_ns(when if when < _FAR_WHEN else _FAR_WHEN) if when > 0 else 0,
            None,
            self._on_wheel,
        )
        if entry is None:  # due already
            self._wheel_fired()
        else:
            self._wake_entry = entry
            self._wake_when = when

    def _take_due(self) -> None:
        """Queue the timers that are due, earliest deadline first (as asyncio's loop does),
        and point the wheel's timer at the next one."""
        self._due.clear()  # a wheel timer firing from here on appends again
        heap = self._timer_heap
        ready = self._ready
        now = self._clock()
        while heap and heap[0][0] <= now:
            handle = _heappop(heap)[2]
            if handle._cancelled:
                self._timers_cancelled -= 1
                continue
            handle._scheduled = False
            ready.append(handle)
        if heap:
            top = heap[0][0]
            # A wheel timer that should have fired by now has fired (maybe on another
            # thread, after this loop pointed it there): point a new one at the top.
            if top < self._wake_when or self._wake_when <= now:
                self._set_wake(top)

    def _report_callback_error(self, handle: events.Handle, exc: BaseException) -> None:
        cb = format_helpers._format_callback_source(
            handle._callback,  # type: ignore[attr-defined]
            handle._args,
        )
        context: dict[str, Any] = {
            "message": f"Exception in callback {cb}",
            "exception": exc,
            "handle": handle,
        }
        tb = handle._source_traceback  # type: ignore[attr-defined]
        if tb:
            context["source_traceback"] = tb
        self.call_exception_handler(context)

    def _run_inline(self, handle: Any, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` in ``handle``'s context, where the reactor's dispatch called
        the handle's fd callback (``_FdWatch``): errors go where the handle's would."""
        try:
            handle._context.run(fn, *args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report_callback_error(handle, exc)

    async def _drain(self, *, forever: bool) -> None:
        """The drainer: run ready handles until ``stop()`` (or forever, when attached)."""
        # A host starting again takes back the revive token its predecessor left (a waker
        # that popped it first finds this host started, and does nothing more).
        self._tokens.clear()
        self._drainer = current_task()
        self._kept = self._keep_armed
        self._flush_crossed()
        leaving_idle = False
        if self._timers is None:
            self._attach()
        self._arm_watches()
        ready = self._ready
        popleft = ready.popleft
        due = self._due
        fired = self._fired
        rearm = self._rearm
        tokens = self._tokens
        park_abort = self._park_abort
        prev = events._get_running_loop()
        # An owned loop waits in the drivers itself when it has nothing to run (see below).
        park_idle = idle_parker() if self._kept else None
        # Each run starts as an iteration of asyncio's loop does: poll I/O once without
        # blocking, then run the handles queued before the poll and the I/O callbacks it
        # readied, and only then look at stop(). So a run that stops in its first batch
        # (run_until_complete of a finished future, run_forever() after stop()) still handles
        # the I/O that was ready.
        if not forever:
            self._poll_now()
        spent = 0  # handles run since the drainer last yielded to rt's scheduler
        try:
            while True:
                # As in asyncio's iteration: the I/O callbacks first, then the timers due.
                if fired:
                    self._take_fired()
                if due:
                    self._take_due()
                if ready:
                    if prev is self and not self._debug:
                        # An owned loop (run_forever made it the running loop): _run_ready
                        # inlined, as one I/O event per batch is the common case of a server.
                        spent += len(ready)
                        last = ready[-1]  # the batch ends with it (see _BATCH_NOTE)
                        while True:
                            handle = popleft()
                            if not handle._cancelled:
                                try:  # as in _run_ready (see _CALL_NOTE)
                                    args = handle._args
                                    if not args:
                                        handle._context.run(handle._callback)  # type: ignore[attr-defined]
                                    elif len(args) == 1:
                                        handle._context.run(handle._callback, args[0])  # type: ignore[attr-defined]
                                    else:
                                        handle._context.run(handle._callback, *args)  # type: ignore[attr-defined]
                                except (SystemExit, KeyboardInterrupt):
                                    raise
                                except BaseException as exc:
                                    self._report_callback_error(handle, exc)
                            if handle is last:
                                break
                        # Not kept while the drainer waits: the handle holds its arguments.
                        handle = last = args = None  # type: ignore[assignment]
                    elif prev is self:
                        spent += self._run_ready()
                    else:
                        events._set_running_loop(self)
                        try:
                            spent += self._run_ready()
                        finally:
                            events._set_running_loop(prev)
                    # The handles kept callbacks queued have run (not counted when a handle
                    # raised SystemExit or KeyboardInterrupt: the rest stay queued).
                    self._batch += 1
                    if self._crossed and not (forever and self._idle()):
                        self._flush_crossed()
                if rearm:
                    self._arm_taken()
                if self._stopping:
                    if forever:
                        self._stopping = False
                    else:
                        return
                if ready or due or fired:
                    if spent >= _BUDGET:
                        spent = 0
                        # asyncio polls I/O once per iteration; rt's scheduler polls its
                        # drivers every event_interval steps when tasks keep running, so a
                        # loop always busy (a task spinning on sleep(0)) would see I/O once
                        # per event_interval budgets. Poll here, once per budget.
                        self._poll_now()
                        await checkpoint()
                    continue
                if forever and self._idle():
                    # The host leaves (the next aio_as_rt starts it again); it resumes the
                    # crossings that just ended once it is gone, so none outlives its waiter.
                    leaving_idle = True
                    return
                spent = 0
                if park_idle is not None and not self._debug:
                    # An owned loop, running: wait in the drivers here, as asyncio's loop
                    # selects, rather than park and be woken (no reschedule, task step or
                    # scheduler turn per event). A readiness callback finds no token and only
                    # queues (on this thread: the runtime is ours); _wake (another thread:
                    # call_soon_threadsafe, stop) finds _polling and unparks the reactor, so
                    # what it queued before that is looked at here. The wheel's callback
                    # (_wheel_fired, on this thread) and a call_soon here (a finalizer the
                    # collector runs, a signal handler) call IoDriver.unpark_local: rt-time's
                    # park fires what is due as it starts and then blocks on unless a *task*
                    # became runnable, so the reactor is flagged as about to park before each
                    # look here, and a wait not begun yet then polls. (An owned loop's runtime
                    # always has the reactor: _io is set.)
                    io = self._io
                    self._polling = True
                    io.about_to_park()
                    if ready or self._stopping:
                        self._polling = False
                        continue
                    others = park_idle()
                    # A poll whose events were all transport reads run where they fired
                    # (_FdWatch.read_ready) that queued nothing: straight back to the drivers.
                    while others is False:
                        io.about_to_park()
                        if ready or due or fired or self._stopping:
                            break
                        others = park_idle()
                    self._polling = False
                    if others is not None:
                        if others:  # rt tasks woken, or callbacks posted, by that wait
                            spent = 0
                            await checkpoint()
                        continue
                tokens.append(None)
                if ready or due or fired or self._stopping:
                    try:
                        tokens.pop()
                    except IndexError:  # a waker took the token: its wake-up is on the way
                        await wait_task_rescheduled(park_abort)
                    continue
                await wait_task_rescheduled(park_abort)
        finally:
            self._drainer = None
            self._kept = False
            self._polling = False
            # A handle that raised SystemExit or KeyboardInterrupt ended a batch early: the
            # kept callbacks must not go on ignoring fds whose handles ran in it (their
            # readiness would never be queued again); a handle still queued may be queued a
            # second time by the next run's poll.
            self._batch += 1
            if not leaving_idle:
                self._flush_crossed()

    def _flush_crossed(self) -> None:
        """Resume the rt tasks whose crossing ended in this batch (see ``_bridge``)."""
        crossed = self._crossed
        while crossed:
            try:
                task = crossed.pop()  # atomic: a leaving host and a new one may both flush
            except IndexError:
                break
            reschedule(task)

    def _poll_now(self) -> None:
        """Fire due timers and poll the reactor without blocking (owned runtime only)."""
        timers = self._timers
        if timers is not None and not self._attached:
            park = getattr(timers, "park", None)
            if park is not None:
                park(0)

    def _attach(self) -> None:
        """Runs in the drainer on first start: reach rt's timer wheel and arm queued timers."""
        timers: Any = current_driver("time")
        self._timers = timers
        try:
            self._io = current_io()
        except RuntimeError:  # a runtime built with enable_io=False: add_reader says so
            self._io = None
        self._clock = timers.clock.now
        heap = self._timer_heap
        if heap:
            self._set_wake(heap[0][0])

    def _arm_watches(self) -> None:
        """Arm what was added while the loop was not running (runs as the drainer starts).

        Directions whose handles are queued but have not run (``_rearm``) wait for the end of
        the first batch, as always.
        """
        for w in list(self._watches.values()):
            if w.reader is not None and w.rstate == _IDLE:
                self._arm_reported(w, READ)
            if w.writer is not None and w.wstate == _IDLE:
                self._arm_reported(w, WRITE)

    def _idle(self) -> bool:
        """Has an attached loop nothing to wait for (no task, timer or fd)?"""
        return (
            not self._ready
            and not self._due
            and not self._fired
            and not self._crossings
            and len(self._timer_heap) == self._timers_cancelled
            and not any(w.events for w in self._watches.values())
            and not any(not t.done() for t in asyncio.all_tasks(self))
        )

    # -- running (owned loops) -------------------------------------------------------------

    def run_forever(self) -> None:
        """Run until :meth:`stop` is called, driving this loop's rt runtime.

        Raises:
            RuntimeError: the loop is closed or already running, another loop runs in this
                thread, the loop is attached to a runtime that rt code drives, or this is an
                rt task (use ``rt.asyncio.aio_as_rt``; the loop's tasks that were waiting for
                the run and are still unstarted when it closes are let go quietly).
        """
        self._check_closed()
        self._check_running()
        runtime = self._runtime
        if runtime is None:
            raise RuntimeError(_ATTACHED_RUN)
        if _in_rt_task():
            self._refuse_in_rt_task()
        self._set_coroutine_origin_tracking(self._debug)
        old_agen_hooks = sys.get_asyncgen_hooks()
        old_sigint = _own_sigint()
        try:
            self._thread_id = threading.get_ident()
            sys.set_asyncgen_hooks(
                firstiter=self._asyncgen_firstiter_hook,
                finalizer=self._asyncgen_finalizer_hook,
            )
            events._set_running_loop(self)
            runtime.block_on(self._drain(forever=False))
        finally:
            if old_sigint is not None:
                signal.signal(signal.SIGINT, old_sigint)
            self._stopping = False
            self._thread_id = None  # type: ignore[assignment]
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_agen_hooks)

    def run_until_complete(self, future: Awaitable[T]) -> T:
        """Run until ``future`` is done and return its result (asyncio's, on an owned loop).

        Raises:
            RuntimeError: as ``run_forever``; on an attached loop or from an rt task before
                anything is scheduled (``future``, a coroutine, is closed unstarted; a task,
                asyncio.Runner's say, is let go quietly if the loop closes before it starts).
        """
        if not self._closed and not self.is_running():
            refused = None
            if self._attached:
                refused = _ATTACHED_RUN
            elif events._get_running_loop() is None and _in_rt_task():
                refused = _IN_RT_TASK  # (before asyncio makes the coroutine a task)
            if refused is not None:
                if refused is _IN_RT_TASK and self._refused and self._after_refusal(future):
                    return None  # type: ignore[return-value]  # (asyncio.Runner ignores it)
                if coroutines.iscoroutine(future):
                    future.close()
                if refused is _IN_RT_TASK:
                    self._refuse_in_rt_task()  # (raises, having noted the tasks left waiting)
                raise RuntimeError(refused)
        return super().run_until_complete(future)  # type: ignore[no-any-return]

    def _refuse_in_rt_task(self) -> None:
        """Refuse a run from an rt task, and note the tasks that waited for it.

        ``asyncio.Runner`` (and 3.12's ``asyncio.run(loop_factory=...)``) makes the task of
        its coroutine before it runs the loop: refused, that task would be destroyed pending
        ("Task was destroyed but it is pending!" from the loop's exception handler) and its
        coroutine never awaited (a ``RuntimeWarning``). The tasks of this loop that have not
        started are noted here; those still not started when the loop is closed (as the
        runner closes it) never will be: ``close()`` closes their coroutines and lets them go
        quietly. If the loop runs them before that (from outside rt tasks), they run as usual.

        Raises:
            RuntimeError: always (what to use instead).
        """
        self._refused = True
        for task in asyncio.all_tasks(self):
            if _unstarted(task):
                self._unrun.add(task)
        raise RuntimeError(_IN_RT_TASK)

    def _after_refusal(self, future: Any) -> bool:
        """Settle, without running the loop, what ``asyncio.Runner.close()`` runs after a run
        of its was refused from an rt task; False (refuse it too) for anything else.

        The runner's clean-up cancels its tasks and runs ``gather`` of them, then this loop's
        ``shutdown_asyncgens()`` and ``shutdown_default_executor()``. Refused again, each
        raised the same ``RuntimeError`` a second time on top of the first (from the
        runner's ``__exit__``, with the first as its context). None of it needs user code:
        the gathered tasks are ones the refusal noted, never started and now cancelled, so
        their step only marks them cancelled (a coroutine that never started runs nothing
        when an exception is thrown into it). The two shutdown coroutines are settled only
        when they have nothing to do (no async generator to close; no default-executor job
        and no executor of the user's to shut down), so that they return without waiting:
        one with work left is refused as before (waiting for it would block the rt thread,
        and it needs a running loop).
        """
        if coroutines.iscoroutine(future):
            code = getattr(future, "cr_code", None)
            frame = getattr(future, "cr_frame", None)
            if frame is None or frame.f_locals.get("self") is not self:
                return False
            if code is type(self).shutdown_asyncgens.__code__:
                if len(self._asyncgens):
                    return False
            elif code is type(self).shutdown_default_executor.__code__:
                if self._default_executor is not None or self._jobs:
                    return False
            else:
                return False
            try:
                future.send(None)
            except StopIteration:
                return True
            except BaseException:
                return False  # (it ended with an error: refused as before, nothing hidden)
            future.close()  # (it waited after all: a job started meanwhile) refused
            return False
        children = getattr(future, "_children", None)  # a gather's future (Runner's)
        if not isinstance(future, asyncio.Future) or future.get_loop() is not self:
            return False
        if not children or type(future).__name__ != "_GatheringFuture":
            return False
        pending = [t for t in children if not t.done()]
        if not all(t in self._unrun and _unstarted(t) and t.cancelling() for t in pending):
            return False
        steps = {id(t): t for t in pending}
        handles = [
            h
            for h in self._ready
            if id(getattr(getattr(h, "_callback", None), "__self__", None)) in steps
        ]
        if len(handles) != len(pending):
            return False
        for handle in handles:
            self._ready.remove(handle)
            handle._run()  # the task's step: it ends cancelled
        return True

    def _drop_unrun(self) -> None:
        """As the loop closes: let the tasks a refused run left unstarted go (see
        ``_refuse_in_rt_task``), with no "destroyed but pending" or "never awaited" report."""
        unrun = list(self._unrun)
        self._unrun.clear()
        for task in unrun:
            if not task.done() and _unstarted(task):
                task._log_destroy_pending = False  # type: ignore[attr-defined]
                task.get_coro().close()

    def close_attached(self) -> None:
        """Close an attached loop as its runtime shuts down (its host task is leaving)."""
        self._thread_id = None  # type: ignore[assignment]
        self.close()

    def __del__(self, _warn: Any = None) -> None:
        if "_closed" not in self.__dict__:
            # __init__ failed before asyncio's part (building the runtime raised, and the
            # caller got that error): there is nothing of asyncio's to close or warn about.
            return
        if self._attached:
            if not self.is_closed() and not self.is_running():
                # An attached loop is managed: no "unclosed loop" warning. Its registry
                # entry is gone already (weak values).
                self._in_del = True
                self.close()
            return
        super().__del__()

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        super().close()
        if self._unrun:
            self._drop_unrun()
        self._drop_timers()
        self._due.clear()
        self._fired.clear()
        self._rearm.clear()
        for w in list(self._watches.values()):
            self._unwatch(w)
        self._watches.clear()
        if not self._in_del:
            unregister(self)
        runtime = self._runtime
        if runtime is not None:
            if self._jobs:
                # As asyncio's close() shuts its default executor down without waiting for the
                # jobs still running: the runtime's shutdown, which joins its blocking pool,
                # finishes on a thread of its own once they end.
                closer = threading.Thread(
                    target=runtime.shutdown, name="rt.asyncio loop close", daemon=True
                )
                try:
                    closer.start()
                    self._closer = closer
                except RuntimeError:  # no new thread as the interpreter exits: wait here
                    runtime.shutdown()
            else:
                runtime.shutdown()
            self._internal_fds -= 1  # the reactor's wake-up fd is (or will be) closed

    # -- time ------------------------------------------------------------------------------

    def time(self) -> float:
        return self._clock()

    def call_later(
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> events.TimerHandle:
        timers = self._timers
        if (
            timers is None
            or self._debug
            or self._closed
            or (delay.__class__ is not float and delay.__class__ is not int)
            or not delay < _FAR_S  # inf, NaN, or too far for the wheel
        ):
            # base_events' call_later (here, so a debug handle's traceback ends in the caller).
            if delay is None:
                raise TypeError("delay must not be None")
            timer = self.call_at(self.time() + delay, callback, *args, context=context)
            if timer._source_traceback:  # type: ignore[attr-defined]
                del timer._source_traceback[-1]  # type: ignore[attr-defined]
            return timer
        # The hot path of asyncio.sleep, wait_for and timeout: base_events' call_later and
        # this loop's call_at, written out, reading the clock once (in a burst of new tasks
        # that each sleep, the first timers wait for the whole burst: the timers row's tail).
        when = _true_div(timers.clock.now_ns(), _NS) + delay  # self.time() + delay
        timer = _new_timer(_RtTimerHandle)
        timer._callback = callback  # type: ignore[attr-defined]
        timer._args = args
        timer._cancelled = False
        timer._loop = self
        timer._repr = None  # type: ignore[attr-defined]
        timer._source_traceback = None  # type: ignore[attr-defined]
        timer._context = _copy_context() if context is None else context  # type: ignore[attr-defined]
        timer._when = when  # type: ignore[attr-defined]
        timer._scheduled = True
        self._timer_seq = seq = self._timer_seq + 1
        _heappush(self._timer_heap, (when, seq, timer))
        if when < self._wake_when:
            self._set_wake(when)
        return timer

    def call_at(
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> events.TimerHandle:
        if when is None:
            raise TypeError("when cannot be None")
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
            timer = _RtTimerHandle(when, callback, args, self, context)
            if timer._source_traceback:  # type: ignore[attr-defined]
                del timer._source_traceback[-1]  # type: ignore[attr-defined]
        else:
            # Built in place, as call_soon builds its handles (TimerHandle.__init__ asks the
            # loop for its debug flag): asyncio.timeout, wait_for and sleep arm one each.
            timer = _new_timer(_RtTimerHandle)
            timer._callback = callback  # type: ignore[attr-defined]
            timer._args = args
            timer._cancelled = False
            timer._loop = self
            timer._repr = None  # type: ignore[attr-defined]
            timer._source_traceback = None  # type: ignore[attr-defined]
            timer._context = _copy_context() if context is None else context  # type: ignore[attr-defined]
            timer._when = when  # type: ignore[attr-defined]
        timer._scheduled = True
        try:
            nan = math.isnan(when)  # (a TypeError for what is not a real number)
        except OverflowError:  # an int beyond a float's range: finite, as asyncio takes it
            nan = False
        if nan:
            raise ValueError("when must be a number, got nan")
        if when == _INF:
            return timer  # never due: not in the heap, holds no wheel slot
        self._timer_seq = seq = self._timer_seq + 1
        _heappush(self._timer_heap, (when, seq, timer))
        if when < self._wake_when and self._timers is not None:
            self._set_wake(when)  # (before the first run, _attach points it at the top)
        return timer

    def _timer_handle_cancelled(self, handle: events.TimerHandle) -> None:
        # Called by TimerHandle.cancel() before it marks the handle cancelled, also for one
        # that ran already (asyncio.sleep cancels its timer on the way out): only a handle
        # still scheduled is in the heap (a never-due one, at infinity, is not).
        if (
            not isinstance(handle, _RtTimerHandle) or not handle._scheduled or handle._when == _INF  # type: ignore[attr-defined]
        ):
            return
        heap = self._timer_heap
        self._timers_cancelled = cancelled = self._timers_cancelled + 1
        if cancelled == len(heap):
            self._drop_timers()  # none left: free the wheel's slot too
        elif cancelled > _MIN_CANCELLED and cancelled * 2 > len(heap):
            # Mostly cancelled handles: rebuild the heap without them (asyncio does too).
            live = []
            for t in heap:
                if t[2] is handle or t[2]._cancelled:
                    t[2]._scheduled = False
                else:
                    live.append(t)
            heap[:] = live
            heapq.heapify(heap)
            self._timers_cancelled = 0

    def _drop_timers(self) -> None:
        """Forget every timer in the heap and disarm the wheel's timer."""
        for _, _, handle in self._timer_heap:
            handle._scheduled = False
        self._timer_heap.clear()
        self._timers_cancelled = 0
        entry = self._wake_entry
        self._wake_entry = None
        self._wake_when = _INF
        timers = self._timers
        if entry is not None and timers is not None:
            timers.cancel(entry)

    # -- readiness -------------------------------------------------------------------------

    _io: Any = None
    _in_del = False

    def _add_reader(self, fd: Any, callback: Callable[..., object], *args: Any) -> events.Handle:
        self._check_closed()
        n = _fileno(fd)
        handle = events.Handle(callback, args, self, None)
        w = self._watches.get(n)
        if w is None:
            w = self._watches[n] = _FdWatch(self, n, fd)
        elif not isinstance(fd, int):
            w.fileobj = fd
        old = w.reader
        w.reader = handle
        owner = getattr(callback, "__self__", None)
        w.rinline = (
            owner
            if not args
            and owner.__class__ is RtSocketTransport
            and getattr(callback, "__func__", None) is _TRANSPORT_READ
            else None
        )
        if old is not None:
            old.cancel()
        if w.rstate == _IDLE:
            self._arm_now(w, READ)
        return handle

    def _add_writer(self, fd: Any, callback: Callable[..., object], *args: Any) -> events.Handle:
        self._check_closed()
        n = _fileno(fd)
        handle = events.Handle(callback, args, self, None)
        w = self._watches.get(n)
        if w is None:
            w = self._watches[n] = _FdWatch(self, n, fd)
        elif not isinstance(fd, int):
            w.fileobj = fd
        old = w.writer
        w.writer = handle
        w.winline = not args and getattr(callback, "__self__", None).__class__ is RtSocketTransport
        if old is not None:
            old.cancel()
        if w.wstate == _IDLE:
            self._arm_now(w, WRITE)
        return handle

    def _remove_reader(self, fd: Any) -> bool:
        # A direction that stays armed in the reactor is left armed: if it fires, the drainer
        # finds no handle and lets it go (the reactor then drops the interest).
        if self.is_closed():
            return False
        w = _watch_of(self._watches, fd)
        if w is None or w.reader is None:
            return False
        w.reader.cancel()
        w.reader = w.rinline = None
        if w.writer is None:
            self._unwatch(w)
        return True

    def _remove_writer(self, fd: Any) -> bool:
        if self.is_closed():
            return False
        w = _watch_of(self._watches, fd)
        if w is None or w.writer is None:
            return False
        w.writer.cancel()
        w.writer = None
        w.winline = False
        if w.reader is None:
            self._unwatch(w)
        return True

    def _unwatch(self, w: _FdWatch) -> None:
        """Forget ``w`` and drop its fd (and its armed callbacks) from rt's reactor."""
        for handle in (w.reader, w.writer):
            if handle is not None:
                handle.cancel()
        w.reader = w.writer = w.rinline = None
        w.winline = False
        if self._watches.get(w.fd) is w:
            del self._watches[w.fd]
        # A fired event still on its way finds the watch gone and is dropped.
        w.rstate = w.wstate = _IDLE
        io = self._io
        if io is not None:
            # The fd may be closed and its number reused right after this: the reactor must
            # not keep believing it is registered.
            io.notify_closing(w.fd)

    def _arm_now(self, w: _FdWatch, direction: int) -> None:
        """Arm a direction ``add_reader`` / ``add_writer`` just wanted, if the reactor may be
        touched from here; else the drainer arms it (see ``_arm_watches``)."""
        if self._drainer is None:
            self._revive_if_left()  # an attached loop whose host left: it starts again
            return  # not running: armed as the next run starts
        if threading.get_ident() != self._thread_id:
            # Another thread (asyncio's add_reader is not thread-safe; rt's reactor is
            # touched by the loop's own thread): hand the arming over to the loop.
            self.call_soon_threadsafe(self._arm_handed_over, w, direction)
            return
        try:
            self._arm_fd(w, direction)
        except BaseException:
            if direction == READ:
                w.reader = w.rinline = None
            else:
                w.writer = None
                w.winline = False
            if w.reader is None and w.writer is None:
                self._unwatch(w)
            raise

    def _arm_handed_over(self, w: _FdWatch, direction: int) -> None:
        if self._watches.get(w.fd) is w and (w.rstate if direction == READ else w.wstate) == _IDLE:
            self._arm_reported(w, direction)

    def _arm_fd(self, w: _FdWatch, direction: int) -> None:
        """Hand ``w``'s ``direction`` to rt's reactor (on the loop's thread, while it runs)."""
        io = self._io
        if io is None:
            raise RuntimeError(
                "this event loop's rt runtime has no I/O driver: build it with enable_io=True "
                "to use add_reader, add_writer, sockets or transports"
            )
        # The state first: on a multi-thread runtime the fd may fire before on_ready returns.
        if direction == READ:
            w.rstate = _ARMED
            try:
                io.on_ready(w.fd, READ, w.read_ready)
            except BaseException:
                w.rstate = _IDLE
                raise
        else:
            w.wstate = _ARMED
            try:
                io.on_ready(w.fd, WRITE, w.write_ready)
            except BaseException:
                w.wstate = _IDLE
                raise

    def _arm_reported(self, w: _FdWatch, direction: int) -> None:
        """Arm ``direction`` where no caller can be told of a failure: report it instead."""
        try:
            self._arm_fd(w, direction)
        except OSError as exc:
            if exc.errno == errno.EBADF:
                return  # closed without remove_reader/remove_writer: as asyncio, never fires
            self._report_arm_error(w, exc)
        except RuntimeError as exc:
            self._report_arm_error(w, exc)

    def _report_arm_error(self, w: _FdWatch, exc: BaseException) -> None:
        self.call_exception_handler(
            {
                "message": f"Cannot watch file descriptor {w.fd} for readiness",
                "exception": exc,
            }
        )

    def _take_fired(self) -> None:
        """Queue the handles of the fds the reactor reported (asyncio's ``_process_events``)."""
        fired = self._fired
        n = len(fired)
        batch = fired[:n]
        del fired[:n]  # a watch firing meanwhile (another thread) stays for the next batch
        ready = self._ready
        rearm = self._rearm
        for w in batch:
            took = False
            if w.rstate == _FIRED:
                w.rstate = _TAKEN
                took = True
                handle = w.reader
                if handle is not None:
                    ready.append(handle)
            if w.wstate == _FIRED:
                w.wstate = _TAKEN
                took = True
                handle = w.writer
                if handle is not None:
                    ready.append(handle)
            if took:
                rearm.append(w)

    def _arm_taken(self) -> None:
        """After the batch that ran them: arm again the directions whose handles it ran."""
        rearm = self._rearm
        watches = self._watches
        on_ready = self._io.on_ready
        while rearm:
            w = rearm.pop()
            watched = watches.get(w.fd) is w
            # _arm_fd inlined (one event each): the state first, as there.
            if w.rstate == _TAKEN:
                if watched and w.reader is not None:
                    w.rstate = _ARMED
                    try:
                        on_ready(w.fd, READ, w.read_ready)
                    except BaseException:
                        w.rstate = _IDLE
                        self._arm_reported(w, READ)  # says why, or finds the fd closed
                else:
                    w.rstate = _IDLE
            if w.wstate == _TAKEN:
                if watched and w.writer is not None:
                    w.wstate = _ARMED
                    try:
                        on_ready(w.fd, WRITE, w.write_ready)
                    except BaseException:
                        w.wstate = _IDLE
                        self._arm_reported(w, WRITE)
                else:
                    w.wstate = _IDLE

    # -- executor --------------------------------------------------------------------------

    def _jobs_ended(self) -> None:
        waiter = self._jobs_waiter
        if waiter is not None and not waiter.done() and not self._jobs:
            waiter.set_result(None)

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """Refuse new default-executor jobs and wait for the running ones to end.

        As asyncio's loop does with its thread pool; here they are jobs of rt's blocking pool
        (an executor installed with ``set_default_executor`` is shut down as asyncio does).
        ``timeout`` (3.12's): stop waiting after that many seconds, with a ``RuntimeWarning``.

        Cancel safety: cancelling it stops the wait; the jobs run on, new ones stay refused.
        """
        if self._default_executor is not None:
            if sys.version_info >= (3, 12):
                await super().shutdown_default_executor(timeout)
            else:
                await super().shutdown_default_executor()
            return
        self._executor_shutdown_called = True
        waiter: asyncio.Future[None] = self.create_future()
        self._jobs_waiter = waiter
        try:
            if self._jobs:  # looked at after the waiter is set: a job ending now sets it
                await asyncio.wait([waiter], timeout=timeout)
                if not waiter.done():
                    warnings.warn(
                        f"the default executor's jobs did not finish within {timeout} seconds",
                        RuntimeWarning,
                        stacklevel=2,
                    )
        finally:
            self._jobs_waiter = None

    def run_in_executor(
        self, executor: Any, func: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        self._check_closed()
        if self._debug:
            self._check_callback(func, "run_in_executor")
        if executor is None:
            executor = self._default_executor
            self._check_default_executor()
        if executor is not None:
            # asyncio's wrap_future, into a future that takes StopIteration (_ExecutorFuture).
            source = executor.submit(func, *args)
            if not isinstance(source, concurrent.futures.Future):
                return futures.wrap_future(source, loop=self)  # (its error, or its future)
            chained = _ExecutorFuture(loop=self)
            chained._func = func
            futures._chain_future(source, chained)  # type: ignore[attr-defined]
            return chained
        fut: asyncio.Future[Any] = self.create_future()

        def settle(ok: bool, value: Any) -> None:
            if fut.cancelled():
                return
            if ok:
                fut.set_result(value)
                return
            if isinstance(value, StopIteration):
                # A future refuses StopIteration (it would end the awaiting coroutine's frame
                # instead of raising there): asyncio's loop leaves the future pending for
                # ever. It becomes a RuntimeError, as it does when a coroutine raises one.
                error = RuntimeError(f"{func!r} raised StopIteration in the executor")
                error.__cause__ = value
                value = error
            fut.set_exception(futures._convert_future_exc(value))  # type: ignore[attr-defined]

        jobs = self._jobs

        def job() -> None:
            try:
                try:
                    result = func(*args)
                except BaseException as exc:
                    try:
                        self.call_soon_threadsafe(settle, False, exc)
                    except RuntimeError:  # the loop closed meanwhile
                        pass
                    return
                try:
                    self.call_soon_threadsafe(settle, True, result)
                except RuntimeError:
                    pass
            finally:
                jobs.discard(job)
                # Read after the discard: shutdown_default_executor sets it before it looks.
                if not jobs and self._jobs_waiter is not None:
                    try:
                        self.call_soon_threadsafe(self._jobs_ended)
                    except RuntimeError:
                        pass

        jobs.add(job)
        try:
            self._rt_handle.spawn_blocking(job)
        except BaseException:
            jobs.discard(job)
            raise
        return fut
