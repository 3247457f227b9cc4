"""asyncio on rloop (an event loop written in Rust): the asyncio-API workloads on its loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from . import asyncio_api, asyncio_os

NAME = "rloop"


def run(main: Coroutine[Any, Any, Any]) -> Any:
    import rloop

    with asyncio.Runner(loop_factory=rloop.new_event_loop) as runner:
        return runner.run(main)


WORKLOADS = {**asyncio_api.workloads(run), **asyncio_os.workloads(run)}
