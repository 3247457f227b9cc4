"""rt.asyncio: an asyncio event loop on rt's runtime, and bridges between asyncio and rt code.

``new_event_loop()`` builds an :class:`asyncio.AbstractEventLoop` whose ready queue, timers,
fd readiness, cross-thread wake-ups and default executor are rt's scheduler, timer wheel,
reactor and blocking pool; asyncio's own transports, protocols, streams and SSL run on it.
``run(main())`` is ``asyncio.run`` on it; ``EventLoopPolicy`` makes it the default.
``aio_as_rt`` awaits asyncio code from an rt task; ``rt_as_aio`` awaits rt code from asyncio
code. See the distribution's README for the model and its limits.
"""

from __future__ import annotations

from rt._exports import public

from ._bridge import aio_as_rt, rt_as_aio
from ._loop import RtEventLoop
from ._policy import EventLoopPolicy, new_event_loop, run

__all__ = ["EventLoopPolicy", "RtEventLoop", "aio_as_rt", "new_event_loop", "rt_as_aio", "run"]

public(globals())
