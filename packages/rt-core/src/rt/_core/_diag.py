"""Task metadata for hooks, and the logging filter that names the running task.

Nothing here is imported by ``import rt``: :class:`TaskLogFilter` pulls in :mod:`logging`, and
:class:`TaskMeta` is built only for runtimes that have a task hook or keep diagnostics.
"""

from __future__ import annotations

import logging
from typing import Final, final

from ._current import STATE

OK: Final = "ok"
ERROR: Final = "error"
CANCELLED: Final = "cancelled"


@final
class TaskMeta:
    """What a task hook is told about a task (Tokio's ``TaskMeta``).

    Attributes:
        id: The task id (``JoinHandle.id``).
        name: The task name, or ``None``.
        location: ``file:line`` where the task was spawned (``None`` when unknown, e.g. a
            task spawned from a plain thread through a ``Handle``).
        outcome: In ``on_task_terminate`` only: ``"ok"``, ``"error"`` or ``"cancelled"``;
            ``None`` in the other hooks.
    """

    __slots__ = ("id", "location", "name", "outcome")

    def __init__(
        self, id: int, name: str | None, location: str | None, outcome: str | None = None
    ) -> None:
        self.id = id
        self.name = name
        self.location = location
        self.outcome = outcome

    def __repr__(self) -> str:
        extra = f" outcome={self.outcome}" if self.outcome else ""
        return f"<TaskMeta id={self.id} name={self.name!r} location={self.location!r}{extra}>"


class TaskLogFilter(logging.Filter):
    """A logging filter that sets ``record.task_id`` and ``record.task_name``.

    Both are the running rt task's (``None`` outside a task, e.g. in a plain or blocking-pool
    thread), so any formatter can print them::

        handler.addFilter(rt.TaskLogFilter())
        handler.setFormatter(logging.Formatter("%(task_id)s %(task_name)s %(message)s"))

    It never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate ``record`` with the running task; always keep it."""
        st = STATE.get(None)
        task = st._current if st is not None else None
        if task is None:
            record.task_id = None
            record.task_name = None
        else:
            record.task_id = task._id
            record.task_name = task._name
        return True
