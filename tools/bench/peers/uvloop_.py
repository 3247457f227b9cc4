"""asyncio on uvloop (libuv, in Cython): the asyncio-API workloads on its loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from . import asyncio_api, asyncio_os, asyncio_tls

NAME = "uvloop"


def run(main: Coroutine[Any, Any, Any]) -> Any:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


WORKLOADS = {
    **asyncio_api.workloads(run),
    **asyncio_os.workloads(run),
    **asyncio_tls.workloads(run),
}
