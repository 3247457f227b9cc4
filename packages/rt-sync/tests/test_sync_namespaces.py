"""The public channel modules are only their API; classes report their public module."""

from __future__ import annotations

import types

import pytest

import rt.sync
from rt.sync import broadcast, mpsc, oneshot, watch


@pytest.mark.parametrize("module", [mpsc, oneshot, broadcast, watch], ids=lambda m: m.__name__)
def test_dir_of_a_channel_module_lists_only_its_public_names(module: types.ModuleType) -> None:
    assert dir(module) == sorted(module.__all__)
    for name in module.__all__:
        obj = getattr(module, name)
        assert obj.__module__ == module.__name__, name
        assert (obj.__doc__ or "").strip(), name
    assert "channel" in module.__all__


def test_dir_of_rt_sync_lists_only_its_public_names() -> None:
    assert dir(rt.sync) == sorted(rt.sync.__all__)


def test_typed_constructors_return_plain_tuples_and_the_old_call_still_works() -> None:
    for pair in (
        mpsc.channel[int](2),
        mpsc.channel(2),
        mpsc.unbounded_channel[int](),
        mpsc.unbounded_channel(),
        oneshot.channel[int](),
        oneshot.channel(),
        broadcast.channel[int](2),
        broadcast.channel(2),
        watch.channel[int](0),
        watch.channel(0),
    ):
        assert type(pair) is tuple and len(pair) == 2
    assert repr(mpsc.channel(3)[0]) == "<rt.sync.mpsc.Sender capacity=3>"
    with pytest.raises(ValueError, match="capacity"):
        mpsc.channel[int](0)
