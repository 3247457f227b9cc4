"""Task hooks, the slow-poll detector and the console endpoint, for runtimes that ask for them.

A runtime built with any of ``on_task_spawn``, ``on_task_terminate``, ``on_before_task_poll``,
``on_after_task_poll``, ``slow_poll_threshold`` (or ``RT_SLOW_POLL``), ``console`` (or
``RT_CONSOLE``) or ``poll_time_histogram`` gets one :class:`Diagnostics`; every other runtime
has none, and its spawn and step paths are exactly as they are without this module (one
``is None`` test on the spawn path sends a diagnosed runtime's spawns down the general path).

**How a step is observed.** Each task of a diagnosed runtime has a :class:`TaskRecord` (its
``TaskMeta``, parent, and the console's counters) in the side table ``Diagnostics.records``
(the live tasks: dumps, the detector and the console read it) and, on the current-thread
flavor, in the task's ``_home`` slot (which that flavor has no other use for). When a poll or
terminate hook is set or the console is on, the current-thread flavor runs a diagnosed copy
of its loop (``_run_until_diagnosed``, generated from the same template as the plain one and
chosen once per ``block_on``): it takes the record from the task, runs the before-poll hook,
steps the raw coroutine, times the step if asked, runs the after-poll hook, and on completion
the terminate hook. The multi-thread flavor wraps the task's coroutine at spawn in an
:class:`Instrumented` coroutine whose ``send``/``throw`` do
the same around the step; its loop calls ``task._coro.send`` whatever ``_coro`` is, and the
wrapper forwards the introspection attributes (``cr_frame``, ``cr_await``, ``cr_running``,
``cr_suspended``, ``cr_code``) so dumps and "did it start" checks see the real coroutine.
A task that ends outside a step (refused at shutdown, closed when the shutdown timeout
passes) gets its terminate hook from ``_harness``. From the first time a client attaches to
the console (or from the start, with ``poll_time_histogram=True``, Tokio's
``enable_metrics_poll_time_histogram``), steps are timed: into the task's polls, busy and
idle time (which the console shows) and the running thread's poll-time histogram (powers of
two from 1 µs), which ``Runtime.metrics()`` reports. The current-thread loop counts bucket 0
(steps under 1 µs, most of them) when a segment of steps ends rather than per step, so a
reader may see it up to one segment behind. Timing is opt-in because, in pure Python, the
clock read and the bookkeeping cost close to half a short step.

**The slow-poll detector** is a watchdog thread that costs nothing per step: it wakes every
``threshold / 4`` and samples, per worker thread, the task the scheduler is stepping and the
scheduler's batch counters. The same task under unchanged counters for longer than the
threshold is a step holding its thread: it logs one warning per incident (``rt`` logger, with
``task_id``, ``task_name``, ``task_location``, ``poll_seconds``, ``blocking_frame`` and
``stack`` as structured fields) while the step is still running, with the blocking thread's
stack from ``sys._current_frames``, and counts it for ``Runtime.metrics().slow_polls``.

**Hooks** run on the thread that runs the task (``on_task_spawn``: on the spawning thread, as
in Tokio). A hook that raises is logged through the ``rt`` logger and otherwise ignored. A
step hook's KeyboardInterrupt or SystemExit is raised in its task (``Instrumented._abandon``,
``Diagnostics.hook_raised``); after the task's last step, which leaves no step to raise it
in, the task keeps its outcome and ``block_on`` raises it (``raised_after_last_step``), on
both flavors.
"""

from __future__ import annotations

import contextvars
import gc
import inspect
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Final, NoReturn

from ._diag import CANCELLED, ERROR, OK, TaskMeta
from ._exceptions import Cancelled
from ._task import COMPILED

if TYPE_CHECKING:
    from types import FrameType

    from ._base import Scheduler
    from ._console import ConsoleServer

Hook = Callable[[TaskMeta], object]

logger: Final = logging.getLogger("rt")

HOOK_NAMES: Final = (
    "on_task_spawn",
    "on_task_terminate",
    "on_before_task_poll",
    "on_after_task_poll",
)

#: Poll-time histogram buckets: bucket ``i`` counts steps under ``2**i`` µs (the last: longer).
HISTOGRAM_BUCKETS: Final = 24

_CORE_DIR: Final = os.path.dirname(os.path.abspath(__file__))
_RT_DIR: Final = os.path.dirname(_CORE_DIR)


def thread_frame(ident: int) -> FrameType | None:
    """The frame a live thread is running (``None`` when it is gone), with the collector
    paused while ``sys._current_frames()`` runs.

    That call holds the interpreter's thread-list lock while it allocates; a collection
    started by one of those allocations can free a ``threading.local``, whose clean-up takes
    the same lock: the calling thread then deadlocks on itself, holding the GIL (seen as a
    hung slow-poll report). No collection, no deadlock.
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        frames = sys._current_frames()
    finally:
        if paused:
            gc.enable()
    return frames.get(ident)


def _library_dirs() -> tuple[str, ...]:
    import sysconfig

    paths = sysconfig.get_paths()
    dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(os.path.join(os.path.realpath(d), "") for d in dirs)


def _is_rt(entry: str) -> bool:
    path = entry.replace(os.sep, "/")
    return "/rt/" in path and "/tests/" not in path


def _is_library(entry: str) -> bool:
    return _is_rt(entry) or os.path.realpath(entry.partition(":")[0]).startswith(_LIBRARY_DIRS)


_LIBRARY_DIRS: Final = _library_dirs()


#: How deep spawn_location's walk starts: past its own caller ``instrument`` (1), the one
#: function that calls that, ``_harness.new_task`` (2), the schedulers' ``new_task`` methods
#: that call it (3), their only callers, ``_spawn`` and ``block_on`` (4), and the callers of
#: those (5: the schedulers' ``spawn`` and ``spawn_here``, ``_harness.spawn_blocking``,
#: ``Runtime.block_on`` and the handle's), all rt's own: each frame the walk starts past is a
#: frame object not made on every spawn. In the compiled build those are native functions,
#: with no Python frames to skip.
_FIRST_CALLER: Final = 2 if COMPILED else 6

#: per source file seen in a spawn walk: whether it is rt's own (skipped) or the program's
_rt_file: dict[str, bool] = {}
#: (id of a code object, offset in it) -> (that code object, kept so the id stays its own;
#: the ``file:line`` there), for spawn sites seen before
_sites: dict[tuple[int, int], tuple[object, str]] = {}
#: a bound on both caches (a program that compiles code on the fly has no end of files)
_CACHE_LIMIT: Final = 4096


def spawn_location() -> str | None:
    """``file:line`` of the code that called into rt to spawn (the first frame outside rt's
    runtime package, skipping rt-macros' and rt-core's own frames).

    It runs on every spawn of a diagnosed runtime, so it touches as few frames as it can
    (each frame object Python makes for it costs as much as a small spawn) and remembers
    which files are rt's and where each spawn site's line is.
    """
    try:
        frame: FrameType | None = sys._getframe(_FIRST_CALLER)
    except ValueError:  # a shallower stack than any rt spawn path makes
        return None
    rt_file = _rt_file
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        own = rt_file.get(filename)
        if own is None:
            own = filename.startswith(_RT_DIR) and "/tests/" not in filename
            if len(rt_file) >= _CACHE_LIMIT:
                rt_file.clear()
            rt_file[filename] = own
        if not own:
            key = (id(code), frame.f_lasti)
            site = _sites.get(key)
            if site is None:
                if len(_sites) >= _CACHE_LIMIT:
                    _sites.clear()
                site = _sites[key] = (code, f"{filename}:{frame.f_lineno}")
            return site[1]
        frame = frame.f_back
    return None


def parse_threshold(value: object) -> float | None:
    """Check ``slow_poll_threshold`` (or ``RT_SLOW_POLL`` when ``value`` is None).

    Raises:
        ValueError: not a positive number of seconds.
    """
    source = "slow_poll_threshold"
    if value is None:
        env = os.environ.get("RT_SLOW_POLL")
        if not env or env.strip().lower() in ("", "0", "false", "no", "off"):
            return None  # off, as RT_CONSOLE=0 is (the option itself wants a positive number)
        source, value = "RT_SLOW_POLL", env
        try:
            value = float(env)
        except ValueError:
            raise ValueError(
                f"RT_SLOW_POLL must be a number of seconds (e.g. RT_SLOW_POLL=0.1), got {env!r}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{source} must be a positive number of seconds, got {value!r}")
    if value == float("inf"):
        return None
    return float(value)


def outcome_of(exc: BaseException | None) -> str:
    """``on_task_terminate``'s outcome for a task that ended with ``exc`` (``StopIteration``
    or None: it returned)."""
    if exc is None or isinstance(exc, StopIteration):
        return OK
    return CANCELLED if isinstance(exc, Cancelled) else ERROR


def check_hook(name: str, hook: object) -> Hook | None:
    """Validate a hook option at construction.

    Raises:
        ValueError: ``hook`` is neither None nor callable, or is an ``async def`` function (the
            runtime calls hooks synchronously, so its coroutine would never run).
    """
    if hook is None:
        return None
    if not callable(hook):
        raise ValueError(f"{name} must be a callable taking an rt.TaskMeta (or None), got {hook!r}")
    # (an object whose ``__call__`` is ``async def`` counts: it returns a coroutine too)
    if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(type(hook).__call__):
        raise ValueError(
            f"{name} must be a plain function, got the async function {hook!r}: the runtime "
            "calls hooks synchronously between steps, so its coroutine would never run. Make it "
            "a plain def that records what it needs (a list, a queue, a log call)"
        )
    return hook


#: the steps' clock, in seconds: a float's arithmetic is a fraction of a multi-digit int's (an
#: int nanosecond count since boot is one past a second), and a timed step does three sums
_clock: Final = time.perf_counter
#: the last histogram bucket (steps of ``2**(HISTOGRAM_BUCKETS - 2)`` µs and longer)
_LAST: Final = HISTOGRAM_BUCKETS - 1


class TaskRecord:
    """What a diagnosed runtime keeps about a live task, in its side table (``records``, by
    task id) and, on the current-thread flavor, in the task's ``_home`` slot (which the
    diagnosed loop reads each step): the ``TaskMeta`` hooks get, the parent's id (dumps),
    and the console's counters."""

    __slots__ = ("busy", "last_end", "meta", "parent", "polls", "started")

    def __init__(self, meta: TaskMeta, parent: int | None, started: float) -> None:
        self.meta = meta
        self.parent = parent
        #: timed steps; time spent in them (seconds) and when the last one ended
        #: (``perf_counter``; the console's idle and age: 0 without a console)
        self.polls = 0
        self.busy = 0.0
        self.started = self.last_end = started


class Instrumented:
    """A task's coroutine, observed step by step (see the module notes): the multi-thread
    flavor's way (the current-thread flavor runs a diagnosed copy of its loop instead).

    ``send`` is the one call per step, so it is written out in full: every frame or lookup it
    saves is saved on every poll. Steps are timed (the thread's poll-time histogram and the
    task's counters, which the console reads) only from the first time a client attaches to the
    runtime's console: in pure Python two clock reads cost about as much as a short step.
    """

    __slots__ = ("_coro", "_diag", "_ended", "_meta", "_rec")

    def __init__(self, coro: Coroutine[Any, Any, Any], diag: Diagnostics, rec: TaskRecord) -> None:
        self._coro: Any = coro
        self._diag = diag
        self._rec = rec
        self._meta = rec.meta
        self._ended = False

    # the step, observed
    def send(self, value: Any) -> Any:
        diag = self._diag
        hook = diag.on_before
        if hook is not None:
            try:
                hook(self._meta)
            except Exception:
                diag.hook_failed("on_before_task_poll", self._meta)
            except BaseException as exc:
                self._abandon(exc)
        if diag.timed:
            began = _clock()
            try:
                out = self._coro.send(value)
            except BaseException as exc:
                self._last_step(diag, began, exc)
                raise
            # _stepped, written out: this runs on every step while the console is attached
            now = _clock()
            took = now - began
            rec = self._rec
            rec.polls += 1
            rec.busy += took
            rec.last_end = now
            try:
                hist = diag.thread_local.histogram
            except AttributeError:
                hist = diag.new_histogram()
            if took < 1e-06:  # bucket 0, the common one: no conversion, no method call
                hist[0] += 1
            elif took < 4e-06:  # buckets 1 and 2 by comparison too
                hist[1 if took < 2e-06 else 2] += 1
            else:
                bucket = int(took * 1e6).bit_length()
                hist[bucket if bucket < _LAST else _LAST] += 1
        else:
            try:
                out = self._coro.send(value)
            except BaseException as exc:
                self._last_step(diag, None, exc)
                raise
        hook = diag.on_after
        if hook is not None:
            try:
                hook(self._meta)
            except Exception:
                diag.hook_failed("on_after_task_poll", self._meta)
            except BaseException as exc:
                self._abandon(exc)
        return out

    def _abandon(self, exc: BaseException) -> NoReturn:
        """A hook raised ``exc``, a BaseException that is not an Exception (KeyboardInterrupt,
        SystemExit, GeneratorExit): it ends the task, as if the task had raised it. Close the
        task's coroutine first, so its ``finally`` blocks and context managers run now, then
        raise ``exc`` for the scheduler to finish the task with (its terminate hook runs
        then). Raised through as it was, it left the coroutine suspended, never closed."""
        try:
            self._coro.close()
        except BaseException:  # a coroutine that will not close: it is dropped all the same
            pass
        raise exc

    def throw(self, exc: BaseException) -> Any:
        diag = self._diag
        if diag.on_before is not None:
            try:
                diag.on_before(self._meta)
            except Exception:
                diag.hook_failed("on_before_task_poll", self._meta)
            except BaseException as hook_exc:
                self._abandon(hook_exc)
        began = _clock() if diag.timed else None
        try:
            out = self._coro.throw(exc)
        except BaseException as raised:
            self._last_step(diag, began, raised)
            raise
        self._stepped(diag, began, False)
        return out

    def _last_step(self, diag: Diagnostics, began: float | None, exc: BaseException) -> None:
        """End the step that raised ``exc``, and with it the task (a coroutine that raises,
        ``StopIteration`` included, is finished): count it, run the after-poll hook, then the
        terminate hook with how the task ended."""
        self._stepped(diag, began, True)
        self._end(outcome_of(exc))

    def _stepped(self, diag: Diagnostics, began: float | None, last: bool) -> None:
        """Count a timed step that began at ``began`` (None: not timed) and run the after-poll
        hook: the thrown-into and ``last`` steps (``send`` has its own copy for the others).

        A hook's BaseException that is not an Exception ends the task (see :meth:`_abandon`);
        after its last step, the task keeps its outcome and the hook's exception goes to
        :meth:`Diagnostics.raised_after_last_step` (raised out of the step, it took the place
        of the task's result or error)."""
        if began is not None:
            now = _clock()
            took = now - began
            rec = self._rec
            rec.polls += 1
            rec.busy += took
            rec.last_end = now
            try:
                hist = diag.thread_local.histogram
            except AttributeError:
                hist = diag.new_histogram()
            hist[min(_LAST, int(took * 1e6).bit_length())] += 1
        hook = diag.on_after
        if hook is not None:
            try:
                hook(self._meta)
            except Exception:
                diag.hook_failed("on_after_task_poll", self._meta)
            except BaseException as exc:
                if not last:
                    self._abandon(exc)
                diag.raised_after_last_step(exc, self._meta)

    def close(self) -> None:
        try:
            self._coro.close()
        finally:
            self._end(CANCELLED)

    def _end(self, outcome: str) -> None:
        if not self._ended:
            self._ended = True
            self._diag.terminated(self._rec, outcome)

    # introspection, forwarded
    @property
    def cr_frame(self) -> Any:
        return self._coro.cr_frame

    @property
    def cr_await(self) -> Any:
        return self._coro.cr_await

    @property
    def cr_running(self) -> bool:
        return bool(self._coro.cr_running)

    @property
    def cr_suspended(self) -> bool:
        return bool(self._coro.cr_suspended)

    @property
    def cr_code(self) -> Any:
        return self._coro.cr_code

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<instrumented {self._coro!r}>"


class Diagnostics:
    """What a runtime keeps for hooks, dumps, the slow-poll detector and the console."""

    def __init__(
        self,
        *,
        hooks: dict[str, Hook | None],
        slow_poll_threshold: float | None,
        console_path: str | None,
        poll_time_histogram: bool = False,
    ) -> None:
        self.on_spawn = hooks.get("on_task_spawn")
        self.on_terminate = hooks.get("on_task_terminate")
        self.on_before = hooks.get("on_before_task_poll")
        self.on_after = hooks.get("on_after_task_poll")
        self.threshold = slow_poll_threshold
        self.console_path = console_path
        #: whether each step is observed (hooks and the console need it): by the current-thread
        #: flavor's diagnosed loop, or through an Instrumented wrapper on the multi-thread
        #: flavor; the detector samples the schedulers instead, at no cost per step
        self.observe_steps = (
            poll_time_histogram
            or console_path is not None
            or any(h is not None for h in (self.on_terminate, self.on_before, self.on_after))
        )
        #: whether observed steps are timed (the console's counters, the poll-time histogram):
        #: from the start with ``poll_time_histogram=True``, else from the first time a client
        #: attaches to the console
        self.timed = poll_time_histogram
        self._sched: Scheduler | None = None
        #: sampling mode: thread id -> (task, batch counter, first seen)
        self._seen: dict[int, tuple[object, int, float]] = {}
        #: task id -> what is kept about it (spawn location, parent, counters), while the
        #: task lives: hooks, dumps, the detector's report and the console read it
        self.records: dict[int, TaskRecord] = {}
        #: whether steps are observed through an Instrumented wrapper: the flavors whose
        #: loop has no diagnosed copy (set by ``start``)
        self.wrap_steps = self.observe_steps
        #: thread id -> poll-time histogram (read by metrics); a step finds its thread's in
        #: ``thread_local.histogram``, cheaper than a lookup by thread id
        self.histograms: dict[int, list[int]] = {}
        self.thread_local = threading.local()
        self.slow_polls = 0
        self.console: ConsoleServer | None = None
        self._watchdog: threading.Thread | None = None
        self._stop = threading.Event()
        self._reported: set[tuple[int, float]] = set()

    # -- spawn ----------------------------------------------------------------------------

    def instrument(
        self, coro: Coroutine[Any, Any, Any], task_id: int, name: str | None, parent: int | None
    ) -> tuple[Coroutine[Any, Any, Any], TaskRecord]:
        """Record the new task (location, parent), run ``on_task_spawn``; on a flavor whose
        loop has no diagnosed copy, wrap its coroutine. Returns the coroutine to run and the
        record (the caller keeps it in the task: see ``Task._home``)."""
        location = spawn_location()
        meta = TaskMeta(task_id, name, location)
        rec = self.records[task_id] = TaskRecord(
            meta, parent, _clock() if self.console_path is not None else 0.0
        )
        hook = self.on_spawn
        if hook is not None:
            try:
                hook(meta)
            except Exception:
                self.hook_failed("on_task_spawn", meta)
            except BaseException:  # (a KeyboardInterrupt) the spawn fails: keep no record
                del self.records[task_id]
                raise
        if not self.wrap_steps:
            return coro, rec
        return Instrumented(coro, self, rec), rec  # type: ignore[return-value]

    # -- steps ----------------------------------------------------------------------------

    def new_histogram(self) -> list[int]:
        """The running thread's poll-time histogram, on its first timed step: created (or, for
        a thread that reuses an ended one's id, that one's) and kept in ``thread_local``."""
        ident = threading.get_ident()
        hist = self.histograms.get(ident)
        if hist is None:
            hist = self.histograms[ident] = [0] * HISTOGRAM_BUCKETS
        self.thread_local.histogram = hist
        return hist

    def terminated(self, rec: TaskRecord, outcome: str) -> None:
        """Forget an ended task; run ``on_task_terminate``."""
        meta = rec.meta
        if self.records.pop(meta.id, None) is None:
            return  # already ended (a wrapper's close, then the loop's finish)
        hook = self.on_terminate
        if hook is not None:
            done = TaskMeta(meta.id, meta.name, meta.location, outcome)
            try:
                hook(done)
            except Exception:
                self.hook_failed("on_task_terminate", done)

    def ended(
        self, task_id: int, exc: BaseException | None, ctx: contextvars.Context | None = None
    ) -> None:
        """Task ``task_id`` ended without the diagnosed loop's own completion path (an error
        or a cancellation, a task refused or closed at shutdown): as :meth:`terminated`, once.

        With the task's context ``ctx`` (a task that ran and ended), the hook runs in it, as
        every hook of a task's steps does (so it may call ``rt.dump()`` or ``rt.spawn()``)."""
        rec = self.records.get(task_id)
        if rec is None:
            return
        if ctx is not None and self.on_terminate is not None:
            try:
                ctx.run(self.terminated, rec, outcome_of(exc))
            except RuntimeError:  # the context is entered (``terminated`` lets no hook error
                pass  # out): end the task outside it, below
            else:
                return
        self.terminated(rec, outcome_of(exc))

    def hook_failed(self, what: str, meta: TaskMeta) -> None:
        """Log the exception a hook raised (call inside its ``except`` block)."""
        logger.exception("rt: the %s hook raised (task %s); the runtime goes on", what, meta.id)

    def task_stats(self) -> dict[str, dict[str, float]]:
        """Per live task: polls, busy and idle seconds, age (for the console's ``stats``)."""
        now = _clock()
        return {
            str(tid): {
                "polls": t.polls,
                "busy": t.busy,
                "idle": now - t.last_end,
                "age": now - t.started,
            }
            for tid, t in list(self.records.items())
        }

    # -- watchdog ---------------------------------------------------------------------------

    def start(self, sched: Scheduler) -> None:
        """Start the slow-poll watchdog for ``sched`` (if a threshold is set); give the console
        the live tasks' counters."""
        self._sched = sched
        # The current-thread flavor observes steps in a diagnosed copy of its loop.
        self.wrap_steps = self.observe_steps and sched.flavor != "current_thread"
        if self.console is not None:
            self.console.task_stats = self.task_stats
            self.console.attached = self._time_steps
        if self.threshold is not None and self._watchdog is None:
            self._watchdog = threading.Thread(
                target=self._watch, name="rt-slow-poll-watchdog", daemon=True
            )
            self._watchdog.start()

    def hook_raised(self, task: Any, exc: BaseException, meta: TaskMeta) -> None:
        """A step hook of the current-thread flavor's diagnosed loop raised ``exc``, a
        BaseException that is not an Exception (KeyboardInterrupt, SystemExit, GeneratorExit),
        for ``task``: raise it in the task (the loop's ``except`` clause calls this, so the
        hot path pays nothing for it).

        Left to escape the loop, it left the task it was stepping in no queue: never stepped
        again, it held ``shutdown()`` forever. Instead it is thrown into the task at its next
        step (the step about to run, for ``on_before_task_poll``), so the task ends with it,
        its ``finally`` blocks run, and ``block_on`` raises it as it does a task's own
        KeyboardInterrupt (the multi-thread flavor's wrapper does the same). After the task's
        last step there is no step to raise it in: see :meth:`raised_after_last_step`.
        """
        coro = task._coro if not task._done else None
        # (a coroutine whose frame is gone has returned: that was its last step)
        if coro is not None and getattr(coro, "cr_frame", True) is not None:
            task._throw = exc
            # After a step that parked the task: withdraw its wait and wake it, as a
            # cancellation does, so the exception does not wait for the wake-up.
            fn = task._abort_fn
            if fn is not None:
                from ._harness import withdraw
                from ._traps import Abort

                if withdraw(task, fn) is Abort.SUCCEEDED:
                    task._abort_fn = None
                    task._sched.wake(task)
            return
        self.raised_after_last_step(exc, meta)

    def raised_after_last_step(self, exc: BaseException, meta: TaskMeta) -> None:
        """``on_after_task_poll`` raised ``exc``, a BaseException that is not an Exception,
        after the step that ended its task (both flavors call this).

        There is no step left to raise it in, and the task keeps its own outcome: its result
        or error (its joiner gets that, and its terminate hook that outcome). A
        KeyboardInterrupt or SystemExit stops the runtime as a task's own does: the running
        ``block_on`` raises it, as it does when a hook raises it during an earlier step (a
        Ctrl-C that lands in a hook is not lost). Anything else (a GeneratorExit) is logged,
        as a hook's ``Exception`` is.
        """
        sched = self._sched
        if isinstance(exc, KeyboardInterrupt | SystemExit) and sched is not None:
            from ._harness import stop_runtime

            stop_runtime(sched, exc)
            return
        logger.error(
            "rt: the on_after_task_poll hook raised %r after task %s's last step; the runtime "
            "goes on",
            exc,
            meta.id,
            exc_info=(type(exc), exc, exc.__traceback__),
        )

    def _watch(self) -> None:
        threshold = self.threshold
        assert threshold is not None
        # (at most a minute: a wait of days overflows the platform's timeout; the detector
        # measures what a step held from its clock, so a shorter period reports the same)
        period = min(max(threshold / 4, 0.001), 60.0)
        while not self._stop.wait(period):
            self._sample(time.perf_counter(), threshold)

    def _sample(self, now: float, threshold: float) -> None:
        """The detector, at no cost per step: per worker thread, the task it is stepping and
        its batch counters (polls and parks, bumped when a batch of steps ends); the same
        task under unchanged counters for ``threshold`` means one step (or, rarely, a batch of
        back-to-back steps of that one task) held the thread that long."""
        sched = self._sched
        if sched is None:
            return
        workers = getattr(sched, "_workers", None)
        if workers is not None:
            states = [(w.ident, w._current, w.polls + w.park_count) for w in workers]
        else:
            ident = getattr(sched, "_thread_id", None) or 0
            states = [(ident, sched._current, sched._polls + sched._park_count)]  # type: ignore[attr-defined]
        for ident, task, counter in states:
            if task is None or not ident:
                self._seen.pop(ident, None)
                continue
            seen = self._seen.get(ident)
            if seen is None or seen[0] is not task or seen[1] != counter:
                self._seen[ident] = (task, counter, now)
                continue
            held = now - seen[2]
            key = (ident, seen[2])
            if held < threshold or key in self._reported:
                continue
            self._reported.add(key)
            self.slow_polls += 1
            rec = self.records.get(task._id)  # type: ignore[attr-defined]
            location = rec.meta.location if rec is not None else None
            self._report(ident, TaskMeta(task._id, task._name, location), held)  # type: ignore[attr-defined]
        if len(self._reported) > 1024:
            self._reported = {(i, s[2]) for i, s in self._seen.items()}

    def _report(self, ident: int, meta: TaskMeta, held: float) -> None:
        frame = thread_frame(ident)
        stack: list[str] = []
        while frame is not None:
            code = frame.f_code
            stack.append(f"{code.co_filename}:{frame.f_lineno} in {code.co_qualname}")
            frame = frame.f_back
        stack.reverse()
        # The blocking frame is the innermost line of the program's own code: outside rt, the
        # standard library and installed packages (the `time.sleep(...)` or `requests.get(...)`
        # call, not the socket read deep inside it).
        culprit = next((s for s in reversed(stack) if not _is_library(s)), None)
        if culprit is None:
            culprit = next((s for s in reversed(stack) if not _is_rt(s)), "?")
        logger.warning(
            "rt: task %s%s has held its thread for %.3f s in one poll (threshold %.3f s), "
            "at %s; spawned at %s",
            meta.id,
            f" ({meta.name})" if meta.name else "",
            held,
            self.threshold,
            culprit,
            meta.location or "?",
            extra={
                "task_id": meta.id,
                "task_name": meta.name,
                "task_location": meta.location,
                "poll_seconds": held,
                "blocking_frame": culprit,
                "stack": stack,
            },
        )

    def _time_steps(self) -> None:
        self.timed = True

    def histogram_for(self, ident: int) -> tuple[int, ...]:
        """Poll-time histogram of thread ``ident`` (empty when steps are not timed)."""
        if not self.timed:
            return ()
        hist = self.histograms.get(ident)
        return tuple(hist) if hist is not None else (0,) * HISTOGRAM_BUCKETS

    def close(self) -> None:
        """Stop the watchdog and the console endpoint; idempotent."""
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join()
            self._watchdog = None
        if self.console is not None:
            self.console.close()
