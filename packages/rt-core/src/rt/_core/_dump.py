"""Task dumps: a snapshot of every live task, readable from any thread.

:func:`take_dump` walks the scheduler's task set once and, per task, reads what is already
there: whether it is parked (its abort slot is set), what it is parked on (the object behind
the abort slot, which may say so itself through ``_describe_wait()``), and its await chain (the
``cr_await`` links from the task's coroutine down to the innermost suspended awaitable). A task
that a worker is stepping right now is reported as ``running``, with the stack of that thread
when the caller asked for it (``sys._current_frames``), so a dump taken while a task blocks
the runtime's thread shows the blocking frame.

Nothing here runs on the hot path: spawn location and parent are recorded only when the
runtime keeps diagnostics (``Runtime(console=...)``, a task hook, or ``slow_poll_threshold``),
in a side table of the scheduler, so an ordinary task carries no extra slot.

Reading another thread's objects without a lock is safe under the GIL and, on free-threaded
builds, gives a snapshot that may mix states a few steps apart; a dump is a diagnostic, not a
synchronisation point. The task set is copied with a retry, since another thread may add to it
while it is copied.
"""

from __future__ import annotations

import os
import sys
import time
import types
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final, final

from ._diagnostics import Instrumented, thread_frame

if TYPE_CHECKING:
    from types import FrameType

    from ._base import Scheduler
    from ._task import JoinHandle

RUNNING: Final = "running"
RUNNABLE: Final = "runnable"
PARKED: Final = "parked"
DONE: Final = "done"


#: how much of a task name a line of ``ps`` or of the tree shows (the dump keeps it whole)
NAME_LIMIT: Final = 60


def printable(text: str, limit: int | None = None) -> str:
    """``text`` for one line of a terminal: line breaks, escape sequences and other control
    characters shown as escapes (``\\n``, ``\\x1b``), cut to ``limit`` characters with ``…``.

    A task name is the program's to choose; printed raw, a newline in it splits a row of
    ``python -m rt ps`` in two and an escape sequence restyles the reader's terminal.
    """
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


@final
class FrameInfo:
    """One frame of a task's await chain (or of the thread running it)."""

    __slots__ = ("file", "function", "line")

    def __init__(self, function: str, file: str, line: int) -> None:
        self.function = function
        self.file = file
        self.line = line

    def __repr__(self) -> str:
        return f"{self.function} ({self.file}:{self.line})"

    def to_dict(self) -> dict[str, Any]:
        """Return the frame as a JSON-ready dict."""
        return {"function": self.function, "file": self.file, "line": self.line}


@final
class TaskInfo:
    """What a dump knows about one task.

    Attributes:
        id: The task id (``JoinHandle.id``).
        name: The task name, or ``None``.
        state: ``"running"``, ``"runnable"`` or ``"parked"``.
        waiting_on: For a parked task, what it waits on (a deadline, a channel, a lock, an fd
            and direction, another task's join), as text; ``None`` otherwise.
        location: ``file:line`` where it was spawned, when the runtime records it.
        parent: The id of the task that spawned it, when known.
        frames: The await chain, outermost first.
    """

    __slots__ = ("frames", "id", "location", "name", "parent", "state", "waiting_on")

    def __init__(
        self,
        id: int,
        name: str | None,
        *,
        state: str,
        waiting_on: str | None,
        location: str | None,
        parent: int | None,
        frames: tuple[FrameInfo, ...],
    ) -> None:
        self.id = id
        self.name = name
        self.state = state
        self.waiting_on = waiting_on
        self.location = location
        self.parent = parent
        self.frames = frames

    def __repr__(self) -> str:
        return f"<TaskInfo #{self.id} {self.name or ''} {self.state}>"

    def headline(self) -> str:
        """One line: id, name, state and what it waits on, spawn location (a name's line
        breaks and control characters escaped, so the line stays one line)."""
        text = f"#{self.id}"
        if self.name:
            text += f" {printable(self.name, NAME_LIMIT)}"
        text += f" [{self.state}"
        if self.waiting_on:
            text += f": {printable(self.waiting_on)}"
        text += "]"
        if self.location:
            text += f" spawned at {self.location}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Return the task as a JSON-ready dict."""
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "waiting_on": self.waiting_on,
            "location": self.location,
            "parent": self.parent,
            "frames": [f.to_dict() for f in self.frames],
        }


@final
class TaskDump:
    """A snapshot of every live task of a runtime (``rt.dump()`` / ``Handle.dump()``).

    ``str(dump)`` prints the task tree (children under the task that spawned them, each with
    its state and await chain); :meth:`to_dict` is JSON-ready; iterating yields
    :class:`TaskInfo` objects.
    """

    __slots__ = ("flavor", "pid", "taken_at", "tasks")

    def __init__(self, flavor: str, tasks: tuple[TaskInfo, ...], pid: int, taken_at: float) -> None:
        self.flavor = flavor
        self.tasks = tasks
        self.pid = pid
        self.taken_at = taken_at

    def __iter__(self) -> Iterator[TaskInfo]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def __repr__(self) -> str:
        return f"<TaskDump {self.flavor} pid={self.pid} tasks={len(self.tasks)}>"

    def __str__(self) -> str:
        return render_tree(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """Return the dump as a JSON-ready dict (``json.dumps(dump.to_dict())`` works)."""
        return {
            "pid": self.pid,
            "flavor": self.flavor,
            "taken_at": self.taken_at,
            "tasks": [t.to_dict() for t in self.tasks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskDump:
        """Rebuild a dump from :meth:`to_dict`'s output (what the console endpoint sends)."""
        tasks = tuple(
            TaskInfo(
                t["id"],
                t["name"],
                state=t["state"],
                waiting_on=t["waiting_on"],
                location=t["location"],
                parent=t["parent"],
                frames=tuple(FrameInfo(f["function"], f["file"], f["line"]) for f in t["frames"]),
            )
            for t in data["tasks"]
        )
        return cls(data["flavor"], tasks, data["pid"], data["taken_at"])


def render_tree(data: dict[str, Any], *, frames: bool = True) -> str:
    """Render a dumped runtime (``TaskDump.to_dict()``) as an indented tree."""
    tasks: list[dict[str, Any]] = data["tasks"]
    by_id = {t["id"]: t for t in tasks}
    children: dict[int | None, list[dict[str, Any]]] = {}
    for t in tasks:
        parent = t["parent"] if t["parent"] in by_id else None
        children.setdefault(parent, []).append(t)
    lines = [f"rt runtime (pid {data['pid']}, {data['flavor']}): {len(tasks)} live tasks"]

    def info(t: dict[str, Any]) -> TaskInfo:
        return TaskInfo(
            t["id"],
            t["name"],
            state=t["state"],
            waiting_on=t["waiting_on"],
            location=t["location"],
            parent=None,
            frames=(),
        )

    def walk(t: dict[str, Any], prefix: str, last: bool) -> None:
        lines.append(prefix + ("└── " if last else "├── ") + info(t).headline())
        inner = prefix + ("    " if last else "│   ")
        kids = children.get(t["id"], [])
        if frames:
            bar = "│   " if kids else "    "
            for f in t["frames"]:
                lines.append(f"{inner}{bar}  {f['function']} ({f['file']}:{f['line']})")
        for i, kid in enumerate(kids):
            walk(kid, inner, i == len(kids) - 1)

    roots = children.get(None, [])
    for i, t in enumerate(roots):
        walk(t, "", i == len(roots) - 1)
    return "\n".join(lines)


def await_chain(
    coro: Any, cache: dict[tuple[Any, int], FrameInfo] | None = None
) -> tuple[FrameInfo, ...]:
    """The frames from ``coro`` down its ``cr_await`` / ``gi_yieldfrom`` links.

    ``cache`` shares one :class:`FrameInfo` among tasks suspended at the same line (a dump of
    100,000 tasks parked at one ``await`` builds it once).
    """
    out: list[FrameInfo] = []
    obj = coro
    depth = 0
    while obj is not None and depth < 256:
        depth += 1
        kind = type(obj)
        if kind is _CoroType:
            frame, nxt = obj.cr_frame, obj.cr_await
        elif kind is _GenType:
            frame, nxt = obj.gi_frame, obj.gi_yieldfrom
        elif kind is _AsyncGenType:
            frame, nxt = obj.ag_frame, obj.ag_await
        else:
            if kind is Instrumented:  # a diagnosed runtime's wrapper: look through it
                obj = obj._coro
                continue
            # anything else that forwards them
            frame = getattr(obj, "cr_frame", None)
            nxt = getattr(obj, "cr_await", None)
            if frame is None:
                compiled = compiled_frame(kind)
                if compiled is not None:  # where the chain ends: nothing to follow below
                    out.append(compiled)
        if frame is not None:
            key = (frame.f_code, frame.f_lineno or 0)
            info = cache.get(key) if cache is not None else None
            if info is None:
                code = frame.f_code
                info = FrameInfo(code.co_qualname, code.co_filename, key[1])
                if cache is not None:
                    cache[key] = info
            out.append(info)
        obj = nxt
    return tuple(out)


_COMPILED_FRAMES: dict[type, FrameInfo | None] = {}


def compiled_frame(kind: type) -> FrameInfo | None:
    """The frame of a coroutine compiled by mypyc (rt's optional build), or None.

    Such a coroutine has no Python frame and does not say what it awaits, so an await chain
    ends at it; this names it as a frame would: its function's qualified name and its module's
    file, line 0 (compiled code keeps no line numbers). mypyc runs an ``async def`` as an
    instance of a class it names after the function, in the function's module:
    ``<function>_gen`` for a module function, ``<method>_<Class>_gen`` for a method.
    """
    if kind in _COMPILED_FRAMES:
        return _COMPILED_FRAMES[kind]
    info = None
    module = sys.modules.get(kind.__module__)
    name = kind.__name__
    if module is not None and name.endswith("_gen") and hasattr(kind, "__internal_mypyc_setup"):
        stem = name.removesuffix("_gen")
        qualname = stem if callable(getattr(module, stem, None)) else None
        for cls_name, cls in vars(module).items():
            if qualname is not None:
                break
            method = stem.removesuffix("_" + cls_name)
            if isinstance(cls, type) and method != stem and method in vars(cls):
                qualname = f"{cls_name}.{method}"
        if qualname is not None:
            info = FrameInfo(qualname, getattr(module, "__file__", None) or "", 0)
    _COMPILED_FRAMES[kind] = info
    return info


_CoroType: Final = types.CoroutineType
_GenType: Final = types.GeneratorType
_AsyncGenType: Final = types.AsyncGeneratorType


def thread_frames(thread_id: int, start: object = None) -> tuple[FrameInfo, ...]:
    """The stack of a live thread, outermost first (empty when the thread is gone).

    With ``start`` (a code object), the stack begins at the outermost frame running that code:
    for a task, its coroutine's own frame, leaving out the scheduler below it.
    """
    frame: FrameType | None = thread_frame(thread_id)
    stack: list[FrameType] = []
    while frame is not None:
        stack.append(frame)
        frame = frame.f_back
    stack.reverse()
    if start is not None:
        for i, f in enumerate(stack):
            if f.f_code is start:
                stack = stack[i:]
                break
    return tuple(
        FrameInfo(f.f_code.co_qualname, f.f_code.co_filename, f.f_lineno or 0) for f in stack
    )


_RT_DIR: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _in_rt(file: str) -> bool:
    """Whether ``file`` is part of an rt distribution (not its tests); remembered per file."""
    known = _IN_RT.get(file)
    if known is None:
        known = _IN_RT[file] = "/rt/" in file.replace(os.sep, "/") and "/tests/" not in file
    return known


_IN_RT: Final[dict[str, bool]] = {}


def describe_wait(
    abort: object, frames: tuple[FrameInfo, ...] = (), memo: dict[Any, str] | None = None
) -> str:
    """Say what a parked task waits on, from the object in its abort slot.

    Waits that know what they are say it through a ``_describe_wait()`` method (sleeps, fds,
    joins); anything else (a lock, a channel) is named by the rt call the task awaits, the
    outermost rt frame of its await chain (``Mutex.lock``, ``Receiver.recv``). ``memo``
    remembers those answers for one dump (tasks parked at the same place share their frames).
    """
    owner = getattr(abort, "__self__", abort)
    describe = getattr(owner, "_describe_wait", None)
    if describe is not None:
        try:
            return str(describe())
        except Exception as exc:  # a diagnostic must not fail the dump
            return f"{type(owner).__qualname__} (describe_wait failed: {exc!r})"
    if memo is None:
        return _describe_by_frames(abort, owner, frames)
    key = (frames, type(owner), owner is abort and getattr(abort, "__qualname__", None))
    said = memo.get(key)
    if said is None:
        said = memo[key] = _describe_by_frames(abort, owner, frames)
    return said


def _describe_by_frames(abort: object, owner: object, frames: tuple[FrameInfo, ...]) -> str:
    rt_frames = [f for f in frames if _in_rt(f.file)]
    for f in rt_frames:  # the outermost rt call that is not protocol glue (__aenter__, ...)
        if not f.function.rpartition(".")[2].startswith("__"):
            return f.function
    if rt_frames:
        return rt_frames[0].function
    func = getattr(abort, "__qualname__", None)
    if func is not None and owner is abort:
        return str(func)
    return type(owner).__qualname__


def _copy_tasks(tasks: Iterable[JoinHandle[Any]]) -> list[JoinHandle[Any]]:
    for _ in range(100):
        try:
            return list(tasks)
        except RuntimeError:  # the set changed size while it was copied: try again
            continue
    return []


def _running(sched: Scheduler) -> dict[int, int]:
    """Task id -> id of the thread stepping it, for the tasks being stepped right now."""
    out: dict[int, int] = {}
    workers = getattr(sched, "_workers", None)
    if workers is not None:  # multi-thread: each worker runs one task at a time
        for w in workers:
            task = w._current
            if task is not None:
                out[task._id] = w.ident
    else:
        task = sched._current
        if task is not None:
            out[task._id] = getattr(sched, "_thread_id", None) or 0
    return out


def take_dump(sched: Scheduler) -> TaskDump:
    """Snapshot every live task of ``sched`` (see the module docstring)."""
    running = _running(sched)
    diag = sched._diag
    records = diag.records if diag is not None else None
    cache: dict[tuple[Any, int], FrameInfo] = {}
    said: dict[Any, str] = {}
    infos: list[TaskInfo] = []
    for task in _copy_tasks(sched._tasks):
        if task._done:
            continue
        abort = task._abort_fn
        waiting = None
        if task._id in running:
            state = RUNNING
            thread_id = running[task._id]
            code = getattr(task._coro, "cr_code", None)
            frames = thread_frames(thread_id, code) if thread_id else ()
            frames = _drop_own_frames(frames) or await_chain(task._coro, cache)
        elif abort is not None:
            state = PARKED
            frames = await_chain(task._coro, cache)
            waiting = describe_wait(abort, frames, said)
        else:
            state = RUNNABLE
            frames = await_chain(task._coro, cache)
        rec = records.get(task._id) if records is not None else None
        location, parent = (rec.meta.location, rec.parent) if rec is not None else (None, None)
        infos.append(
            TaskInfo(
                task._id,
                task._name,
                state=state,
                waiting_on=waiting,
                location=location,
                parent=parent,
                frames=frames,
            )
        )
    infos.sort(key=lambda i: i.id)
    return TaskDump(sched.flavor, tuple(infos), os.getpid(), time.time())


def _drop_own_frames(frames: tuple[FrameInfo, ...]) -> tuple[FrameInfo, ...]:
    """A task dumping itself: leave out the dump's own frames at the end of its stack."""
    end = len(frames)
    while end and frames[end - 1].file.startswith(_CORE_DIR):
        end -= 1
    return frames[:end]


_CORE_DIR: Final = os.path.dirname(os.path.abspath(__file__))
