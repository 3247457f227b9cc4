"""``select``, ``join`` and ``try_join``: run awaitables concurrently, as Tokio's macros do.

``join`` and ``try_join`` run each branch as its own task on the current runtime (so branches
make progress while the caller waits); none outlives the call.

``select`` avoids tasks for the common branches, as Tokio's ``select!`` polls its futures in
the calling task:

* **Polled in place**: a branch whose object (or, for a coroutine of a method, whose ``self``)
  has ``__rt_select__(awaitable)`` returning a :class:`SelectBranch`: ``rx.recv()`` of the
  rt.sync channels, for instance. ``select`` polls it, and when it is not ready registers a
  wake-up callback instead of parking on it; only the winner is polled to completion, so a
  losing branch takes nothing (a value sent to a losing ``recv`` stays in the channel).
* **Sleeps**: ``rt.sleep(d)`` / ``rt.time.sleep_until(t)`` return a ``Sleep``, which is polled
  in place the same way: one timer, armed to wake ``select``, and no task.
* **One coroutine or other awaitable** (a ``JoinHandle``, ``wait_readable``, any ``async def``)
  is driven in place inside a cancel scope; a winning in-place branch cancels that scope, so the
  coroutine is cancelled and unwound before ``select`` returns.
* **Any further** coroutines or awaitables run as tasks, as before: a task branch that finished
  while another branch won is not awaited again (nothing to wait for); the unfinished ones are
  aborted and awaited under a shield.

Which value can be lost: none from branches polled in place (they commit only when they
win), and none from the coroutine driven in place (if it completes, it wins: a completed
branch always beats one that was merely woken). Two *task* branches can both complete before
``select`` looks; the loser's value is then discarded, so a ``recv`` that must not lose values
belongs in a branch of its own (``rx.recv()`` directly), not inside a larger coroutine.

A losing branch whose cleanup raises (an error instead of ending cancelled) makes ``select``
raise that error once every loser has stopped, however the branch ran; the winner's value is
then dropped, as a Tokio ``select!`` whose losing future panics in its drop.

A known limit: the coroutine driven in place can be interrupted only by cancelling it, which
``select`` does as soon as another branch reports. A polled branch that was woken and then
has nothing after all leaves nothing to resume it with. A ``Sleep`` branch cannot do that (once
its timer fired it has finished, even if another task resets it before ``select`` looks), a
``JoinHandle`` driven in place is simply awaited again, and a receive that another task took
from under ``select`` (``try_recv`` on the same receiver: one consumer at a time is the
channel's contract) makes ``select`` raise a ``RuntimeError`` that says so, rather than wait on
without the coroutine. Resuming the coroutine would take ``select`` stepping it with a wake-up
of its own (a strict xfail pins that).
"""

from __future__ import annotations

import threading
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from types import CodeType, CoroutineType
from typing import Any, Final, Protocol, TypeVar, overload

import rt
from rt.lowlevel import (
    Abort,
    budget_spent,
    check_bool,
    checkpoint,
    current_task,
    reschedule,
    wait_task_rescheduled,
)

T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
T6 = TypeVar("T6")


class SelectBranch(Protocol):
    """A wait ``select`` polls in place: what ``__rt_select__(awaitable)`` returns.

    ``poll()`` completes the operation now if it can, returning ``(True, value)`` or raising
    the operation's error, and otherwise returns ``(False, None)`` having changed nothing.
    ``arm(wake)`` registers ``wake`` (callable from any thread) to be called once ``poll``
    may succeed and returns True, or returns False, registering nothing, when ``poll`` may
    succeed already. ``disarm()`` withdraws the registration (a no-op without one).

    A branch that can hold only one registration at a time names what it waits on as
    ``waiter`` (the receiver, the ``Sleep``); ``select`` refuses two branches with one waiter.
    """

    def poll(self) -> tuple[bool, Any]: ...

    def arm(self, wake: Callable[[], object]) -> bool: ...

    def disarm(self) -> None: ...


async def _run(aw: Awaitable[Any]) -> Any:
    return await aw


async def _stop_all(
    handles: list[rt.JoinHandle[Any]], branches: Sequence[Awaitable[Any]], keep: int = -1
) -> None:
    """Abort every branch but ``keep`` and wait for all of them, shielded from cancellation.

    A branch aborted before its task ever ran (common on a multi-thread runtime, where the
    winner may finish before a loser's task starts) never awaited its coroutine: close it, so
    it is not reported as "never awaited".
    """
    for i, h in enumerate(handles):
        if i != keep:
            h.abort()
    with rt.CancelScope(shield=True):
        for i, h in enumerate(handles):
            if i == keep:
                continue
            try:
                await h
            except rt.JoinError:
                pass
    for i, aw in enumerate(branches):
        if i != keep and isinstance(aw, Coroutine) and _unstarted(aw):
            aw.close()


def _unstarted(coro: Coroutine[Any, Any, Any]) -> bool:
    frame = getattr(coro, "cr_frame", None)
    return (
        frame is not None
        and not getattr(coro, "cr_running", False)
        and not getattr(coro, "cr_suspended", True)
    )


def _close_unstarted(branches: Sequence[object]) -> None:
    for aw in branches:
        if isinstance(aw, CoroutineType) and _unstarted(aw):
            aw.close()


# -- recognising branches that need no task ------------------------------------------------

_POLL: Final = 0
_OTHER: Final = 2


def _classify(aw: object) -> tuple[int, Any]:
    """Say how ``select`` runs ``aw``: ``(_POLL, branch)`` or ``(_OTHER, aw)``.

    Raises:
        TypeError: ``aw`` is not awaitable.
    """
    if isinstance(aw, CoroutineType):
        frame = aw.cr_frame
        if frame is not None and _unstarted(aw):
            code = aw.cr_code
            owner = frame.f_locals.get("self") if code.co_argcount else None
            hook = getattr(type(owner), "__rt_select__", None) if owner is not None else None
            if hook is not None:
                branch = hook(owner, aw)
                if branch is not None:
                    return _POLL, branch
        return _OTHER, aw
    hook = getattr(type(aw), "__rt_select__", None)
    if hook is not None:
        branch = hook(aw, aw)
        if branch is not None:
            return _POLL, branch
    if not hasattr(type(aw), "__await__") and not _is_generator_coroutine(aw):
        raise _not_awaitable(aw, "select")
    return _OTHER, aw


def _not_awaitable(aw: object, what: str) -> TypeError:
    """The error for a branch that is not awaitable; for a function (an ``async def`` not
    called, the usual slip) it says to call it."""
    if callable(aw) and not isinstance(aw, type):
        name = getattr(aw, "__qualname__", None) or getattr(aw, "__name__", None) or repr(aw)
        return TypeError(
            f"{what}() branches must be awaitable, got the function {name!r}: call it, "
            f"e.g. {what}({name}(), ...)"
        )
    return TypeError(f"{what}() branches must be awaitable, got {aw!r}")


def _refuse_non_awaitable(branches: Sequence[object], what: str) -> None:
    """Raise ``TypeError`` for a branch that is not awaitable, or for one coroutine given as
    two branches, before any branch runs; the coroutine branches are closed then, so none is
    left "never awaited"."""
    for aw in branches:
        if not hasattr(type(aw), "__await__") and not _is_generator_coroutine(aw):
            _close_unstarted(branches)
            raise _not_awaitable(aw, what)
    _refuse_reused_coroutine(branches, what)


def _refuse_reused_coroutine(branches: Sequence[object], what: str) -> None:
    """Raise ``TypeError`` if one coroutine object is two branches: it can be awaited only
    once, so the second branch would fail (and, for ``select``, be logged as a lost error).
    Other awaitables (a ``JoinHandle``, an event's future) may be given twice."""
    n = len(branches)
    if n < 2 or (branches[0] is not branches[1] if n == 2 else len(set(map(id, branches))) == n):
        return  # all distinct (the common case, checked without a Python-level loop)
    seen: dict[int, int] = {}
    for i, aw in enumerate(branches):
        first = seen.setdefault(id(aw), i)
        if first != i and (isinstance(aw, CoroutineType) or _is_generator_coroutine(aw)):
            _close_unstarted(branches)
            raise TypeError(
                f"{what}() got the same coroutine as branches {first} and {i}: a coroutine "
                "can be awaited only once; call the async function again for each branch"
            )


def _refuse_shared_waiter(
    branches: Sequence[Awaitable[Any]], polls: list[tuple[int, SelectBranch]], mine: Any, i: int
) -> None:
    """Raise ``TypeError`` if branch ``i`` (polled as ``mine``) waits on what an earlier
    polled branch of its type waits on (their ``waiter``): ``select(rx.recv(), rx.recv())`` on
    an mpsc receiver, or one ``Sleep`` twice, which hold one wait at a time (the second branch
    failed to register, saying "another task" was waiting)."""
    kind = type(mine)
    for j, branch in polls:
        if type(branch) is kind:  # (branches of different kinds wait on different things)
            waiter = getattr(mine, "waiter", None)
            if waiter is not None and getattr(branch, "waiter", None) is waiter:
                _close_unstarted(branches)
                raise TypeError(
                    f"select() branches {j} and {i} both wait on {waiter!r}, which holds one "
                    "wait at a time: give it one branch"
                )


def _is_generator_coroutine(aw: object) -> bool:
    code = getattr(aw, "gi_code", None)
    return isinstance(code, CodeType) and bool(code.co_flags & 0x100)  # CO_ITERABLE_COROUTINE


class _Waker:
    """Where the branches of one ``select`` report: a finish order, and one wake of its task.

    Branches may report from other threads (a channel send, a task on another worker): the
    order and the park's token change together under the lock, so a report landing between
    the caller's last look and its park still wakes it, and one landing after ``select`` is
    done is ignored (``done``) instead of waking the task in the middle of something else.

    A report can also come from the waiting thread itself, inside any of the locked lines (a
    finalizer run by the collector, a signal handler, that sends to a channel ``select``
    receives on): the lock is re-entrant, and ``parked`` holds one token while the task parks,
    which exactly one of the report, the abort and the park's own look again takes
    (``list.pop`` is one step, which such code cannot split). The park puts its token out
    *before* it looks at ``fired`` again, so a report made between its first look and its
    park is seen (the token still out: not woken, do not park) or wakes it (the token taken).
    """

    __slots__ = ("done", "fired", "lock", "parked", "scope", "task")

    def __init__(self, task: Any) -> None:
        self.task = task
        self.lock = threading.RLock()
        self.fired: list[int] = []
        self.parked: list[None] = []  # the park's token while the task parks
        self.done = False
        self.scope: rt.CancelScope | None = None  # around a coroutine driven in place

    def _claim(self) -> bool:
        """Take the park's token: True for the one caller that gets it."""
        try:
            self.parked.pop()
        except IndexError:
            return False
        return True

    def fire(self, i: int) -> None:
        with self.lock:
            if self.done:
                return
            self.fired.append(i)
            wake = bool(self.parked) and self._claim()
            scope = self.scope
        if wake:
            reschedule(self.task)
        if scope is not None:
            scope.cancel()

    def waker(self, i: int) -> Callable[[], None]:
        return lambda: self.fire(i)

    def abort(self) -> Abort:
        with self.lock:
            return Abort.SUCCEEDED if self._claim() else Abort.FAILED

    async def park(self) -> None:
        """Wait for a report (returns at once if one came already)."""
        with self.lock:
            if self.fired:
                return
            self.parked.append(None)
            if self.fired and self._claim():  # look again: a report made on this thread
                return
        await wait_task_rescheduled(self.abort)


class _Outcome:
    __slots__ = ("error", "index", "value")

    def __init__(self, index: int, value: Any = None, error: BaseException | None = None):
        self.index = index
        self.value = value
        self.error = error

    def result(self) -> tuple[int, Any]:
        if self.error is not None:
            raise self.error
        return self.index, self.value


_YIELD_TRAP: list[object] = []  # what a checkpoint yields to the scheduler, once looked up


@types.coroutine
def _first_step(aw: Awaitable[Any], scope: rt.CancelScope) -> Generator[Any, None, Any]:
    """Await ``aw``, cancelling ``scope`` as soon as it would wait (park).

    What Tokio's ``biased`` select does to a branch listed before a ready one: poll it; if it
    is not ready, drop it. A ready wait (a set ``Event``, a finished ``JoinHandle``) finishes
    without parking, through any checkpoints it passes (a yield is not a wait); one that parks
    is cancelled there and unwinds, as ``scope``'s body.
    """
    if not _YIELD_TRAP:
        _YIELD_TRAP.append(next(iter(checkpoint().__await__())))
    yield_trap = _YIELD_TRAP[0]
    it: Any = aw.__await__() if hasattr(type(aw), "__await__") else aw
    if not hasattr(it, "send"):  # a plain iterator (rt's checkpoint awaits are one)
        it = _delegate(it)
    waits = False
    thrown: BaseException | None = None
    while True:
        try:
            trap = it.send(None) if thrown is None else it.throw(thrown)
        except StopIteration as stop:
            return stop.value
        thrown = None
        if not waits and trap is not yield_trap:
            waits = True
            scope.cancel()  # it parks: the ready branch after it wins
        try:
            yield trap  # traps resume with None or have an exception thrown in
        except GeneratorExit:
            it.close()
            raise
        except BaseException as exc:  # the cancellation (or what else was thrown in)
            thrown = exc


def _delegate(it: Any) -> Generator[Any, None, Any]:
    """A generator over a plain iterator an ``__await__`` returned (one without ``send``)."""
    return (yield from it)


async def _drive(
    st: _Waker, index: int, aw: Awaitable[Any], *, step_first: bool = False
) -> _Outcome | None:
    """Await ``aw`` in place until it finishes or another branch reports (then cancel it).

    With ``step_first`` (a ``biased`` select whose later branch is ready), ``aw`` runs until
    it would park before a report cancels it, so that it wins if it finishes without waiting.

    Returns its outcome if it finished (with a value or an error), ``None`` if it was
    cancelled because another branch won.
    """
    outcome: _Outcome | None = None
    try:
        with rt.CancelScope() as scope:
            with st.lock:
                st.scope = scope
                early = bool(st.fired)
            if early and not step_first:
                scope.cancel()
            try:
                if early and step_first:
                    outcome = _Outcome(index, await _first_step(aw, scope))
                else:
                    outcome = _Outcome(index, await aw)
            except rt.Cancelled:
                raise  # ours (a branch won: the scope catches it) or the caller's
            except BaseException as exc:  # the branch's own error: it finished
                outcome = _Outcome(index, error=exc)
    finally:
        with st.lock:
            st.scope = None
            if outcome is not None:
                st.fired.append(index)
    return outcome


@overload
async def select(a: Awaitable[T1], /, *, biased: bool = False) -> tuple[int, T1]: ...
@overload
async def select(
    a: Awaitable[T1], b: Awaitable[T2], /, *, biased: bool = False
) -> tuple[int, T1 | T2]: ...
@overload
async def select(
    a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], /, *, biased: bool = False
) -> tuple[int, T1 | T2 | T3]: ...
@overload
async def select(
    a: Awaitable[T1],
    b: Awaitable[T2],
    c: Awaitable[T3],
    d: Awaitable[T4],
    /,
    *,
    biased: bool = False,
) -> tuple[int, T1 | T2 | T3 | T4]: ...
@overload
async def select(*branches: Awaitable[Any], biased: bool = False) -> tuple[int, Any]: ...


async def select(*branches: Awaitable[Any], biased: bool = False) -> tuple[int, Any]:
    """Wait for the first branch to finish; return ``(index, value)``.

    Every other branch is cancelled **and awaited** before ``select`` returns, so no branch
    outlives it. If the first branch to finish raised, the others are cancelled and awaited,
    then its exception propagates; so does the error of a loser whose cleanup raised. With
    ``biased=True``, when several branches have finished by the time ``select`` looks, the one
    with the lowest index wins (Tokio's ``biased;``); otherwise the first to finish wins.
    Biased, the branch driven in place is run before any later branch that is ready wins,
    until it finishes (it wins) or would park (it is cancelled there): so ``select(stop.wait(),
    rx.recv(), biased=True)`` with both ready returns the ``stop`` branch, as in Tokio;
    unbiased, a ready receive wins without the coroutine being run. Task branches (several
    coroutines) count once they have finished. A
    sleep branch has finished once the timer wheel has fired it, not as soon as its deadline
    passes: a branch that finished while a lower-index sleep was due but not yet fired wins,
    so that what it took (a message, say) is never dropped.

    Channel receives (``rx.recv()`` of rt.sync's mpsc, broadcast and oneshot channels) and
    ``rt.sleep`` / ``rt.time.sleep_until`` run without a task, and so does one other branch
    (a coroutine, a ``JoinHandle``...); further branches run as tasks (see the module notes).

    Args:
        *branches: The awaitables to race.
        biased: Prefer the lowest index among branches ready at the same look.

    Returns:
        The winning branch's index and value.

    Raises:
        ValueError: no branch was given.
        TypeError: a branch is not awaitable, one coroutine is given as two branches, two
            branches wait on one mpsc receiver (or one ``Sleep``), or ``biased`` is not a
            bool.
        RuntimeError: outside a task on rt; or another task took the value of a receive
            branch after it woke ``select``, which had cancelled its coroutine branch to look
            (see the module notes: one consumer per receiver).

    Cancel safety: ``select`` itself is cancel-safe only if every branch is: the losing
    branches are cancelled, and whatever a cancelled branch had in flight is governed by that
    branch's own cancel safety (see the table in the README). A ``recv`` branch polled in
    place that loses takes nothing from its channel.
    """
    flag: object = biased  # typed bool, but a caller may pass anything
    if flag is not True and flag is not False:
        _close_unstarted(branches)
        check_bool("biased", flag)
    if not branches:
        raise ValueError("select() needs at least one awaitable")
    _refuse_reused_coroutine(branches, "select")
    try:
        me = current_task()
        kinds = [_classify(aw) for aw in branches]
    except BaseException:
        _close_unstarted(branches)
        raise
    polls: list[tuple[int, SelectBranch]] = []
    others: list[tuple[int, Awaitable[Any]]] = []
    for i, (kind, obj) in enumerate(kinds):
        if kind == _POLL:
            if polls:
                _refuse_shared_waiter(branches, polls, obj, i)
            polls.append((i, obj))
        else:
            others.append((i, obj))
            continue
        aw = branches[i]
        if isinstance(aw, CoroutineType):
            aw.close()  # replaced by its in-place form: never started, closing has no effect
    if len(others) > 1:
        # Several coroutines: each runs as a task (they cannot share this task's one park).
        in_place: tuple[int, Awaitable[Any]] | None = None
        tasks = others
    else:
        in_place = others[0] if others else None
        tasks = []
    try:
        if budget_spent():
            await checkpoint()
        # Anything ready now wins without waiting (in index order); biased, only what comes
        # before the branch driven in place (that one is tried first: see _wait).
        first_driven = in_place[0] if biased and in_place is not None else len(branches)
        for i, branch in polls:
            if i > first_driven:
                break
            done, value = branch.poll()
            if done:
                _close_unstarted([aw for _, aw in others])
                return i, value
    except BaseException:
        _close_unstarted([aw for _, aw in others])
        raise
    return await _wait(me, polls=polls, in_place=in_place, tasks=tasks, biased=biased)


async def _wait(
    me: Any,
    *,
    polls: list[tuple[int, SelectBranch]],
    in_place: tuple[int, Awaitable[Any]] | None,
    tasks: list[tuple[int, Awaitable[Any]]],
    biased: bool,
) -> tuple[int, Any]:
    st = _Waker(me)
    handles: dict[int, rt.JoinHandle[Any]] = {}
    outcome: _Outcome | None = None
    driven = [in_place[1]] if in_place is not None else []
    # The branch driven in place, once a report cancelled it: a JoinHandle is driven again
    # after a spurious wake (awaiting it is cancel-safe), a coroutine cannot be resumed.
    stopped: tuple[int, Awaitable[Any]] | None = None
    try:
        while True:
            armed: list[SelectBranch] = []
            try:
                for i, branch in polls:
                    if not branch.arm(st.waker(i)):
                        st.fire(i)  # ready already: no need to wait
                        break
                    armed.append(branch)
                if not st.fired:  # else a branch is ready already: no need to wait
                    if not handles:
                        for i, aw in tasks:
                            handles[i] = rt.spawn(_report(st, i, aw))
                    if in_place is not None:
                        stopped, in_place = in_place, None
                        outcome = await _drive(st, *stopped)
                    else:
                        await st.park()
                elif biased and in_place is not None and in_place[0] < _first_fired(st):
                    # A later branch is ready, but biased: the one driven in place comes
                    # first if it finishes without waiting (Tokio polls it first).
                    stopped, in_place = in_place, None
                    outcome = await _drive(st, *stopped, step_first=True)
            finally:
                for branch in armed:
                    branch.disarm()
            winner = _pick(st, polls=polls, handles=handles, outcome=outcome, biased=biased)
            if winner is not None:
                break
            with st.lock:
                woke = list(dict.fromkeys(st.fired))
                st.fired.clear()  # woken, but nothing was ready after all: wait again
            if stopped is not None and outcome is None:
                # The branch driven in place was cancelled for a branch that then had nothing.
                if not isinstance(stopped[1], rt.JoinHandle):
                    raise _lost_in_place(stopped[0], woke)
                in_place = stopped  # a JoinHandle: await it again
            stopped = None
    except BaseException:
        with st.lock:
            st.done = True
        await _stop(handles, tasks, keep=-1)
        raise
    finally:
        _close_unstarted(driven)  # a branch ready at once won before it was driven
    with st.lock:
        st.done = True
    # A loser whose cleanup raised: its error propagates (as the in-place branch's does, and
    # as a panic in a dropped future does in Tokio), once every loser is stopped.
    failed = await _stop(handles, tasks, keep=winner if isinstance(winner, int) else -1)
    if failed is not None:
        raise failed
    if isinstance(winner, _Outcome):
        return winner.result()
    try:  # a task branch
        return winner, await handles[winner]
    except rt.JoinError as err:
        if err.exception is not None:
            raise err.exception from None
        raise


def _lost_in_place(index: int, woke: list[int]) -> RuntimeError:
    """The error for a coroutine branch that select cancelled to look at branches that woke it
    (``woke``), none of which had anything after all (see the module notes)."""
    which = " and ".join(map(str, woke)) or "another branch"
    return RuntimeError(
        f"rt.select(): branch {which} woke select but had nothing when select looked, and the "
        f"coroutine of branch {index}, cancelled so that select could look, cannot be resumed. "
        "Something else took what woke it: another task receiving from the same receiver "
        "(try_recv, recv) while select waits on it. Receive from one receiver in one task at "
        "a time, or run that branch as its own task (rt.spawn) and select on its JoinHandle"
    )


def _first_fired(st: _Waker) -> int:
    with st.lock:
        return min(st.fired)


async def _report(st: _Waker, i: int, aw: Awaitable[Any]) -> Any:
    try:
        return await aw
    finally:
        st.fire(i)


def _pick(
    st: _Waker,
    *,
    polls: list[tuple[int, SelectBranch]],
    handles: dict[int, rt.JoinHandle[Any]],
    outcome: _Outcome | None,
    biased: bool,
) -> _Outcome | int | None:
    """Choose the winner after a wake: a branch that already finished beats one that was
    only woken (polling that one would take something, e.g. a value, a loser must not take).

    Returns an :class:`_Outcome` (the branch driven in place, or a polled branch), the index
    of a finished task branch, or None: wait again.
    """
    with st.lock:
        order = list(dict.fromkeys(st.fired))
    if biased:
        order.sort()
    for i in order:
        if outcome is not None and i == outcome.index:
            return outcome
        if i in handles:  # a task branch reports as it returns: it has finished
            return i
    by_index = dict(polls)
    for i in order:
        branch = by_index.get(i)
        if branch is None:
            continue
        try:
            done, value = branch.poll()
        except BaseException as exc:  # its error: it finished
            return _Outcome(i, error=exc)
        if done:
            return _Outcome(i, value)
    return None


async def _stop(
    handles: dict[int, rt.JoinHandle[Any]], tasks: list[tuple[int, Awaitable[Any]]], keep: int
) -> BaseException | None:
    """Abort the unfinished task branches but ``keep``; await those (shielded) that were running.

    A finished task is not awaited (nothing is left to wait for); a branch whose task never
    ran never awaited its coroutine: close it, so it is not reported as "never awaited".

    Returns the first error a stopped branch raised instead of ending as cancelled (its
    cleanup failed), for the caller to raise once every branch is stopped, or None.
    """
    running = [h for i, h in handles.items() if i != keep and not h.is_finished()]
    for h in running:
        h.abort()
    error: BaseException | None = None
    if running:
        with rt.CancelScope(shield=True):
            for h in running:
                try:
                    await h
                except rt.JoinError as err:
                    if error is None:
                        error = err.exception
    _close_unstarted([aw for i, aw in tasks if i != keep])
    return error


@overload
async def join(a: Awaitable[T1], /) -> tuple[T1]: ...
@overload
async def join(a: Awaitable[T1], b: Awaitable[T2], /) -> tuple[T1, T2]: ...
@overload
async def join(a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], /) -> tuple[T1, T2, T3]: ...
@overload
async def join(
    a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], d: Awaitable[T4], /
) -> tuple[T1, T2, T3, T4]: ...
@overload
async def join(
    a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], d: Awaitable[T4], e: Awaitable[T5], /
) -> tuple[T1, T2, T3, T4, T5]: ...
@overload
async def join(
    a: Awaitable[T1],
    b: Awaitable[T2],
    c: Awaitable[T3],
    d: Awaitable[T4],
    e: Awaitable[T5],
    f: Awaitable[T6],
    /,
) -> tuple[T1, T2, T3, T4, T5, T6]: ...
@overload
async def join(*branches: Awaitable[Any]) -> tuple[Any, ...]: ...


async def join(*branches: Awaitable[Any]) -> tuple[Any, ...]:
    """Run every branch concurrently to completion; return their values in argument order.

    A failing branch does not stop the others (that is :func:`try_join`); once all have
    finished, the exception of the first failed branch (in argument order) is raised.

    Raises:
        TypeError: a branch is not awaitable, or one coroutine is given as two branches (no
            branch has started; coroutines are closed).
        BaseException: the first failed branch's exception, in argument order.

    Cancel safety: cancelling ``join`` cancels and awaits every branch.
    """
    _refuse_non_awaitable(branches, "join")
    handles: list[rt.JoinHandle[Any]] = []
    try:
        for aw in branches:
            handles.append(rt.spawn(_run(aw)))
        outcomes: list[tuple[bool, Any]] = []
        for h in handles:
            try:
                outcomes.append((True, await h))
            except rt.JoinError as err:
                outcomes.append((False, err))
    except BaseException:
        await _stop_all(handles, branches)
        raise
    for ok, value in outcomes:
        if not ok:
            exc = value.exception
            if exc is not None:
                raise exc from None
            raise value
    return tuple(value for _, value in outcomes)


@overload
async def try_join(a: Awaitable[T1], /) -> tuple[T1]: ...
@overload
async def try_join(a: Awaitable[T1], b: Awaitable[T2], /) -> tuple[T1, T2]: ...
@overload
async def try_join(
    a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], /
) -> tuple[T1, T2, T3]: ...
@overload
async def try_join(
    a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], d: Awaitable[T4], /
) -> tuple[T1, T2, T3, T4]: ...
@overload
async def try_join(
    a: Awaitable[T1], b: Awaitable[T2], c: Awaitable[T3], d: Awaitable[T4], e: Awaitable[T5], /
) -> tuple[T1, T2, T3, T4, T5]: ...
@overload
async def try_join(
    a: Awaitable[T1],
    b: Awaitable[T2],
    c: Awaitable[T3],
    d: Awaitable[T4],
    e: Awaitable[T5],
    f: Awaitable[T6],
    /,
) -> tuple[T1, T2, T3, T4, T5, T6]: ...
@overload
async def try_join(*branches: Awaitable[Any]) -> tuple[Any, ...]: ...


async def try_join(*branches: Awaitable[Any]) -> tuple[Any, ...]:
    """Run every branch concurrently; at the first error cancel (and await) the rest and raise it.

    Returns the values in argument order when every branch succeeds.

    Raises:
        TypeError: a branch is not awaitable, or one coroutine is given as two branches (no
            branch has started; coroutines are closed).
        BaseException: the first error a branch raised.

    Cancel safety: cancelling ``try_join`` cancels and awaits every branch.
    """
    _refuse_non_awaitable(branches, "try_join")
    try:
        async with rt.TaskGroup() as tg:
            handles = [tg.spawn(_run(aw)) for aw in branches]
    except BaseExceptionGroup as group:
        for aw in branches:  # branches cancelled before their task ever ran
            if isinstance(aw, Coroutine) and _unstarted(aw):
                aw.close()
        # TaskGroup lists errors in the order they happened: the first one is the cause.
        raise group.exceptions[0] from None
    return tuple([await h for h in handles])


for _fn in (select, join, try_join):
    _fn.__module__ = "rt.macros"  # their public home (tracebacks and help() say rt.macros)
del _fn
