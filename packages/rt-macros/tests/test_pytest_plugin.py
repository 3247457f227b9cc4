"""The pytest plugin, tested on generated test files run in a subprocess (pytester)."""

from __future__ import annotations

import pytest


def test_marked_async_tests_pass_and_fail_with_their_own_traceback(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        import rt

        @pytest.mark.rt
        async def test_passes():
            h = rt.spawn(rt.yield_now())
            await h

        @pytest.mark.rt
        async def test_fails():
            await rt.yield_now()
            assert 1 + 1 == 3, "arithmetic is broken"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*def test_fails*", "*arithmetic is broken*"])
    result.stdout.no_fnmatch_line("*_run_until*")


def test_strict_mode_leaves_unmarked_async_tests_alone_and_auto_mode_runs_them(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import rt

        async def test_unmarked():
            await rt.yield_now()
        """
    )
    strict = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    outcomes = strict.parseoutcomes()
    # Not run on rt: pytest itself skips (pytest 8) or fails (pytest 9) an async test that no
    # plugin runs.
    assert outcomes.get("passed", 0) == 0
    assert outcomes.get("failed", 0) + outcomes.get("skipped", 0) == 1
    pytester.makeini("[pytest]\nrt_mode = auto\n")
    auto = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    auto.assert_outcomes(passed=1)


def test_async_fixtures_run_on_the_tests_runtime_with_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import rt

        log = []

        @pytest.fixture
        async def resource():
            log.append(("setup", rt.Handle.current()))
            yield "value"
            log.append(("teardown", rt.Handle.current()))

        @pytest.mark.rt
        async def test_uses(resource):
            assert resource == "value"
            assert log[0][1] == rt.Handle.current()

        def test_teardown_ran_on_the_same_runtime():
            assert [kind for kind, _ in log] == ["setup", "teardown"]
            assert log[0][1] == log[1][1]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_an_error_in_an_async_fixture_is_reported_as_a_setup_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        import rt

        @pytest.fixture
        async def broken():
            await rt.yield_now()
            raise LookupError("fixture exploded")

        @pytest.mark.rt
        async def test_needs_it(broken):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*LookupError: fixture exploded*"])


def test_start_paused_makes_sleeps_instant_and_leaked_tasks_are_reported(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        import rt
        import rt.time

        @pytest.mark.rt(start_paused=True)
        async def test_an_hour():
            start = rt.time.Instant.now()
            await rt.sleep(3600)
            assert rt.time.Instant.now() - start == pytest.approx(3600)

        @pytest.mark.rt
        async def test_leaks_a_task():
            rt.spawn(rt.sleep(60))
            await rt.yield_now()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*RtLeakedTaskWarning*1 task(s) were still running*"])


def test_a_fresh_runtime_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import rt

        seen = []

        @pytest.mark.rt
        async def test_one():
            seen.append(rt.Handle.current())

        @pytest.mark.rt
        async def test_two():
            seen.append(rt.Handle.current())
            assert seen[0] != seen[1]
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
