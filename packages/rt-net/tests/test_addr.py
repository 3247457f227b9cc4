"""Addresses: parsing "host:port" / (host, port), lookup_host, and where names are refused."""

from __future__ import annotations

import socket

import pytest

from rt.net import TcpSocket, TcpStream, lookup_host


@pytest.mark.parametrize(
    "bad", ["localhost", "1.2.3.4:http", "::1:80", "[::1]80", "host:99999", ("h", "80"), ("h",)]
)
async def test_unparsable_addresses_are_value_errors_quoting_them(bad: object) -> None:
    with pytest.raises(ValueError, match="invalid address"):
        await TcpStream.connect(bad)  # type: ignore[type-var]


async def test_unknown_host_is_a_gaierror_naming_it() -> None:
    with pytest.raises(socket.gaierror, match=r"no-such-host\.invalid"):
        await lookup_host("no-such-host.invalid:80")


def test_tcp_socket_bind_refuses_host_names() -> None:
    s = TcpSocket.new_v4()
    with pytest.raises(ValueError, match="lookup_host"):
        s.bind("localhost:0")
    s.close()
