"""Fixtures: rockd daemons (in this process or as real processes) and loop devices.

Every loop device and state directory a test makes is removed when it ends, failed or not, and
every daemon is started with --devices naming only the test's own loops.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from rockd.app import Daemon
from rockd.config import Settings
from rockd.watchers.udev import udevd_running
from tests.support.client import PASSWORD, Api, free_port
from tests.support.host import attach_loop, disk_ids, release, unmount_under
from tests.support.samba import Accounts

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def private_services(root: Path) -> dict:
    """Settings that keep a test's Samba, NFS and SFTP configuration and ports its own: never
    /etc/samba, /etc/exports.d or a standard port."""
    return {"samba_dir": root / "samba", "smb_port": free_port(),
            "nfs_exports": root / "exports.d" / "rockd.exports", "sftp_port": free_port()}


def private_service_args(root: Path) -> list[str]:
    """The same as `rockd serve` options."""
    return [arg for name, value in private_services(root).items()
            for arg in (f"--{name.replace('_', '-')}", str(value))]


@pytest.fixture
async def daemon(tmp_path, monkeypatch):
    """A rockd daemon in this process (for tests that also drive its tree directly)."""
    monkeypatch.setenv("ROCKD_ADMIN_PASSWORD", PASSWORD)
    settings = Settings(listen=f"127.0.0.1:{free_port()}", state_dir=tmp_path / "state",
                        mount_root=tmp_path / "mnt", **private_services(tmp_path))
    d = Daemon(settings)
    await d.start()
    d.url = f"http://{settings.listen}"
    try:
        yield d
    finally:
        await d.stop()


@pytest.fixture
async def api(daemon):
    """A logged-in session against the in-process daemon."""
    client = Api(daemon.url)
    await client.login()
    try:
        yield client
    finally:
        await client.close()


class Process:
    """A rockd process: `rockd serve` (or a loaded daemon), with its output kept in a file."""

    def __init__(self, argv: list[str], state_dir: Path, port: int, env: dict | None = None,
                 stdin: bool = False):
        self.argv, self.state_dir, self.port = argv, state_dir, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = state_dir.parent / f"rockd-{port}.log"
        self.env = {**os.environ, "ROCKD_ADMIN_PASSWORD": PASSWORD, **(env or {})}
        self.stdin = stdin
        self.proc: subprocess.Popen | None = None
        self.log_start = 0  # where this process's output begins (a restart appends)

    def start(self) -> Process:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=subprocess.PIPE if self.stdin else log, stderr=log,
                stdin=subprocess.PIPE if self.stdin else subprocess.DEVNULL, env=self.env,
                cwd=ROOT)
        if self.stdin:
            assert self.readline() == "ready", self.output()
        else:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 20.0) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"rockd exited {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/api/v1/health", timeout=1) as r:
                    # serving starts before start-up's reconciling ends: wait for both
                    if r.status == 200 and "rockd serving on" in self.own_output():
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"rockd did not become healthy:\n{self.output()}")

    def command(self, line: str) -> str:
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self.readline() if line.split()[0] in ("burst", "rev", "rss") else ""

    def readline(self) -> str:
        return self.proc.stdout.readline().decode().strip()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def own_output(self) -> str:
        """The output of this process alone (an earlier one on the port wrote before it)."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as f:
            f.seek(self.log_start)
            return f.read().decode(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def processes():
    """Start rockd processes; every one still running is stopped at the end."""
    started: list[Process] = []

    def start(kind: str = "serve", state_dir: Path | None = None, port: int | None = None,
              extra: list[str] | None = None, env: dict | None = None) -> Process:
        port = port or free_port()
        assert state_dir is not None
        if kind == "serve":
            argv = [str(VENV_BIN / "rockd"), "serve", "--listen", f"127.0.0.1:{port}",
                    "--state-dir", str(state_dir), "--mount-root", str(state_dir / "mnt"),
                    *private_service_args(state_dir)]
            proc = Process(argv + (extra or []), state_dir, port, env)
        elif kind == "demo":
            argv = [str(VENV_BIN / "rockd"), "demo", "--listen", f"127.0.0.1:{port}",
                    "--state-dir", str(state_dir)]
            proc = Process(argv + (extra or []), state_dir, port, env)
        else:
            argv = [sys.executable, "-m", "tests.support.loaded", "--listen",
                    f"127.0.0.1:{port}", "--state-dir", str(state_dir)]
            proc = Process(argv + (extra or []), state_dir, port, env, stdin=True)
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def udevd():
    """udevd, as on any real box: started for the session where it is not running."""
    if os.geteuid() != 0:
        pytest.skip("needs root for udevd")
    started = None
    if not udevd_running():
        started = subprocess.Popen(["/lib/systemd/systemd-udevd"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not udevd_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        subprocess.run(["udevadm", "trigger", "--subsystem-match=block"], check=True)
        subprocess.run(["udevadm", "settle", "--timeout=10"], check=False)
    yield
    if started is not None:
        started.terminate()
        started.wait(10)


@pytest.fixture
async def managing(processes):
    """Start `rockd serve` managing these devices and log in: `await managing(state, devices)`
    answers (process, api); every api it made is closed at the end."""
    clients: list[Api] = []

    async def start(state: Path, devices: list[str], extra: list[str] | None = None,
                    env: dict | None = None) -> tuple[Process, Api]:
        proc = processes("serve", state_dir=state,
                         extra=["--devices", ",".join(devices), *(extra or [])], env=env)
        client = Api(proc.url)
        await client.login()
        clients.append(client)
        return proc, client

    try:
        yield start
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
def loops(tmp_path, udevd):
    """Attach sparse files as loop devices; all of them are detached at the end."""
    if os.geteuid() != 0:
        pytest.skip("needs root for loop devices")
    attached: list[str] = []

    def attach(size: int = 256 << 20, name: str | None = None) -> str:
        device = attach_loop(tmp_path / (name or f"disk{len(attached)}.img"), size)
        attached.append(device)
        return device

    def detach(device: str) -> None:
        """Detach one of ours now (it is then no longer ours to touch)."""
        release(device)
        attached.remove(device)

    attach.detach = detach
    yield attach
    for device in attached:
        release(device)


@pytest.fixture
async def storage(tmp_path, loops, monkeypatch):
    """An in-process rockd that manages `count` fresh loop devices of its own.

    Call `await storage(count, size)`; everything it mounts is unmounted at the end, before
    the loop devices are detached.
    """
    made: list[Daemon] = []
    clients: list[Api] = []
    monkeypatch.setenv("ROCKD_ADMIN_PASSWORD", PASSWORD)

    async def start(count: int = 2, size: int = 512 << 20):
        devices = [loops(size) for _ in range(count)]
        settings = Settings(listen=f"127.0.0.1:{free_port()}", state_dir=tmp_path / "state",
                            mount_root=tmp_path / "mnt", devices=devices,
                            **private_services(tmp_path))
        d = Daemon(settings)
        await d.start()
        d.url = f"http://{settings.listen}"
        made.append(d)
        client = Api(d.url)
        await client.login()
        clients.append(client)
        return d, client, devices

    try:
        yield start
    finally:
        for client in clients:
            await client.close()
        for d in made:
            await d.stop()
        unmount_under(tmp_path)


@pytest.fixture
async def pool(storage):
    """An in-process rockd with one single-disk pool, "tank": (daemon, api, pool)."""
    daemon, api, devices = await storage(1, 512 << 20)
    status, tank = await api.call("POST", "/api/v1/pools", {
        "name": "tank", "disks": disk_ids(daemon, devices), "data": "single"})
    assert status == 201, tank
    return daemon, api, tank


@pytest.fixture
def accounts():
    """Unique names for the Unix users and groups a test makes (`rt-<hex>`), every one of
    them deleted at the end, failed or not."""
    made = Accounts()
    try:
        yield made
    finally:
        made.cleanup()


async def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02):
    """Poll a test condition (tests may poll; rockd may not)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


__all__ = ["aiohttp", "wait_for"]
