"""The owner of /network: NetworkManager's interfaces and connections as the tree shows them,
and the changes asked for, each applied through NetworkManager and read back from it.

A change that could cut the browser off (the connection of the interface the request came in
on, or any change asked to be confirmed) is made under a NetworkManager checkpoint with a
rollback timeout: NetworkManager itself restores every device and profile as they were when
the timeout passes, unless `confirm` destroys the checkpoint first. `/network/pending` shows
the change that waits; `/network/last_change` whether the latest one was confirmed or rolled
back. The timer is NetworkManager's, so a restart of rockd does not lose it.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from dbus_fast import DBusError

from rockd.config import Settings
from rockd.core.bus import Bus
from rockd.core.errors import Conflict, NotFound
from rockd.core.resources.network import ConnectionAnswer, NetworkConnection, Rollback
from rockd.core.times import now, rfc3339
from rockd.core.tree import Subtree
from rockd.network import view
from rockd.network.checks import check
from rockd.network.nm import NM, NM_PATH, PROFILE, SETTINGS, SETTINGS_PATH, NetworkManager
from rockd.network.profiles import intent_of, member_settings, merged, refused, settings_for
from rockd.network.traffic import Traffic
from rockd.network.undo import Undo
from rockd.watchers.dbus import Unavailable

log = logging.getLogger(__name__)

CHECKPOINT_FLAGS = 0x02 | 0x04  # delete new connections, disconnect new devices
NO_PATH = "/"


class Network:
    """Keeps /network and makes the connections asked for."""

    def __init__(self, subtree: Subtree, settings: Settings, bus: Bus):
        self.subtree = subtree
        self.bus = bus
        address = settings.network_bus
        self.enabled = address != "off"  # off: the network is not rockd's (demo mode, tests)
        self.nm = NetworkManager(None if address == "system" else address, self.publish)
        self.traffic = Traffic(self.nm, bus)
        self.default_seconds = int(settings.network_confirm)
        self.pending: Rollback | None = None
        self.pending_path: str | None = None
        self.confirming: str | None = None  # the checkpoint being destroyed by confirm
        self.last_change: dict[str, Any] | None = None

    async def start(self) -> None:
        self.publish()
        if self.enabled:
            await self.nm.start()
            self.traffic.start()

    async def stop(self) -> None:
        await self.traffic.stop()
        await self.nm.stop()

    # -- the tree -----------------------------------------------------------------------

    def publish(self) -> None:
        self._follow_checkpoints()
        self.traffic.check()
        self.subtree.set("/network", {
            "running": self.nm.running,
            "version": self.nm.manager.get("Version") if self.nm.running else None,
            "interfaces": view.interfaces(self.nm),
            "connections": view.connections(self.nm),
            "pending": self.pending,
            "last_change": self.last_change,
        })

    def _follow_checkpoints(self) -> None:
        """The pending change's checkpoint gone: confirmed (by us) or rolled back (by NM's
        timer); a checkpoint rockd did not know of (made before a restart) shown as pending."""
        if not self.nm.running:
            return
        paths = set(self.nm.checkpoints)
        if self.pending_path is not None and self.pending_path not in paths:
            assert self.pending is not None
            outcome = "confirmed" if self.confirming == self.pending_path else "rolled_back"
            log.info("network: change %s %s", self.pending["id"], outcome.replace("_", " "))
            self.last_change = {"id": self.pending["id"], "outcome": outcome, "at": now()}
            self.pending = self.pending_path = self.confirming = None
        if self.pending_path is None and paths:
            path = sorted(paths)[-1]
            props = self.nm.checkpoints[path]
            seconds = int(props.get("RollbackTimeout", 0))
            created_ms = int(props.get("Created", 0))
            if seconds:
                age = time.clock_gettime(time.CLOCK_BOOTTIME) - created_ms / 1000
                self.pending_path = path
                self.pending = {"id": path.rsplit("/", 1)[-1],
                                "deadline": rfc3339(time.time() - age + seconds) or now(),
                                "seconds": seconds, "connection": None, "interface": None}

    def connection(self, uuid: str) -> NetworkConnection:
        found = (self.subtree.get("/network/connections") or {}).get(uuid)
        if found is None:
            raise NotFound(f"no connection {uuid}", detail={"id": uuid})
        shown: NetworkConnection = found
        return shown

    def interface_of_address(self, address: str) -> str | None:
        """The interface that has `address` (the address a request came to)."""
        try:
            wanted = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return None
        if isinstance(wanted, ipaddress.IPv6Address) and wanted.ipv4_mapped is not None:
            wanted = wanted.ipv4_mapped
        for name, iface in (self.subtree.get("/network/interfaces") or {}).items():
            if any(ipaddress.ip_interface(a).ip == wanted for a in iface["addresses"]):
                return str(name)
        return None

    def carriers(self, interface: str) -> set[str]:
        """The interfaces a request that came in on `interface` travels over: itself, the
        slaves or ports under it, the parent of a VLAN, and theirs in turn."""
        connections = (self.subtree.get("/network/connections") or {}).values()
        found, todo = set(), [interface]
        while todo:
            name = todo.pop()
            if name in found:
                continue
            found.add(name)
            for conn in connections:
                if conn["port_of"] == name and conn["interface"]:
                    todo.append(conn["interface"])
                if conn["interface"] == name and conn["vlan"]:
                    todo.append(conn["vlan"]["parent"])
        return found

    def touches(self, intent: dict[str, Any], interface: str | None) -> bool:
        """Whether changing a connection (as intent) could cut a request that came in on
        `interface`: the connection is of an interface the request travels over, or takes
        one of those as a slave or port."""
        if interface is None:
            return False
        mine = {intent.get("interface")}
        mine |= set((intent.get("bond") or {}).get("slaves", []))
        mine |= set((intent.get("bridge") or {}).get("ports", []))
        return bool(mine & self.carriers(interface))

    # -- changes ------------------------------------------------------------------------

    def _ready(self) -> None:
        if not self.nm.running:
            raise Conflict("NetworkManager is not running", code="network_unavailable")
        if self.pending is not None:
            raise Conflict("a network change waits for confirmation; confirm it or let it "
                           "roll back first", code="change_pending",
                           detail={"pending": dict(self.pending)})

    async def create(self, intent: dict[str, Any], came_on: str | None,
                     seconds: int | None) -> ConnectionAnswer:
        """Add a connection and activate it."""
        self._ready()
        check(intent, None, self.subtree.get("/network") or {})
        settings = settings_for(intent)
        uuid = settings["connection"]["uuid"].value
        risky = seconds or (self.default_seconds if self.touches(intent, came_on) else None)

        async def act() -> None:
            async with Undo(self.nm) as undo:
                (path,) = await self.nm.call(SETTINGS_PATH, SETTINGS, "AddConnection",
                                             "a{sa{sv}}", [settings])
                undo.added.append(path)
                await self._members(intent, intent["interface"], None, undo)
                await self.nm.read_profile(path)
                await self._activate(path, intent)
        return await self._change(act, uuid, intent, risky)

    async def update(self, uuid: str, changes: dict[str, Any], came_on: str | None,
                     seconds: int | None) -> ConnectionAnswer:
        """Change a connection (what `changes` names; the rest as it is) and apply it."""
        self._ready()
        current = self.connection(uuid)
        if current["port_of"]:
            raise Conflict(f"{current['interface']} is a port of {current['port_of']}: "
                           "change that connection", code="port_of")
        before = intent_of(current)
        intent = {**before, **changes}
        if changes.get("method") in ("dhcp", "disabled"):
            intent.setdefault("addresses", [])
            if "addresses" not in changes:
                intent["addresses"], intent["gateway"] = [], None
        if intent.get("kind") not in ("ethernet", "bond", "vlan", "bridge"):
            raise Conflict(f"rockd does not change connections of kind {intent.get('kind')}",
                           code="unsupported_kind")
        check(intent, uuid, self.subtree.get("/network") or {})
        path = view.profile_path(self.nm, uuid)
        if path is None:
            raise NotFound(f"no connection {uuid}", detail={"id": uuid})
        risky = seconds or (self.default_seconds if self.touches(before, came_on)
                            or self.touches(intent, came_on) else None)

        async def act() -> None:
            async with Undo(self.nm) as undo:
                (raw,) = await self.nm.call(path, PROFILE, "GetSettings")
                await self.nm.call(path, PROFILE, "Update", "a{sa{sv}}",
                                   [merged(raw, settings_for(intent, uuid, current["name"]))])
                undo.updated.append((path, raw, current["active"]))
                await self._members(intent, intent["interface"], before, undo)
                await self.nm.read_profile(path)
                await self._activate(path, intent)
        return await self._change(act, uuid, intent, risky)

    async def delete(self, uuid: str, came_on: str | None, seconds: int | None
                     ) -> Rollback | None:
        """Delete a connection (and its slaves' or ports' own)."""
        self._ready()
        current = self.connection(uuid)
        intent = intent_of(current)
        path = view.profile_path(self.nm, uuid)
        if path is None:
            raise NotFound(f"no connection {uuid}", detail={"id": uuid})
        risky = seconds or (self.default_seconds if self.touches(intent, came_on) else None)

        async def act() -> None:
            await self._members({**intent, "bond": None, "bridge": None}, intent["interface"],
                                intent)
            await self.nm.call(path, PROFILE, "Delete")
            self.nm.profiles.pop(path, None)
        answer = await self._change(act, None, intent, risky)
        return answer.get("rollback")

    async def _change(self, act: Callable[[], Awaitable[None]], uuid: str | None,
                      intent: dict[str, Any], seconds: int | None) -> ConnectionAnswer:
        """Run `act` (under a checkpoint when `seconds`), and answer the connection."""
        checkpoint = None
        if seconds:
            checkpoint = await self._call(NM_PATH, NM, "CheckpointCreate", "aouu",
                                          [[], seconds, CHECKPOINT_FLAGS])
            checkpoint = checkpoint[0]
            self.nm.checkpoints[checkpoint] = {"RollbackTimeout": seconds}
            self.pending_path = checkpoint
            self.pending = {"id": checkpoint.rsplit("/", 1)[-1],
                            "deadline": rfc3339(time.time() + seconds) or now(),
                            "seconds": seconds, "connection": uuid,
                            "interface": intent.get("interface")}
            log.info("network: change under checkpoint %s, rolled back in %d s unless "
                     "confirmed", checkpoint, seconds)
        try:
            await self._guard(act())
        except BaseException:
            if checkpoint is not None:  # undo at once what was half done
                try:
                    await self.nm.call(NM_PATH, NM, "CheckpointRollback", "o", [checkpoint])
                except (DBusError, Unavailable) as exc:
                    log.warning("network: rolling back %s: %s", checkpoint, exc)
            raise
        self.publish()
        answer: ConnectionAnswer = {}  # type: ignore[typeddict-item]
        if uuid is not None:
            answer = {**self.connection(uuid)}
        if self.pending is not None and checkpoint is not None:
            answer["rollback"] = dict(self.pending)  # type: ignore[typeddict-item]
        return answer

    async def confirm(self, change: str) -> None:
        """Keep the pending change: destroy its checkpoint."""
        if self.pending is None or self.pending["id"] != change or self.pending_path is None:
            raise NotFound(f"no change {change} waits for confirmation",
                           detail={"id": change})
        self.confirming = self.pending_path
        try:
            await self._call(NM_PATH, NM, "CheckpointDestroy", "o", [self.pending_path])
        except Conflict:
            self.confirming = None
            raise
        self.nm.checkpoints.pop(self.pending_path, None)
        self.publish()

    async def revert(self, change: str) -> None:
        """Roll the pending change back now."""
        if self.pending is None or self.pending["id"] != change or self.pending_path is None:
            raise NotFound(f"no change {change} waits for confirmation",
                           detail={"id": change})
        await self._call(NM_PATH, NM, "CheckpointRollback", "o", [self.pending_path])
        self.nm.checkpoints.pop(self.pending_path, None)
        self.publish()

    # -- helpers ------------------------------------------------------------------------

    async def _members(self, intent: dict[str, Any], master: str,
                       before: dict[str, Any] | None = None, undo: Undo | None = None) -> None:
        """Make the slaves' or ports' profiles what `intent` lists (and delete those it no
        longer does)."""
        for key, slave_type, field in (("bond", "bond", "slaves"),
                                       ("bridge", "bridge", "ports")):
            wanted = set((intent.get(key) or {}).get(field, []))
            had = set(((before or {}).get(key) or {}).get(field, []))
            for path, s in list(self.nm.profiles.items()):
                conn = s.get("connection", {})
                if (conn.get("slave-type") == slave_type and conn.get("master") == master
                        and conn.get("interface-name") in had - wanted):
                    if undo is not None:
                        undo.removed.append((await self.nm.call(path, PROFILE,
                                                                "GetSettings"))[0])
                    await self.nm.call(path, PROFILE, "Delete")
                    self.nm.profiles.pop(path, None)
            for ifname in sorted(wanted - had):
                (path,) = await self.nm.call(SETTINGS_PATH, SETTINGS, "AddConnection",
                                             "a{sa{sv}}",
                                             [member_settings(ifname, master, slave_type)])
                if undo is not None:
                    undo.added.append(path)
                await self.nm.read_profile(path)

    async def _activate(self, path: str, intent: dict[str, Any]) -> None:
        (active,) = await self.nm.call(NM_PATH, NM, "ActivateConnection", "ooo",
                                       [path, NO_PATH, NO_PATH])
        master = intent["interface"]
        for mpath, s in list(self.nm.profiles.items()):
            conn = s.get("connection", {})
            if conn.get("master") == master and conn.get("slave-type"):
                await self.nm.call(NM_PATH, NM, "ActivateConnection", "ooo",
                                   [mpath, NO_PATH, NO_PATH])
        log.debug("network: activating %s as %s", path, active)

    async def _guard(self, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except DBusError as exc:
            raise refused(exc) from exc
        except Unavailable as exc:
            raise Conflict(f"NetworkManager is not there: {exc}",
                           code="network_unavailable") from exc

    async def _call(self, *args: Any) -> list[Any]:
        return await self._guard(self.nm.call(*args))
