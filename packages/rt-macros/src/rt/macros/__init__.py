"""rt.macros: Tokio's macros as Python decorators and functions.

``@rt.main`` and ``@rt.test`` turn an ``async def`` into a plain function that runs it on a
fresh runtime; ``select``, ``join`` and ``try_join`` run awaitables concurrently, as tasks that
never outlive the call. All are also reachable from the top level: ``rt.main``, ``rt.select``...
"""

from __future__ import annotations

from rt._exports import public

from ._combinators import join, select, try_join
from ._entry import main, test

__all__ = ["join", "main", "select", "test", "try_join"]

public(globals())
