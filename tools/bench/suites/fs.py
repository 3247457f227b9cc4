"""File I/O: rt.fs against asyncio + aiofiles, uvloop + aiofiles, rloop + aiofiles, trio's file
API and plain synchronous Python."""

from __future__ import annotations

from .._oswork import files_dir
from ..harness import Row

NAME = "fs"
TITLE = "File I/O (rt.fs)"
PEERS = ["rt", "asyncio", "uvloop", "rloop", "trio", "sync"]
# Each cell runs its workload "runs" times in its process and reports the median run.

ROWS: dict[str, Row] = {
    "fsread": Row(
        "read a 256 MiB file in 64 KiB chunks", {"mib": 256, "runs": 7}, {"mib": 256, "runs": 5}
    ),
    "fswrite": Row(
        "write 256 MiB in 64 KiB chunks to a new file (no fsync)",
        {"mib": 256, "runs": 3},
        {"mib": 64, "runs": 3},
    ),
    "fscopy": Row(
        "read a 256 MiB file in 64 KiB chunks and write each back to a new file",
        {"mib": 256, "runs": 3},
        {"mib": 64, "runs": 3},
    ),
    "smallfiles": Row(
        "read_dir + read of 10,000 small files (100 B to 4 KiB)",
        {"files": 10_000, "runs": 3},
        {"files": 10_000, "runs": 1},
    ),
}


def context() -> object:
    """The scratch directory the cells' files live in, for the run (then removed)."""
    return files_dir()


NOTES = """
The files sit in the page cache (each cell reads its input once before its clock starts): this
measures the runtimes, not the disk. Before a write row's run the output file is removed and
`sync` run, so no run pays for the previous one's writeback. `asyncio`, `uvloop` and `rloop`
use aiofiles (every call a thread-pool round trip), `trio` its `open_file` / `Path` API,
`sync` plain `open()` with no event loop (a `--quick` run writes 64 MiB in the write and copy
rows instead of 256). One pass over 256 MiB from the page cache takes tens of milliseconds,
which other load on a shared machine can double, so each cell runs its workload several times
in its fresh process (7 for the read, 3 for the others; with `--quick` 5, 3 and one for the
small files), each on a fresh runtime or loop, and reports the median run. rt.fs batches its
blocking-pool work: a read-ahead served from the page cache on the runtime thread
(`preadv2(RWF_NOWAIT)`), writes collected into 1 MiB jobs, and `read_dir` entries fetched a
batch per pool job. **rt/sync** is the target on the 256 MiB read: at most 1.5.
"""
