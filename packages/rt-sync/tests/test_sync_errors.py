"""The channel errors: one base class, values kept on failures, bad capacities."""

from __future__ import annotations

import pytest

from rt.sync import (
    ChannelClosed,
    ChannelEmpty,
    ChannelError,
    ChannelFull,
    Lagged,
    broadcast,
    mpsc,
)


def test_bad_capacities_are_value_errors() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            mpsc.channel(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            broadcast.channel(bad)  # type: ignore[arg-type]


def test_all_channel_errors_derive_from_channel_error() -> None:
    for cls in (ChannelClosed, ChannelEmpty, ChannelFull, Lagged):
        assert issubclass(cls, ChannelError)
