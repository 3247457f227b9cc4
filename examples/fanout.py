"""rt demo: a fan-out job on rt-core.

Thousands of tasks fan out over a batch of "documents", CPU-heavy hashing is offloaded to the
blocking pool with ``spawn_blocking``, a straggler that would never finish is aborted, and the
runtime's metrics are printed at the end. Run it with ``python3 examples/fanout.py`` (in the
workspace environment: ``.hatch/default/bin/python examples/fanout.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import time

import rt
from rt.lowlevel import Abort, wait_task_rescheduled


async def tokenize(doc_id: int) -> int:
    """Pretend to parse a document: a few cooperative steps, then a word count."""
    words = 0
    for chunk in range(4):
        words += (doc_id * 7 + chunk) % 13
        await rt.yield_now()
    return words


def digest(blob: bytes) -> str:
    """CPU-bound and GIL-releasing: belongs on the blocking pool, not on the scheduler."""
    return hashlib.sha256(blob).hexdigest()[:12]


async def straggler() -> str:
    """A task waiting for something that never comes; only cancellation ends it."""
    try:
        # Park with nothing that will ever wake us; the abort function lets cancellation in.
        await wait_task_rescheduled(lambda: Abort.SUCCEEDED)
    finally:
        print("  straggler: cancelled, cleaned up in its finally block")
    return "unreachable"


async def main(documents: int, blobs: int) -> None:
    t0 = time.perf_counter()
    print(f"rt demo: {documents} parse tasks, {blobs} hashing jobs on the blocking pool")

    slow = rt.spawn(straggler(), name="straggler")

    async with rt.TaskGroup() as tg:
        parsed = [tg.spawn(tokenize(i)) for i in range(documents)]
        hashed = [tg.spawn(_hash_job(i)) for i in range(blobs)]
    words = sum([await h for h in parsed])
    digests = [await h for h in hashed]
    print(f"  parsed {len(parsed)} documents, {words} words")
    print(f"  hashed {len(digests)} blobs of 256 KiB, first digest {digests[0]}")

    js: rt.JoinSet[int] = rt.JoinSet()
    for i in range(100):
        js.spawn(tokenize(i))
    first = await js.join_next()
    print(f"  JoinSet: first of 100 finished with {first}; {len(js)} left, collecting the rest")
    rest = await js.join_all()
    print(f"  JoinSet: collected {len(rest)} more")

    slow.abort()
    try:
        await slow
    except rt.JoinError as err:
        print(f"  straggler handle: cancelled={err.is_cancelled()}")

    m = rt.Handle.current().metrics()
    elapsed = time.perf_counter() - t0
    print(
        f"  metrics: spawned={m.spawned_tasks} polls={m.polls} alive={m.alive_tasks} "
        f"parks={m.park_count} blocking_threads={m.blocking_threads} "
        f"busy={m.busy_time * 1000:.0f} ms"
    )
    print(f"done in {elapsed * 1000:.0f} ms")


async def _hash_job(i: int) -> str:
    blob = i.to_bytes(4, "little") * (64 * 1024)
    return await rt.spawn_blocking(digest, blob)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=5000)
    parser.add_argument("--blobs", type=int, default=64)
    args = parser.parse_args()
    rt.run(main(args.documents, args.blobs))
