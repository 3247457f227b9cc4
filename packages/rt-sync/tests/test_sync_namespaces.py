"""The public modules are only their API, classes report their public module, and first use
of a primitive stays cheap."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import rt.sync
from rt.sync import broadcast, mpsc, oneshot, watch

# Whether the channels come from the optional compiled build (tools/compiled.py).
_COMPILED = not isinstance(mpsc.Receiver.recv, types.FunctionType)


@pytest.mark.parametrize("module", [mpsc, oneshot, broadcast, watch], ids=lambda m: m.__name__)
def test_dir_of_a_channel_module_lists_only_its_public_names(module: types.ModuleType) -> None:
    assert dir(module) == sorted(module.__all__)
    for name in module.__all__:
        obj = getattr(module, name)
        assert obj.__module__ == module.__name__, name
        if not _COMPILED:  # mypyc drops docstrings; the pure-Python pass checks them
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


def test_first_use_of_channels_and_locks_imports_no_heavy_module() -> None:
    # dataclasses imports inspect, ast, dis and tokenize: milliseconds on the first use of a
    # channel that a program should not pay (the statistics classes load on first use).
    code = (
        "import sys, rt\n"
        "from rt.sync import Mutex, Semaphore, broadcast, mpsc, oneshot, watch\n"
        "async def main():\n"
        "    tx, rx = mpsc.channel(2); await tx.send(1); await rx.recv()\n"
        "    async with Mutex(0).lock(): pass\n"
        "    async with Semaphore(1).acquire(): pass\n"
        "    b, br = broadcast.channel(2); b.send(1); await br.recv()\n"
        "    o, orx = oneshot.channel(); o.send(1); await orx\n"
        "    w, wr = watch.channel(0); w.send(1); await wr.changed()\n"
        "rt.run(main())\n"
        "print([m for m in ('dataclasses', 'inspect', 'ast') if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_statistics_classes_load_on_first_use_with_their_public_module() -> None:
    assert rt.sync.MutexStatistics.__module__ == "rt.sync"
    assert mpsc.ChannelStatistics.__module__ == "rt.sync.mpsc"
    assert broadcast.BroadcastStatistics.__module__ == "rt.sync.broadcast"
    assert isinstance(mpsc.channel(1)[0].statistics(), mpsc.ChannelStatistics)
    with pytest.raises(AttributeError, match="no_such"):
        rt.sync.no_such  # type: ignore[attr-defined]  # noqa: B018
