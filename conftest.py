"""Session-wide checks for the whole suite (every package's tests and the cross-package ones)."""

from __future__ import annotations

import os

import pytest


def _compiled() -> bool:
    from rt._core._task import COMPILED

    return COMPILED


def pytest_report_header() -> str:
    return "rt-core build: " + ("compiled (mypyc)" if _compiled() else "pure Python")


def pytest_configure(config: pytest.Config) -> None:
    # `tools/compiled.py test` sets this: a pass meant for the compiled build must not quietly
    # test the pure-Python sources instead (a path mix-up would otherwise go unnoticed).
    if os.environ.get("RT_EXPECT_COMPILED") == "1" and not _compiled():
        raise pytest.UsageError(
            "RT_EXPECT_COMPILED=1 but rt-core was imported from its Python sources; "
            "run the compiled pass through `python tools/compiled.py test`"
        )
