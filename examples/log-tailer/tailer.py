"""Follow a log file like ``tail -F``, on rt.fs: print lines as they are appended, across
truncation and rotation.

    python examples/log-tailer/tailer.py /var/log/app.log [--grep ERROR] [--from-start]

What it shows:

* an ``rt.fs.File`` read through ``rt.io.BufReader`` (a File is an rt.io reader), and that a
  read at the end of a file returns the bytes appended later: the tailer just reads again;
* ``rt.fs.metadata`` to notice that the path now names another file (rotation: ``app.log``
  renamed to ``app.log.1`` and a new ``app.log`` created) or that the file was truncated;
* a half-written last line is held back until its newline arrives;
* the lines go to ``rt.io.stdout()``: through the reactor when it is a pipe (``| grep``),
  through the blocking pool when it is a terminal or a file.

Polling (every ``--interval`` seconds, only while at the end of the file) keeps it portable; a
read of a cached file costs no thread round trip in rt.fs, so a quiet log costs little.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncGenerator

import rt
import rt.fs
import rt.io
import rt.time


async def _open_when_there(path: str, interval: float) -> tuple[rt.fs.File, tuple[int, int]]:
    """Open ``path``, waiting for it to exist; return it with its identity (device, inode)."""
    while True:
        try:
            f = await rt.fs.File.open(path)
        except FileNotFoundError:
            await rt.time.sleep(interval)
            continue
        st = await f.metadata()
        return f, (st.st_dev, st.st_ino)


def _strip(line: bytes) -> bytes:
    return line[:-2] if line.endswith(b"\r\n") else line[:-1]


async def follow(
    path: str | os.PathLike[str], *, from_start: bool = False, interval: float = 0.25
) -> AsyncGenerator[bytes, None]:
    """Yield the lines (without their endings) appended to ``path``, forever.

    Args:
        path: The log file. It may not exist yet, and may be rotated or truncated.
        from_start: Yield the lines already in the file first (else start at its end).
        interval: Seconds between checks while there is nothing new.

    Cancel safety: cancel-safe between lines: a line is yielded whole or not taken.
    """
    name = os.fspath(path)
    f, identity = await _open_when_there(name, interval)
    try:
        if not from_start:
            await f.seek(0, os.SEEK_END)
        reader = rt.io.BufReader(f)
        partial = b""
        while True:
            chunk = await reader.read_line()
            if chunk.endswith(b"\n"):
                yield _strip(partial + chunk)
                partial = b""
                continue
            partial += chunk  # b"" at the end, or a line whose newline is not written yet
            # At the end of the file: has the path moved on to another file, or shrunk?
            try:
                st = await rt.fs.metadata(name)
            except FileNotFoundError:
                st = None  # rotated, the new file not created yet
            if st is not None and (st.st_dev, st.st_ino) != identity:
                rest = await reader.read_line()  # written to the old file just before
                if rest:
                    partial += rest
                    continue
                if partial:
                    yield partial  # the old file's last line had no newline
                await f.close()
                f, identity = await _open_when_there(name, interval)
                reader = rt.io.BufReader(f)
                partial = b""
                continue
            if st is not None and st.st_size < await f.tell():
                await f.seek(0)  # truncated: start over, as tail does
                reader = rt.io.BufReader(f)
                partial = b""
                continue
            await rt.time.sleep(interval)
    finally:
        await f.close()


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--grep", default=None, help="only lines containing this text")
    parser.add_argument("--from-start", action="store_true", help="print the existing lines too")
    parser.add_argument("--interval", type=float, default=0.25)
    args = parser.parse_args(argv)
    needle = args.grep.encode() if args.grep is not None else None
    out = rt.io.stdout()
    async for line in follow(args.path, from_start=args.from_start, interval=args.interval):
        if needle is None or needle in line:
            await out.write_all(line + b"\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(rt.run(main(sys.argv[1:])))
    except KeyboardInterrupt:
        sys.exit(130)
