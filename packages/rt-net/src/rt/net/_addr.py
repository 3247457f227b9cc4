"""Address parsing and ``lookup_host``: getaddrinfo off the runtime thread."""

from __future__ import annotations

import functools
import socket
from typing import Any, TypeAlias, TypeVar

import rt

Address: TypeAlias = "str | tuple[str, int] | tuple[str, int, int, int]"
# What the compiled modules' address parameters are typed as: a value-constrained TypeVar
# checks like ``Address`` for mypy, but mypyc compiles it as ``object``, so a malformed
# address reaches parse_addr's ValueError in both builds (mypyc would refuse it with its own
# TypeError first).
AddressArg = TypeVar("AddressArg", Address, str)
"""``"host:port"``, ``"[v6]:port"``, ``(host, port)`` or a 4-tuple IPv6 socket address."""

SockAddr: TypeAlias = "tuple[Any, ...]"


def parse_addr(addr: object) -> tuple[str, int]:
    """Split an address into ``(host, port)``; ``ValueError`` quoting it when it is malformed."""
    if isinstance(addr, (tuple, list)):
        if len(addr) not in (2, 4) or not isinstance(addr[0], str):
            raise ValueError(
                f"invalid address {addr!r}: expected (host, port) with a str host and int port"
            )
        host, port = addr[0], addr[1]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"invalid address {addr!r}: the port must be an int in 0..65535")
        return host, port
    if not isinstance(addr, str):
        raise TypeError(
            f"expected an address as 'host:port' or (host, port), got {type(addr).__name__}"
        )
    if addr.startswith("["):
        host, sep, rest = addr[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"invalid address {addr!r}: expected '[v6 address]:port'")
        port_s = rest[1:]
    else:
        host, sep, port_s = addr.rpartition(":")
        if not sep:
            raise ValueError(
                f"invalid address {addr!r}: expected 'host:port' (the port is missing)"
            )
        if ":" in host:
            raise ValueError(
                f"invalid address {addr!r}: put an IPv6 address in brackets, e.g. '[::1]:8080'"
            )
    if not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise ValueError(f"invalid address {addr!r}: the port must be a number in 0..65535")
    return host, int(port_s)


@functools.lru_cache(maxsize=1024)
def _numeric(host: str, port: int, kind: int, passive: bool) -> list[tuple[int, SockAddr]] | None:
    """IP literals only (never a DNS query); memoized, since datagram sends resolve per call."""
    flags = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV | (socket.AI_PASSIVE if passive else 0)
    try:
        infos = socket.getaddrinfo(host or None, port, type=kind, flags=flags)
    except socket.gaierror:
        return None
    return _unique(infos)


def _unique(infos: list[Any]) -> list[tuple[int, SockAddr]]:
    out: list[tuple[int, SockAddr]] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        item = (int(family), tuple(sockaddr))
        if item not in out:
            out.append(item)
    return out


async def resolve(
    addr: object, kind: int = socket.SOCK_STREAM, *, passive: bool = False
) -> list[tuple[int, SockAddr]]:
    """``(family, sockaddr)`` pairs for ``addr``; IP literals are resolved without a thread."""
    host, port = parse_addr(addr)
    if isinstance(addr, (tuple, list)) and len(addr) == 4:
        return [(socket.AF_INET6, tuple(addr))]
    found = _numeric(host, port, kind, passive)
    if found is not None:
        return list(found)

    def lookup() -> list[Any]:
        return socket.getaddrinfo(host, port, type=kind)

    try:
        infos = await rt.spawn_blocking(lookup)
    except rt.JoinError as err:
        exc = err.exception
        if isinstance(exc, socket.gaierror):
            raise socket.gaierror(exc.errno, f"{exc.strerror} (looking up {host!r})") from None
        raise exc if exc is not None else err from None
    result = _unique(infos)
    if not result:
        raise socket.gaierror(socket.EAI_NONAME, f"no IPv4 or IPv6 address for {host!r}")
    return result


async def lookup_host(addr: Address) -> list[SockAddr]:
    """Resolve ``"host:port"`` / ``(host, port)`` to the socket addresses it names, in order.

    IP literals return at once; names go through ``getaddrinfo`` on the blocking pool, so the
    runtime thread never waits on DNS.

    Raises:
        ValueError: the address cannot be parsed (the message quotes it).
        socket.gaierror: the name does not resolve.

    Cancel safety: cancel-safe; the lookup thread finishes in the background.
    """
    return [sockaddr for _family, sockaddr in await resolve(addr)]


def numeric_sockaddr(addr: object, kind: int, what: str) -> tuple[int, SockAddr]:
    """``(family, sockaddr)`` for an IP-literal address; ``ValueError`` for a host name."""
    host, port = parse_addr(addr)
    found = _numeric(host, port, kind, True)
    if not found:
        raise ValueError(
            f"{what} needs an IP address, got {addr!r}: resolve names with lookup_host() first"
        )
    return found[0]


def format_addr(sockaddr: object) -> str:
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        host, port = sockaddr[0], sockaddr[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return repr(sockaddr)
