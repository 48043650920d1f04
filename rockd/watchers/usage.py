"""Pool usage, sampled on a timer, because writes to a filesystem raise no event.

While somebody follows /pools on the stream, this asks once a second for the pools' usage to
be read again: `refresh` is the owner's method (Pools.refresh_usage reads sysfs, no process,
and the tree patches only what changed); the sampler itself writes nothing. With nobody
watching, it waits for the next subscription and asks for nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rockd.core.bus import Bus

INTERVAL = 1.0


class UsageSampler:
    """Calls `refresh()` each `interval` seconds while a subscriber covers /pools."""

    def __init__(self, bus: Bus, refresh: Callable[[], None], interval: float = INTERVAL):
        self.bus = bus
        self.refresh = refresh
        self.interval = interval
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-sampler")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            if not self.bus.watching("/pools"):
                self.bus.subscribed.clear()
                await self.bus.subscribed.wait()
                continue
            self.refresh()
            await asyncio.sleep(self.interval)
