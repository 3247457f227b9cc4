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


def test_strict_mode_does_not_run_unmarked_async_tests_and_auto_mode_runs_them(
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


def test_strict_mode_fails_an_unmarked_async_test_saying_how_to_run_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import rt

        async def test_unmarked():
            await rt.yield_now()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.rt*rt_mode = auto*"])
    result.stdout.no_fnmatch_line("*not natively supported*")


MODULE_SERVER = """
    import pytest
    import rt
    import rt.net

    events = []

    @pytest.fixture(scope="module")
    async def server():
        listener = await rt.net.TcpListener.bind(("127.0.0.1", 0))

        async def serve():
            while True:
                stream, _ = await listener.accept()
                async with stream:
                    await stream.write_all(b"hello " + await stream.read(100))

        task = rt.spawn(serve())
        events.append(("setup", rt.Handle.current()))
        yield listener.local_addr()
        task.abort()
        listener.close()
        events.append(("teardown", rt.Handle.current()))

    async def ask(addr, name):
        async with await rt.net.TcpStream.connect(addr) as stream:
            await stream.write_all(name)
            return await stream.read(100)

    @pytest.mark.rt
    async def test_first_client(server):
        assert await ask(server, b"one") == b"hello one"
        assert events[-1][1] == rt.Handle.current()

    @pytest.mark.rt
    async def test_second_client_uses_the_same_server_and_runtime(server):
        assert await ask(server, b"two") == b"hello two"
        assert [kind for kind, _ in events] == ["setup"]
        assert events[0][1] == rt.Handle.current()

    @pytest.mark.rt
    async def test_without_the_fixture_gets_a_fresh_runtime():
        assert events[0][1] != rt.Handle.current()
    """


def test_a_module_scoped_async_fixture_serves_every_test_of_the_module_on_one_runtime(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_a=MODULE_SERVER,
        test_b="""
        import test_a

        def test_the_module_server_was_torn_down_on_its_runtime_before_the_next_module():
            assert [kind for kind, _ in test_a.events] == ["setup", "teardown"]
            assert test_a.events[0][1] == test_a.events[1][1]
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=4)
    result.stdout.no_fnmatch_line("*RtLeakedTaskWarning*")


def test_a_session_scoped_async_fixture_is_shared_across_modules(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import pytest
        import rt
        import rt.sync

        setups = []

        @pytest.fixture(scope="session")
        async def pool():
            setups.append(rt.Handle.current())
            yield rt.sync.Semaphore(2)
        """
    )
    body = """
        import pytest
        import rt
        from conftest import setups

        @pytest.mark.rt
        async def test_uses_the_pool(pool):
            async with pool.acquire():
                await rt.yield_now()
            assert setups == [rt.Handle.current()]
        """
    pytester.makepyfile(test_one=body, test_two=body)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_async_fixtures_of_different_scopes_in_one_test_are_refused_with_a_reason(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="session")
        async def wide():
            return 1

        @pytest.fixture(scope="module")
        async def narrow():
            return 2

        @pytest.mark.rt
        async def test_both(wide, narrow):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*different rt runtimes*narrow (module)*wide (session)*"])


def test_runtime_scope_marker_runs_tests_on_the_scopes_runtime(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import rt

        seen = []

        @pytest.mark.rt(runtime_scope="module")
        async def test_one():
            seen.append(rt.Handle.current())

        @pytest.mark.rt(runtime_scope="module")
        async def test_two():
            seen.append(rt.Handle.current())
            assert seen[0] == seen[1]
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_the_rt_mark_on_a_plain_test_fails_it_saying_what_to_do(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.rt(start_paused=True)
        def test_plain():
            pass

        @pytest.mark.rt
        @pytest.mark.parametrize("x", [1, 2])
        def test_plain_parametrized(x):
            pass

        class TestGroup:
            @pytest.mark.rt
            def test_method(self):
                pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.rt applies to async def tests; test_plain is a plain function: "
            "remove the mark or make it async def*",
        ]
    )
    result.stdout.fnmatch_lines(["*test_plain_parametrized is a plain function*"])
    result.stdout.fnmatch_lines(["*test_method is a plain function*"])


def test_a_module_or_class_rt_mark_leaves_the_plain_tests_it_reaches_alone(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        import rt

        pytestmark = pytest.mark.rt

        def test_plain_helper_check():
            pass

        async def test_async():
            await rt.yield_now()

        @pytest.mark.rt
        class TestGroup:
            def test_plain_method(self):
                pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
