"""Write the hot paths that rt-core's two schedulers inline, from one source.

    python tools/gen_hot_paths.py          # rewrite the generated blocks
    python tools/gen_hot_paths.py --check  # exit 1 if a block differs (the test suite runs it)

The current-thread loop (``_scheduler.py``) and the multi-thread one (``_worker_loop.py``)
inline a few lines where a function call would cost a measurable share of a spawn: checking a
freshly spawned coroutine and building its task (in each flavor's ``spawn_here`` and in
``rt.spawn`` itself, ``_runtime.py``; ``_task.py`` sets the task's fields in two more
places), and settling a task that returned a value (what ``_harness.settle`` does, without
the call). They are not kept by hand in two places: each copy sits between
``# <generated: NAME>`` and ``# </generated: NAME>`` lines and is written here from
:data:`BLOCKS`, at the indentation of its markers.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "packages" / "rt-core" / "src" / "rt" / "_core"

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
    # waiters lock is taken through its bound ``acquire`` and ``release`` (locals of the loop),
    # not ``with``: on 3.11 a ``with`` on an RLock costs about twice as much (two special
    # method lookups, two bound methods and an argument tuple per round trip). The acquire is
    # inside the ``try``, so an exception raised by a signal handler just after it returns
    # still releases the lock.
    "settle_value": """\
tasks_discard(task)
task._result = stop.value
task._exc = None
task._coro = None
task._ctx = None  # type: ignore[assignment]
try:
    waiters_acquire()
    task._done = True
    joiner = task._joiner
    waiters = task._waiters
    task._joiner = task._waiters = None
finally:
    waiters_release()
""",
}

FILES = ("_scheduler.py", "_worker_loop.py", "_idle.py", "_task.py", "_runtime.py")

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


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name in FILES:
        path = CORE / name
        text = path.read_text()
        new = render(text)
        if new != text:
            stale.append(name)
            if not check:
                path.write_text(new)
    if check and stale:
        print(
            f"generated hot paths out of date in {', '.join(stale)}: "
            "run python tools/gen_hot_paths.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
