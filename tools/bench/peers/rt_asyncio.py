"""asyncio on rt's event loop (``rt.asyncio``): the asyncio-API workloads on it.

The ``asyncio`` suite shows it as the ``rt`` column; the ``tls`` suite runs its ``ssl=`` server
(the standard library's ``sslproto`` on rt's loop) as the ``rt-asyncio`` column.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from . import asyncio_api, asyncio_tls

NAME = "rt-asyncio"


def run(main: Coroutine[Any, Any, Any]) -> Any:
    import rt.asyncio

    with asyncio.Runner(loop_factory=rt.asyncio.new_event_loop) as runner:
        return runner.run(main)


WORKLOADS = {**asyncio_api.workloads(run), **asyncio_tls.workloads(run)}
