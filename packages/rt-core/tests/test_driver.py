"""The driver stack: layers, their discovery and the errors for a missing one."""

from __future__ import annotations

import pytest

import rt
from rt._core import _driver


async def _value(v: object) -> object:
    return v


def test_enable_time_true_without_rt_time_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, flavor: str | None
) -> None:
    monkeypatch.setattr(_driver, "_discovered", {})
    with pytest.raises(ImportError, match=r"rt\[time\]"):
        rt.Runtime(flavor=flavor, enable_time=True)
    with rt.Runtime(flavor=flavor) as runtime:  # None means "if installed": fine without it
        assert runtime.block_on(_value("ok")) == "ok"
