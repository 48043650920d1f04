"""Services rockd runs itself (no systemd as PID 1 here): real child processes started,
watched, restarted with backoff after a crash, reloaded, stopped with their own children,
and enabled across a restart; and the /api/v1/services endpoints."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from rockd.core.errors import Unprocessable
from rockd.services.supervise import SuperviseBackend
from rockd.services.units import CATALOGUE, Service, Services
from tests.support.fake_systemd import FakeSystemd, PrivateBus
from tests.support.rig import wait_for

# a real little daemon: it forks a child of its own, and notes each SIGHUP in a file
DAEMON = textwrap.dedent("""
    import os, signal, sys, time
    marks = sys.argv[1]
    def reload(*_):
        with open(marks, "a") as f:
            f.write("reload\\n")
    signal.signal(signal.SIGHUP, reload)
    child = os.fork()
    if child == 0:
        with open(marks + ".child", "w") as f:
            f.write(str(os.getpid()))
        while True:
            time.sleep(1)
    while True:
        time.sleep(1)
""")


def catalogue(tmp_path: Path) -> tuple[Service, ...]:
    script = tmp_path / "daemon.py"
    script.write_text(DAEMON)
    return (
        Service("worker", "worker.service", sys.executable,
                lambda settings: [str(script), str(tmp_path / "marks")]),
        Service("broken", "broken.service", sys.executable,
                lambda settings: ["-c", "import sys; print('no config here'); sys.exit(3)"]),
        Service("kernel", "kernel.service", sys.executable, None),
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.fixture
async def services(rockd, tmp_path):
    """`await services(daemon)`: the catalogue above run by rockd itself, on the daemon's
    tree and store (as after a restart, when made again); each closed at the end, before the
    daemon stops."""
    made = []

    async def make(daemon) -> Services:
        backend = SuperviseBackend(daemon.settings, daemon.store)
        made.append(Services(daemon.tree.own("/services", "services"), backend,
                             catalogue(tmp_path)))
        await made[-1].open()
        return made[-1]

    yield make
    for one in made:
        await one.close()


async def test_a_child_is_started_restarted_after_a_crash_reloaded_and_stopped(
        rockd, services, tmp_path):
    daemon = (await rockd(login=False)).daemon
    units = await services(daemon)
    assert daemon.tree.get("/services/worker")["active"] == "inactive"
    state = await units.start("worker")
    assert (state["active"], state["sub"]) == ("active", "running")
    first = state["main_pid"]
    assert alive(first)

    await units.reload("worker")
    await wait_for(lambda: (tmp_path / "marks").exists())
    assert (tmp_path / "marks").read_text() == "reload\n"

    await wait_for(lambda: (tmp_path / "marks.child").exists())
    first_child = int((tmp_path / "marks.child").read_text())
    (tmp_path / "marks.child").unlink()
    os.kill(first, signal.SIGKILL)  # a crash: it is started again, with a new pid
    await wait_for(lambda: daemon.tree.get("/services/worker/sub") == "auto-restart", 2)
    await wait_for(lambda: daemon.tree.get("/services/worker/active") == "active")
    second = daemon.tree.get("/services/worker/main_pid")
    assert second != first and alive(second)
    assert not alive(first_child)  # what the crashed one left behind was ended

    await wait_for(lambda: (tmp_path / "marks.child").exists())
    grandchild = int((tmp_path / "marks.child").read_text())
    state = await units.stop("worker")
    assert (state["active"], state["sub"], state["main_pid"]) == ("inactive", "dead", None)
    assert not alive(second)
    await wait_for(lambda: not alive(grandchild))  # its own children go with it


async def test_a_service_that_dies_at_start_fails_with_its_last_words(rockd, services):
    daemon = (await rockd(login=False)).daemon
    units = await services(daemon)
    with pytest.raises(Unprocessable) as caught:
        await units.start("broken")
    assert "exited 3" in str(caught.value) and "no config here" in str(caught.value)
    assert daemon.tree.get("/services/broken")["active"] == "failed"
    with pytest.raises(Unprocessable):
        await units.start("kernel")  # rockd cannot run the kernel's NFS server itself


async def test_an_enabled_service_starts_with_rockd_again(rockd, services):
    daemon = (await rockd(login=False)).daemon
    units = await services(daemon)
    state = await units.enable("worker")
    assert state["enabled"] is True and state["active"] == "inactive"
    await units.close()
    again = await services(daemon)  # as after a restart: the intent was kept in SQLite
    assert daemon.tree.get("/services/worker/enabled") is True
    await again.start_enabled()
    assert daemon.tree.get("/services/worker/active") == "active"
    await again.disable("worker")
    assert daemon.tree.get("/services/worker/enabled") is False


async def test_the_services_endpoints(rockd):
    api = (await rockd()).api
    status, listed = await api.call("GET", "/api/v1/services")
    assert status == 200
    assert {s["name"] for s in listed} == {"smbd", "nmbd", "nfs-server", "sftp", "docker"}
    assert all(s["backend"] == "rockd" and "available" in s for s in listed)
    status, answer = await api.call("POST", "/api/v1/services/nfs-server/start")
    assert (status, answer["error"]["code"]) == (422, "unavailable")
    status, answer = await api.call("POST", "/api/v1/services/telnetd/start")
    assert status == 404
    status, answer = await api.call("GET", "/api/v1/services/sftp")
    assert status == 200 and answer["unit"] == "rockd-sftp.service"


async def test_the_api_drives_systemd_where_it_runs_the_services(rockd, monkeypatch):
    """With systemd (here a stand-in on a private bus), the same endpoints act through it."""
    bus = PrivateBus().start()
    fake = None
    try:
        fake = await FakeSystemd({s.unit: {} for s in CATALOGUE}, delay=0.05).connect(
            bus.address)
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
        box = await rockd(services="systemd")
        try:
            api = box.api
            _, listed = await api.call("GET", "/api/v1/services")
            assert {s["backend"] for s in listed} == {"systemd"}
            status, state = await api.call("POST", "/api/v1/services/nfs-server/start")
            assert (status, state["active"], state["sub"]) == (200, "active", "running"), state
            assert ("StartUnit", ["nfs-server.service", "replace"]) in [
                (member, body) for _, member, body in fake.calls]
            status, state = await api.call("POST", "/api/v1/services/nfs-server/enable")
            assert state["enabled"] is True
            status, state = await api.call("POST", "/api/v1/services/nfs-server/stop")
            assert state["active"] == "inactive"
        finally:
            await box.stop()  # before its systemd goes
    finally:
        if fake is not None:
            await fake.close()
        bus.close()
