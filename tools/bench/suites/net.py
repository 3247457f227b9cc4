"""TCP echo (server CPU per request) and idle connections (server memory per connection)."""

from __future__ import annotations

from ..harness import Row

NAME = "net"
TITLE = "Network: TCP echo and idle connections"
PEERS = ["rt", "rt-mypyc", "asyncio", "uvloop", "rloop", "trio", "floor"]


def _echo(size: int, requests: int, quick: int, protocols: bool) -> Row:
    what = "Protocols" if protocols else "streams"
    label = "64 B" if size == 64 else "16 KiB"
    return Row(
        f"TCP echo {label}, 50 conns: server CPU per request ({what})",
        {"conns": 50, "bytes": size, "requests": requests},
        {"conns": 50, "bytes": size, "requests": quick},
        "us",
    )


ROWS: dict[str, Row] = {
    "echo64": _echo(64, 40_000, 8_000, False),
    "echo64p": _echo(64, 40_000, 8_000, True),
    "echo16k": _echo(16384, 8_000, 2_000, False),
    "echo16kp": _echo(16384, 8_000, 2_000, True),
    "idle": Row(
        "10k idle connections: server RSS per connection (streams)",
        {"conns": 10_000},
        {"conns": 2_000},
        "bytes",
    ),
    "idlep": Row(
        "10k idle connections: server RSS per connection (Protocols)",
        {"conns": 10_000},
        {"conns": 2_000},
        "bytes",
    ),
}

NOTES = """
One fixed client (a `selectors` loop over plain sockets, in another process) drives every
peer's server; a cell is the server process's CPU time per request, or its RSS growth per idle
connection (each with a task or protocol waiting to read). In the `(Protocols)` rows asyncio,
uvloop and rloop serve with `asyncio.Protocol` callbacks instead of streams; rt always uses its
stream API and trio has only streams. The `floor` echo is a bare epoll loop calling
`recv`/`send`: what the system calls alone cost from Python.
"""
