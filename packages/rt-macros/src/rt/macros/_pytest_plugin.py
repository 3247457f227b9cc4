"""rt's pytest plugin (entry point ``pytest11``): run ``async def`` tests on a fresh runtime.

* ``@pytest.mark.rt`` / ``@pytest.mark.rt(start_paused=True, flavor=..., **runtime_options)``
  runs a test on its own runtime, built before the test's fixtures and shut down after them.
* ``rt_mode = auto`` in the ini file runs every ``async def`` test on rt without the marker;
  ``rt_mode = strict`` (the default) runs only marked tests, as in pytest-asyncio.
* ``async def`` fixtures (plain or generator) of function scope run on the test's runtime.
  Wider-scoped ones (``@pytest.fixture(scope="module")``: a server or a pool shared by the
  tests of a module) run on a runtime that lives exactly as long as that scope, and a test
  using one runs on that same runtime (pytest-asyncio's ``loop_scope``), so the fixture's tasks
  and sockets keep working inside the test. ``@pytest.mark.rt(runtime_scope="module")`` asks
  for a scope's runtime explicitly.
* ``@pytest.mark.rt`` on a plain ``def`` test fails that test, saying to remove the mark or
  make the test ``async def`` (it would run without a runtime otherwise, and whatever the
  mark asked for, ``start_paused=True`` say, would silently not apply). A mark inherited from
  a class or a module (``pytestmark``) is left alone on the plain tests it reaches.
* An unmarked ``async def`` test in strict mode fails, saying to mark it ``@pytest.mark.rt``
  or to set ``rt_mode = auto`` (rather than pytest's generic "not natively supported").
* Tasks still running when the test ends are reported with a warning (then cancelled by the
  runtime's shutdown); tasks of a shared runtime belong to its fixtures and are not.
* ``rt_flavors = current_thread multi_thread`` in the ini file runs every rt test once per
  scheduler flavor, the flavor in the test id (``test_x[multi_thread]``), as Tokio's
  ``rt_test!`` does. Tests that build runtimes themselves take the ``flavor`` fixture and pass
  it on (``rt.run(main(), flavor=flavor)``); a marker's own ``flavor=`` pins a test to one.
  Without the option, tests run once and ``flavor`` is ``None`` (the runtime's default).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Generator
from typing import Any

import pytest

import rt

_RUNTIME = "_rt_runtime"
_SHARED = "_rt_shared_runtime"


class RtLeakedTaskWarning(pytest.PytestWarning):
    """A test ended with tasks of its runtime still running."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "rt_mode",
        "strict: only @pytest.mark.rt tests run on rt; auto: every async def test does",
        default="strict",
    )
    parser.addini(
        "rt_flavors",
        "scheduler flavors to run every rt test on, each in its own test id "
        "(e.g. current_thread multi_thread); empty: once, on the runtime's default",
        type="args",
        default=[],
    )


_FLAVOR = "flavor"
_KNOWN_FLAVORS = ("current_thread", "multi_thread")


def _flavors(config: pytest.Config) -> list[str]:
    flavors: list[str] = list(config.getini("rt_flavors"))
    for f in flavors:
        if f not in _KNOWN_FLAVORS:
            raise pytest.UsageError(
                f"rt_flavors lists {f!r}; the flavors are {', '.join(_KNOWN_FLAVORS)}"
            )
    return flavors


def _is_rt_test(fn: object, marker: pytest.Mark | None, config: pytest.Config) -> bool:
    if not inspect.iscoroutinefunction(fn):
        return False
    return marker is not None or config.getini("rt_mode") == "auto"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each rt test, and each test using the ``flavor`` fixture, once per flavor."""
    flavors = _flavors(metafunc.config)
    if not flavors:
        return
    marker = metafunc.definition.get_closest_marker("rt")
    if marker is not None and "flavor" in marker.kwargs:
        return  # pinned by the marker
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if _FLAVOR in names:
            return  # the test chooses its flavors itself
    uses_fixture = _FLAVOR in metafunc.fixturenames
    if not uses_fixture and not _is_rt_test(metafunc.function, marker, metafunc.config):
        return
    if not uses_fixture:
        metafunc.fixturenames.append(_FLAVOR)
    metafunc.parametrize(_FLAVOR, flavors, indirect=True)


@pytest.fixture
def flavor(request: pytest.FixtureRequest) -> str | None:
    """The scheduler flavor this test runs on (see ``rt_flavors``); pass it to the runtimes
    the test builds. ``None`` (the runtime's default) when ``rt_flavors`` is not set."""
    return getattr(request, "param", None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "rt(start_paused=False, flavor=None, **runtime_options): run this async test on a "
        "fresh rt runtime",
    )


def _rt_options(item: pytest.Item) -> dict[str, Any] | None:
    fn = getattr(item, "obj", None)
    if not inspect.iscoroutinefunction(fn):
        return None
    marker = item.get_closest_marker("rt")
    if marker is not None:
        if marker.args:
            raise pytest.UsageError("@pytest.mark.rt takes keyword arguments only")
        return dict(marker.kwargs)
    mode = item.config.getini("rt_mode")
    if mode not in ("strict", "auto"):
        raise pytest.UsageError(f"rt_mode must be 'strict' or 'auto', got {mode!r}")
    return {} if mode == "auto" else None


async def _pause() -> None:
    import rt.time

    rt.time.pause()


@pytest.fixture(autouse=True)
def _rt_test_runtime(request: pytest.FixtureRequest) -> Generator[rt.Runtime | None, None, None]:
    """Build the test's runtime before its other fixtures; shut it down after them.

    Autouse fixtures are set up first and torn down last, so async fixtures run on this
    runtime and are finalized before it shuts down.
    """
    options = _rt_options(request.node)
    if options is None:
        yield None
        return
    shared = _shared_runtime_for_test(request, options)
    if shared is not None:
        setattr(request.node, _RUNTIME, shared)
        setattr(request.node, _SHARED, True)
        try:
            yield shared
        finally:
            delattr(request.node, _RUNTIME)
        return
    start_paused = bool(options.pop("start_paused", False))
    if "flavor" not in options:
        callspec = getattr(request.node, "callspec", None)
        if callspec is not None and _FLAVOR in callspec.params:
            options["flavor"] = callspec.params[_FLAVOR]
    runtime = rt.Runtime(**options)
    setattr(request.node, _RUNTIME, runtime)
    try:
        if start_paused:
            runtime.block_on(_pause())
        yield runtime
    finally:
        delattr(request.node, _RUNTIME)
        runtime.shutdown()


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, None, None]:
    func: Callable[..., Any] = fixturedef.func
    is_gen = inspect.isasyncgenfunction(func)
    if not (is_gen or inspect.iscoroutinefunction(func)):
        yield
        return
    found: rt.Runtime | None
    if fixturedef.scope != "function":
        found = _scoped_runtime(request, fixturedef.scope)
    else:
        found = getattr(request.node, _RUNTIME, None)
    if found is None:
        raise pytest.UsageError(
            f"async fixture {fixturedef.argname!r} is used by {request.node.nodeid}, which does "
            "not run on rt: mark the test with @pytest.mark.rt or set rt_mode = auto"
        )

    runtime = found

    def run_fixture(*args: Any, **kwargs: Any) -> Any:
        if not is_gen:
            return runtime.block_on(func(*args, **kwargs))
        agen = func(*args, **kwargs)
        value = runtime.block_on(agen.__anext__())

        def finish() -> None:
            try:
                runtime.block_on(agen.__anext__())
            except StopAsyncIteration:
                return
            raise RuntimeError(f"async fixture {fixturedef.argname!r} yielded more than once")

        request.addfinalizer(finish)
        return value

    fixturedef.func = run_fixture  # type: ignore[misc]
    try:
        yield
    finally:
        fixturedef.func = func  # type: ignore[misc]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    runtime: rt.Runtime | None = getattr(pyfuncitem, _RUNTIME, None)
    if runtime is None:
        _refuse_marked_plain_test(pyfuncitem)
        return _refuse_unmarked_async_test(pyfuncitem)
    fn: Callable[..., Any] = pyfuncitem.obj
    argnames = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in argnames}
    runtime.block_on(fn(**kwargs))
    alive = runtime.metrics().alive_tasks
    if alive and not getattr(pyfuncitem, _SHARED, False):
        warnings.warn(
            RtLeakedTaskWarning(
                f"{alive} task(s) were still running when {pyfuncitem.name} ended; they are "
                "cancelled at runtime shutdown (await or abort them in the test)"
            ),
            stacklevel=1,
        )
    return True


# -- runtimes shared by a scope (async fixtures with module / class / package / session scope) --

_SCOPES = ("function", "class", "module", "package", "session")


def _new_scoped_runtime() -> Generator[rt.Runtime, None, None]:
    runtime = rt.Runtime()
    try:
        yield runtime
    finally:
        runtime.shutdown()


# One hidden fixture per scope: pytest then tears each runtime down after every fixture that ran
# on it (they request it while they are set up), at the end of exactly that scope.
_rt_class_runtime = pytest.fixture(scope="class", name="_rt_class_runtime")(_new_scoped_runtime)
_rt_module_runtime = pytest.fixture(scope="module", name="_rt_module_runtime")(_new_scoped_runtime)
_rt_package_runtime = pytest.fixture(scope="package", name="_rt_package_runtime")(
    _new_scoped_runtime
)
_rt_session_runtime = pytest.fixture(scope="session", name="_rt_session_runtime")(
    _new_scoped_runtime
)


def _scoped_runtime(request: pytest.FixtureRequest, scope: str) -> rt.Runtime:
    runtime: rt.Runtime = request.getfixturevalue(f"_rt_{scope}_runtime")
    return runtime


def _async_fixture_scopes(item: pytest.Item) -> dict[str, str]:
    """The async fixtures ``item`` uses (directly or not) that are wider than the test."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return {}
    found: dict[str, str] = {}
    for name, defs in info.name2fixturedefs.items():
        fixturedef = defs[-1]
        func = fixturedef.func
        is_async = inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
        if is_async and fixturedef.scope != "function":
            found[name] = fixturedef.scope
    return found


def _shared_runtime_for_test(
    request: pytest.FixtureRequest, options: dict[str, Any]
) -> rt.Runtime | None:
    """The runtime of a wider scope the test must run on, or ``None`` for a fresh one."""
    item = request.node
    wanted = options.pop("runtime_scope", None)
    scopes = _async_fixture_scopes(item)
    if wanted is None and not scopes:
        return None
    distinct = set(scopes.values())
    if len(distinct) > 1 or (wanted is not None and distinct and distinct != {wanted}):
        uses = ", ".join(f"{name} ({scope})" for name, scope in sorted(scopes.items()))
        asked = f" and runtime_scope={wanted!r}" if wanted is not None else ""
        raise pytest.UsageError(
            f"{item.nodeid} uses async fixtures that live on different rt runtimes: "
            f"{uses}{asked}. An async fixture runs on the runtime of its own scope; give the "
            "fixtures one scope so the test can run on their runtime"
        )
    scope = wanted if wanted is not None else distinct.pop()
    if scope not in _SCOPES:
        raise pytest.UsageError(f"runtime_scope must be one of {_SCOPES}, got {scope!r}")
    if scope == "function":
        return None
    if options:
        raise pytest.UsageError(
            f"{item.nodeid} runs on the runtime shared by its {scope} scope, which is built "
            f"with default options; {sorted(options)} apply only to a test's own runtime"
        )
    return _scoped_runtime(request, scope)


# -- a mark on the wrong kind of test, unmarked async tests in strict mode ------------------


def _refuse_marked_plain_test(pyfuncitem: pytest.Function) -> None:
    """Fail a plain ``def`` test that carries ``@pytest.mark.rt`` itself.

    Only the test's own mark counts: ``pytestmark = pytest.mark.rt`` on a module (or a mark on
    a class) reaches its plain tests too, and there it means "the async tests here".
    """
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        return
    if not any(mark.name == "rt" for mark in pyfuncitem.own_markers):
        return
    pytest.fail(
        f"@pytest.mark.rt applies to async def tests; {pyfuncitem.originalname} is a plain "
        "function: remove the mark or make it async def",
        pytrace=False,
    )


def _refuse_unmarked_async_test(pyfuncitem: pytest.Function) -> bool | None:
    """Fail an ``async def`` test that rt does not run, saying how to run it on rt."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    others = ("asyncio", "anyio", "trio")  # another plugin's test; its message is its own
    if any(pyfuncitem.get_closest_marker(name) for name in others):
        return None
    pytest.fail(
        f"{pyfuncitem.name} is an async def test and rt's plugin runs it only when asked: "
        "mark it @pytest.mark.rt, or set rt_mode = auto in the pytest configuration to run "
        "every async def test on rt",
        pytrace=False,
    )
