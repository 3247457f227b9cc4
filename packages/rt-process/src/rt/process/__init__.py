"""rt.process: child processes on rt's reactor (Tokio's ``process``).

:class:`Command` builds a child, :meth:`Command.spawn` starts it and returns a :class:`Child`
whose piped streams (:class:`ChildStdin`, :class:`ChildStdout`, :class:`ChildStderr`) are rt
async streams. Exits are observed through the reactor (a pidfd on Linux; without pidfds, a
process-wide SIGCHLD watcher reaping only rt's own children), never by polling, and results
speak Python: exit codes are ``int`` as in ``subprocess`` (``-N`` for signal ``N``),
:meth:`Command.output` returns a ``subprocess.CompletedProcess``. No child is left a zombie:
one dropped before it was waited for is reaped in the background.
"""

from __future__ import annotations

from rt._exports import public

from ._child import Child
from ._command import Command, Stdio
from ._pipe import ChildStderr, ChildStdin, ChildStdout

__all__ = ["Child", "ChildStderr", "ChildStdin", "ChildStdout", "Command", "Stdio"]

public(globals())
