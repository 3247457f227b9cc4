"""asyncio on rt's event loop (``rt.asyncio``): the asyncio-API workloads on it.

The ``asyncio`` suite shows it as the ``rt`` column.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from . import asyncio_api

NAME = "rt-asyncio"


def run(main: Coroutine[Any, Any, Any]) -> Any:
    import rt.asyncio

    with asyncio.Runner(loop_factory=rt.asyncio.new_event_loop) as runner:
        return runner.run(main)


WORKLOADS = asyncio_api.workloads(run)
