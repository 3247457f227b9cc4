"""mini-redis: Tokio's teaching example, on rt. A RESP2 server, a client library and a CLI.

The server speaks enough of Redis for ``redis-cli``, ``redis-benchmark`` and redis-py:
``PING``, ``ECHO``, ``GET``, ``SET`` (``EX``/``PX``/``NX``/``XX``), ``MGET``, ``MSET``,
``DEL``, ``EXISTS``, ``INCR``, ``INCRBY``, ``DECR``, ``DECRBY``, ``EXPIRE``, ``TTL``,
``PUBLISH``, ``SUBSCRIBE``, ``UNSUBSCRIBE``, ``MULTI``/``EXEC``/``DISCARD``, plus
``CONFIG GET``, ``INFO``, ``COMMAND``, ``SELECT`` and ``QUIT`` replies complete enough for
those clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import Client, Subscriber
    from .db import Db
    from .server import Server

__all__ = ["Client", "Db", "Server", "Subscriber"]

_WHERE = {"Client": "client", "Subscriber": "client", "Db": "db", "Server": "server"}


def __getattr__(name: str) -> Any:
    # Lazy, so that ``python -m mini_redis.server`` does not import the module twice.
    if name not in _WHERE:
        raise AttributeError(f"module 'mini_redis' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
