"""The parts of :mod:`rt.sync._waitqueue` that stay Python in the optional compiled build.

- :class:`WaitQueue`, the queue under every primitive's waiters, is an ``OrderedDict``
  subclass: compiled by mypyc 2.4, such a class crashes the interpreter on first use.
- :class:`Acquisition`, what ``lock()`` and ``acquire()`` return: ``rt.dump()`` names what a
  task waits on from its await chain, and a compiled ``__aenter__`` coroutine hides what it
  awaits, so a task parked on ``async with mutex.lock()`` would no longer show ``Mutex``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Coroutine, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from ._waitqueue import Waiter


class WaitQueue(OrderedDict["Waiter", None]):
    """A FIFO of waiters; every method must be called with the owner's lock held.

    An ``OrderedDict`` subclass, so that ``if queue:`` and ``len(queue)`` on the hot paths of
    every primitive are C-level checks rather than Python method calls.
    """

    __slots__ = ()

    def push(self, w: Waiter) -> None:
        self[w] = None

    def first(self) -> Waiter | None:
        for w in self:
            return w
        return None

    def pop_first(self) -> Waiter | None:
        if not self:
            return None
        return self.popitem(last=False)[0]

    def remove(self, w: Waiter) -> bool:
        try:
            del self[w]
        except KeyError:
            return False
        return True

    def drain(self) -> list[Waiter]:
        out = list(self)
        self.clear()
        return out


class Releasable(Protocol):
    def release(self) -> None: ...


G = TypeVar("G", bound=Releasable)


class Acquisition(Generic[G]):
    """What ``lock()`` / ``acquire()`` / ``read()`` / ``write()`` return.

    ``await`` it for the guard (the caller releases it), or use it in ``async with`` (the
    guard is released on the way out, also when the body is cancelled).
    """

    __slots__ = ("_acquire", "_guard")

    def __init__(self, acquire: Callable[[], Coroutine[Any, Any, G]]) -> None:
        self._acquire = acquire
        self._guard: G | None = None

    def __await__(self) -> Generator[Any, None, G]:
        return self._acquire().__await__()

    async def __aenter__(self) -> G:
        self._guard = await self._acquire()
        return self._guard

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._guard is not None:
            self._guard.release()
