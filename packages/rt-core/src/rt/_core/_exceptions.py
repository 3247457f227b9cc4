"""Exceptions raised by the core runtime."""

from __future__ import annotations

from typing import TypeVar, final

E = TypeVar("E", bound=BaseException)


def chained(err: E, cause: BaseException | None) -> E:
    """Return ``err`` with ``cause`` chained: ``raise chained(err, c)`` is ``raise err from c``.

    The runtime's modules spell it this way because the optional mypyc build does not chain
    on ``raise ... from``.
    """
    err.__cause__ = cause  # also sets __suppress_context__, as ``from`` does
    return err


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is ``True`` or ``False``; else raise rt's error for a flag.

    A flag takes a bool only: a truthy stand-in (``1``, ``"no"``, an object) is far more often
    a mistake (a value passed to the wrong keyword) than a choice.

    Raises:
        TypeError: ``value`` is not a bool; the message names ``name`` and ``value``.
    """
    if value is True or value is False:
        return value
    raise TypeError(f"{name} must be True or False, got {value!r}")


@final
class Cancelled(BaseException):
    """Raised at a checkpoint of a task whose cancellation was requested.

    Cancellation is level-triggered: once a task is aborted, or a :class:`rt.CancelScope`
    around the running code is cancelled, *every* checkpoint raises ``Cancelled`` until the code
    leaves the cancelled scope. It derives from :class:`BaseException` so that a bare
    ``except Exception`` does not swallow it; let it propagate (``finally`` blocks run as usual).
    """

    def __str__(self) -> str:
        return super().__str__() or "the task was cancelled"


@final
class JoinError(Exception):
    """Awaiting a task's handle found that the task did not return a value.

    Either the task was cancelled (:meth:`is_cancelled`) or it raised (:meth:`is_panic`); in the
    latter case the task's exception is :attr:`exception` and is chained as ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        exception: BaseException | None,
        cancelled: bool,
        task_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self._exception = exception
        self._cancelled = cancelled
        self._task_id = task_id

    @property
    def id(self) -> int | None:
        """The id of the task that failed or was cancelled (Tokio's ``JoinError::id``)."""
        return self._task_id

    @property
    def exception(self) -> BaseException | None:
        """The exception the task raised, or ``None`` when it was cancelled."""
        return self._exception

    def is_cancelled(self) -> bool:
        """Return whether the task was cancelled (aborted) before it finished."""
        return self._cancelled

    def is_panic(self) -> bool:
        """Return whether the task raised an exception (Tokio's "panic")."""
        return not self._cancelled
