"""Traffic counters, refreshed only while someone watches.

A device's byte counters change without any event. NetworkManager reads them itself each
`RefreshRateMs` and signals the new values (PropertiesChanged of Device.Statistics), so rockd
only sets that rate: to a second while a subscriber covers /network/interfaces, and back to 0
when, at the next signal, nobody does. rockd runs no timer of its own for them.
"""

from __future__ import annotations

import asyncio
import logging

from dbus_fast import DBusError, Variant

from rockd.core.bus import Bus
from rockd.core.tasks import cancel_and_wait
from rockd.network.nm import NM, NetworkManager
from rockd.watchers.dbus import Unavailable

log = logging.getLogger(__name__)

RATE_MS = 1000  # how often NetworkManager refreshes the counters while watched
WATCHED = "/network/interfaces"


class Traffic:
    """Turns NetworkManager's refresh of the counters on and off as the stream's subscribers
    come and go."""

    def __init__(self, nm: NetworkManager, bus: Bus):
        self.nm = nm
        self.bus = bus
        self.on = False  # NetworkManager asked to refresh the counters
        self._follow: asyncio.Task[None] | None = None
        self._rates: asyncio.Task[None] | None = None
        self._refused: set[str] = set()  # devices that refused a refresh rate

    def start(self) -> None:
        self._follow = asyncio.create_task(self._watchers(), name="network-traffic")

    async def stop(self) -> None:
        await cancel_and_wait(self._follow)
        await cancel_and_wait(self._rates)
        if self.on and self.nm.running:
            await self.set_rate(0)

    async def _watchers(self) -> None:
        """Each time someone subscribes: if they watch the interfaces, turn the refresh on."""
        while True:
            if self.bus.watching(WATCHED) and not self.on:
                self.on = True
                self._apply()
            self.bus.subscribed.clear()
            await self.bus.subscribed.wait()

    def check(self) -> None:
        """At each change NetworkManager signals: off if nobody watches any more; on for a
        device that came (or NetworkManager started again) while watched."""
        if not self.nm.running:
            return
        if self.on and not self.bus.watching(WATCHED):
            self.on = False
            self._apply()
        elif self.on and any(d.get("RefreshRateMs") != RATE_MS
                             for p, d in self.nm.devices.items() if p not in self._refused):
            self._apply()

    def _apply(self) -> None:
        if self._rates is None or self._rates.done():
            self._rates = asyncio.create_task(self._set_rates(), name="network-rates")

    async def _set_rates(self) -> None:
        while True:
            rate = RATE_MS if self.on else 0
            await self.set_rate(rate)
            if rate == (RATE_MS if self.on else 0):
                return

    async def set_rate(self, rate_ms: int) -> None:
        """Every device's refresh rate (0: none)."""
        for path, props in list(self.nm.devices.items()):
            if props.get("RefreshRateMs") == rate_ms or path in self._refused:
                continue
            try:
                await self.nm.set_property(path, f"{NM}.Device.Statistics", "RefreshRateMs",
                                           Variant("u", rate_ms))
            except (DBusError, Unavailable) as exc:
                log.debug("network: statistics of %s: %s", path, exc)
                self._refused.add(path)
