"""Coalesced rescans: bursts of "X may have changed" become one rescan of X at a time.

Watchers call `request(key)` as often as events arrive; each key is rescanned by one worker
task, never twice at once, and a request that comes while its key is being rescanned makes
one more rescan afterwards, so the last event is always followed by a rescan.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from rockd.core.tasks import cancel_and_wait

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class Rescanner(Generic[K]):
    """One kind of object (disks, pools...) and the coroutine that rescans one of them, by
    its key (of type K: a pool's id, a disk's name...)."""

    def __init__(self, name: str, scan: Callable[[K], Awaitable[None]]):
        self.name = name
        self._scan = scan
        self._pending: dict[K, None] = {}  # insertion-ordered set
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"rescan-{self.name}")

    def request(self, key: K) -> None:
        self._pending[key] = None
        self._idle.clear()
        self._wake.set()

    async def settle(self) -> None:
        """Wait until every requested rescan so far has run."""
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                key = next(iter(self._pending))
                del self._pending[key]
                try:
                    await self._scan(key)
                except Exception:
                    log.exception("rescan of %s %r failed", self.name, key)
            self._idle.set()

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
