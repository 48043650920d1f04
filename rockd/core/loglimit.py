"""Log lines that strangers can cause (a bad HTTP request, a refused replication key), kept to
a few a minute however many there are: the first ones of each minute are written in full, the
rest counted and told in one summary line when that minute ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time


class LimitedLog:
    """At most `burst` lines on `logger` in each `every` seconds, then one summary line."""

    def __init__(self, logger: logging.Logger, level: int, what: str, *, burst: int = 3,
                 every: float = 60.0):
        self.logger, self.level, self.what = logger, level, what
        self.burst, self.every = burst, every
        self.held = 0  # lines not written in the current period
        self._written = 0
        self._ends = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def __call__(self, message: str, *args: object,
                 exc_info: BaseException | bool | None = None) -> None:
        moment = time.monotonic()
        if moment >= self._ends:
            self._close()
            self._ends = moment + self.every
        if self._written < self.burst:
            self._written += 1
            self.logger.log(self.level, message, *args, exc_info=exc_info)
            return
        self.held += 1
        if self._timer is None:
            self._schedule(self._ends - moment)

    def _schedule(self, delay: float) -> None:
        """Summarise at the end of the period (or, with no event loop, at the next line)."""
        with contextlib.suppress(RuntimeError):
            self._timer = asyncio.get_running_loop().call_later(delay, self._close)

    def _close(self) -> None:
        """End the period: tell what was held back."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.held:
            self.logger.log(self.level, "%s: %d more in the last %g s, not logged one by one",
                            self.what, self.held, self.every)
        self.held = self._written = 0
