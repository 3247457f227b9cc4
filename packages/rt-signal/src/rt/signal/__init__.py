"""rt.signal: OS signals as rt awaitables (Tokio's ``signal``).

``await rt.signal.ctrl_c()`` completes at the next Ctrl-C (``SIGINT``): while a task waits
for it, Ctrl-C does not interrupt the program. With no one waiting, ``rt.run``'s own Ctrl-C
handling (cancel the main task, then ``KeyboardInterrupt``) is unchanged. :mod:`rt.signal.unix`
listens for any catchable signal as a stream.

Python runs signal handlers on the main thread and lets only that thread install them. rt
delivers every signal to the tasks listening for it on any runtime and any thread (through a
self-pipe each runtime's reactor watches). A task on another thread (a multi-thread runtime's
worker) that registers a signal asks the main thread to install the handler through a
real-time "doorbell" signal (``SIGRTMAX - 2``), set up when ``rt.signal`` is imported on the
main thread; building a runtime there imports it (rt-signal is a layer of every runtime's
driver stack, which closes the runtime's listeners when it shuts down).

Building a runtime loads only that layer and the doorbell: the handlers and listeners, and
:mod:`rt.signal.unix`, load on first use (``ctrl_c()``, ``rt.signal.unix``), so a program that
uses no signal does not pay for them at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rt._exports import public

from ._registry import install_doorbell

if TYPE_CHECKING:
    from . import unix

__all__ = ["ctrl_c", "unix"]

install_doorbell()


def __getattr__(name: str) -> Any:
    # ``rt.signal.unix`` loads on first use (the handlers with it), not with the driver layer.
    if name == "unix":
        import importlib

        return importlib.import_module(".unix", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def ctrl_c() -> None:
    """Wait for the next Ctrl-C (``SIGINT``).

    While a task waits here, a Ctrl-C completes this call instead of interrupting the program
    (every waiting task sees it). When it returns, Ctrl-C goes back to its previous handling
    (in ``rt.run``: cancel the main task), unless other listeners remain.

    Raises:
        RuntimeError: outside a runtime (or see :mod:`rt.signal` about threads).

    Cancel safety: cancel-safe: a cancelled ``ctrl_c()`` consumed no Ctrl-C.
    """
    import signal

    from ._handlers import register

    listener = register(signal.SIGINT)
    try:
        await listener.recv()
    finally:
        listener.close()


public(globals())
