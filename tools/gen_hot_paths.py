"""Write the hot paths that rt inlines in more than one place, from one source.

    python tools/gen_hot_paths.py          # rewrite the generated blocks
    python tools/gen_hot_paths.py --check  # exit 1 if a block differs or is missing (the test
                                           # suite runs it: rt-core's and rt-sync's tests)

The current-thread loop (``_scheduler.py``) and the multi-thread one (``_worker_loop.py``)
inline a few lines where a function call would cost a measurable share of a spawn: checking a
freshly spawned coroutine and building its task (in each flavor's ``spawn_here`` and in
``rt.spawn`` itself, ``_runtime.py``; ``_task.py`` sets the task's fields in two more
places), and settling a task that returned a value (what ``_harness.settle`` does, without
the call). rt-sync's mpsc receiver writes its whole receive out twice, in ``Receiver.recv``
and ``Receiver.__anext__`` (``async for``), which differ only in how they end: ``recv``
raises ``ChannelClosed`` on an ended channel, iteration stops (``MPSC_RECEIVE``). None of
these is kept by hand in two places: each copy sits between ``# <generated: NAME>`` and
``# </generated: NAME>`` lines and is written here from :data:`BLOCKS`, at the indentation
of its markers. :data:`TARGETS` names the files and the blocks each must hold (a name once
per copy), so a copy whose markers were removed (to hand-edit it) fails the check as well.

Rules for a template: a ``# <NAME>`` line inside a block is block NAME, indented as that
line; ``_variant`` and ``_ending`` make several blocks from one template, where the copies
must differ. The generated text is the text a careful hand would write (same statements, so
the same bytecode: only comments and line numbers may move); edit it here, never in place.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "packages" / "rt-core" / "src" / "rt" / "_core"
SYNC = ROOT / "packages" / "rt-sync" / "src" / "rt" / "sync"

BLOCKS: dict[str, str] = {
    # ``rt.spawn`` from a running task (each flavor's ``spawn_here``, and ``rt.spawn`` itself
    # on the current-thread flavor, one Python call less per spawn; ``sched`` is the scheduler,
    # ``obj`` what was passed, and ``coro`` the coroutine and ``task`` the task, their types
    # declared by the host): a
    # coroutine object that is not running skips the full check, and the task is
    # built and owned by the runtime; what is left is the flavor's own queueing. (Not
    # ``cr_frame``: reading it makes a frame object that the task keeps for its whole life,
    # about 200 bytes. A coroutine that has already finished fails at its first step instead,
    # with the TypeError ``_harness.finish`` makes of it.) As Python the task is made without
    # calling the class, its fields set in place (``_task.new_handle`` says why); the compiled
    # build calls the class. A ``# <NAME>`` line inside a block is block NAME.
    "spawn_here": """\
if type(obj) is _CoroType and not obj.cr_running and not obj.cr_suspended:
    coro = obj
else:
    coro = coerce_coroutine(obj, "rt.spawn()")
if sched._closed or name is not None or sched._diag is not None:
    return sched.spawn(coro, name)
task_id = next(_task_ids)
ctx = copy_context()
if COMPILED:
    task = Task(_KEY, coro, None, sched, ctx, task_id)
else:
    task = new_object(Task)
    # <task_fields>
sched._tasks.add(task)
""",
    # The multi-thread flavor's queueing of a task ``spawn_here`` just built (``Worker.spawn_here``
    # and ``rt.spawn`` itself; ``w`` is the spawning worker, ``sched`` its scheduler): onto the
    # back of ``w``'s local queue, and a parked worker is woken to steal it.
    "worker_queue_spawned": """\
task._state = SCHEDULED
task._home = w
w.spawned += 1
if w.in_place:  # spawned inside rt.task.block_in_place: for the other workers
    sched._inject.append(task)
    notify_parked(sched)
    return task
w.local.append(task)
if sched._idle:
    notify_parked(sched)
return task
""",
    # A new task's fields (``JoinHandle.__init__``, ``_task.new_handle`` and the spawn
    # paths above), from ``coro``, ``name``, ``sched``, ``ctx`` and ``task_id``: see
    # ``JoinHandle`` for what each one holds. ``_result`` and ``_exc`` stay unset until the
    # task finishes, ``_supervised`` and ``_unread`` unless the task has them; ``_state`` and
    # ``_home`` are the multi-thread flavor's, which sets them.
    "task_fields": """\
task._coro = coro
task._ctx = ctx
task._sched = sched
task._id = task_id
task._name = name
task._throw = None
task._abort_fn = None
task._cancelled = False
task._abort_requested = False
task._scopes = None
task._done = False
task._joiner = None
task._waiters = None
task._coop = 0
task._pinned = None
""",
    # ``_harness.settle(sched, task, value, None)``, inlined: the common completion. The
    # task is marked done *before* its joiner and waiters are read, and the waiters lock is
    # taken only when there is one to take: a waiter that registers meanwhile (under the lock)
    # checks ``_done`` again after registering and withdraws if it is set (``JoinHandle``'s
    # ``__await__`` and ``_add_waiter``), so it is either seen here or not parked at all. Most
    # tasks finish before anyone awaits them, and the lock round trip cost about a twentieth
    # of a spawn-and-join. (The current-thread loop also takes a joiner of its own runtime
    # without the lock: see ``CT_LOOP``.)
    "settle_fields": """\
tasks_discard(task)
task._result = stop.value
task._exc = None
task._coro = None
task._ctx = None  # type: ignore[assignment]
task._done = True
joiner = task._joiner
waiters = task._waiters
""",
    # The joiner and waiters, taken under the lock (re-read: a cancelled waiter may have
    # withdrawn since). The lock goes through its bound ``acquire`` and ``release`` (locals of
    # the loop), not ``with``: on 3.11 a ``with`` on an RLock costs about twice as much. The
    # acquire is inside the ``try``, so an exception raised by a signal handler just after it
    # returns still releases the lock.
    "take_waiters": """\
try:
    waiters_acquire()
    joiner = task._joiner
    waiters = task._waiters
    task._joiner = task._waiters = None
finally:
    waiters_release()
""",
    "settle_value": """\
# <settle_fields>
if joiner is not None or waiters is not None:
    # <take_waiters>
""",
}

# The current-thread loop (``CurrentThreadScheduler._run_until``) and its diagnosed copy
# (``_run_until_diagnosed``), from one template: a line ending in ``  #+`` is the diagnosed
# copy's only (the marker dropped), every other line is in both. A runtime that observes
# steps (a poll or terminate hook, the console, the poll-time histogram) runs the diagnosed
# copy, chosen once per ``_run_until``: it calls the hooks and reads the clock around the
# raw coroutine's step, with the task's ``TaskRecord`` from the task itself (``_home``, set
# at spawn on a diagnosed runtime's tasks; ``diag`` is the runtime's ``Diagnostics``), so
# the plain loop has no test for it. ``diag_stepped`` ends an observed step: timed (the
# step's time runs from the end of the one before it in the batch, so one clock read per
# step; a step under 1 µs, the common one, touches no histogram bucket: bucket 0 gets the
# segment's steps less the ``other`` ones when the segment ends), then the after-poll hook.
CT_LOOP = """\
ready = self._ready
inject = self._inject
popleft = ready.popleft
append = ready.append
interval = self._event_interval
tasks_discard = self._tasks.discard
waiters_acquire = _WAITERS_LOCK.acquire
waiters_release = _WAITERS_LOCK.release
since_poll = 0
yield_trap = YIELD
park_trap = PARK
coro_type = _CoroType
coro_send = _CoroType.send
on_before = diag.on_before  #+
on_after = diag.on_after  #+
clock = _clock  #+
# the thread's poll-time histogram, taken at the first timed step  #+
hist: list[int] = []  #+
mark = 0.0  #+
# the segment's steps that bucket 0 (under 1 µs) does not count: the longer ones and the  #+
# unobserved; bucket 0 gets the rest when the segment ends, not a count per step  #+
other = 0  #+
rec: TaskRecord | None  #+
while not main._done:
    n = len(ready)
    if n:
        if n > interval:  # noqa: PLR1730 - min() is a call on the hot path
            n = interval
        left = n
        # Whether steps are timed is read per batch and, until they are, per segment (a  #+
        # console client may attach meanwhile). A timed step reads the clock once, where it  #+
        # ends: its time runs from the end of the step before it in the batch (or from the  #+
        # batch's start).  #+
        timed = diag.timed  #+
        if timed:  #+
            if not hist:  #+
                hist = diag.new_histogram()  #+
            mark = clock()  #+
        while True:
            while left:  # not ``range(n)``: a segment is often one step (chain, ping-pong)
                left -= 1
                task = popleft()
                self._current = task
                task._abort_fn = None  # it runs: whatever it waited on is over
                rec = task._home  # (a diagnosed runtime's tasks: see ``Task._home``)  #+
                if rec is None:  # the runtime's own shutdown sentinel is not observed  #+
                    other += 1  #+
                elif on_before is not None:  #+
                    try:  #+
                        # in the task's context, as the wrapped steps of the multi-thread  #+
                        # flavor: a hook may call rt.dump(), rt.spawn(), Handle.current()  #+
                        task._ctx.run(on_before, rec.meta)  #+
                    except Exception:  #+
                        diag.hook_failed("on_before_task_poll", rec.meta)  #+
                    # KeyboardInterrupt...: see hook_raised  #+
                    except BaseException as raised:  #+
                        diag.hook_raised(task, raised, rec.meta)  #+
                exc = task._throw
                try:
                    if exc is None:
                        if task._cancelled and task._is_unstarted():
                            # Aborted from another thread before its first step (the
                            # posted delivery may come later): it never runs.
                            exc = Cancelled("the task was aborted before it started")
                            trap = task._ctx.run(task._coro.throw, exc)  # type: ignore[union-attr]
                        else:
                            coro = task._coro
                            if type(coro) is coro_type:
                                # The unbound ``send``: no bound method allocated per step.
                                trap = task._ctx.run(coro_send, coro, None)
                            else:
                                trap = task._ctx.run(coro.send, None)  # type: ignore[union-attr]
                    else:
                        task._throw = None
                        trap = task._ctx.run(task._coro.throw, exc)  # type: ignore[union-attr]
                except StopIteration as stop:
                    if rec is not None:  #+
                        # <diag_stepped>  #+
                        task._ctx.run(diag.terminated, rec, OK)  #+
                        task._home = None  # it lets go of its record  #+
                    # The common completion, inlined: a value, at most one joiner.
                    # <settle_fields>
                    if waiters is not None or (
                        joiner is not None and joiner._sched is not self
                    ):
                        # <take_waiters>
                    elif joiner is not None:
                        # A joiner of this runtime needs no lock either: only this thread
                        # registers or withdraws it (a cancel from another thread is posted
                        # here), and a waiter from another thread that registers meanwhile
                        # goes to ``_waiters``, sees the task done and withdraws.
                        task._joiner = None
                    if joiner is not None:
                        if joiner._sched is self:
                            append(joiner)
                        else:
                            joiner._sched.wake(joiner)
                    if waiters is not None:
                        self._current = None
                        run_waiters(task, waiters)
                    continue
                except BaseException as err:
                    if rec is not None:  #+
                        # <diag_stepped>  #+
                    # (``finish`` runs the terminate hook, with the outcome ``err`` makes)  #+
                    task._home = None  #+
                    self._current = None
                    self._finish(task, None, err)
                    # Let go of the task now: if nobody else holds it, it is dropped here
                    # and an unread failure reported before this batch ends.
                    del task
                    continue
                if rec is not None:  #+
                    # <diag_stepped>  #+
                if trap is yield_trap:
                    if task._cancelled:
                        task._throw = Cancelled()
                    append(task)
                elif trap is not park_trap:
                    self._bad_yield(task, trap)
                elif task._cancelled:
                    self.deliver_cancel(task)
            # The segment ran out: the tasks queued while it ran (in a chain or a
            # ping-pong, one at a time) run next, in the same batch while the budget
            # between two driver polls lasts. Polls are counted per segment: the
            # slow-poll detector relies on a segment running each task at most once.
            self._polls += n
            if timed:  #+
                hist[0] += n - other  #+
            other = 0  #+
            since_poll += n
            if (
                not ready
                or since_poll >= interval
                or main._done
                or deadline is not None
                or self._fatal is not None
            ):
                break
            if not timed:  #+
                timed = diag.timed  #+
                if timed:  #+
                    hist = diag.new_histogram()  #+
                    mark = clock()  #+
            n = len(ready)
            if n > interval:  # noqa: PLR1730 - min() is a call on the hot path
                n = interval
            left = n
        self._current = None
        if self._fatal is not None:
            self._raise_fatal()
        if deadline is not None and time.monotonic() >= deadline:
            return
        if ready:
            if since_poll < interval:
                continue
        else:
            # The queue ran dry: the idle path below parks in the driver right away,
            # which polls I/O and timers anyway. A poll here first would be a second
            # epoll_wait per idle turn (one per request on a lightly loaded server).
            since_poll = 0
            continue
        since_poll = 0
        self._driver.park(0)
        while inject:
            self._run_callback(inject.popleft())
        continue
    # Nothing runnable: run posted callbacks, then sleep in the driver.
    while inject:
        self._run_callback(inject.popleft())
    if self._fatal is not None:
        self._raise_fatal()
    if ready or main._done:
        continue
    self._parked = True
    self._bottom._pre_block = True  # until the wait is over: see ``wake``
    if ready or inject:
        self._parked = False
        continue
    timeout = None
    if deadline is not None:
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            self._parked = False
            return
    t0 = time.perf_counter()
    try:
        self._driver.park(timeout)
    finally:
        self._parked = False
        self._park_count += 1
        self._parked_time += time.perf_counter() - t0
    while inject:
        self._run_callback(inject.popleft())

"""

DIAG_STEPPED = """\
if timed:
    now = clock()
    took = now - mark
    mark = now
    rec.polls += 1
    rec.busy += took
    rec.last_end = now
    if took >= 1e-06:  # (bucket 0 is counted per segment)
        other += 1
        if took < 4e-06:  # (buckets 1 and 2 without int())
            hist[1 if took < 2e-06 else 2] += 1
        else:
            bucket = int(took * 1e6).bit_length()
            hist[bucket if bucket < _LAST else _LAST] += 1
if on_after is not None:
    try:
        task._ctx.run(on_after, rec.meta)
    except Exception:
        diag.hook_failed("on_after_task_poll", rec.meta)
    # KeyboardInterrupt...: see hook_raised
    except BaseException as raised:
        diag.hook_raised(task, raised, rec.meta)
"""


def _variant(template: str, diagnosed: bool) -> str:
    """``template`` with its ``  #+`` lines kept (marker dropped) or left out."""
    out = []
    for line in template.splitlines(True):
        if line.rstrip("\n").endswith("  #+"):
            if diagnosed:
                out.append(line.rstrip("\n")[:-4] + "\n")
        else:
            out.append(line)
    return "".join(out)


BLOCKS["ct_run_until"] = _variant(CT_LOOP, diagnosed=False)
BLOCKS["ct_run_until_diagnosed"] = _variant(CT_LOOP, diagnosed=True)
BLOCKS["diag_stepped"] = DIAG_STEPPED


# rt-sync's mpsc receive (``Receiver.recv`` and ``Receiver.__anext__``, ``_mpsc.py``), from
# one template: the whole receive written out, no helper call on every consumer's hot path
# (the budget charged first, a checkpoint then finding nothing taken; the lock-free take of a
# buffered value; then under the lock a value, the full checks, or the common wait written
# out, each wait looking again once queued; a parked receiver handed its value returns it).
# The ``# <ENDED>`` line is where the two differ: ``_register`` raises ``ChannelClosed`` when
# the channel has ended, which ``recv`` lets through and ``async for`` turns into the end of
# the iteration (``MPSC_ENDED``).
MPSC_RECEIVE = """\
ch = self._chan
# The whole receive is written out here (no helper calls): it is every consumer's
# hot path, in ``recv`` and in ``async for`` (tools/gen_hot_paths.py writes both
# from one template). The budget is charged first (a checkpoint must find nothing
# taken).
ops = self._ops + 1
if ops < _BATCH:
    self._ops = ops
else:
    self._ops = 0
    if budget_spent(_BATCH):
        await checkpoint()
# Lock-free when a value is buffered: only the receiver removes values, and deque
# operations are atomic. Senders decide about room under the lock and look again
# after queueing themselves (``_Chan.enqueue_sender``); we look for them after taking.
buf = ch.buf
if buf and _LOCK_FREE_RECEIVE:
    try:
        value = buf.popleft()
    except IndexError:  # another task receives concurrently (misuse): slow path
        pass
    else:
        if ch.send_waiters:
            ch.lock.acquire()
            try:
                refilled = ch.refill()
            finally:
                ch.lock.release()
            _wake_all(refilled)
        return value
while True:
    ch.lock.acquire()
    try:
        buf = ch.buf
        if buf:
            value = buf.popleft()
            woken = ch.refill() if ch.send_waiters else None
            w = None  # (no `break` inside `try`: mypyc does not implement it)
        elif ch.recv_waiters or ch.reserved or ch.closed or not ch.senders:
            # <ENDED>
            if self._withdrawn(w):
                w = _AGAIN
        else:  # the common case, written out: only a send or a close ends the wait
            w = Waiter(current_task())
            ch.recv_waiters[w] = None
            # Look again (``_withdrawn``, cheaper): one made while w was being queued.
            if (buf or ch.closed or not ch.senders) and ch.recv_waiters.remove(w):
                w = _AGAIN
    finally:
        ch.lock.release()
    if w is None:
        if woken:
            _wake_all(woken)
        return value
    if w is not _AGAIN:
        w._lock = ch.lock  # park(), written out: one call less per receive that waits
        w._queue = ch.recv_waiters
        await wait_task_rescheduled(w, w.task)
        if w.n == _HANDOFF:
            return w.value  # type: ignore[no-any-return]
"""

# How each copy of ``MPSC_RECEIVE`` meets an ended channel (its ``# <ENDED>`` line).
MPSC_ENDED = {
    "mpsc_recv": """\
w = self._register()  # the checks and errors, in full (ChannelClosed: ended)
""",
    "mpsc_anext": """\
try:
    w = self._register()  # the checks and errors, in full
except ChannelClosed:  # the channel ended: so does the iteration
    raise chained(StopAsyncIteration(), None)  # noqa: B904
""",
}


def _ending(template: str, ending: str) -> str:
    """``template`` with its ``# <ENDED>`` line replaced by ``ending``, at that line's indent."""
    out = []
    slots = 0
    for line in template.splitlines(True):
        if line.strip() == "# <ENDED>":
            slots += 1
            pad = line[: len(line) - len(line.lstrip())]
            out += [pad + inner if inner.strip() else inner for inner in ending.splitlines(True)]
        else:
            out.append(line)
    if slots != 1:
        raise ValueError(f"a template needs one '# <ENDED>' line, this one has {slots}")
    return "".join(out)


for _name, _ended in MPSC_ENDED.items():
    BLOCKS[_name] = _ending(MPSC_RECEIVE, _ended)


# The files holding generated blocks, and the blocks each must hold (a name once per copy).
TARGETS: dict[Path, tuple[str, ...]] = {
    CORE / "_scheduler.py": ("spawn_here", "ct_run_until", "ct_run_until_diagnosed"),
    CORE / "_worker_loop.py": ("settle_value",),
    CORE / "_idle.py": ("spawn_here", "worker_queue_spawned"),
    CORE / "_task.py": ("task_fields", "task_fields"),
    CORE / "_runtime.py": ("spawn_here", "spawn_here", "worker_queue_spawned"),
    SYNC / "_mpsc.py": ("mpsc_recv", "mpsc_anext"),
}

_BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)# <generated: (?P<name>\w+)>\n"
    r"(?P<body>.*?)"
    r"^(?P=indent)# </generated: (?P=name)>\n",
    re.M | re.S,
)


def _expand(block: str) -> list[str]:
    """The lines of ``block``, with a ``# <NAME>`` line replaced by block NAME (indented)."""
    out = []
    for line in block.splitlines(True):
        name = line.strip()[3:-1] if line.strip().startswith("# <") else ""
        if name in BLOCKS:
            pad = line[: len(line) - len(line.lstrip())]
            out += [pad + inner if inner.strip() else inner for inner in _expand(BLOCKS[name])]
        else:
            out.append(line)
    return out


def render(text: str) -> str:
    """Return ``text`` with every generated block rewritten from :data:`BLOCKS`."""

    def one(m: re.Match[str]) -> str:
        indent, name = m.group("indent"), m.group("name")
        body = "".join(indent + line if line.strip() else line for line in _expand(BLOCKS[name]))
        return f"{indent}# <generated: {name}>\n{body}{indent}# </generated: {name}>\n"

    return _BLOCK.sub(one, text)


def missing(text: str, names: tuple[str, ...]) -> list[str]:
    """The blocks among ``names`` (a name once per copy the file must hold) that ``text``
    holds fewer generated copies of, once per copy missing."""
    held = Counter(m.group("name") for m in _BLOCK.finditer(text))
    lost = []
    for name, want in Counter(names).items():
        lost += [name] * max(0, want - held[name])
    return lost


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    lost = []
    for path, names in TARGETS.items():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        lost += [f"{rel}: {name}" for name in missing(text, names)]
        new = render(text)
        if new != text:
            stale.append(rel)
            if not check:
                path.write_text(new)
    if lost:
        print(
            f"generated blocks missing (their markers were removed): {', '.join(lost)}; put "
            "back the '# <generated: NAME>' / '# </generated: NAME>' lines, then run "
            "python tools/gen_hot_paths.py",
            file=sys.stderr,
        )
    if check and stale:
        print(
            f"generated hot paths out of date in {', '.join(stale)}: "
            "run python tools/gen_hot_paths.py (edit the templates there, not the copies)",
            file=sys.stderr,
        )
    return 1 if lost or (check and stale) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
