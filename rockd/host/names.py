"""The hostname: checked (RFC 1123), set through hostnamed (SetStaticHostname) or written to
`host_etc`/hostname and set with sethostname(2) (see `control.sets_kernel_hostname`), read
back into /system/hostname through system.py, and told to whoever shows it (`HostnameFollower`:
Samba's netbios name). A hand edit of the hostname file, or hostnamed's PropertiesChanged, is
read again the same way."""

from __future__ import annotations

import logging
import re
import socket
from typing import Protocol

from inotify_simple import flags

from rockd import system
from rockd.config import Settings
from rockd.core.errors import BadRequest, Unprocessable
from rockd.core.files import write_atomically
from rockd.core.tree import Subtree
from rockd.host.control import HostBus, control, sets_kernel_hostname
from rockd.watchers.dbus import Unavailable
from rockd.watchers.inotify import Inotify, Watch

log = logging.getLogger(__name__)

HOSTNAMED = "org.freedesktop.hostname1"
LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
MAX_LENGTH = 64  # the kernel's HOST_NAME_MAX


def valid_hostname(name: str) -> bool:
    """RFC 1123: dot-separated labels of letters, digits and hyphens (not first or last), each
    1 to 63 long; at most 64 in all, as the kernel keeps; not all digits (an address)."""
    if not name or len(name) > MAX_LENGTH or name.replace(".", "").isdigit():
        return False
    return all(LABEL.fullmatch(label) for label in name.split("."))


def check_hostname(name: str) -> str:
    if not valid_hostname(name):
        raise BadRequest(f"{name!r} is not a hostname: letters, digits and hyphens, in labels "
                         "of at most 63 separated by dots, 64 in all", code="invalid_field",
                         detail={"field": "hostname"})
    return name


class HostnameFollower(Protocol):
    """What shows the hostname (Samba's netbios name and server string)."""

    def hostname_changed(self, hostname: str) -> None:
        """The hostname is now `hostname`."""


class Hostnames:
    """Sets and reads the hostname; /system/hostname is written through system.py."""

    def __init__(self, settings: Settings, facts: Subtree, inotify: Inotify,
                 bus: HostBus | None = None):
        self.settings = settings
        self.facts = facts
        self.inotify = inotify
        self.bus = bus if control(settings) == "systemd" else None
        self.file = settings.host_etc / "hostname"
        self.followers: list[HostnameFollower] = []
        self._watch: Watch | None = None

    def tell(self, follower: HostnameFollower) -> None:
        self.followers.append(follower)

    @property
    def current(self) -> str:
        return self.facts.get("/system/hostname") or socket.gethostname()

    def read(self) -> str:
        """The hostname as the files way has it: the kernel's, or the private file's."""
        if not sets_kernel_hostname(self.settings):
            try:
                name = self.file.read_text().strip()
            except OSError:
                name = ""
            if valid_hostname(name):
                return name
        return socket.gethostname()

    def start(self) -> None:
        if self.bus is None:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self._watch = self.inotify.watch(
                self.file.parent, flags.CLOSE_WRITE | flags.MOVED_TO | flags.CREATE,
                lambda events: self._file_changed([e.name for e in events]))
            self._publish(self.read())

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.remove()
            self._watch = None

    def _file_changed(self, names: list[str]) -> None:
        if self.file.name in names:
            name = self.read()
            if name != self.current:
                log.info("the hostname is now %s (changed outside rockd)", name)
            self._publish(name)

    async def bus_changed(self) -> None:
        """hostnamed said its properties changed: read the hostname again."""
        if self.bus is None:
            return
        try:
            name = str(await self.bus.get(HOSTNAMED, "Hostname"))
        except Exception as exc:  # hostnamed not there (yet): what we showed stays
            log.debug("hostnamed: %s", exc)
            return
        self._publish(name)

    def _publish(self, name: str) -> None:
        changed = name != self.facts.get("/system/hostname")
        system.publish_hostname(self.facts, name)
        if changed:
            for follower in self.followers:
                follower.hostname_changed(name)

    async def set(self, name: str) -> str:
        """Make `name` the hostname (checked first); answer it as read back."""
        check_hostname(name)
        if self.bus is not None:
            try:
                await self.bus.call(HOSTNAMED, "SetStaticHostname", "sb", [name, False])
                read = str(await self.bus.get(HOSTNAMED, "Hostname"))
            except Unavailable as exc:
                raise Unprocessable(f"hostnamed cannot be reached: {exc}",
                                    code="unavailable") from exc
        else:
            write_atomically(self.file, name + "\n")
            if sets_kernel_hostname(self.settings):
                socket.sethostname(name)
            read = self.read()
        log.info("hostname set to %s", read)
        self._publish(read)
        return read
