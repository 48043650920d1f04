"""/system/time: the time zone, the NTP servers (chrony) and the clock's sync state.

The time zone is set through timedated (SetTimezone) where systemd runs, else as the
`localtime` symlink and `timezone` file in `host_etc`, checked against the zoneinfo database
first. The NTP servers are rockd's chrony sources file (chrony.py).

What changes it: each change made here; inotify on `host_etc` (localtime, timezone) and on the
sources file's folder; timedated's PropertiesChanged. chronyd raises no event when it gains or
loses its source, so while someone on the stream watches /system/time the tracking state is
sampled (`chronyc -c tracking`, every INTERVAL seconds), and not at all when no one does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import zoneinfo
from functools import cache
from pathlib import Path
from typing import Any

from inotify_simple import flags

from rockd.config import Settings
from rockd.core.bus import Bus
from rockd.core.errors import BadRequest, Unprocessable
from rockd.core.files import write_atomically
from rockd.core.process import CommandError
from rockd.core.tasks import cancel_and_wait
from rockd.core.tree import Subtree
from rockd.host import chrony
from rockd.host.control import HostBus, control
from rockd.watchers.dbus import Unavailable
from rockd.watchers.inotify import Inotify, Watch

log = logging.getLogger(__name__)

PATH = ("system", "time")
INTERVAL = 2.0
TIMEDATED = "org.freedesktop.timedate1"
ZONEINFO = Path("/usr/share/zoneinfo")
DEFAULT_ZONE = "Etc/UTC"


@cache
def zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    if name not in zones():
        raise BadRequest(f"{name!r} is not a time zone of the zoneinfo database",
                         code="invalid_field", detail={"field": "timezone"})
    return name


def zone_of_link(target: str) -> str | None:
    """The zone a localtime symlink points at (…/zoneinfo/Europe/Paris), if it is one."""
    _, found, zone = target.partition("zoneinfo/")
    zone = zone.removeprefix("posix/").removeprefix("right/")
    return zone if found and zone in zones() else None


class Clock:
    """Writes /system/time; sets the time zone and the NTP servers."""

    def __init__(self, settings: Settings, subtree: Subtree, bus: Bus, inotify: Inotify,
                 host_bus: HostBus | None = None):
        self.settings = settings
        self.subtree = subtree
        self.bus = bus
        self.inotify = inotify
        self.host_bus = host_bus if control(settings) == "systemd" else None
        self.localtime = settings.host_etc / "localtime"
        self.timezone_file = settings.host_etc / "timezone"
        self.zone = DEFAULT_ZONE
        self.tracking: dict[str, Any] = {"synchronized": False}
        self._watches: list[Watch] = []
        self._sampler: asyncio.Task[None] | None = None

    # -- reading -----------------------------------------------------------------------------

    def read_zone(self) -> str:
        """The time zone as the files say: the localtime link, else the timezone file."""
        with contextlib.suppress(OSError):
            zone = zone_of_link(os.readlink(self.localtime))
            if zone:
                return zone
        with contextlib.suppress(OSError):
            zone = self.timezone_file.read_text().strip()
            if zone in zones():
                return zone
        return DEFAULT_ZONE

    def publish(self) -> None:
        value = {"timezone": self.zone,
                 "ntp_servers": chrony.read_servers(self.settings.chrony_sources),
                 **self.tracking}
        if self.subtree.get(PATH) != value:
            self.subtree.set(PATH, value)

    async def refresh(self) -> None:
        """Ask chronyd again, and publish."""
        self.tracking = await chrony.tracking(self.settings)
        self.publish()

    async def bus_changed(self) -> None:
        """timedated said its properties changed."""
        if self.host_bus is None:
            return
        with contextlib.suppress(Exception):
            self.zone = str(await self.host_bus.get(TIMEDATED, "Timezone"))
            self.publish()

    # -- running ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self.host_bus is None:
            self.zone = self.read_zone()
            self._watch(self.settings.host_etc, {self.localtime.name, self.timezone_file.name},
                        self._zone_changed)
        else:
            await self.bus_changed()
        self._watch(self.settings.chrony_sources.parent, {self.settings.chrony_sources.name},
                    self.publish)
        await self.refresh()
        self._sampler = asyncio.create_task(self._sample(), name="clock-sampler")

    def _watch(self, folder: Path, names: set[str], changed: Any) -> None:
        if not folder.is_dir():
            return
        mask = flags.CLOSE_WRITE | flags.MOVED_TO | flags.CREATE | flags.DELETE
        self._watches.append(self.inotify.watch(
            folder, mask, lambda events: changed() if {e.name for e in events} & names
            else None))

    def _zone_changed(self) -> None:
        self.zone = self.read_zone()
        self.publish()

    async def stop(self) -> None:
        for watch in self._watches:
            watch.remove()
        self._watches = []
        await cancel_and_wait(self._sampler)

    async def _sample(self) -> None:
        """chronyd's tracking, every INTERVAL seconds while /system/time is watched."""
        if shutil.which("chronyc") is None:  # chrony is not installed: nothing to ask
            return
        while True:
            if not self.bus.watching("/system/time"):
                self.bus.subscribed.clear()
                await self.bus.subscribed.wait()
                continue
            try:
                await self.refresh()
            except Exception:
                log.exception("reading chronyd's tracking failed")
            await asyncio.sleep(INTERVAL)

    # -- changing ---------------------------------------------------------------------------

    async def set_zone(self, zone: str) -> None:
        check_timezone(zone)
        if self.host_bus is not None:
            try:
                await self.host_bus.call(TIMEDATED, "SetTimezone", "sb", [zone, False])
                self.zone = str(await self.host_bus.get(TIMEDATED, "Timezone"))
            except Unavailable as exc:
                raise Unprocessable(f"timedated cannot be reached: {exc}",
                                    code="unavailable") from exc
        else:
            self.localtime.parent.mkdir(parents=True, exist_ok=True)
            temp = self.localtime.with_name(f".{self.localtime.name}.rockd")
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            temp.symlink_to(ZONEINFO / zone)
            os.replace(temp, self.localtime)
            write_atomically(self.timezone_file, zone + "\n")
            self.zone = self.read_zone()
        log.info("time zone set to %s", self.zone)
        self.publish()

    async def set_servers(self, servers: list[str]) -> None:
        servers = chrony.check_servers(servers)
        try:
            await chrony.write_servers(self.settings, servers)
        except CommandError as exc:  # written; chronyd takes it when it next starts
            log.warning("chronyd did not reload its sources: %s", exc.stderr or exc)
        log.info("NTP servers set to %s", ", ".join(servers) or "none")
        await self.refresh()
