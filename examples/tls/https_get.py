"""An HTTPS GET by hand: HTTP/1.1 as plain bytes over an rt TlsStream.

    python3 examples/tls/https_get.py https://example.org/ [--cafile ca.pem]

No HTTP library: :func:`https_get` writes the request line and headers, then reads the status
line, the headers and a ``Content-Length`` or chunked body with ``rt.io.BufReader`` (which
works on a TLS stream as on a TCP one). ALPN asks for ``http/1.1``.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from urllib.parse import urlsplit

import rt
from rt.io import BufReader
from rt.net import TcpStream


async def https_get(
    url: str, *, ssl_context: ssl.SSLContext | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Fetch ``url``; return ``(status, headers with lower-case names, body)``."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"expected an https:// URL, got {url!r}")
    host, port = parts.hostname, parts.port or 443
    ctx = ssl_context or ssl.create_default_context()
    ctx.set_alpn_protocols(["http/1.1"])
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    async with await TcpStream.connect_tls((host, port), ssl_context=ctx) as tls:
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "User-Agent: rt-https-example\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        )
        await tls.write_all(request.encode("ascii"))
        reader = BufReader(tls)
        status_line = await reader.read_line(limit=8192)
        version, status, _reason = status_line.decode("latin-1").split(" ", 2)
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP/1.x response: {status_line!r}")
        headers: dict[str, str] = {}
        while (line := await reader.read_line(limit=65536)) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int((await reader.read_line(limit=1024)).split(b";")[0], 16):
                body += await reader.read_exact(size)
                await reader.read_exact(2)  # the CRLF after each chunk
            body_bytes = bytes(body)
        elif "content-length" in headers:
            body_bytes = await reader.read_exact(int(headers["content-length"]))
        else:  # Connection: close delimits the body
            chunks = []
            while chunk := await reader.read():
                chunks.append(chunk)
            body_bytes = b"".join(chunks)
        await tls.shutdown()
    return int(status), headers, body_bytes


async def main(url: str, cafile: str | None) -> None:
    ctx = ssl.create_default_context(cafile=cafile)
    status, headers, body = await https_get(url, ssl_context=ctx)
    print(status, headers.get("content-type", ""), file=sys.stderr)
    sys.stdout.buffer.write(body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--cafile", help="trust this CA (PEM) instead of the system store")
    args = parser.parse_args()
    rt.run(main(args.url, args.cafile))
