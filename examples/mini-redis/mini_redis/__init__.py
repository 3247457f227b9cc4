"""mini-redis: Tokio's teaching example, on rt. A RESP2 server, a client library and a CLI.

The server speaks enough of Redis for ``redis-cli`` and ``redis-benchmark``: ``PING``, ``ECHO``,
``GET``, ``SET`` (``EX``/``PX``/``NX``/``XX``), ``DEL``, ``EXISTS``, ``INCR``, ``EXPIRE``,
``TTL``, ``PUBLISH``, ``SUBSCRIBE``, ``UNSUBSCRIBE``, plus ``CONFIG GET``, ``INFO``,
``COMMAND``, ``SELECT`` and ``QUIT`` replies complete enough for those clients.
"""

from __future__ import annotations

from .client import Client, Subscriber
from .db import Db
from .server import Server

__all__ = ["Client", "Db", "Server", "Subscriber"]
