"""Checked by mypy only: rt.join / rt.try_join / rt.select keep the branches' result types."""

from __future__ import annotations

from typing import assert_type

import rt


async def an_int() -> int:
    return 1


async def a_str() -> str:
    return ""


async def check() -> None:
    assert_type(await rt.join(an_int(), a_str()), tuple[int, str])
    assert_type(await rt.try_join(an_int(), a_str(), an_int()), tuple[int, str, int])
    assert_type(await rt.select(an_int(), a_str()), tuple[int, int | str])

    @rt.main
    async def main(x: int) -> str:
        return str(x)

    assert_type(main(1), str)
