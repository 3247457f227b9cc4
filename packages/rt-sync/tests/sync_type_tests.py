"""Checked by mypy only (``tools/dev.py types``): the typed channel constructors.

``mpsc.channel[int](4)`` (and the other channels' constructors) type their ends; the plain
call keeps ``Any``. The ``type: ignore[arg-type]`` lines are the negative tests: mypy runs with
``warn_unused_ignores`` (strict), so if sending a ``str`` on an ``int`` channel stopped being
an error, the ignore would be unused and the type check would fail.
"""

from __future__ import annotations

from typing import Any, assert_type

from rt.sync import broadcast, mpsc, oneshot, watch


async def typed_constructors() -> None:
    tx, rx = mpsc.channel[int](4)
    assert_type(tx, mpsc.Sender[int])
    assert_type(rx, mpsc.Receiver[int])
    assert_type(await rx.recv(), int)
    await tx.send(1)
    await tx.send("x")  # type: ignore[arg-type]
    tx.try_send("x")  # type: ignore[arg-type]
    (await tx.reserve()).send("x")  # type: ignore[arg-type]

    utx, urx = mpsc.unbounded_channel[bytes]()
    assert_type(utx, mpsc.UnboundedSender[bytes])
    assert_type(urx.try_recv(), bytes)
    utx.send(1)  # type: ignore[arg-type]
    weak = utx.downgrade()
    assert_type(weak.upgrade(), mpsc.UnboundedSender[bytes] | None)

    otx, orx = oneshot.channel[str]()
    assert_type(await orx, str)
    otx.send(3)  # type: ignore[arg-type]

    btx, brx = broadcast.channel[float](8)
    assert_type(await brx.recv(), float)
    btx.send("x")  # type: ignore[arg-type]

    wtx, wrx = watch.channel[int](0)
    assert_type(wrx.borrow(), int)
    wtx.send("x")  # type: ignore[arg-type]
    itx, _ = watch.channel("inferred")
    assert_type(itx, watch.Sender[str])


async def plain_calls_keep_any() -> None:
    tx, _ = mpsc.channel(4)
    assert_type(tx, mpsc.Sender[Any])
    await tx.send("anything")
    await tx.send(1)
    utx, _ = mpsc.unbounded_channel()
    assert_type(utx, mpsc.UnboundedSender[Any])
    otx, _ = oneshot.channel()
    assert_type(otx, oneshot.Sender[Any])
    btx, _ = broadcast.channel(2)
    assert_type(btx, broadcast.Sender[Any])
