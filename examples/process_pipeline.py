"""A pipeline of child processes: the rt version of ``producer | tr | sort | uniq -c | sort``.

A task feeds text into the first child's stdin while another reads the last child's stdout
line by line; the children in between are connected directly, pipe to pipe (a child's
``stdout`` passed as the next one's ``stdin``), so the data never passes through Python.
Every child is awaited, and a failing one is reported with its exit code. Run it with::

    .hatch/default/bin/python examples/process_pipeline.py
"""

from __future__ import annotations

import rt
from rt.io import BufReader
from rt.process import Child, Command, Stdio

TEXT = b"""the quick brown fox jumps over the lazy dog
The Dog barks and the fox runs
a fox is quick and a dog is lazy
"""


async def feed(child: Child, data: bytes) -> None:
    """Write ``data`` to the child's stdin in chunks, then close it (the child sees EOF)."""
    assert child.stdin is not None
    for start in range(0, len(data), 16):
        await child.stdin.write_all(data[start : start + 16])
    await child.stdin.shutdown()


async def word_counts(text: bytes) -> list[tuple[int, str]]:
    """Count words case-insensitively through four child processes; most frequent first."""
    piped = Stdio.piped()
    words = Command("tr").args(["-cs", "A-Za-z", "\\n"]).stdin(piped).stdout(piped).spawn()
    assert words.stdout is not None  # piped, so present
    lower = Command("tr").args(["A-Z", "a-z"]).stdin(words.stdout).stdout(piped).spawn()
    assert lower.stdout is not None
    sort = Command("sort").stdin(lower.stdout).stdout(piped).spawn()
    assert sort.stdout is not None
    uniq = Command("uniq").arg("-c").stdin(sort.stdout).stdout(piped).spawn()
    feeder = rt.spawn(feed(words, text))
    counts: list[tuple[int, str]] = []
    assert uniq.stdout is not None
    async for line in BufReader(uniq.stdout).lines():
        count, word = line.split()
        counts.append((int(count), word.decode()))
    await feeder
    for name, child in (("tr -cs", words), ("tr", lower), ("sort", sort), ("uniq", uniq)):
        code = await child.wait()
        if code != 0:
            raise RuntimeError(f"{name} exited with status {code}")
    counts.sort(key=lambda item: (-item[0], item[1]))
    return counts


async def main() -> None:
    for count, word in (await word_counts(TEXT))[:5]:
        print(f"{count:3} {word}")


if __name__ == "__main__":
    rt.run(main())
