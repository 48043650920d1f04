"""What a killed rockd leaves of the services it ran itself, and how the next one deals with it.

Real `rockd serve` processes with their own smbd and SFTP sshd (private ports and folders), killed
with SIGKILL: a service child ends with rockd (PR_SET_PDEATHSIG), and what survives anyway (here a
child stopped with SIGSTOP, which acts on no signal but SIGKILL) is found through its pid file and
ended by the next rockd before it starts that service again, so that exactly one smbd serves the
port, with the new configuration. In-process: a leftover whose leader is gone is still found by
its session, and a pid file that names another process never gets that process killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from rockd.services import pidfiles, supervise
from rockd.services.supervise import SuperviseBackend
from rockd.services.units import Services
from tests.integration.test_services import alive, catalogue
from tests.support.client import Api
from tests.support.rig import Rockd, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

SFTP_OK = all(Path(p).exists() for p in ("/usr/sbin/sshd", "/usr/bin/sftp"))


# -- helpers: the processes of a session, the port's listeners ---------------------------------

def session_of(leader: int) -> set[int]:
    """The live processes of the session `leader` made (start_new_session)."""
    found = set()
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if proc.status() != psutil.STATUS_ZOMBIE and os.getsid(proc.pid) == leader:
                found.add(proc.pid)
    return found


def listeners(port: int) -> set[int]:
    """The sessions of the processes listening on TCP `port`."""
    pids = {c.pid for c in psutil.net_connections("tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid}
    return {os.getsid(pid) for pid in pids}


def naming(*needles: str) -> list[int]:
    """Processes whose command line names one of `needles` (a test's own config files)."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            line = " ".join(proc.cmdline())
            if any(n in line for n in needles):
                found.append(proc.pid)
    return found


def stopped(pid: int) -> bool:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).status() in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE)
    return True


async def freeze(pids) -> None:
    """SIGSTOP: a process that acts on no signal rockd's death sends it (like a hung one).
    Waited for: a SIGTERM pending beside the SIGSTOP would be taken first."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    await wait_for(lambda: all(stopped(pid) for pid in pids))


async def gone(pids, timeout: float = 10.0) -> None:
    await wait_for(lambda: not any(alive(p) for p in pids), timeout)


async def sharing(rockd) -> Rockd:
    """`rockd serve` with its own smbd and SFTP sshd (private ports and folders that SMB users
    reach), a pool "tank"; started again on the same state (the rig kills what is left of
    the test's smbd and sshd at the end)."""
    return await rockd(devices=1, pool="single", process=True, sharing=True)


def smb_conf(box: Rockd) -> str:
    """Named in smbd's command line, and not in rockd's."""
    return str(box.settings.samba_dir / "smb.conf")


async def services(api: Api) -> dict[str, dict]:
    status, listed = await api.call("GET", "/api/v1/services")
    assert status == 200, listed
    return {s["name"]: s for s in listed}


async def running(api: Api, *names: str) -> dict[str, int]:
    """Their main pids, once each is active."""
    async def all_active():
        now = await services(api)
        return all(now[n]["active"] == "active" for n in names) and now
    now = await wait_for(all_active, timeout=15)
    return {n: now[n]["main_pid"] for n in names}


async def smb_list(box: Rockd, user: str, password: str) -> str:
    """smbclient -L as `user`, retried while smbd is still coming up."""
    deadline = time.monotonic() + 15
    while True:
        result = await asyncio.to_thread(
            subprocess.run, ["smbclient", "-L", "//127.0.0.1", "-p", str(box.settings.smb_port),
                             "-U", user, "-m", "SMB3"],
            env={**os.environ, "PASSWD": password}, capture_output=True, text=True,
            timeout=30, check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            return result.stdout + result.stderr
        await asyncio.sleep(0.2)


async def export_a_share(api: Api, pool: str, name: str, user: str, sftp: bool) -> None:
    status, share = await api.call("POST", "/api/v1/shares", {"pool": pool, "name": name})
    assert status == 201, share
    status, export = await api.call("POST", "/api/v1/exports/smb", {
        "share": share["id"], "valid_users": [user]})
    assert status == 201, export
    if sftp:
        status, export = await api.call("POST", "/api/v1/exports/sftp", {
            "share": share["id"], "users": [user]})
        assert status == 201, export


# -- real rockd processes, killed -------------------------------------------------------------

async def test_after_kill9_the_next_rockd_ends_the_old_smbd_and_serves_the_new_config(
        rockd, accounts):
    box = await sharing(rockd)
    api, tank = box.api, box.pool
    user, password = accounts.user(), f"pw-{secrets.token_hex(6)}"
    status, made = await api.call("POST", "/api/v1/users", {"name": user, "password": password})
    assert status == 201, made
    await export_a_share(api, tank["id"], "docs", user, SFTP_OK)
    names = ("smbd", "sftp") if SFTP_OK else ("smbd",)
    for name in names:
        status, state = await api.call("POST", f"/api/v1/services/{name}/enable")
        assert status == 200 and state["enabled"], state
    old = await running(api, *names)
    old_sessions = {n: session_of(pid) for n, pid in old.items()}
    assert len(old_sessions["smbd"]) >= 2, old_sessions  # smbd and the children it forked
    for pids in old_sessions.values():
        await freeze(pids)

    box.kill()
    await asyncio.sleep(0.5)
    left = set().union(*old_sessions.values())
    assert all(alive(pid) for pid in left)  # what rockd's death does not end: still there

    await box.start()
    new = await running(api, *names)
    for name in names:
        assert re.search(rf"ended {name} left running by a previous rockd",
                         box.proc.own_output())
    assert all(not alive(pid) for pid in left)
    assert new["smbd"] not in left
    assert listeners(box.settings.smb_port) == {new["smbd"]}  # exactly one smbd serves it
    if SFTP_OK:
        assert listeners(box.settings.sftp_port) == {new["sftp"]}
    assert "docs" in await smb_list(box, user, password)
    await export_a_share(api, tank["id"], "later", user, False)  # answered 201, not 422
    assert "later" in await smb_list(box, user, password)  # the new configuration is served


async def test_a_service_ends_with_a_killed_rockd_even_when_killed_twice_while_starting(rockd):
    box = await sharing(rockd)
    api = box.api
    status, state = await api.call("POST", "/api/v1/services/smbd/enable")
    assert status == 200, state
    status, state = await api.call("POST", "/api/v1/services/smbd/start")
    assert status == 200 and state["active"] == "active", state
    old = session_of(state["main_pid"])
    box.kill()
    await gone(old, 5)  # PR_SET_PDEATHSIG: smbd ends (with what it forked) when rockd dies

    # killed while it starts smbd again: what it started is frozen first, so that only its pid
    # file can tell the next rockd about it
    await box.start(wait=False)
    second = box.proc
    started = re.compile(r"started smbd \(pid (\d+)\)")
    await wait_for(lambda: started.search(second.own_output()), timeout=30)
    pid = int(started.search(second.own_output()).group(1))
    frozen = session_of(pid)
    await freeze(frozen)
    box.kill()
    assert alive(pid)

    await box.start()
    now = (await running(api, "smbd"))["smbd"]
    assert all(not alive(p) for p in frozen | old)
    assert listeners(box.settings.smb_port) == {now}
    assert naming(smb_conf(box)) and all(os.getsid(p) == now for p in naming(smb_conf(box)))
    await box.stop()
    assert not naming(smb_conf(box))  # a clean stop leaves nothing, pid file included
    assert not (box.settings.state_dir / "services" / "smbd.pid").exists()


async def test_rockd_killed_at_any_moment_of_its_start_leaves_no_second_smbd(rockd):
    box = await sharing(rockd)
    status, state = await box.api.call("POST", "/api/v1/services/smbd/enable")
    assert status == 200, state
    box.kill()
    launched = time.monotonic()
    await box.start(wait=False)
    probe = box.proc
    await wait_for(lambda: "started smbd" in probe.own_output(), timeout=30)
    span = time.monotonic() - launched + 0.3
    box.kill()
    chance = random.Random(6)
    for delay in sorted(chance.uniform(0, span) for _ in range(6)):
        await box.start(wait=False)
        await asyncio.sleep(delay)
        box.kill()

    await box.start()
    now = (await running(box.api, "smbd"))["smbd"]
    assert listeners(box.settings.smb_port) == {now}
    assert {os.getsid(p) for p in naming(smb_conf(box))} == {now}


# -- in process: the pid file on its own ------------------------------------------------------

def abandon(backend: SuperviseBackend) -> None:
    """As if rockd were killed (without the death signal, which a forking daemon escapes): its
    children are left running, and nothing waits on them any more."""
    for child in backend.children.values():
        if child.task is not None:
            child.task.cancel()


@pytest.fixture
async def units(rockd, tmp_path):
    """`await units(daemon)`: the test catalogue run by rockd itself on the daemon's tree and
    store; each abandoned (its children left running) and closed at the end."""
    made: list[Services] = []

    async def make(daemon) -> Services:
        made.append(Services(daemon.tree.own("/services", "services"),
                             SuperviseBackend(daemon.settings, daemon.store),
                             catalogue(tmp_path)))
        await made[-1].open()
        return made[-1]

    yield make
    for one in made:
        abandon(one.backend)
        await one.close()


async def grandchild_of(tmp_path: Path) -> int:
    await wait_for(lambda: (tmp_path / "marks.child").exists())
    await wait_for(lambda: (tmp_path / "marks.child").read_text().isdigit())
    return int((tmp_path / "marks.child").read_text())


async def test_a_leftover_is_ended_even_once_its_leader_is_gone(rockd, units, tmp_path,
                                                               caplog, monkeypatch):
    monkeypatch.setattr(supervise, "STOP_TIMEOUT", 1.0)
    daemon = (await rockd(login=False)).daemon
    first = await units(daemon)
    leader = (await first.start("worker"))["main_pid"]
    forked = await grandchild_of(tmp_path)
    abandon(first.backend)
    os.kill(leader, signal.SIGKILL)  # the daemon is gone; what it forked is not
    await wait_for(lambda: not alive(leader))
    os.kill(forked, signal.SIGSTOP)  # and it acts on nothing but SIGKILL
    assert alive(forked) and os.getsid(forked) == leader

    await units(daemon)  # the next run: before it starts anything, the session is ended
    assert not alive(forked)
    assert "ended worker" in caplog.text
    assert not (daemon.settings.state_dir / "services" / "worker.pid").exists()


async def test_a_pid_file_naming_another_process_never_ends_it(rockd, units):
    daemon = (await rockd(login=False)).daemon
    folder = daemon.settings.state_dir / "services"
    folder.mkdir(parents=True, exist_ok=True)
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        mine = pidfiles.identify(sleeper.pid, sys.executable)
        assert mine is not None
        # the pid of a worker that ended, given since to `sleep`; a record of another boot; junk
        pidfiles.write(folder / "worker.pid", mine._replace(start=mine.start - 1))
        pidfiles.write(folder / "broken.pid", mine._replace(boot="another boot"))
        (folder / "kernel.pid").write_text("not a pid file\n")
        await units(daemon)
        assert alive(sleeper.pid)
        assert not any((folder / f"{name}.pid").exists()
                       for name in ("worker", "broken", "kernel"))
    finally:
        sleeper.kill()
        sleeper.wait()
