"""``@rt.main`` and ``@rt.test``: plain functions that run an ``async def`` on a fresh runtime."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, overload

import rt

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
    flavor: str | None = None,
    worker_threads: int | None = None,
    **runtime_options: Any,
) -> Any:
    """Turn ``async def main(...)`` into a plain function that runs it on a fresh runtime.

    ``@rt.main`` or ``@rt.main(flavor=..., worker_threads=..., **runtime_options)``; the result
    keeps the function's name, signature and docstring, so ``if __name__ == "__main__": main()``
    works. The runtime is shut down on return, on an exception and on Ctrl-C: Ctrl-C cancels
    the coroutine (its ``finally`` blocks run) and the process exits with status 130.

    Raises:
        TypeError: the decorated object is not an ``async def`` function.
    """

    def decorate(f: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
        _check(f, "@rt.main")

        @functools.wraps(f)
        def run_main(*args: P.args, **kwargs: P.kwargs) -> T:
            options = dict(runtime_options)
            if worker_threads is not None:
                options["worker_threads"] = worker_threads
            try:
                return rt.run(f(*args, **kwargs), flavor=flavor, **options)
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
    start_paused: bool = False,
    flavor: str | None = None,
    **runtime_options: Any,
) -> Any:
    """Turn an ``async def`` test into a plain callable that runs it on a fresh runtime.

    Args:
        start_paused: Pause rt-time's clock before the test starts (Tokio's
            ``start_paused``): sleeps complete instantly and deterministically.

    Raises:
        TypeError: the decorated object is not an ``async def`` function.
        ImportError: ``start_paused=True`` without rt-time installed.
    """

    def decorate(f: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
        _check(f, "@rt.test")

        @functools.wraps(f)
        def run_test(*args: P.args, **kwargs: P.kwargs) -> T:
            async def body() -> T:
                if start_paused:
                    import rt.time

                    rt.time.pause()
                return await f(*args, **kwargs)

            return rt.run(body(), flavor=flavor, **runtime_options)

        return run_test

    return decorate if fn is None else decorate(fn)
