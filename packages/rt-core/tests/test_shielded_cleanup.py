"""Async cleanup after a cancel: an unshielded ``await`` in ``finally`` is cut short (rt's
cancellation is level-triggered, as trio's), and ``with rt.CancelScope(shield=True):`` is the
one-line spelling that lets it finish."""

from __future__ import annotations

import pytest
from rtcore_helpers import Gate

import rt


class Conn:
    """A resource whose close takes several checkpoints (a flush, then a goodbye)."""

    def __init__(self) -> None:
        self.steps: list[str] = []

    async def close(self) -> None:
        for step in ("flush", "goodbye", "closed"):
            await rt.yield_now()
            self.steps.append(step)


async def _serve(conn: Conn, started: Gate, *, shield: bool) -> None:
    try:
        started.open()
        await Gate().wait()  # runs until cancelled
    finally:
        if shield:
            with rt.CancelScope(shield=True):
                await conn.close()
        else:
            await conn.close()


@pytest.mark.parametrize("shield", [False, True], ids=["unshielded", "shielded"])
async def test_async_cleanup_in_finally_runs_to_completion_only_when_shielded(
    shield: bool,
) -> None:
    conn, started = Conn(), Gate()
    task = rt.spawn(_serve(conn, started, shield=shield))
    await started.wait()
    task.abort()
    with pytest.raises(rt.JoinError) as info:
        await task
    # Either way the task ends cancelled: the shield covers the cleanup, not the task.
    assert info.value.is_cancelled()
    assert conn.steps == (["flush", "goodbye", "closed"] if shield else [])


async def test_shielded_cleanup_inside_a_cancelled_scope_then_leaves_the_scope_cancelled() -> None:
    conn = Conn()
    after: list[str] = []
    with rt.CancelScope() as scope:
        try:
            scope.cancel()
            await rt.yield_now()
        finally:
            with rt.CancelScope(shield=True):
                await conn.close()
            after.append("cleanup done")
    assert scope.cancelled_caught
    assert (conn.steps, after) == (["flush", "goodbye", "closed"], ["cleanup done"])


@pytest.mark.parametrize("flavor", ["current_thread", "multi_thread"])
def test_shielded_cleanup_completes_while_the_runtime_shuts_down(flavor: str) -> None:
    conn, started = Conn(), Gate()
    runtime = rt.Runtime(flavor=flavor, worker_threads=2 if flavor == "multi_thread" else None)
    try:

        async def main() -> None:
            rt.spawn(_serve(conn, started, shield=True))
            await started.wait()

        runtime.block_on(main())
    finally:
        runtime.shutdown()  # cancels the task; its shielded close still runs to the end
    assert conn.steps == ["flush", "goodbye", "closed"]
