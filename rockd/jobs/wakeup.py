"""Waking at cron times: run what is due, then sleep until the next time one of a set of cron
expressions fires, or until told the set has changed. The scheduler and replication tasks
both live by it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from datetime import datetime
from typing import Any

from rockd.jobs import cron

log = logging.getLogger(__name__)

LONGEST_SLEEP = 3600.0  # woken at least hourly, whatever the expressions say


async def run_on_cron(run_due: Callable[[datetime], Awaitable[Any]],
                      expressions: Callable[[], Iterable[str]], changed: asyncio.Event,
                      clock: Callable[[], datetime], what: str) -> None:
    """Forever: `run_due(now)`, then sleep until the next firing of `expressions()` or until
    `changed` is set."""
    while True:
        try:
            await run_due(clock())
        except Exception:
            log.exception("running the due %s failed", what)
        changed.clear()
        wake = [cron.next_run(expr, clock()) for expr in expressions()]
        delay = min([(w - clock()).total_seconds() for w in wake], default=LONGEST_SLEEP)
        with suppress(TimeoutError):
            async with asyncio.timeout(min(max(delay, 0.0), LONGEST_SLEEP)):
                await changed.wait()
