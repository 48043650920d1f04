"""Ending a background task: cancel it and wait until it has ended, the one way rockd does it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` (None: nothing to do) and wait for its end. The caller being cancelled
    meanwhile still raises in the caller (unlike awaiting the task under suppress); an error
    the task ended with is logged, not raised into whoever stops it."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s ended with an error", task.get_name(), exc_info=task.exception())
