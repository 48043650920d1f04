"""The systemd backend against a private dbus-daemon with a fake systemd on it.

What is checked is what goes over the bus: the Manager methods rockd calls (and with what), and
that the states it reports come from systemd's signals: after open, it never reads a property.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from rockd.core.errors import NotFound, Unprocessable
from rockd.services.systemd import SystemdBackend, systemd_is_pid1
from rockd.services.units import Service
from tests.support.fake_systemd import MANAGER, FakeSystemd, PrivateBus, unit_path

PROPERTIES = "org.freedesktop.DBus.Properties"
SMBD = Service("smbd", "smbd.service", "smbd", None)
NMBD = Service("nmbd", "nmbd.service", "nmbd", None)
BROKEN = Service("broken", "broken.service", "broken", None)
GHOST = Service("ghost", "ghost.service", "ghost", None)  # no such unit on this "machine"
SERVICES = [SMBD, NMBD, BROKEN, GHOST]
UNITS = {"smbd.service": {}, "nmbd.service": {"file_state": "enabled"},
         "broken.service": {"fail": True}}


class Seen:
    """The backend's `changed` callback: every state it reported, in order."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, dict[str, Any]]] = []
        self._waiters: list[tuple[str, Callable[[dict], bool], asyncio.Future]] = []

    def __call__(self, name: str, state: dict[str, Any]) -> None:
        self.changes.append((name, state))
        for waiter in list(self._waiters):
            if waiter[0] == name and waiter[1](state) and not waiter[2].done():
                waiter[2].set_result(state)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [state for n, state in self.changes if n == name]

    def actives(self, name: str, since: int = 0) -> list[str]:
        """The unit's active states reported since change number `since`, repeats merged."""
        actives: list[str] = []
        for n, state in self.changes[since:]:
            if n == name and (not actives or actives[-1] != state["active"]):
                actives.append(state["active"])
        return actives

    async def wait_for(self, name: str, test: Callable[[dict], bool],
                       timeout: float = 5.0) -> dict[str, Any]:
        """The first state reported from now on that passes `test`."""
        future = asyncio.get_running_loop().create_future()
        waiter = (name, test, future)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._waiters.remove(waiter)


@pytest.fixture
def bus():
    private = PrivateBus().start()
    try:
        yield private
    finally:
        private.close()
    assert not private.running


@pytest.fixture
async def fake(bus):
    systemd = await FakeSystemd(UNITS, delay=0.05).connect(bus.address)
    try:
        yield systemd
    finally:
        await systemd.close()


@pytest.fixture
async def backend(bus, fake):
    seen = Seen()
    systemd = SystemdBackend(bus.address, retry=(0.05, 0.5), job_timeout=10)
    await systemd.open(SERVICES, seen)
    systemd.seen = seen
    try:
        yield systemd
    finally:
        await systemd.close()


def manager_calls(fake: FakeSystemd, since: int = 0) -> list[tuple[str, list]]:
    return [(member, body) for iface, member, body in fake.calls[since:] if iface == MANAGER]


def property_reads(fake: FakeSystemd, since: int = 0) -> list:
    return [call for call in fake.calls[since:] if call[0] == PROPERTIES]


def rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_open_subscribes_and_reads_each_unit_once(backend, fake):
    calls = manager_calls(fake)
    assert ("Subscribe", []) in calls
    assert {tuple(body) for member, body in calls if member == "LoadUnit"} == {
        ("smbd.service",), ("nmbd.service",), ("broken.service",), ("ghost.service",)}
    # one GetAll of Unit and of Service per unit, and nothing else of Properties
    reads = property_reads(fake)
    assert sorted(r[1] for r in reads) == ["GetAll"] * 8
    assert backend.state(SMBD) == {"active": "inactive", "sub": "dead", "since": None,
                                   "main_pid": None, "enabled": False}
    assert backend.state(NMBD)["enabled"] is True
    assert backend.state(GHOST)["active"] == "inactive"
    assert fake.subscribers  # and so systemd sends it signals


async def test_start_stop_restart_reload_come_back_as_signals(backend, fake):
    mark, seen = len(fake.calls), backend.seen

    step = len(seen.changes)
    await backend.start(SMBD)
    state = backend.state(SMBD)  # the job's end came after the unit's signal: already there
    assert state["active"] == "active" and state["sub"] == "running"
    assert isinstance(state["main_pid"], int) and state["main_pid"] > 0
    assert rfc3339(state["since"]).tzinfo is not None
    assert seen.actives("smbd", step) == ["activating", "active"]
    assert seen.of("smbd")[-1] == state  # told before the verb returned
    first_pid = state["main_pid"]

    step = len(seen.changes)
    await backend.reload(SMBD)
    assert fake.units["smbd.service"].reloads == 1
    assert seen.actives("smbd", step) == ["reloading", "active"]
    assert backend.state(SMBD)["main_pid"] == first_pid

    step = len(seen.changes)
    await backend.restart(SMBD)
    # systemd passes through inactive at once: it may or may not be seen on its own
    restart = [a for a in seen.actives("smbd", step) if a != "inactive"]
    assert restart == ["deactivating", "activating", "active"]
    assert backend.state(SMBD)["main_pid"] not in (None, first_pid)

    step = len(seen.changes)
    await backend.stop(SMBD)
    assert seen.actives("smbd", step) == ["deactivating", "inactive"]
    assert backend.state(SMBD) | {"since": None} == {
        "active": "inactive", "sub": "dead", "since": None, "main_pid": None,
        "enabled": False}
    assert backend.state(SMBD)["since"] is not None  # when it stopped
    assert seen.of("smbd")[-1] == backend.state(SMBD)

    assert manager_calls(fake, mark) == [
        ("StartUnit", ["smbd.service", "replace"]),
        ("ReloadUnit", ["smbd.service", "replace"]),
        ("RestartUnit", ["smbd.service", "replace"]),
        ("StopUnit", ["smbd.service", "replace"]),
    ]
    assert property_reads(fake, mark) == []  # no polling: the signals said it all


async def test_a_change_made_elsewhere_is_seen_without_asking(backend, fake):
    await backend.start(SMBD)
    mark = len(fake.calls)
    fake.set_state("smbd.service", "failed", "failed", main_pid=0, result="signal")  # a crash
    state = await backend.seen.wait_for("smbd", lambda s: s["active"] == "failed")
    assert state["sub"] == "failed" and state["main_pid"] is None
    assert fake.calls[mark:] == []


async def test_enable_and_disable(backend, fake):
    mark = len(fake.calls)
    await backend.enable(SMBD)
    assert backend.state(SMBD)["enabled"] is True
    assert backend.seen.of("smbd")[-1]["enabled"] is True
    await backend.disable(SMBD)
    assert backend.state(SMBD)["enabled"] is False
    assert backend.seen.of("smbd")[-1]["enabled"] is False
    calls = [(m, b) for m, b in manager_calls(fake, mark) if m != "GetUnitFileState"]
    assert calls == [
        ("EnableUnitFiles", [["smbd.service"], False, True]),
        ("Reload", []),
        ("DisableUnitFiles", [["smbd.service"], False]),
        ("Reload", []),
    ]
    # enablement is not a signalled unit property: rockd asks the Manager after it changed
    assert {tuple(b) for m, b in manager_calls(fake, mark) if m == "GetUnitFileState"} >= {
        ("smbd.service",)}
    assert property_reads(fake, mark) == []


async def test_enablement_changed_by_hand_is_seen(backend, fake):
    """`systemctl enable` by someone else: UnitFilesChanged makes rockd read it again."""
    fake.units["nmbd.service"].file_state = "disabled"
    fake.emit(fake.manager.UnitFilesChanged)
    state = await backend.seen.wait_for("nmbd", lambda s: s["enabled"] is False)
    assert state["active"] == "inactive"


async def test_a_unit_that_fails_to_start(backend, fake):
    step = len(backend.seen.changes)
    with pytest.raises(Unprocessable) as caught:
        await backend.start(BROKEN)
    assert caught.value.code == "job_failed"
    assert caught.value.detail["result"] == "failed"
    assert backend.state(BROKEN)["active"] == "failed"
    assert backend.state(BROKEN)["sub"] == "failed"
    assert backend.seen.actives("broken", step) == ["activating", "failed"]
    # stopping a failed unit leaves it failed, as systemd does
    await backend.stop(BROKEN)
    assert backend.state(BROKEN)["active"] == "failed"


async def test_systemd_errors_become_rockd_errors(backend, fake):
    with pytest.raises(NotFound) as caught:
        await backend.start(GHOST)
    assert caught.value.message == "Unit ghost.service not found."
    assert caught.value.detail["dbus_error"] == "org.freedesktop.systemd1.NoSuchUnit"
    with pytest.raises(NotFound) as caught:
        await backend.enable(GHOST)
    assert caught.value.message == "Unit file ghost.service does not exist."
    with pytest.raises(Unprocessable) as caught:
        await backend.reload(SMBD)  # not running
    assert caught.value.message == "Unit smbd.service is not active, cannot reload."
    assert caught.value.detail["dbus_error"] == "org.freedesktop.systemd1.UnitInactive"


async def test_the_bus_going_away_and_coming_back(backend, fake, bus):
    await backend.start(SMBD)
    pid = backend.state(SMBD)["main_pid"]

    bus.stop()
    await fake.disconnect()
    with pytest.raises(Unprocessable) as caught:
        await backend.stop(SMBD)
    assert caught.value.code == "systemd_unavailable"
    assert backend.state(SMBD)["main_pid"] == pid  # the last known state stays

    # meanwhile, the service stopped; the bus and systemd come back
    fake.set_state("smbd.service", "inactive", "dead", main_pid=0)
    bus.start()
    await fake.connect(bus.address)
    state = await backend.seen.wait_for("smbd", lambda s: s["active"] == "inactive")
    assert state["main_pid"] is None
    async with asyncio.timeout(5):
        await backend.watcher.ready.wait()

    # and signals flow again
    mark = len(fake.calls)
    await backend.start(SMBD)
    assert backend.state(SMBD)["active"] == "active"
    assert property_reads(fake, mark) == []


async def test_systemd_leaving_the_bus_and_coming_back(backend, fake, bus):
    """As on `systemctl daemon-reexec`: the bus stays, systemd's name goes and comes."""
    await fake.disconnect()
    await asyncio.sleep(0.1)
    with pytest.raises(Unprocessable) as caught:
        await backend.start(SMBD)
    assert caught.value.code == "systemd_unavailable"
    await fake.connect(bus.address)
    async with asyncio.timeout(5):
        await backend.watcher.ready.wait()
    mark = len(fake.calls)
    await backend.start(SMBD)
    assert property_reads(fake, mark) == []
    assert backend.state(SMBD)["active"] == "active"


async def test_open_before_the_bus_exists(fake, bus):
    """rockd may start before the bus: it connects when the bus comes."""
    bus.stop()
    await fake.disconnect()
    seen = Seen()
    systemd = SystemdBackend(bus.address, retry=(0.05, 0.2), job_timeout=10)
    await systemd.open([SMBD, NMBD], seen)
    try:
        assert systemd.state(SMBD)["active"] == "unknown"
        bus.start()
        await fake.connect(bus.address)
        state = await seen.wait_for("nmbd", lambda s: s["active"] == "inactive")
        assert state["enabled"] is True
    finally:
        await systemd.close()


def test_unit_paths_are_systemds():
    assert unit_path("smbd.service") == "/org/freedesktop/systemd1/unit/smbd_2eservice"
    assert unit_path("nfs-server.service") == \
        "/org/freedesktop/systemd1/unit/nfs_2dserver_2eservice"
    assert unit_path("rockd-sftp.service") == \
        "/org/freedesktop/systemd1/unit/rockd_2dsftp_2eservice"


def test_systemd_is_pid1_is_a_bool():
    assert isinstance(systemd_is_pid1(), bool)
