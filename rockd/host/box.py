"""The host's parts as one: hostname, clock, power and disk power, built, started and
stopped together (app.py wires them to the rest)."""

from __future__ import annotations

import asyncio
from typing import Any

from rockd.config import Settings
from rockd.core.bus import Bus
from rockd.core.jobs import Jobs
from rockd.core.store import Store
from rockd.core.tree import Subtree, Tree
from rockd.host.chrony import check_servers
from rockd.host.clock import Clock, check_timezone
from rockd.host.control import HostBus, control
from rockd.host.names import Hostnames, check_hostname
from rockd.host.power import Power, PowerLog
from rockd.host.spindown import Spindown
from rockd.storage.disks import DiskInventory
from rockd.watchers.inotify import Inotify


class Host:
    """Hostname (`names`), time (`clock`, /system/time), power (`power`, /system/power) and
    the disks' spin-down (`spindown`)."""

    def __init__(self, settings: Settings, tree: Tree, facts: Subtree, time: Subtree,
                 power: Subtree, bus: Bus, store: Store, inotify: Inotify, jobs: Jobs,
                 inventory: DiskInventory, events: PowerLog | None = None):
        self.bus = HostBus(settings.host_bus, self._bus_changed) \
            if control(settings) == "systemd" else None
        self.names = Hostnames(settings, facts, inotify, self.bus)
        self.clock = Clock(settings, time, bus, inotify, self.bus)
        self.power = Power(settings, power, jobs, lambda: self.names.current, events)
        self.spindown = Spindown(store, tree, inventory)
        self._reads: set[asyncio.Task[Any]] = set()

    def _bus_changed(self, path: str) -> None:
        read = self.names.bus_changed() if "hostname1" in path else self.clock.bus_changed()
        task = asyncio.create_task(read)
        self._reads.add(task)
        task.add_done_callback(self._reads.discard)

    async def change(self, hostname: str | None = None, timezone: str | None = None,
                     ntp_servers: list[str] | None = None) -> None:
        """PATCH /system: every field checked before anything is changed."""
        if hostname is not None:
            check_hostname(hostname)
        if timezone is not None:
            check_timezone(timezone)
        if ntp_servers is not None:
            ntp_servers = check_servers(ntp_servers)
        if hostname is not None and hostname != self.names.current:
            await self.names.set(hostname)
        if timezone is not None:
            await self.clock.set_zone(timezone)
        if ntp_servers is not None:
            await self.clock.set_servers(ntp_servers)

    async def load(self) -> None:
        await self.spindown.load()

    async def start(self) -> None:
        """After the disks were read: every part's state published, settings applied."""
        if self.bus is not None:
            await self.bus.open()
        self.names.start()
        self.power.start()
        await self.clock.start()
        await self.spindown.start()

    async def stop(self) -> None:
        self.names.stop()
        await self.clock.stop()
        await self.spindown.stop()
        if self.bus is not None:
            await self.bus.close()
        for task in list(self._reads):
            task.cancel()
