"""Who sets the hostname and the time zone: systemd's hostnamed and timedated on the system
bus where systemd runs, else rockd itself through the files in `host_etc`; and the one D-Bus
connection the systemd way uses, with the properties and change signals of its services."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbus_fast import Message, Variant

from rockd.config import Settings
from rockd.watchers.dbus import Connection, plain, rule

log = logging.getLogger(__name__)

SYSTEM_ETC = Path("/etc")
SYSTEMD_RUNS = Path("/run/systemd/system")
PROPERTIES = "org.freedesktop.DBus.Properties"
INIT_UTS_INODE = 0xEFFFFFFE  # the kernel's PROC_UTS_INIT_INO: the initial UTS namespace's


def control(settings: Settings) -> str:
    """"systemd" or "files": auto is systemd where systemd runs and rockd works on /etc."""
    if settings.host_control != "auto":
        return settings.host_control
    system_etc = settings.host_etc.resolve() == SYSTEM_ETC
    return "systemd" if system_etc and SYSTEMD_RUNS.is_dir() else "files"


def own_uts_namespace() -> bool:
    """Whether rockd runs in a UTS namespace other than init's (a container's, a test's)."""
    try:
        return os.stat("/proc/self/ns/uts").st_ino != INIT_UTS_INODE
    except OSError:
        return False


def sets_kernel_hostname(settings: Settings) -> bool:
    """The files way sets the kernel's hostname too (sethostname(2)) when its files are the
    system's, or when rockd has a UTS namespace of its own; a private folder elsewhere (tests,
    the demo) changes only its files."""
    return settings.host_etc.resolve() == SYSTEM_ETC or own_uts_namespace()


class HostBus:
    """The system bus for hostnamed and timedated: calls, properties, and `changed(path)` when
    a service says its properties changed."""

    def __init__(self, address: str | None, changed: Callable[[str], None]):
        self.changed = changed
        self.connection = Connection(address, self._message, self._connected, lambda: None,
                                     name="host")

    async def open(self) -> None:
        await self.connection.open()

    async def close(self) -> None:
        await self.connection.close()

    async def _connected(self) -> None:
        await self.connection.match(rule(interface=PROPERTIES, member="PropertiesChanged"))
        for path in ("/org/freedesktop/hostname1", "/org/freedesktop/timedate1"):
            self.changed(path)  # read again: what changed while we were away

    def _message(self, message: Message) -> None:
        if message.member == "PropertiesChanged" and message.path in (
                "/org/freedesktop/hostname1", "/org/freedesktop/timedate1"):
            self.changed(message.path)

    async def call(self, service: str, member: str, signature: str, body: list[Any]) -> None:
        path = "/" + service.replace(".", "/")
        await self.connection.call(service, path, service, member, signature, body)

    async def get(self, service: str, name: str) -> Any:
        path = "/" + service.replace(".", "/")
        reply = await self.connection.call(service, path, PROPERTIES, "Get", "ss",
                                           [service, name])
        value = reply[0]
        return plain(value) if isinstance(value, Variant) else value
