"""A stand-in for systemd on a private D-Bus bus, for testing rockd's systemd backend.

`PrivateBus` runs Debian's dbus-daemon on a socket of its own (stoppable and restartable at the
same address). `FakeSystemd` owns org.freedesktop.systemd1 on it and serves the part of
systemd's API that rockd uses, behaving as systemd does:

- Manager: Subscribe/Unsubscribe (signals are only sent while somebody is subscribed; a second
  Subscribe from the same client is org.freedesktop.systemd1.AlreadySubscribed; a client that
  leaves the bus is unsubscribed), GetUnit/LoadUnit (LoadUnit of an unknown unit gives an
  object with LoadState "not-found"), Start/Stop/Restart/ReloadUnit (each returns a job path at
  once; the job then walks the unit through activating → active/running, deactivating →
  inactive/dead, reloading → active, or → failed for a unit made to fail, a short delay apart;
  the unit's PropertiesChanged goes out before the job's JobRemoved), EnableUnitFiles,
  DisableUnitFiles (→ UnitFilesChanged), Reload (→ Reloading(true), Reloading(false)) and
  GetUnitFileState, with systemd's error names (NoSuchUnit, FileNotFound, UnitInactive, ...).
- Unit (/org/freedesktop/systemd1/unit/<escaped name>): Id, LoadState, ActiveState, SubState,
  UnitFileState and the four state timestamps (µs). UnitFileState is not sent on change, as
  in systemd. Service: MainPID, Result.

Every method call it receives is recorded in `calls` as (interface, member, body), so a test
can tell what rockd asked and that it did not read properties behind the signals' back.
Runnable on its own: `python -m tests.support.fake_systemd ADDRESS [--fail UNIT]...`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from dbus_fast import DBusError, Message, MessageType, PropertyAccess
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import (
    DBusBool,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt32,
    DBusUInt64,
)
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

SYSTEMD = "org.freedesktop.systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
MANAGER_PATH = "/org/freedesktop/systemd1"
UNIT = "org.freedesktop.systemd1.Unit"
SERVICE = "org.freedesktop.systemd1.Service"

ACTIVE = ("active", "reloading")
INACTIVE = ("inactive", "failed")

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class PrivateBus:
    """dbus-daemon on a socket in a temporary folder. `address` (without the daemon's guid)
    stays valid across stop() and start(), as the system bus's does across its restart."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="rockd-dbus-"))
        self.socket = self.folder / "bus"
        self.config = self.folder / "bus.conf"
        self.config.write_text(BUS_CONFIG.format(socket=self.socket))
        self.address = f"unix:path={self.socket}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> PrivateBus:
        daemon = shutil.which("dbus-daemon")
        if daemon is None:
            raise RuntimeError("dbus-daemon is not installed (Debian package dbus-daemon)")
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        with (self.folder / "dbus-daemon.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [daemon, f"--config-file={self.config}", "--nofork", "--print-address=1"],
                stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        # it prints its address once it listens
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line.startswith(b"unix:"):
            self.stop()
            raise RuntimeError(f"dbus-daemon did not start (printed {line!r})")
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def unit_path(name: str) -> str:
    """systemd's object path of a unit: bytes outside [A-Za-z0-9] (and a leading digit) as
    _xx, as sd_bus_path_encode() does."""
    label = "".join(
        c if (c.isascii() and c.isalnum() and not (i == 0 and c.isdigit()))
        else "".join(f"_{b:02x}" for b in c.encode())
        for i, c in enumerate(name))
    return f"{MANAGER_PATH}/unit/{label or '_'}"


def now_us() -> int:
    return int(time.time() * 1_000_000)


@dataclass
class FakeUnit:
    """A unit's state: what systemd would hold for it."""

    name: str
    exists: bool = True  # a unit file is there (else LoadState "not-found")
    file_state: str = "disabled"
    fail: bool = False  # its start fails (the process exits at once)
    can_reload: bool = True
    active: str = "inactive"
    sub: str = "dead"
    main_pid: int = 0
    result: str = "success"
    stamps: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("ActiveEnterTimestamp", "ActiveExitTimestamp", "InactiveEnterTimestamp",
         "InactiveExitTimestamp"), 0))
    reloads: int = 0
    job: asyncio.Task | None = None

    @property
    def path(self) -> str:
        return unit_path(self.name)

    @property
    def load_state(self) -> str:
        return "loaded" if self.exists else "not-found"


class UnitInterface(ServiceInterface):
    def __init__(self, unit: FakeUnit):
        super().__init__(UNIT)
        self.unit = unit

    @dbus_property(access=PropertyAccess.READ)
    def Id(self) -> DBusStr:
        return self.unit.name

    @dbus_property(access=PropertyAccess.READ)
    def LoadState(self) -> DBusStr:
        return self.unit.load_state

    @dbus_property(access=PropertyAccess.READ)
    def ActiveState(self) -> DBusStr:
        return self.unit.active

    @dbus_property(access=PropertyAccess.READ)
    def SubState(self) -> DBusStr:
        return self.unit.sub

    @dbus_property(access=PropertyAccess.READ)
    def UnitFileState(self) -> DBusStr:
        return self.unit.file_state if self.unit.exists else ""

    @dbus_property(access=PropertyAccess.READ)
    def ActiveEnterTimestamp(self) -> DBusUInt64:
        return self.unit.stamps["ActiveEnterTimestamp"]

    @dbus_property(access=PropertyAccess.READ)
    def ActiveExitTimestamp(self) -> DBusUInt64:
        return self.unit.stamps["ActiveExitTimestamp"]

    @dbus_property(access=PropertyAccess.READ)
    def InactiveEnterTimestamp(self) -> DBusUInt64:
        return self.unit.stamps["InactiveEnterTimestamp"]

    @dbus_property(access=PropertyAccess.READ)
    def InactiveExitTimestamp(self) -> DBusUInt64:
        return self.unit.stamps["InactiveExitTimestamp"]


class ServiceUnitInterface(ServiceInterface):
    def __init__(self, unit: FakeUnit):
        super().__init__(SERVICE)
        self.unit = unit

    @dbus_property(access=PropertyAccess.READ)
    def MainPID(self) -> DBusUInt32:
        return self.unit.main_pid

    @dbus_property(access=PropertyAccess.READ)
    def Result(self) -> DBusStr:
        return self.unit.result


Changes = Annotated[list[tuple[str, str, str]], DBusSignature("a(sss)")]


class ManagerInterface(ServiceInterface):
    def __init__(self, fake: FakeSystemd):
        super().__init__(MANAGER)
        self.fake = fake

    # Subscribe and Unsubscribe need the caller's name: FakeSystemd._message answers them

    @dbus_method()
    def GetUnit(self, name: DBusStr) -> DBusObjectPath:
        unit = self.fake.units.get(name)
        if unit is None:
            raise DBusError("org.freedesktop.systemd1.NoSuchUnit", f"Unit {name} not loaded.")
        return unit.path

    @dbus_method()
    def LoadUnit(self, name: DBusStr) -> DBusObjectPath:
        return self.fake.load(name).path

    @dbus_method()
    def StartUnit(self, name: DBusStr, mode: DBusStr) -> DBusObjectPath:
        return self.fake.job(name, "start", mode)

    @dbus_method()
    def StopUnit(self, name: DBusStr, mode: DBusStr) -> DBusObjectPath:
        return self.fake.job(name, "stop", mode)

    @dbus_method()
    def RestartUnit(self, name: DBusStr, mode: DBusStr) -> DBusObjectPath:
        return self.fake.job(name, "restart", mode)

    @dbus_method()
    def ReloadUnit(self, name: DBusStr, mode: DBusStr) -> DBusObjectPath:
        return self.fake.job(name, "reload", mode)

    @dbus_method()
    def EnableUnitFiles(self, files: Annotated[list[str], DBusSignature("as")],
                        runtime: DBusBool, force: DBusBool
                        ) -> Annotated[tuple[bool, list], DBusSignature("ba(sss)")]:
        changes = []
        for unit in self.fake.unit_files(files):
            if unit.file_state != "enabled":
                unit.file_state = "enabled"
                changes.append(("symlink",
                                f"/etc/systemd/system/multi-user.target.wants/{unit.name}",
                                f"/lib/systemd/system/{unit.name}"))
        if changes:
            self.fake.emit(self.UnitFilesChanged)
        return True, changes

    @dbus_method()
    def DisableUnitFiles(self, files: Annotated[list[str], DBusSignature("as")],
                         runtime: DBusBool) -> Changes:
        changes = []
        for unit in self.fake.unit_files(files):
            if unit.file_state == "enabled":
                unit.file_state = "disabled"
                changes.append(("unlink",
                                f"/etc/systemd/system/multi-user.target.wants/{unit.name}", ""))
        if changes:
            self.fake.emit(self.UnitFilesChanged)
        return changes

    @dbus_method()
    async def Reload(self):
        self.fake.emit(self.Reloading, True)
        await asyncio.sleep(self.fake.delay / 2)
        self.fake.emit(self.Reloading, False)

    @dbus_method()
    def GetUnitFileState(self, file: DBusStr) -> DBusStr:
        (unit,) = self.fake.unit_files([file], message="No such file or directory")
        return unit.file_state

    @dbus_signal()
    def JobNew(self, job_id: int, job: str, unit: str
               ) -> Annotated[tuple[int, str, str], DBusSignature("uos")]:
        return job_id, job, unit

    @dbus_signal()
    def JobRemoved(self, job_id: int, job: str, unit: str, result: str
                   ) -> Annotated[tuple[int, str, str, str], DBusSignature("uoss")]:
        return job_id, job, unit, result

    @dbus_signal()
    def UnitFilesChanged(self):
        return None

    @dbus_signal()
    def Reloading(self, active: bool) -> DBusBool:
        return active


class FakeSystemd:
    """systemd's Manager and units on a bus; `units` maps unit names to FakeUnit fields
    (e.g. {"smbd.service": {}, "broken.service": {"fail": True}})."""

    def __init__(self, units: dict[str, dict[str, Any]] | None = None, delay: float = 0.05):
        self.delay = delay
        self.units: dict[str, FakeUnit] = {
            name: FakeUnit(name, **fields) for name, fields in (units or {}).items()}
        self.calls: list[tuple[str, str, list]] = []
        self.subscribers: set[str] = set()
        self.bus: MessageBus | None = None
        self.manager: ManagerInterface | None = None
        self._ifaces: dict[str, tuple[UnitInterface, ServiceUnitInterface]] = {}
        self._job_ids = itertools.count(1)
        self._pids = itertools.count(4000)
        self._subscribed = asyncio.Event()

    # -- the bus ------------------------------------------------------------------------

    async def connect(self, address: str) -> FakeSystemd:
        """Join the bus as org.freedesktop.systemd1 (again, after a disconnect)."""
        bus = await MessageBus(bus_address=address).connect()
        bus.add_message_handler(self._message)
        self.bus, self.subscribers, self._ifaces = bus, set(), {}
        self._subscribed.clear()
        self.manager = ManagerInterface(self)
        bus.export(MANAGER_PATH, self.manager)
        for unit in self.units.values():
            self._export(unit)
        reply = await bus.call(Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus", member="AddMatch", signature="s",
            body=["type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'"]))
        assert reply.message_type == MessageType.METHOD_RETURN, reply.body
        await bus.request_name(SYSTEMD)
        return self

    async def disconnect(self) -> None:
        """Leave the bus (as systemd does while it re-executes); units keep their state."""
        bus, self.bus = self.bus, None
        self.subscribers = set()
        if bus is not None:
            bus.disconnect()
            with contextlib.suppress(Exception):
                await bus.wait_for_disconnect()

    async def close(self) -> None:
        for unit in self.units.values():
            if unit.job is not None:
                unit.job.cancel()
                with contextlib.suppress(BaseException):
                    await unit.job
        await self.disconnect()

    async def wait_subscribed(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            await self._subscribed.wait()

    def _export(self, unit: FakeUnit) -> None:
        if self.bus is None or unit.name in self._ifaces:
            return
        ifaces = (UnitInterface(unit), ServiceUnitInterface(unit))
        for iface in ifaces:
            self.bus.export(unit.path, iface)
        self._ifaces[unit.name] = ifaces

    def _message(self, msg: Message) -> Message | None:
        if msg.message_type == MessageType.METHOD_CALL:
            self.calls.append((msg.interface, msg.member, list(msg.body)))
            if msg.interface == MANAGER and msg.member == "Subscribe":
                if msg.sender in self.subscribers:
                    return Message.new_error(msg, "org.freedesktop.systemd1.AlreadySubscribed",
                                             "Client is already subscribed.")
                self.subscribers.add(msg.sender)
                self._subscribed.set()
                return Message.new_method_return(msg)
            if msg.interface == MANAGER and msg.member == "Unsubscribe":
                if msg.sender not in self.subscribers:
                    return Message.new_error(msg, "org.freedesktop.systemd1.NotSubscribed",
                                             "Client is not subscribed.")
                self.subscribers.discard(msg.sender)
                return Message.new_method_return(msg)
        elif (msg.message_type == MessageType.SIGNAL and msg.member == "NameOwnerChanged"
              and msg.sender == "org.freedesktop.DBus" and not msg.body[2]):
            self.subscribers.discard(msg.body[0])  # a subscriber left the bus
        return None

    def emit(self, signal_fn, *args) -> None:
        """Send a Manager signal, if anybody subscribed (systemd sends none to the bus
        otherwise)."""
        if self.bus is not None and self.bus.connected and self.subscribers:
            signal_fn(*args)

    def _emit_unit(self, unit: FakeUnit, changed: dict[str, Any], service: dict[str, Any]):
        ifaces = self._ifaces.get(unit.name)
        if ifaces is None or self.bus is None or not self.bus.connected or not self.subscribers:
            return
        # systemd sends the type's interface first, then Unit
        if service:
            ifaces[1].emit_properties_changed(service)
        ifaces[0].emit_properties_changed(changed)

    # -- units --------------------------------------------------------------------------

    def load(self, name: str) -> FakeUnit:
        unit = self.units.get(name)
        if unit is None:
            unit = self.units[name] = FakeUnit(name, exists=False, file_state="")
            self._export(unit)
        return unit

    def unit_files(self, files: list[str], message: str | None = None) -> list[FakeUnit]:
        found = []
        for name in files:
            unit = self.units.get(name)
            if unit is None or not unit.exists:
                raise DBusError("org.freedesktop.DBus.Error.FileNotFound",
                                message or f"Unit file {name} does not exist.")
            found.append(unit)
        return found

    def set_state(self, name: str, active: str, sub: str, main_pid: int | None = None,
                  result: str | None = None) -> None:
        """Move a unit to a state, with the timestamps and signals systemd would give (also
        used by tests to act as if the service changed by itself, e.g. crashed)."""
        unit = self.units[name]
        before = unit.active
        now = now_us()
        stamps = {}
        if before in INACTIVE and active not in INACTIVE:
            stamps["InactiveExitTimestamp"] = now
        if active in ACTIVE and before not in ACTIVE:
            stamps["ActiveEnterTimestamp"] = now
        if before in ACTIVE and active not in ACTIVE:
            stamps["ActiveExitTimestamp"] = now
        if active in INACTIVE and before not in INACTIVE:
            stamps["InactiveEnterTimestamp"] = now
        unit.stamps.update(stamps)
        unit.active, unit.sub = active, sub
        service = {}
        if main_pid is not None and main_pid != unit.main_pid:
            unit.main_pid = service["MainPID"] = main_pid
        if result is not None and result != unit.result:
            unit.result = service["Result"] = result
        self._emit_unit(unit, {"ActiveState": active, "SubState": sub, **stamps}, service)

    def job(self, name: str, kind: str, mode: str) -> str:
        unit = self.units.get(name)
        if unit is None or not unit.exists:
            raise DBusError("org.freedesktop.systemd1.NoSuchUnit", f"Unit {name} not found.")
        if mode not in ("replace", "fail", "isolate", "ignore-dependencies",
                        "ignore-requirements"):
            raise DBusError("org.freedesktop.DBus.Error.InvalidArgs", f"Job mode {mode} invalid")
        if kind == "reload":
            if not unit.can_reload:
                raise DBusError("org.freedesktop.systemd1.JobTypeNotApplicable",
                                f"Job type reload is not applicable for unit {name}.")
            if unit.active not in ACTIVE:
                raise DBusError("org.freedesktop.systemd1.UnitInactive",
                                f"Unit {name} is not active, cannot reload.")
        job_id = next(self._job_ids)
        path = f"{MANAGER_PATH}/job/{job_id}"
        if unit.job is not None and not unit.job.done():
            unit.job.cancel()  # "replace": the job it had ends as canceled
        assert self.manager is not None
        self.emit(self.manager.JobNew, job_id, path, name)
        unit.job = asyncio.get_running_loop().create_task(self._run(unit, kind, job_id, path))
        return path

    async def _run(self, unit: FakeUnit, kind: str, job_id: int, path: str) -> None:
        assert self.manager is not None
        result = "canceled"
        try:
            await asyncio.sleep(0)  # the method's reply goes out first
            result = await getattr(self, f"_{kind}")(unit)
        finally:
            self.emit(self.manager.JobRemoved, job_id, path, unit.name, result)

    async def _start(self, unit: FakeUnit) -> str:
        if unit.active in ACTIVE:
            return "done"
        self.set_state(unit.name, "activating", "start")
        await asyncio.sleep(self.delay)
        if unit.fail:
            self.set_state(unit.name, "failed", "failed", main_pid=0, result="exit-code")
            return "failed"
        self.set_state(unit.name, "active", "running", main_pid=next(self._pids),
                       result="success")
        return "done"

    async def _stop(self, unit: FakeUnit) -> str:
        if unit.active in INACTIVE:
            return "done"
        self.set_state(unit.name, "deactivating", "stop-sigterm")
        await asyncio.sleep(self.delay)
        self.set_state(unit.name, "inactive", "dead", main_pid=0)
        return "done"

    async def _restart(self, unit: FakeUnit) -> str:
        if unit.active not in INACTIVE:
            self.set_state(unit.name, "deactivating", "stop-sigterm")
            await asyncio.sleep(self.delay)
            self.set_state(unit.name, "inactive", "dead", main_pid=0)
        return await self._start(unit)

    async def _reload(self, unit: FakeUnit) -> str:
        self.set_state(unit.name, "reloading", "reload")
        await asyncio.sleep(self.delay)
        unit.reloads += 1
        self.set_state(unit.name, "active", "running")
        return "done"


async def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("address", help="the bus, e.g. unix:path=/tmp/bus")
    parser.add_argument("--unit", action="append", default=[], help="a unit that exists")
    parser.add_argument("--fail", action="append", default=[], help="a unit whose start fails")
    args = parser.parse_args()
    units = {name: {} for name in args.unit} | {name: {"fail": True} for name in args.fail}
    fake = await FakeSystemd(units).connect(args.address)
    print(f"fake systemd on {args.address} as pid {os.getpid()}", flush=True)
    assert fake.bus is not None
    await fake.bus.wait_for_disconnect()


if __name__ == "__main__":
    asyncio.run(_main())
