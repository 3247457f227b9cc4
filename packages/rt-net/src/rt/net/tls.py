"""rt.net.tls: TLS over any rt stream, with the standard library's ``ssl`` (no other dependency).

``TlsConnector(ctx).connect(server_hostname, stream)`` and ``TlsAcceptor(ctx).accept(stream)``
wrap a connected ``TcpStream``, ``UnixStream`` or ``rt.io.duplex`` end in a :class:`TlsStream`
with the reader/writer API of ``TcpStream``; ``TcpStream.connect_tls(addr)`` connects and
starts TLS with a verifying default context in one call. Importing ``rt.net`` does not import
``ssl``: this module does, on first use.
"""

from __future__ import annotations

from rt._exports import public

from ._tls import TlsAcceptor, TlsConnector, TlsReadHalf, TlsStream, TlsWriteHalf, Transport

__all__ = ["TlsAcceptor", "TlsConnector", "TlsReadHalf", "TlsStream", "TlsWriteHalf", "Transport"]

public(globals())
