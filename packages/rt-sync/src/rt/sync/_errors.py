"""Errors of rt.sync. Every channel error derives from :class:`ChannelError`."""

from __future__ import annotations

from typing import Any, TypeVar

_E = TypeVar("_E", bound=BaseException)


class ChannelError(Exception):
    """Base class of the channel errors."""


class ChannelClosed(ChannelError):
    """The channel is closed: nothing more will arrive, or nobody will receive.

    On a failed send, the value that was not sent is :attr:`value` (it is never lost silently).
    """

    def __init__(self, message: str = "the channel is closed", *, value: Any = None) -> None:
        super().__init__(message)
        self.value = value


class ChannelEmpty(ChannelError):
    """``try_recv`` found nothing to receive (the channel is still open)."""


class ChannelFull(ChannelError):
    """``try_send`` found no capacity; the value is :attr:`value`."""

    def __init__(self, message: str = "the channel is full", *, value: Any = None) -> None:
        super().__init__(message)
        self.value = value


class SendTimeout(ChannelFull, TimeoutError):
    """``send_timeout`` found no room in time; the value (not sent) is :attr:`value`.

    A :class:`ChannelFull` (so ``except ChannelFull`` catches it) and a ``TimeoutError``.
    """

    def __init__(
        self, message: str = "no room in the channel before the timeout", *, value: Any = None
    ) -> None:
        super().__init__(message, value=value)


class Lagged(ChannelError):
    """A broadcast receiver fell behind: :attr:`skipped` values were overwritten.

    Receiving again continues with the oldest value still retained.
    """

    def __init__(self, skipped: int) -> None:
        super().__init__(f"the receiver lagged behind and missed {skipped} values")
        self.skipped = skipped


class SemaphoreClosed(Exception):
    """The semaphore was closed: ``acquire`` fails for current and future callers."""


def blocking_guard(what: str) -> None:
    """Refuse a ``blocking_*`` call made from inside a task: it would block the runtime."""
    from rt.lowlevel import current_task

    try:
        current_task()
    except RuntimeError:
        return
    raise RuntimeError(
        f"{what} blocks the calling thread, and this is a task on rt's runtime thread: use the "
        "async form (await ...) inside tasks, or call it from a plain thread or spawn_blocking"
    )


def chained(err: _E, cause: BaseException | None) -> _E:
    """Return ``err`` with ``cause`` chained: ``raise chained(err, c)`` is ``raise err from c``.

    rt-sync's compiled modules spell it this way: mypyc does not chain on ``raise ... from``.
    """
    err.__cause__ = cause  # also sets __suppress_context__, as ``from`` does
    return err
