"""rt demo (the README's first command): mini-redis on rt under load.

Starts the mini-redis server from ``examples/mini-redis`` on a free port, drives it with 50
concurrent rt client connections for a few seconds (SET / GET / INCR), prints operations per
second and latency percentiles, then shuts the server down gracefully and exits.
Options: ``--seconds``, ``--connections``, ``--pipeline``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "mini-redis"))

from mini_redis.demo import main

if __name__ == "__main__":
    main()
