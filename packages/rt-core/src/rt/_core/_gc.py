"""The ``gc`` option of :class:`rt.Runtime`: tune or freeze the cyclic collector while it runs.

Every task is a few objects the cyclic collector tracks (the task, its coroutine and frame,
its context), so a burst of spawns triggers young collections over and over, and each full
collection walks every object the service has ever loaded. The option trades memory for
throughput, for the lifetime of one runtime (the collector is process-wide: the previous
settings come back at :meth:`rt.Runtime.shutdown`).
"""

from __future__ import annotations

import gc
from typing import Final

#: The youngest generation's threshold under ``gc="freeze"`` (CPython's default is 700 before
#: 3.13, 2000 since): a collection every 50,000 net allocations of tracked objects.
FREEZE_THRESHOLD0: Final = 50_000

GC_OPTIONS: Final = ("freeze",)


class GcSetting:
    """What a runtime changed in the collector, so that shutdown can put it back."""

    __slots__ = ("_frozen", "_thresholds")

    def __init__(self, option: object) -> None:
        thresholds = check_gc_option(option)
        self._thresholds = gc.get_threshold()
        self._frozen = option == "freeze"
        if self._frozen:
            gc.collect()  # what is garbage already should not be frozen with the rest
            gc.freeze()
            thresholds = (FREEZE_THRESHOLD0, *self._thresholds[1:])
        gc.set_threshold(*thresholds)

    def restore(self) -> None:
        """Put the collector back as it was before the runtime was built."""
        gc.set_threshold(*self._thresholds)
        if self._frozen:
            self._frozen = False
            gc.unfreeze()


def check_gc_option(option: object) -> tuple[int, ...]:
    """Return the thresholds ``option`` sets (none for ``"freeze"``).

    Raises:
        ValueError: ``option`` is none of the accepted forms.
    """
    if option == "freeze":
        return ()
    if (
        isinstance(option, tuple)
        and 1 <= len(option) <= 3
        and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in option)
    ):
        return option
    raise ValueError(
        "gc must be None (leave the collector alone), 'freeze', or a tuple of 1 to 3 "
        f"collection thresholds (ints >= 0, as gc.set_threshold takes), got {option!r}"
    )
