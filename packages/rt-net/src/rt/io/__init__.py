"""rt.io: byte-stream utilities (Tokio's ``io-util``) and fd readiness (``AsyncFd``).

Works with any object shaped like :class:`AsyncRead` (``await read(n)``) and / or
:class:`AsyncWrite` (``write``, ``write_all``, ``shutdown``): rt.net's streams and halves,
:func:`duplex` streams, files (rt.fs), the standard streams (:func:`stdin`, :func:`stdout`,
:func:`stderr`), and your own.
"""

from __future__ import annotations

from rt._exports import public

from ._buf import BufReader, BufWriter
from ._copy import copy, copy_bidirectional
from ._duplex import DuplexStream, duplex
from ._errors import IncompleteReadError, bytes_written
from ._fd import AsyncFd
from ._std import Stderr, Stdin, Stdout, stderr, stdin, stdout
from ._traits import AsyncRead, AsyncWrite

__all__ = [
    "AsyncFd",
    "AsyncRead",
    "AsyncWrite",
    "BufReader",
    "BufWriter",
    "DuplexStream",
    "IncompleteReadError",
    "Stderr",
    "Stdin",
    "Stdout",
    "bytes_written",
    "copy",
    "copy_bidirectional",
    "duplex",
    "stderr",
    "stdin",
    "stdout",
]

public(globals())
