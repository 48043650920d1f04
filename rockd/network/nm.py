"""NetworkManager on D-Bus: what it knows of devices, their IP configurations, the connection
profiles and checkpoints, kept current by its own signals.

One connection (rockd.watchers.dbus) to the system bus, or to the bus at an address given.
On it: a match rule for every signal NetworkManager sends (PropertiesChanged of the manager,
the devices and their IP configurations; DeviceAdded/Removed; the settings' NewConnection and
ConnectionRemoved; a profile's Updated) and NameOwnerChanged of its name. Everything is read
once each time NetworkManager is (re)attached; after that it changes only through signals, and
`changed()` is called (once per turn of the loop) after each. Nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from dbus_fast import DBusError, Message, MessageType, Variant

from rockd.core.tasks import cancel_and_wait
from rockd.watchers.dbus import DBUS, DBUS_PATH, Connection, Unavailable, rule

log = logging.getLogger(__name__)

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
SETTINGS_PATH = "/org/freedesktop/NetworkManager/Settings"
SETTINGS = f"{NM}.Settings"
PROFILE = f"{NM}.Settings.Connection"
DEVICE = f"{NM}.Device"
DEVICE_EXTRAS = (f"{NM}.Device.Wired", f"{NM}.Device.Statistics")
PROPERTIES = "org.freedesktop.DBus.Properties"
NO_PATH = "/"
FLAG_GENERATED, FLAG_EXTERNAL = 0x2, 0x8  # NMSettingsConnectionFlags
READS = 3  # full reads at most at attach while signals keep coming (counters, say)


def unpack(value: Any) -> Any:
    """A D-Bus value with its variants taken off, all the way down."""
    if isinstance(value, Variant):
        return unpack(value.value)
    if isinstance(value, dict):
        return {k: unpack(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unpack(v) for v in value]
    return value


class NetworkManager:
    """Keeps `manager` (the manager's properties), `devices` (path: properties of the device,
    its wired and statistics parts), `ip` (IP configuration path: properties), `profiles`
    (path: settings) and `checkpoints` (path: properties) current, and calls `changed()` after
    each change. `running`: NetworkManager is on the bus and has been read."""

    def __init__(self, address: str | None, changed: Callable[[], None]):
        self.changed = changed
        self.bus = Connection(address, self._message, self._connected, self._lost,
                              name="NetworkManager")
        self.owner: str | None = None
        self.manager: dict[str, Any] = {}
        self.devices: dict[str, dict[str, Any]] = {}
        self.ip: dict[str, dict[str, Any]] = {}
        self.profiles: dict[str, dict[str, Any]] = {}
        self.external: set[str] = set()  # profiles NetworkManager made of what it found
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self.active: dict[str, dict[str, Any]] = {}  # active connections
        self.ready = asyncio.Event()
        self._attach: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._soon: asyncio.Handle | None = None
        self._missed = False  # a signal came while everything was being read

    @property
    def running(self) -> bool:
        return self.ready.is_set()

    async def start(self) -> None:
        await self.bus.open()

    async def stop(self) -> None:
        await cancel_and_wait(self._attach)
        for task in list(self._tasks):
            await cancel_and_wait(task)
        if self._soon is not None:
            self._soon.cancel()
        await self.bus.close()

    # -- calls ----------------------------------------------------------------------------

    async def call(self, path: str, interface: str, member: str, signature: str = "",
                   body: list[Any] | None = None) -> list[Any]:
        """A method of NetworkManager; DBusError as it answers, Unavailable if it is not there."""
        if not self.running and self._attach is None:
            raise Unavailable("NetworkManager is not running")
        try:
            return await self.bus.call(NM, path, interface, member, signature, body)
        except DBusError as exc:
            if exc.type in ("org.freedesktop.DBus.Error.ServiceUnknown",
                            "org.freedesktop.DBus.Error.NameHasNoOwner"):
                raise Unavailable(exc.text) from exc
            raise

    async def get_all(self, path: str, interface: str) -> dict[str, Any]:
        (props,) = await self.call(path, PROPERTIES, "GetAll", "s", [interface])
        return {k: unpack(v) for k, v in props.items()}

    async def set_property(self, path: str, interface: str, name: str, value: Variant) -> None:
        await self.call(path, PROPERTIES, "Set", "ssv", [interface, name, value])

    # -- presence -------------------------------------------------------------------------

    async def _connected(self) -> None:
        await self.bus.match(rule(sender=DBUS, path=DBUS_PATH, interface=DBUS,
                                  member="NameOwnerChanged", arg0=NM))
        await self.bus.match(rule(sender=NM))
        try:
            (owner,) = await self.bus.call(DBUS, DBUS_PATH, DBUS, "GetNameOwner", "s", [NM])
        except DBusError:
            owner = None
        if owner:
            self._came(owner)
        else:
            self._soon_changed()

    def _lost(self) -> None:
        self._went()

    def _came(self, owner: str) -> None:
        self.owner = owner
        if self._attach is not None:
            self._attach.cancel()
        self._attach = asyncio.create_task(self._read_all(), name="networkmanager-attach")

    def _went(self) -> None:
        if self._attach is not None:
            self._attach.cancel()
            self._attach = None
        self.owner = None
        self.ready.clear()
        self.manager, self.devices, self.ip, self.profiles = {}, {}, {}, {}
        self.checkpoints, self.active = {}, {}
        self._soon_changed()

    async def _read_all(self) -> None:
        """Everything, from nothing; again (READS times at most) while signals came meanwhile:
        they were not applied, and the read that follows them sees what they said."""
        try:
            self._missed, passes = True, 0
            while self._missed and passes < READS:
                self._missed, passes = False, passes + 1
                self.ip, self.checkpoints, self.active = {}, {}, {}
                self.manager = await self.get_all(NM_PATH, NM)
                (paths,) = await self.call(NM_PATH, NM, "GetAllDevices")
                self.devices = {}
                for path in paths:
                    await self._read_device(path)
                (profiles,) = await self.call(SETTINGS_PATH, SETTINGS, "ListConnections")
                self.profiles, self.external = {}, set()
                for path in profiles:
                    await self.read_profile(path)
                await self._read_checkpoints()
                await self._read_active()
        except (DBusError, Unavailable) as exc:
            log.warning("NetworkManager: cannot read its state: %s", exc)
            return
        finally:
            self._attach = None
        self.ready.set()
        log.info("NetworkManager %s: %d devices, %d connections",
                 self.manager.get("Version"), len(self.devices), len(self.profiles))
        self._soon_changed()

    async def _read_device(self, path: str) -> None:
        props = await self.get_all(path, DEVICE)
        for extra in DEVICE_EXTRAS:
            with contextlib.suppress(DBusError):
                props.update(await self.get_all(path, extra))
        self.devices[path] = props
        for key in ("Ip4Config", "Ip6Config"):
            await self._read_ip(props.get(key, NO_PATH), key)

    async def _read_ip(self, path: str, key: str) -> None:
        if path == NO_PATH or path in self.ip:
            return
        interface = f"{NM}.IP4Config" if key == "Ip4Config" else f"{NM}.IP6Config"
        with contextlib.suppress(DBusError):
            self.ip[path] = await self.get_all(path, interface)

    async def read_profile(self, path: str) -> None:
        """Read a connection profile's settings (again)."""
        try:
            (settings,) = await self.call(path, PROFILE, "GetSettings")
            (flags,) = await self.call(path, PROPERTIES, "Get", "ss", [PROFILE, "Flags"])
        except DBusError as exc:  # gone meanwhile
            log.debug("NetworkManager: %s: %s", path, exc.text)
            self.profiles.pop(path, None)
        else:
            self.profiles[path] = unpack(settings)
            if unpack(flags) & (FLAG_GENERATED | FLAG_EXTERNAL):
                self.external.add(path)
            else:
                self.external.discard(path)
        self._soon_changed()

    async def _read_checkpoints(self) -> None:
        known = {}
        for path in self.manager.get("Checkpoints", []):
            try:
                known[path] = self.checkpoints.get(path) or await self.get_all(
                    path, f"{NM}.Checkpoint")
            except DBusError:
                continue
        self.checkpoints = known

    async def _read_active(self) -> None:
        known = {}
        for path in self.manager.get("ActiveConnections", []):
            try:
                known[path] = self.active.get(path) or await self.get_all(
                    path, f"{NM}.Connection.Active")
            except DBusError:
                continue
        self.active = known

    # -- signals --------------------------------------------------------------------------

    def _message(self, msg: Message) -> None:
        if msg.message_type != MessageType.SIGNAL:
            return
        if msg.interface == DBUS and msg.member == "NameOwnerChanged":
            name, _old, new = msg.body
            if name == NM:
                if new:
                    self._came(new)
                else:
                    log.warning("NetworkManager left the bus")
                    self._went()
            return
        if self.owner is None or msg.sender != self.owner:
            return
        if self._attach is not None:
            self._missed = True  # being read: read again after
            return
        path, member = msg.path or "", msg.member
        if member == "PropertiesChanged" and msg.interface == PROPERTIES:
            self._properties(path, msg.body[1])
        elif member == "DeviceAdded":
            self._spawn(self._device_added(msg.body[0]))
        elif member == "DeviceRemoved":
            self.devices.pop(msg.body[0], None)
            self._soon_changed()
        elif member == "NewConnection":
            self._spawn(self.read_profile(msg.body[0]))
        elif member in ("ConnectionRemoved", "Removed") and msg.interface in (SETTINGS,
                                                                               PROFILE):
            self.profiles.pop(msg.body[0] if member == "ConnectionRemoved" else path, None)
            self._soon_changed()
        elif member == "Updated" and msg.interface == PROFILE:
            self._spawn(self.read_profile(path))

    def _properties(self, path: str, changed: dict[str, Any]) -> None:
        values = {k: unpack(v) for k, v in changed.items()}
        if path == NM_PATH:
            self.manager.update(values)
            if "Checkpoints" in values:
                self._spawn(self._checkpoints_changed())
            if "ActiveConnections" in values:
                self._spawn(self._active_changed())
        elif path in self.devices:
            self.devices[path].update(values)
            for key in ("Ip4Config", "Ip6Config"):
                if key in values:
                    self._spawn(self._read_ip(values[key], key))
        elif path in self.ip:
            self.ip[path].update(values)
        elif path in self.active:
            self.active[path].update(values)
        else:
            return
        self._soon_changed()

    async def _device_added(self, path: str) -> None:
        with contextlib.suppress(DBusError):
            await self._read_device(path)
        self._soon_changed()

    async def _checkpoints_changed(self) -> None:
        with contextlib.suppress(DBusError, Unavailable):
            await self._read_checkpoints()
        self._soon_changed()

    async def _active_changed(self) -> None:
        with contextlib.suppress(DBusError, Unavailable):
            await self._read_active()
        self._soon_changed()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _t: self._soon_changed())

    def _soon_changed(self) -> None:
        if self._soon is None:
            self._soon = asyncio.get_running_loop().call_soon(self._tell)

    def _tell(self) -> None:
        self._soon = None
        # IP configurations no device points at any more are forgotten
        used = {d.get(k) for d in self.devices.values() for k in ("Ip4Config", "Ip6Config")}
        for path in [p for p in self.ip if p not in used]:
            del self.ip[path]
        self.changed()
