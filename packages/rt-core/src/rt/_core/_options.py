"""What ``rt.Runtime(...)`` accepts: its options checked and its scheduler built (flavor,
driver layers, diagnostics)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Final

from ._base import Scheduler
from ._driver import KNOWN_LAYERS, DriverLayer, discover_layers, missing_layer_error
from ._exceptions import check_bool
from ._gc import check_gc_option
from ._harness import UNHANDLED_POLICIES
from ._scheduler import CurrentThreadScheduler

if TYPE_CHECKING:
    from ._diagnostics import Diagnostics

FLAVORS: Final = ("current_thread", "multi_thread")


def default_flavor() -> str:
    """``current_thread`` with a GIL; ``multi_thread`` on free-threaded builds.

    The ``RT_FLAVOR`` environment variable (``current_thread`` or ``multi_thread``) overrides
    it, so a whole program or test suite can run on the other flavor without code changes.
    """
    forced = os.environ.get("RT_FLAVOR")
    if forced:
        if forced not in FLAVORS:
            raise ValueError(
                f"the RT_FLAVOR environment variable must be one of "
                f"{', '.join(map(repr, FLAVORS))}, got {forced!r}"
            )
        return forced
    gil = getattr(sys, "_is_gil_enabled", None)
    return "multi_thread" if gil is not None and not gil() else "current_thread"


#: What :class:`rt.Runtime` takes, by keyword, and its defaults: the names and defaults of its
#: signature (a test holds the two together).
RUNTIME_DEFAULTS: Final[dict[str, object]] = {
    "flavor": None,
    "worker_threads": None,
    "max_blocking_threads": 512,
    "enable_io": None,
    "enable_time": None,
    "thread_name": "rt-worker",
    "event_interval": 61,
    "unhandled_error": "log",
    "thread_keep_alive": 10.0,
    "global_queue_interval": None,
    "on_thread_start": None,
    "on_thread_stop": None,
    "on_task_spawn": None,
    "on_task_terminate": None,
    "on_before_task_poll": None,
    "on_after_task_poll": None,
    "slow_poll_threshold": None,
    "console": None,
    "gc": None,
    "poll_time_histogram": False,
}


def check_runtime_options(options: dict[str, Any]) -> None:
    """Check keyword options for :class:`rt.Runtime` as ``Runtime(**options)`` would, without
    building anything (no thread, no fd, no driver): the same checks, the same errors.

    ``flavor=None`` is resolved as the runtime would resolve it now (``RT_FLAVOR``, then the
    build's default). ``@rt.main`` and ``@rt.test`` call it when they decorate, so a bad option
    fails at import rather than when the function is first called.

    Raises:
        TypeError: an option ``Runtime`` does not take, or ``poll_time_histogram`` is not a bool.
        ValueError: an option is out of range.
        ImportError: a driver was required (``True``) but its distribution is missing.
    """
    for name in options:
        if name not in RUNTIME_DEFAULTS:
            import difflib  # (only here: not on the way of every runtime's start)

            message = f"Runtime() got an unexpected keyword argument {name!r}"
            close = difflib.get_close_matches(name, RUNTIME_DEFAULTS, n=1)
            if close:  # a misspelt option (Python 3.13 suggests one too, for Runtime itself)
                message += f". Did you mean {close[0]!r}?"
            raise TypeError(message)
    o = dict(RUNTIME_DEFAULTS)
    o.update(options)
    _check(o)
    for name in KNOWN_LAYERS:
        if o.get(f"enable_{name}") and name not in discover_layers():
            raise missing_layer_error(name)


def build_scheduler(o: dict[str, Any]) -> Scheduler:
    """Check :class:`rt.Runtime`'s options (``o``, by name) and build its scheduler.

    Raises:
        ValueError: an option is out of range or unknown.
        ImportError: a driver was required (``True``) but its distribution is missing.
    """
    flavor, global_queue_interval, diag_spec = _check(o)
    diag = _new_diagnostics(diag_spec)
    multi = flavor == "multi_thread"
    layers = _resolve_layers({"time": o["enable_time"]})
    if multi:
        from ._idle import default_worker_threads
        from ._multi import MultiThreadScheduler

        sched: Scheduler = MultiThreadScheduler(
            worker_threads=o["worker_threads"] or default_worker_threads(),
            max_blocking_threads=o["max_blocking_threads"],
            enable_io=o["enable_io"] is not False,
            layers=layers,
            thread_name=o["thread_name"],
            event_interval=o["event_interval"],
            global_queue_interval=global_queue_interval,
            unhandled_error=o["unhandled_error"],
            thread_keep_alive=float(o["thread_keep_alive"]),
            on_thread_start=o["on_thread_start"],
            on_thread_stop=o["on_thread_stop"],
        )
    else:
        sched = CurrentThreadScheduler(
            max_blocking_threads=o["max_blocking_threads"],
            enable_io=o["enable_io"] is not False,
            layers=layers,
            thread_name=o["thread_name"],
            event_interval=o["event_interval"],
            unhandled_error=o["unhandled_error"],
            thread_keep_alive=float(o["thread_keep_alive"]),
        )
    if diag is not None:
        try:
            _start_diagnostics(sched, diag)
        except BaseException:
            sched.shutdown(None)
            raise
    return sched


def _check(o: dict[str, Any]) -> tuple[str, int, dict[str, Any] | None]:
    """Every check of :class:`rt.Runtime`'s options; builds nothing.

    Returns the flavor (resolved), the global queue interval (defaulted) and the arguments of
    the runtime's :class:`Diagnostics` (``None``: none is needed).
    """
    diag_spec = _check_diagnostics(
        {
            "on_task_spawn": o["on_task_spawn"],
            "on_task_terminate": o["on_task_terminate"],
            "on_before_task_poll": o["on_before_task_poll"],
            "on_after_task_poll": o["on_after_task_poll"],
        },
        o["slow_poll_threshold"],
        o["console"],
        o["poll_time_histogram"],
    )
    flavor = o["flavor"]
    global_queue_interval = o["global_queue_interval"]
    if flavor is None:
        flavor = default_flavor()
    if flavor not in FLAVORS:
        raise ValueError(f"flavor must be one of {', '.join(map(repr, FLAVORS))}, got {flavor!r}")
    if flavor != "multi_thread":
        for option, value in (
            ("worker_threads", o["worker_threads"]),
            ("global_queue_interval", global_queue_interval),
            ("on_thread_start", o["on_thread_start"]),
            ("on_thread_stop", o["on_thread_stop"]),
        ):
            if value is not None:
                raise ValueError(
                    f"{option} applies to flavor='multi_thread' only; a current_thread "
                    "runtime runs its tasks on the thread that calls block_on()"
                )
    elif o["worker_threads"] is not None:
        _check_int("worker_threads", o["worker_threads"], 1)
    for option, hook in (
        ("on_thread_start", o["on_thread_start"]),
        ("on_thread_stop", o["on_thread_stop"]),
    ):
        if hook is not None and not callable(hook):
            raise ValueError(f"{option} must be a callable taking no arguments, got {hook!r}")
    if global_queue_interval is None:
        global_queue_interval = 31  # Tokio's default for its multi-thread scheduler
    _check_int("global_queue_interval", global_queue_interval, 1)
    _check_int("max_blocking_threads", o["max_blocking_threads"], 1)
    _check_int("event_interval", o["event_interval"], 1)
    if o["unhandled_error"] not in UNHANDLED_POLICIES:
        raise ValueError(
            f"unhandled_error must be one of {', '.join(map(repr, UNHANDLED_POLICIES))}, "
            f"got {o['unhandled_error']!r}"
        )
    if not isinstance(o["thread_keep_alive"], int | float) or o["thread_keep_alive"] < 0:
        raise ValueError(f"thread_keep_alive must be a number >= 0, got {o['thread_keep_alive']!r}")
    if not isinstance(o["thread_name"], str) or not o["thread_name"]:
        raise ValueError("thread_name must be a non-empty str")
    if o["gc"] is not None:
        check_gc_option(o["gc"])
    return flavor, global_queue_interval, diag_spec


def _check_diagnostics(
    hooks: dict[str, object], slow_poll_threshold: object, console: object, histogram: object
) -> dict[str, Any] | None:
    """Validate the diagnostics options; return the runtime's Diagnostics' arguments if any
    is on."""
    check_bool("poll_time_histogram", histogram)
    if (
        slow_poll_threshold is None
        and console is None
        and not histogram
        and all(hook is None for hook in hooks.values())
        and not os.environ.get("RT_SLOW_POLL")
        and not os.environ.get("RT_CONSOLE")
    ):
        return None  # the common case: import nothing (logging, json, socket) for it
    from ._console import resolve_setting
    from ._diagnostics import check_hook, parse_threshold

    checked = {name: check_hook(name, hook) for name, hook in hooks.items()}
    threshold = parse_threshold(slow_poll_threshold)
    path = resolve_setting(console)
    if threshold is None and path is None and not histogram and not any(checked.values()):
        return None
    return {
        "hooks": checked,
        "slow_poll_threshold": threshold,
        "console_path": path,
        "poll_time_histogram": histogram,
    }


def _new_diagnostics(spec: dict[str, Any] | None) -> Diagnostics | None:
    if spec is None:
        return None
    from ._diagnostics import Diagnostics

    return Diagnostics(**spec)


def _start_diagnostics(sched: Scheduler, diag: Diagnostics) -> None:
    """Attach ``diag`` to ``sched``: the watchdog thread and the console endpoint start."""
    sched._diag = diag
    if diag.console_path is not None:
        from dataclasses import asdict

        from ._console import ConsoleServer
        from ._dump import take_dump

        diag.console = ConsoleServer(
            diag.console_path,
            sched.flavor,
            dump=lambda: take_dump(sched).to_dict(),
            metrics=lambda: asdict(sched.metrics()),
        )
    diag.start(sched)


def _resolve_layers(options: dict[str, bool | None]) -> list[DriverLayer]:
    layers: list[DriverLayer] = []
    wanted = {name: options.get(name) for name in KNOWN_LAYERS}
    # Entry-point discovery costs a scan of installed metadata: skip it when nothing is wanted.
    installed = discover_layers() if any(v is not False for v in wanted.values()) else {}
    for name, enabled in wanted.items():
        if enabled is False:
            continue
        layer = installed.get(name)
        if layer is None:
            if enabled:
                raise missing_layer_error(name)
            continue
        layers.append(layer)
    return layers


def _check_int(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
