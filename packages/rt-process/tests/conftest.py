"""Fixtures for rt-process's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rt.process import _reaper


@pytest.fixture(autouse=True, params=["pidfd", "sigchld"])
def exit_watch(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run every test twice: children watched through pidfds, and through the SIGCHLD watcher
    (the fallback for systems without pidfds), named in the test id."""
    if request.param == "pidfd" and not _reaper.pidfd_works():
        pytest.skip("this kernel has no pidfds (os.pidfd_open is missing or refused)")
    previous = _reaper._force_sigchld
    _reaper._force_sigchld = request.param == "sigchld"
    try:
        yield request.param
    finally:
        _reaper._force_sigchld = previous
