"""The driver stack and its plug-in interface (Tokio's ``runtime/driver.rs``).

A *driver* is what the scheduler calls when it has nothing to run, or every ``event_interval``
steps: ``park(timeout)`` blocks until an event, an :meth:`~Driver.unpark` from another thread,
or the timeout (``0`` means "just poll"), and dispatches whatever became ready by rescheduling
tasks. Drivers stack: rt-core provides the bottom layer (the I/O reactor, or a plain thread
parker when I/O is disabled); other distributions wrap it. rt-time's timer wheel, for example,
shortens the timeout to its next deadline, parks the layer below, then fires expired timers.

rt-core never imports those distributions. A layer advertises itself with an entry point in
the ``rt.drivers`` group whose object is a :class:`DriverLayer`. When a runtime is built, each
known layer is enabled by its ``enable_<name>`` option: ``None`` (the default) means "if the
distribution is installed", ``True`` demands it (an error naming the extra if it is missing),
``False`` leaves it out. Layers are applied in ascending ``order``; the reactor sits below all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol, runtime_checkable

ENTRY_POINT_GROUP = "rt.drivers"


@runtime_checkable
class Driver(Protocol):
    """One layer of the driver stack. All methods but :meth:`unpark` run on the runtime thread."""

    def park(self, timeout: float | None) -> None:
        """Block for at most ``timeout`` seconds (forever if ``None``; poll if ``0``) and
        dispatch what became ready."""

    def unpark(self) -> None:
        """Wake a concurrent or the next :meth:`park`; safe from any thread."""

    def shutdown(self) -> None:
        """Release every resource (fds, threads); idempotent."""


class DriverContext(Protocol):
    """What a runtime offers to the driver layers built for it.

    The park protocol: a layer may decide to block below on what :meth:`has_runnable_tasks`
    and :meth:`blocking_in_flight` report, because the runtime unparks the driver stack
    whenever either changes on another thread while a thread parks (a task woken or spawned
    from outside, the last blocking job finishing). A wake-up that lands between the layer's
    look and its park therefore ends that park.
    """

    def post(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the runtime thread soon; safe from any thread."""

    def blocking_in_flight(self) -> int:
        """Number of ``spawn_blocking`` jobs queued or running (they may wake tasks)."""

    def has_runnable_tasks(self) -> bool:
        """Whether a task is ready to run (a layer must then not block in ``park``)."""


class DriverLayer(Protocol):
    """A plug-in layer, advertised by an ``rt.drivers`` entry point.

    Attributes:
        name: The layer's name; the runtime option ``enable_<name>`` controls it, and
            :func:`rt.lowlevel.current_driver` finds the built driver by it.
        order: Layers are stacked in ascending order above the reactor.
        extra: The meta distribution's extra that installs it (for error messages).
    """

    name: str
    order: int
    extra: str

    def build(self, inner: Driver, ctx: DriverContext) -> Driver:
        """Return a driver that wraps ``inner``."""


class KnownLayer(NamedTuple):
    """A layer rt knows by name even before its distribution is installed."""

    name: str
    extra: str
    module: str


# The layers with an ``enable_*`` option on ``rt.Runtime``; their entry point is looked up
# under the same name. Unknown entry points are ignored.
KNOWN_LAYERS: dict[str, KnownLayer] = {
    "time": KnownLayer("time", "time", "rt.time"),
    "signal": KnownLayer("signal", "signal", "rt.signal"),
}

_discovered: dict[str, DriverLayer] | None = None


def _entry_points(group: str) -> list[tuple[str, str]]:
    """Return ``(name, "module:attr")`` for the entry points of ``group`` on ``sys.path``.

    A small reader of ``*.dist-info/entry_points.txt`` (the file importlib.metadata reads):
    importing importlib.metadata would load email, zipfile, csv and friends into every process
    that builds a runtime, and every full garbage collection would walk them ever after.
    """
    import os
    import sys

    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for dist in names:
            if not dist.endswith((".dist-info", ".egg-info")) or dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(entry or ".", dist, "entry_points.txt")) as f:
                    text = f.read()
            except OSError:
                continue
            section = None
            for raw in text.splitlines():
                line = raw.strip()
                if not line or line.startswith(("#", ";")):
                    continue
                if line.startswith("[") and line.endswith("]"):
                    section = line[1:-1].strip()
                elif section == group and "=" in line:
                    name, _, value = line.partition("=")
                    found.append((name.strip(), value.strip()))
    return found


def discover_layers() -> dict[str, DriverLayer]:
    """Find the installed driver layers (cached for the process)."""
    global _discovered
    if _discovered is None:
        import importlib

        found: dict[str, DriverLayer] = {}
        for name, target in _entry_points(ENTRY_POINT_GROUP):
            if name not in KNOWN_LAYERS or name in found:
                continue
            module, _, attr = target.partition(":")
            try:
                obj = importlib.import_module(module.strip())
                for part in attr.strip().split(".") if attr else ():
                    obj = getattr(obj, part)
            except (ImportError, AttributeError):
                continue
            found[name] = obj
        _discovered = found
    return _discovered


def missing_layer_error(name: str) -> ImportError:
    """The error for ``enable_<name>=True`` when the layer's distribution is not installed."""
    known = KNOWN_LAYERS[name]
    return ImportError(
        f"enable_{name}=True needs the rt-{known.extra} distribution, which is not installed: "
        f"pip install 'rt[{known.extra}]'"
    )
