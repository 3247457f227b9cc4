"""A TLS echo server on rt: one task per connection, a handshake timeout, close_notify at the end.

Run it with a certificate and key (PEM), then talk to it with OpenSSL's client::

    python3 examples/tls/tls_echo.py --cert server.pem --key server.key --port 8443
    openssl s_client -connect 127.0.0.1:8443 -quiet

The shape to copy is :func:`serve`: accept plain TCP, hand each connection to its own task,
and do the TLS handshake *in that task*, under a timeout, so a slow or silent client holds up
nobody else and a client that does not speak TLS is turned away with a logged error.
"""

from __future__ import annotations

import argparse
import logging
import ssl

import rt
import rt.time
from rt.net import TcpListener, TcpStream
from rt.net.tls import TlsAcceptor, TlsStream

log = logging.getLogger("tls_echo")

HANDSHAKE_TIMEOUT = 10.0


async def echo(tls: TlsStream[TcpStream]) -> int:
    """Echo until the client half-closes, then send close_notify; return the bytes echoed."""
    total = 0
    while data := await tls.read():
        await tls.write_all(data)
        total += len(data)
    await tls.shutdown()
    return total


async def handle(acceptor: TlsAcceptor, stream: TcpStream) -> None:
    peer = stream.peer_addr()
    try:
        tls = await rt.time.timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
    except rt.time.Elapsed:
        log.info("%s: no TLS handshake within %ss", peer, HANDSHAKE_TIMEOUT)
        return
    except (ssl.SSLError, OSError) as exc:
        log.info("%s: handshake failed: %s", peer, exc)
        return
    async with tls:
        try:
            n = await echo(tls)
        except (ssl.SSLError, OSError) as exc:
            log.info("%s: connection failed: %s", peer, exc)
            return
    log.info("%s: %s, echoed %d bytes", peer, tls.version(), n)


async def serve(listener: TcpListener, ssl_context: ssl.SSLContext) -> None:
    """Serve TLS echo on ``listener`` until cancelled."""
    acceptor = TlsAcceptor(ssl_context)
    async with rt.TaskGroup() as tg:
        async for stream in listener.incoming():
            tg.spawn(handle(acceptor, stream))


async def main(cert: str, key: str, host: str, port: int) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    async with await TcpListener.bind((host, port)) as listener:
        print(f"TLS echo on {listener.local_addr()}", flush=True)
        await serve(listener, ctx)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True, help="certificate chain (PEM)")
    parser.add_argument("--key", required=True, help="private key (PEM)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    rt.run(main(args.cert, args.key, args.host, args.port))
