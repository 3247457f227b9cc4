"""OnceCell: a value initialized once, by whichever task gets there first."""

from __future__ import annotations

import threading
import types
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar, final

from ._semaphore import Semaphore

if TYPE_CHECKING:
    from ._stats import OnceCellStatistics

T = TypeVar("T")


@final
class OnceCell(Generic[T]):
    """Holds a value set at most once (Tokio's ``OnceCell``).

    :meth:`get_or_init` runs the initializer once even when many tasks race for it: the
    others wait and get its result. If the initializer raises or is cancelled, the cell stays
    empty and the next waiter runs its own initializer.
    """

    __slots__ = ("_init", "_lock", "_set", "_value")

    def __init__(self, value: T | None = None, *, initialized: bool = False) -> None:
        self._lock = threading.RLock()
        self._set = initialized
        self._value = value
        self._init = Semaphore(1)

    def get(self) -> T | None:
        """Return the value, or ``None`` if the cell is empty."""
        return self._value if self._set else None

    def initialized(self) -> bool:
        """Return whether the cell holds a value."""
        return self._set

    def set(self, value: T) -> None:
        """Store ``value``.

        Raises:
            RuntimeError: the cell already holds a value, or a :meth:`get_or_init` caller is
                running its initializer (as Tokio's ``SetError::InitializingError``).
        """
        # Setting takes the initializer's permit, so it cannot slip in under a running
        # initializer (which would then overwrite the value), and the callers queued behind
        # that permit see the value as soon as it is released.
        permit = self._init.try_acquire()
        if permit is None:
            if self._set:
                raise RuntimeError("this OnceCell is already initialized")
            raise RuntimeError(
                "this OnceCell is being initialized by a get_or_init() caller: "
                "await get_or_init() to get its value instead"
            )
        try:
            with self._lock:
                if self._set:
                    raise RuntimeError("this OnceCell is already initialized")
                self._value = value
                self._set = True
        finally:
            permit.release()

    async def get_or_init(self, init: Callable[[], Awaitable[T]]) -> T:
        """Return the value, running ``await init()`` first if the cell is empty.

        Args:
            init: An async function (``fetch``, not the coroutine ``fetch()``), called only
                by the caller that initializes the cell.

        Returns:
            The cell's value.

        Raises:
            TypeError: ``init`` is not callable (a coroutine object is closed, not run).
            BaseException: whatever ``init()`` raised (the cell stays empty).

        Cancel safety: cancel-safe: a cancelled caller that was running the initializer leaves
        the cell empty for the next one.
        """
        if not callable(init):
            raise _not_an_async_function(init)
        if self._set:
            return self._value  # type: ignore[return-value]
        async with self._init.acquire():
            if self.initialized():  # set by the racer that held the permit before us
                return self._value  # type: ignore[return-value]
            value = await init()
            with self._lock:
                self._value = value
                self._set = True
            return value

    def statistics(self) -> OnceCellStatistics:
        """Return a :class:`OnceCellStatistics` snapshot."""
        from ._stats import OnceCellStatistics

        return OnceCellStatistics(self._set, self._init.statistics().waiters)


def _not_an_async_function(init: object) -> TypeError:
    """The error for a ``get_or_init`` argument that cannot be called; a coroutine object
    (``fetch()`` for ``fetch``) is closed, so no "never awaited" warning comes on top."""
    if isinstance(init, types.CoroutineType):
        init.close()
    return TypeError(
        f"OnceCell.get_or_init() takes an async function, got {type(init).__name__} "
        f"{init!r:.60}: pass the function itself (get_or_init(fetch), not fetch())"
    )
