"""Pool usage, sampled: the one timer, because writes to a filesystem raise no event.

While somebody follows /pools on the stream, each mounted pool's usage is read from sysfs
(no process) once a second and set in the tree, which emits a patch only when it changed.
With nobody watching, the sampler waits for the next subscription and reads nothing.
"""

from __future__ import annotations

import asyncio
import logging

from rockd.core.bus import Bus
from rockd.core.tree import Tree
from rockd.storage import btrfs

log = logging.getLogger(__name__)

INTERVAL = 1.0


class UsageSampler:
    def __init__(self, tree: Tree, bus: Bus, interval: float = INTERVAL):
        self.tree = tree
        self.bus = bus
        self.interval = interval
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-sampler")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def sample(self) -> None:
        with self.tree.transaction():
            for pool in (self.tree.get("/pools") or {}).values():
                if not pool["mounted"]:
                    continue
                try:
                    usage = btrfs.usage(pool["id"], mountpoint=pool["mount_point"])
                except OSError as exc:  # unmounted a moment ago: the mount watcher says so
                    log.debug("usage of %s: %s", pool["name"], exc)
                    continue
                self.tree.set(("pools", pool["id"], "usage"), usage)

    async def _run(self) -> None:
        while True:
            if not self.bus.watching("/pools"):
                self.bus.subscribed.clear()
                await self.bus.subscribed.wait()
                continue
            self.sample()
            await asyncio.sleep(self.interval)
