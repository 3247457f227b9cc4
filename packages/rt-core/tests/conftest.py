"""Fixtures for rt-core's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rtcore_helpers import open_fds, rt_threads


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves an fd or an rt thread behind."""
    fds = open_fds()
    yield
    assert rt_threads() == []
    assert open_fds() - fds == set()
