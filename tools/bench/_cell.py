"""One cell in its own process: ``python -m tools.bench._cell PEER ROW SIZE_JSON [REPEAT]``.

Runs the workload REPEAT times (default 1) and prints the last measurement as a line of JSON
(``null`` when the peer has no such row).
"""

from __future__ import annotations

import json
import sys

from . import peers


def main(argv: list[str]) -> int:
    peer, row, size = argv[0], argv[1], json.loads(argv[2])
    module = peers.load(peer)
    check = getattr(module, "check", None)
    if check is not None:
        check()
    workload = module.WORKLOADS.get(row)
    result = None
    for _ in range(int(argv[3]) if len(argv) > 3 else 1):
        result = None if workload is None else workload(size)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
