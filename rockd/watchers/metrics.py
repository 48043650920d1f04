"""The once-a-second tick of the host's metrics (rockd.system_metrics reads and sets them).

The kernel raises no event when a counter moves, so this is a timer, on a steady schedule of
the monotonic clock.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

log = logging.getLogger(__name__)

INTERVAL = 1.0


def next_tick(tick: int, elapsed: float, interval: float) -> int:
    """The tick after `tick` to sleep until, `elapsed` seconds after tick 0: the next whole
    interval after now, so that a late wake-up skips ticks and the schedule never drifts."""
    return max(tick + 1, math.floor(elapsed / interval) + 1)


class MetricsSampler:
    """Calls `sample()` at once on start, then every `interval` seconds."""

    def __init__(self, sample: Callable[[], None], interval: float = INTERVAL):
        self.sample = sample
        self.interval = interval
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="metrics-sampler")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start, tick = loop.time(), 0
        while True:
            try:
                self.sample()
            except Exception:
                log.exception("sampling the system's metrics failed")
            now = loop.time()
            tick = next_tick(tick, now - start, self.interval)
            await asyncio.sleep(start + tick * self.interval - now)
