"""Traps: yield_now, checkpoints, the cooperative budget, reschedule, foreign awaitables."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from rtcore_helpers import Gate

import rt


def test_spawn_and_yield_now_outside_a_runtime_say_how_to_start_one() -> None:
    async def work() -> None:
        pass

    with pytest.raises(RuntimeError, match=r"rt\.run"):
        rt.spawn(work())
    with pytest.raises(RuntimeError, match=r"rt\.run"):
        rt.yield_now()
    with pytest.raises(RuntimeError, match=r"rt\.run"):
        rt.current_task()
    with pytest.raises(RuntimeError, match=r"rt\.run"):
        rt.Handle.current()


# One thread, so "the other task ran first" can only come from the budget yield: the
# current-thread flavor and a one-worker multi-thread one.
@pytest.mark.parametrize(
    "flavor",
    [
        pytest.param({"flavor": "current_thread"}, id="current_thread"),
        pytest.param({"flavor": "multi_thread", "worker_threads": 1}, id="multi_thread_1"),
    ],
)
def test_cooperative_budget_lets_other_tasks_run_during_a_hot_loop(
    flavor: dict[str, Any],
) -> None:
    rt.run(_budget_lets_others_run(), **flavor)


def test_awaiting_a_foreign_future_raises_a_clear_type_error(flavor: str | None) -> None:
    import asyncio

    loop = asyncio.new_event_loop()

    async def uses_asyncio() -> None:
        await asyncio.Future(loop=loop)  # yields the future to whoever drives the task

    async def main() -> None:
        with pytest.raises(rt.JoinError) as info:
            await rt.spawn(uses_asyncio())
        assert isinstance(info.value.exception, TypeError)
        assert "not rt's" in str(info.value.exception)

    rt.run(main(), flavor=flavor)
    loop.close()


async def test_reschedule_from_a_plain_thread_wakes_a_parked_runtime() -> None:
    gates = [Gate() for _ in range(50)]

    def opener() -> None:
        for g in gates:
            g.open()

    t = threading.Thread(target=opener)
    t.start()
    for g in gates:
        await g.wait()
    t.join()
    result = sum(g.is_open for g in gates)
    assert result == 50


def test_checkpoint_outside_a_task_says_so() -> None:
    from rt.lowlevel import checkpoint

    with pytest.raises(RuntimeError, match="checkpoint"):
        checkpoint()


async def _budget_lets_others_run() -> None:
    order: list[str] = []

    async def done_child() -> None:
        return None

    async def hot() -> None:
        h = rt.spawn(done_child())
        await h
        # Awaiting an already finished handle completes without waiting; the budget must
        # still make this loop yield now and then.
        for _ in range(1000):
            await h
        order.append("hot")

    async def other() -> None:
        order.append("other")

    a = rt.spawn(hot())
    b = rt.spawn(other())
    await a
    await b
    assert order == ["other", "hot"]


def test_park_is_yielded_only_by_the_trap_and_the_fast_paths_it_lists() -> None:
    import ast
    import re
    from pathlib import Path

    import rt._core._traps as traps

    # The sources, not the imported package: a compiled build ships _task as an extension.
    core = Path(__file__).resolve().parent.parent / "src" / "rt" / "_core"
    assert (core / "_traps.py").exists()
    found: set[tuple[str, str]] = set()
    for path in sorted(core.glob("*.py")):
        tree = ast.parse(path.read_text())

        def visit(node: ast.AST, scope: list[str], path: Path = path) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    visit(child, [*scope, child.name])
                    continue
                if (
                    isinstance(child, ast.Yield)
                    and isinstance(child.value, ast.Name)
                    and child.value.id == "PARK"
                ):
                    found.add((path.name, ".".join(scope)))
                visit(child, scope)

        visit(tree, [])
    listed = set(re.findall(r"\* ``(\w+\.py)`` ``([\w.]+)``", traps.__doc__ or ""))
    assert listed  # the docstring lists the fast paths
    # The trap itself yields PARK through a one-item tuple iterator (no generator frame).
    assert found == listed
    assert list(traps.PARK_ONCE.__await__()) == [traps.PARK]


def test_the_hot_paths_inlined_in_both_loops_match_their_generator() -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, str(root / "tools" / "gen_hot_paths.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


def test_the_generator_check_reports_one_of_two_copies_in_a_file_taken_out_by_its_markers() -> None:
    # _runtime.py holds two spawn_here copies: deleting one's markers (to hand-edit it) left
    # the other to satisfy a check that looked for the name only once.
    import importlib.util
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    tool = root / "tools" / "gen_hot_paths.py"
    spec = importlib.util.spec_from_file_location("gen_hot_paths", tool)
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    path = gen.CORE / "_runtime.py"
    names = gen.TARGETS[path]
    text = path.read_text()
    assert gen.missing(text, names) == []
    opens = list(re.finditer(r"^[ \t]*# <generated: spawn_here>\n", text, re.M))
    closes = list(re.finditer(r"^[ \t]*# </generated: spawn_here>\n", text, re.M))
    assert len(opens) == len(closes) == 2
    unmarked = (
        text[: opens[1].start()]
        + text[opens[1].end() : closes[1].start()]
        + text[closes[1].end() :]
    )
    assert gen.missing(unmarked, names) == ["spawn_here"]


async def test_wait_task_rescheduled_given_the_running_task_parks_it_until_rescheduled() -> None:
    from rt.lowlevel import Abort, current_task, reschedule, wait_task_rescheduled

    me = current_task()
    aborts: list[str] = []

    def abort() -> Abort:
        aborts.append("abort")
        return Abort.SUCCEEDED

    def wake_later() -> None:
        reschedule(me)

    waker = threading.Thread(target=wake_later)
    waker.start()
    await wait_task_rescheduled(abort, me)  # woken by the thread, not cancelled
    waker.join()
    assert aborts == []

    started = Gate()

    async def parks() -> None:
        task = current_task()
        started.open()
        await wait_task_rescheduled(abort, task)

    h = rt.spawn(parks())
    await started.wait()  # it runs: the abort finds it parking or parked, never unstarted
    h.abort()
    with pytest.raises(rt.JoinError) as info:
        await h
    assert info.value.is_cancelled()
    assert aborts == ["abort"]  # the cancellation reached the parked task through abort_fn
