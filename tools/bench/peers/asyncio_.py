"""asyncio with its default (selector) event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from . import asyncio_api, asyncio_os, asyncio_tls

NAME = "asyncio"


def run(main: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(main)


WORKLOADS = {
    **asyncio_api.workloads(run),
    **asyncio_os.workloads(run),
    **asyncio_tls.workloads(run),
}
