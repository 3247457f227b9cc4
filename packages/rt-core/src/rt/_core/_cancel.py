"""Cancel scopes: trio's level-triggered cancellation, in a task of rt.

A :class:`CancelScope` belongs to the task that enters it. The task keeps a stack of the scopes
it is inside; its *effective* cancellation (``Task._cancelled``) is found by walking that
stack from the innermost scope outwards: a cancelled scope makes it true, a shielding scope
stops the walk, and below every scope sits the task's own abort flag.

When a scope is cancelled, the owning task's state is recomputed, and if the task is parked
the scheduler calls its abort function (see ``_traps``). Cancellation is level-triggered: every
checkpoint inside the scope raises :class:`rt.Cancelled` until the ``with`` block is left. The
scope whose cancellation caused the ``Cancelled`` catches it on exit and records
``cancelled_caught``; any other exception passes through.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, final

from ._current import STATE, current_task_or_raise
from ._exceptions import Cancelled, chained, check_bool

if TYPE_CHECKING:
    from ._task import JoinHandle as Task


@final
class CancelScope:
    """A region of a task that can be cancelled as a unit, with a plain ``with`` block.

    Example::

        with rt.CancelScope() as scope:
            rt.spawn(stop_later(scope))
            await long_operation()     # raises rt.Cancelled inside once scope.cancel() runs
        if scope.cancelled_caught:
            print("stopped early")

    Args:
        shield: When true, cancellation from *outside* the scope (an enclosing scope, or an
            abort of the task) does not reach the code inside it. The scope's own
            :meth:`cancel` still does.

    A scope belongs to the task that enters it and must be left by that task: leaving it in
    another (an async generator inside the block resumed from a second task) raises
    ``RuntimeError``.

    Raises:
        TypeError: ``shield`` is not a ``bool`` (as trio's does: ``shield="no"`` would be
            true).
    """

    __slots__ = ("_cancel_called", "_cancelled_caught", "_entered", "_exited", "_shield", "_task")

    def __init__(self, *, shield: bool = False) -> None:
        self._shield = check_bool("shield", shield)
        self._cancel_called = False
        self._cancelled_caught = False
        self._task: Task[Any] | None = None
        self._entered = False
        self._exited = False

    @property
    def cancel_called(self) -> bool:
        """Whether :meth:`cancel` has been called on this scope."""
        return self._cancel_called

    @property
    def cancelled_caught(self) -> bool:
        """Whether this scope caught the ``rt.Cancelled`` its cancellation raised."""
        return self._cancelled_caught

    @property
    def shield(self) -> bool:
        """Whether the scope protects its contents from outside cancellation (settable)."""
        return self._shield

    @shield.setter
    def shield(self, value: bool) -> None:
        self._shield = check_bool("shield", value)
        self._update_task()

    def cancel(self) -> None:
        """Cancel the code inside this scope; safe from any thread, idempotent.

        Cancelling a scope that has not been entered yet makes its body cancelled from the
        start; cancelling one that has been left (however it was left, by its own task or,
        wrongly, by another) only sets :attr:`cancel_called`, as in trio: the task that
        entered it is not cancelled.
        """
        if self._cancel_called:
            return
        self._cancel_called = True
        self._update_task()

    def _update_task(self) -> None:
        task = self._task
        if task is None or self._exited:
            return
        # The task's cancelled state is recomputed here, whichever thread this is (under the
        # lock its own scope changes take: see __enter__ and __exit__), so that once
        # ``cancel()`` has returned the task's next checkpoint raises even if something else
        # wakes it first; withdrawing its current wait may be left to the runtime thread.
        if task._recompute_cancelled():
            task._sched.deliver_cancel_from_any_thread(task)

    def __enter__(self) -> CancelScope:
        if self._entered:
            raise RuntimeError("a CancelScope can be entered only once; create a new one")
        task = current_task_or_raise("entering a CancelScope")
        self._entered = True
        self._task = task
        if task._scopes is None:
            task._scopes = [self]
        else:
            task._scopes.append(self)
        # A scope neither cancelled nor shielded leaves the task's state as it is. A cancel()
        # from another thread either set its flag before this test (so it is seen here) or
        # finds ``_task`` set and updates the task itself.
        if self._cancel_called or self._shield:
            task._recompute_cancelled()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        task = self._task
        assert task is not None and task._scopes is not None
        scopes = task._scopes
        st = STATE.get(None)
        other = None if st is None else st._current
        if other is not None and other is not task and not isinstance(exc, GeneratorExit):
            # Left in another task (an async generator resumed elsewhere, say): the scope
            # cannot have caused that task's rt.Cancelled, so it must not catch it; take it
            # off its own task's stack and say so. (A coroutine closed from outside its
            # task, by shutdown or the garbage collector, leaves with GeneratorExit: fine.)
            if self in scopes:
                scopes.remove(self)
            task._recompute_cancelled()
            self._exited = True
            raise chained(
                RuntimeError(
                    f"CancelScope entered in {task._describe()} was left in another task: "
                    "a scope (and a timeout) must be entered and left by the same task; do "
                    "not resume an async generator that is inside one from another task"
                ),
                exc,
            )
        if not scopes or scopes[-1] is not self:
            # Leaving scopes out of order means an ``async with`` / ``with`` was interleaved
            # across tasks or generators; say so instead of corrupting the stack.
            if self in scopes:
                scopes.remove(self)
            task._recompute_cancelled()
            self._exited = True
            raise chained(
                RuntimeError(
                    "CancelScope exited out of order: scopes must be exited in the task that "
                    "entered them, innermost first"
                ),
                exc,
            )
        scopes.pop()
        self._exited = True
        # Leaving a scope neither cancelled nor shielded changes nothing (a cancel() that
        # sets the flag after this test finds the scope exited and leaves the task alone).
        if self._cancel_called or self._shield:
            task._recompute_cancelled()
        if self._cancel_called and isinstance(exc, Cancelled):
            self._cancelled_caught = True
            return True
        if self._cancel_called and isinstance(exc, BaseExceptionGroup):
            rest = exc.subgroup(lambda e: not isinstance(e, Cancelled))
            if rest is None:
                self._cancelled_caught = True
                return True
            if rest is not exc:
                raise chained(rest, None)
        return False

    def __repr__(self) -> str:
        flags = []
        if self._cancel_called:
            flags.append("cancelled")
        if self._shield:
            flags.append("shielded")
        state = "active" if self._entered and not self._exited else "idle"
        return f"<rt.CancelScope {state}{' ' if flags else ''}{' '.join(flags)}>"
