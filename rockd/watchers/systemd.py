"""systemd over D-Bus: the managed units' properties, kept current by systemd's own signals.

One connection to the system bus (rockd.watchers.dbus; or to the bus at an address given, for
tests). On it:
`Manager.Subscribe()`, so that systemd sends unit signals at all; a match rule for
`org.freedesktop.DBus.Properties.PropertiesChanged` on each managed unit's object path (from
`Manager.LoadUnit`); `JobRemoved` for those units (a job's end, which systemd sends only after
the unit's own change signal); `UnitFilesChanged` and `Reloading` (enablement changed, which
systemd does not signal on the unit: its UnitFileState is read again then); and
`NameOwnerChanged` of org.freedesktop.systemd1 (systemd re-executed or came back). Properties
are read in full once each time systemd is (re)attached; after that they only change through
signals. Nothing polls. If the bus itself goes away, the connection is made again with backoff
and everything is read again.

The watcher only reports: unit changes to `changed`, the end of systemd jobs and the loss of
systemd to `jobs` (a `JobEvents`); `call()` is its connection, which the systemd backend
(rockd.services.systemd) uses for its verbs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from dbus_fast import DBusError, Message, MessageType

from rockd.watchers.dbus import DBUS, DBUS_PATH, Connection, Unavailable, plain, rule

log = logging.getLogger(__name__)

SYSTEMD = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
UNIT = "org.freedesktop.systemd1.Unit"
SERVICE = "org.freedesktop.systemd1.Service"
PROPERTIES = "org.freedesktop.DBus.Properties"

# the unit properties kept; all but UnitFileState are sent by systemd on change
WANTED = frozenset({
    "LoadState", "ActiveState", "SubState", "UnitFileState", "MainPID",
    "ActiveEnterTimestamp", "ActiveExitTimestamp", "InactiveEnterTimestamp",
    "InactiveExitTimestamp",
})

NOT_THERE = frozenset({"org.freedesktop.DBus.Error.FileNotFound",
                       "org.freedesktop.systemd1.NoSuchUnit"})


class JobEvents(Protocol):
    """Who waits for systemd's jobs: told of each job's end and of losing systemd."""

    def job_removed(self, job: str, result: str) -> None:
        """systemd's JobRemoved: the job at object path `job` ended with `result`."""

    def lost(self, why: str) -> None:
        """The bus or systemd went away: no job that is waited for will be reported."""


class NoJobs:
    """JobEvents for a watcher nobody asks for jobs through."""

    def job_removed(self, job: str, result: str) -> None:
        pass

    def lost(self, why: str) -> None:
        pass


class SystemdWatcher:
    """Keeps `props[unit]` (the WANTED properties of each unit) current and calls
    `changed(unit)` after each change. A lost bus only delays news: the last known properties
    stay until systemd is back and they are read again. `call()` runs a method of systemd over
    the same connection; jobs' ends go to `jobs`."""

    def __init__(self, units: Iterable[str], changed: Callable[[str], None],
                 address: str | None = None, *, retry: tuple[float, float] = (0.5, 15.0),
                 jobs: JobEvents | None = None):
        self.units = list(dict.fromkeys(units))
        self.changed = changed
        self.jobs = jobs if jobs is not None else NoJobs()
        self.bus = Connection(address, self._message, self._connected, self._lost,
                              retry=retry, name="systemd")
        self.props: dict[str, dict[str, Any]] = {u: {} for u in self.units}
        self.paths: dict[str, str] = {}  # object path -> unit
        self.owner: str | None = None  # systemd's unique name on the bus
        self._attach_task: asyncio.Task | None = None
        self._files_task: asyncio.Task | None = None
        self._files_again = False
        self._refreshing: dict[str, list[set[str]]] = {}  # unit -> keys signalled meanwhile
        self.ready = asyncio.Event()  # systemd is there and every unit has been read
        self._tasks: set[asyncio.Task] = set()
        self._dirty: dict[str, None] = {}  # units changed and not told yet, in order
        self._flush_handle: asyncio.Handle | None = None

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and read the units once if the bus and systemd are there; keep trying in
        the background if not."""
        await self.bus.open()
        if self._attach_task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(self._attach_task)

    async def stop(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for task in (self._attach_task, self._files_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        await self.bus.close()

    @property
    def connected(self) -> bool:
        return self.bus.connected

    async def _connected(self) -> None:
        """On each new connection: the signals to receive, and whether systemd is there."""
        await self.bus.match(rule(sender=DBUS, path=DBUS_PATH, interface=DBUS,
                                  member="NameOwnerChanged", arg0=SYSTEMD))
        for member in ("UnitFilesChanged", "Reloading"):
            await self.bus.match(rule(sender=SYSTEMD, path=MANAGER_PATH, interface=MANAGER,
                                      member=member))
        for unit in self.units:
            await self.bus.match(rule(sender=SYSTEMD, path=MANAGER_PATH, interface=MANAGER,
                                      member="JobRemoved", arg2=unit))
        try:
            (owner,) = await self.bus.call(DBUS, DBUS_PATH, DBUS, "GetNameOwner", "s",
                                           [SYSTEMD])
        except DBusError:
            owner = None  # not on the bus (yet): NameOwnerChanged says when it comes
        if owner:
            self._owner_came(owner)

    def _lost(self) -> None:
        """The connection is gone (not the properties: the last known state stays)."""
        if self._attach_task is not None:
            self._attach_task.cancel()
            self._attach_task = None
        self.owner = None
        self.ready.clear()
        self.jobs.lost("lost the connection to systemd")

    # -- talking to systemd -------------------------------------------------------------

    async def call(self, member: str, signature: str = "", body: list | None = None, *,
                   interface: str = MANAGER, path: str = MANAGER_PATH) -> list[Any]:
        """A method of systemd; raises DBusError as systemd answers, Unavailable if it can't."""
        if self.owner is None and self.connected:
            raise Unavailable("systemd is not on the bus")
        try:
            return await self.bus.call(SYSTEMD, path, interface, member, signature, body)
        except DBusError as exc:
            if exc.type in ("org.freedesktop.DBus.Error.ServiceUnknown",
                            "org.freedesktop.DBus.Error.NameHasNoOwner",
                            "org.freedesktop.DBus.Error.NoReply"):
                raise Unavailable(exc.text) from exc
            raise

    # -- systemd's presence -------------------------------------------------------------

    def _owner_came(self, owner: str) -> None:
        self.owner = owner
        self.ready.clear()
        if self._attach_task is not None:
            self._attach_task.cancel()
        self._attach_task = asyncio.create_task(self._attach(), name="systemd-attach")

    def _owner_went(self) -> None:
        log.warning("systemd left the bus")
        self.owner = None
        self.ready.clear()
        if self._attach_task is not None:
            self._attach_task.cancel()
            self._attach_task = None
        self.jobs.lost("systemd left the bus")

    async def _attach(self) -> None:
        """Subscribe, watch each unit's object and read its properties once."""
        try:
            try:
                await self.call("Subscribe")
            except DBusError as exc:  # once per connection is enough; older systemd says so
                if not exc.type.endswith(".AlreadySubscribed"):
                    raise
            for unit in self.units:
                try:
                    (path,) = await self.call("LoadUnit", "s", [unit])
                except DBusError as exc:  # one unit's trouble leaves the others watched
                    log.warning("systemd: cannot load %s: %s", unit, exc.text)
                    continue
                self.paths[path] = unit
                await self.bus.match(rule(sender=SYSTEMD, path=path, interface=PROPERTIES,
                                        member="PropertiesChanged"))
            for path, unit in list(self.paths.items()):
                await self._refresh(unit, path)
            self.flush()
            self.ready.set()
            log.info("systemd: watching %s", ", ".join(self.units))
        except asyncio.CancelledError:
            raise
        except Unavailable as exc:
            log.debug("systemd: attach interrupted: %s", exc)
        except Exception:
            log.exception("systemd: reading the units failed")

    async def _refresh(self, unit: str, path: str) -> None:
        """Read a unit's properties; what a signal brought meanwhile is newer and is kept."""
        signalled: set[str] = set()
        self._refreshing.setdefault(unit, []).append(signalled)
        try:
            found: dict[str, Any] = {}
            for interface in (UNIT, SERVICE):
                try:
                    (values,) = await self.call("GetAll", "s", [interface],
                                                interface=PROPERTIES, path=path)
                except DBusError as exc:  # not a service: no MainPID to read
                    log.debug("systemd: %s %s: %s", unit, interface, exc.text)
                    continue
                found.update({k: plain(v) for k, v in values.items() if k in WANTED})
            found = {k: v for k, v in found.items() if k not in signalled}
        finally:
            self._refreshing[unit].remove(signalled)
        self._update(unit, found)

    async def _refresh_quietly(self, unit: str, path: str) -> None:
        try:
            await self._refresh(unit, path)
        except (DBusError, Unavailable) as exc:
            log.warning("systemd: reading %s failed: %s", unit, exc)

    async def refresh_file_state(self, unit: str) -> None:
        """Read whether the unit is enabled (systemd does not signal it on the unit)."""
        signalled: set[str] = set()
        self._refreshing.setdefault(unit, []).append(signalled)
        try:
            try:
                (state,) = await self.call("GetUnitFileState", "s", [unit])
            except DBusError as exc:
                if exc.type not in NOT_THERE:
                    raise
                state = ""  # no unit file: not installed
        finally:
            self._refreshing[unit].remove(signalled)
        if "UnitFileState" not in signalled:
            self._update(unit, {"UnitFileState": state})

    def _files_changed(self) -> None:
        if self._files_task is not None and not self._files_task.done():
            self._files_again = True
            return
        self._files_task = asyncio.create_task(self._refresh_files(), name="systemd-files")

    async def _refresh_files(self) -> None:
        self._files_again = True
        while self._files_again:
            self._files_again = False
            for unit in self.units:
                try:
                    await self.refresh_file_state(unit)
                except Unavailable:
                    return
                except DBusError as exc:
                    log.warning("systemd: unit file state of %s: %s", unit, exc.text)

    def _update(self, unit: str, values: dict[str, Any]) -> None:
        """Take new values; `changed` follows once for all that came in one go (systemd
        sends a service's MainPID and its unit's ActiveState as two signals, back to back)."""
        props = self.props[unit]
        new = {k: v for k, v in values.items() if props.get(k) != v}
        if new:
            props.update(new)
            self._dirty[unit] = None
            if self._flush_handle is None:
                self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Call `changed` now for every unit changed since the last time."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        dirty, self._dirty = self._dirty, {}
        for unit in dirty:
            self.changed(unit)

    # -- signals ----------------------------------------------------------------------------

    def _message(self, msg: Message) -> None:
        """Every message on the connection passes here first: act on the signals only (a
        true return would swallow method replies)."""
        if msg.message_type != MessageType.SIGNAL:
            return
        try:
            self._signal(msg)
        except Exception:
            log.exception("systemd: bad signal %s.%s", msg.interface, msg.member)

    def _signal(self, msg: Message) -> None:
        member, body = msg.member, msg.body
        if msg.interface == PROPERTIES and member == "PropertiesChanged":
            unit = self.paths.get(msg.path or "")
            if unit is None or msg.path is None or body[0] not in (UNIT, SERVICE):
                return
            values = {k: plain(v) for k, v in body[1].items() if k in WANTED}
            for signalled in self._refreshing.get(unit, ()):
                signalled.update(values)
            self._update(unit, values)
            if any(name in WANTED for name in body[2]) and self.owner:
                # invalidated without a value (systemd does not do this for these)
                task = asyncio.get_running_loop().create_task(self._refresh_quietly(unit,
                                                                                    msg.path))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif msg.interface == MANAGER and msg.path == MANAGER_PATH:
            if member == "JobRemoved":
                self.jobs.job_removed(body[1], body[3])
            elif member == "UnitFilesChanged" or (member == "Reloading" and not body[0]):
                self._files_changed()
        elif msg.interface == DBUS and member == "NameOwnerChanged" and body[0] == SYSTEMD:
            if body[2]:
                if body[2] != self.owner:
                    self._owner_came(body[2])
            elif self.owner is not None:
                self._owner_went()
