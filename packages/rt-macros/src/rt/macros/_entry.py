"""``@rt.main`` and ``@rt.test``: plain functions that run an ``async def`` on a fresh runtime."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, overload

import rt
from rt.lowlevel import check_bool, check_runtime_options

P = ParamSpec("P")
T = TypeVar("T")


def _check(fn: object, what: str) -> None:
    code = getattr(fn, "__code__", None)
    if not callable(fn) or code is None or not code.co_flags & 0x80:
        raise TypeError(f"{what} decorates an `async def` function, got {fn!r}")


@overload
def main(fn: Callable[P, Coroutine[Any, Any, T]], /) -> Callable[P, T]: ...
@overload
def main(
    *, flavor: str | None = None, worker_threads: int | None = None, **runtime_options: Any
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, T]]: ...


def main(
    fn: Callable[P, Coroutine[Any, Any, T]] | None = None,
    /,
    *,
    # ``object`` here (the overloads say what is accepted): checked below with Runtime's
    # messages, which the optional compiled build's own argument checks would pre-empt.
    flavor: object = None,
    worker_threads: object = None,
    **runtime_options: Any,
) -> Any:
    """Turn ``async def main(...)`` into a plain function that runs it on a fresh runtime.

    ``@rt.main`` or ``@rt.main(flavor=..., worker_threads=..., **runtime_options)``; the result
    keeps the function's name, signature and docstring, so ``if __name__ == "__main__": main()``
    works. The runtime is shut down on return, on an exception and on Ctrl-C: Ctrl-C cancels
    the coroutine (its ``finally`` blocks run) and the process exits with status 130.

    The options are checked when the function is decorated (at import), with the errors
    ``rt.Runtime(...)`` gives, as ``#[tokio::main(...)]`` is at compile time; the runtime
    itself is built only when the function is called.

    Raises:
        TypeError: the decorated object is not an ``async def`` function, or an option
            ``rt.Runtime`` does not take (or of the wrong type).
        ValueError: an option ``rt.Runtime`` refuses (an unknown flavor, ``worker_threads=0``
            or on ``current_thread``...).
        ImportError: a driver was required (``enable_time=True``) but is not installed.
    """
    options: dict[str, Any] = {"flavor": flavor, **runtime_options}
    if worker_threads is not None:
        options["worker_threads"] = worker_threads
    check_runtime_options(**options)

    def decorate(f: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
        _check(f, "@rt.main")

        @functools.wraps(f)
        def run_main(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return rt.run(f(*args, **kwargs), **options)
            except KeyboardInterrupt:
                print("interrupted", file=sys.stderr)
                raise SystemExit(130) from None

        return run_main

    return decorate if fn is None else decorate(fn)


@overload
def test(fn: Callable[P, Coroutine[Any, Any, T]], /) -> Callable[P, T]: ...
@overload
def test(
    *, start_paused: bool = False, flavor: str | None = None, **runtime_options: Any
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, T]]: ...


def test(
    fn: Callable[P, Coroutine[Any, Any, T]] | None = None,
    /,
    *,
    start_paused: object = False,  # ``object``: as for ``main``, checked below
    flavor: object = None,
    **runtime_options: Any,
) -> Any:
    """Turn an ``async def`` test into a plain callable that runs it on a fresh runtime.

    Args:
        start_paused: Pause rt-time's clock before the test starts (Tokio's
            ``start_paused``): sleeps complete instantly and deterministically.
        flavor: As for :class:`rt.Runtime`.
        runtime_options: Any other option of :class:`rt.Runtime`. The options are checked
            when the test is decorated (at import), with the errors ``rt.Runtime(...)``
            gives; the runtime is built when the test runs.

    Raises:
        TypeError: the decorated object is not an ``async def`` function, ``start_paused``
            is not a bool, or an option ``rt.Runtime`` does not take.
        ValueError: an option ``rt.Runtime`` refuses.
        ImportError: ``start_paused=True`` without rt-time installed (when the test runs).
    """
    paused = check_bool("start_paused", start_paused)
    options: dict[str, Any] = {"flavor": flavor, **runtime_options}
    check_runtime_options(**options)

    def decorate(f: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
        _check(f, "@rt.test")

        @functools.wraps(f)
        def run_test(*args: P.args, **kwargs: P.kwargs) -> T:
            async def body() -> T:
                if paused:
                    import rt.time

                    rt.time.pause()
                return await f(*args, **kwargs)

            return rt.run(body(), **options)

        return run_test

    return decorate if fn is None else decorate(fn)
