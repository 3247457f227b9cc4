"""Every Python example in the guides runs, and prints what its ``print(...)  # comment`` says.

The site itself (``python3 tools/dev.py docs``) is built in CI by ``.ci/run``; this test keeps
the examples honest on every test run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = [DOCS / "index.md", *sorted((DOCS / "guides").glob("*.md"))]
EXAMPLES = [
    pytest.param(block, id=f"{page.stem}-{i}")
    for page in PAGES
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))
]


def test_every_guide_has_a_page_and_an_example() -> None:
    stems = {p.stem for p in PAGES}
    assert {"cancellation", "cancel-safety", "multi-thread", "paused-time"} <= stems
    assert {"from-asyncio", "from-tokio"} <= stems
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("block", EXAMPLES)
def test_guide_example_runs_and_prints_what_it_says(block: str) -> None:
    out = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    promised = re.findall(r"^\s*print\(.*\)\s+# (.+)$", block, re.M)
    lines = out.stdout.splitlines()
    for expected in promised:
        assert expected.strip() in lines
