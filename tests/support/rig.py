"""The one test rig: `await rockd(...)` (the fixture in tests/conftest.py) starts a rockd on the
test's own loop devices, folders and ports, in this process or as a real process, optionally
with a pool, signs in to it, and tears down everything it made at the end of the test, failed
or not. `wait_for` is the one way a test polls.

    box = await rockd(devices=1, pool="single")         # in process: box.daemon
    box = await rockd(process=True, sharing=True)       # `rockd serve`: box.proc
    status, body = await box.api.call("GET", "/api/v1/pools")
    await box.restart()                                 # the same state dir, settings and api
    box.kill()                                          # kill -9 (a process)

What the teardown undoes: every api client, every daemon and process (and any process still
naming the rig's folders, like a service child that outlived a killed rockd), every mount under
the rig's folders, every loop device backed by a file there, and the scratch folders; the `loops`
fixture then detaches the loop devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Literal

import psutil

from rockd.app import Daemon
from rockd.config import Settings
from rockd.core import mountinfo
from tests.support.client import PASSWORD, Api
from tests.support.exporting import make_sftp_dir, remove_sftp_dir
from tests.support.host import disk_ids, disk_ids_of, release, unmount_under
from tests.support.process import VENV_BIN, Process, serve_argv, settings_for
from tests.support.samba import scratch


async def wait_for(predicate: Callable[[], Any], timeout: float = 5.0,
                   interval: float = 0.02) -> Any:
    """Poll a condition (sync or async) until it is true; answer its value (tests may poll;
    rockd may not)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            name = getattr(predicate, "__qualname__", repr(predicate))
            raise AssertionError(f"condition not met in {timeout} s: {name}")
        await asyncio.sleep(interval)


# -- one rockd under test -----------------------------------------------------------------------

class Rockd:
    """One rockd of a test: in this process (`daemon`) or a real process (`proc`), with `api`
    (signed in unless asked not to), its `devices` and their `disks` ids, its `pool` if asked
    for, its `url` and `settings`. Stopped and started again, it keeps its state dir, settings
    (ports included) and api session."""

    def __init__(self, rig: Rig, name: str, settings: Settings, devices: list[str],
                 kind: str | None, args: list[str], env: dict[str, str], prefix: list[str]):
        self.rig, self.name, self.settings, self.devices = rig, name, settings, devices
        self.kind, self.args, self.env, self.prefix = kind, args, env, prefix
        self.daemon: Daemon | None = None  # in process
        self.proc: Process | None = None  # the latest process
        self.procs: list[Process] = []
        self.api = self.client()
        self.disks: list[str] = []
        self.pool: dict | None = None
        self.signed_in = False
        self._in_process_running = False

    @property
    def url(self) -> str:
        tls = self.settings.tls != "off" or self.settings.tls_cert is not None
        return f"{'https' if tls else 'http'}://{self.settings.listen}"

    @property
    def running(self) -> bool:
        if self.kind is None:
            return self._in_process_running
        return self.proc is not None and self.proc.alive

    def client(self, token: str | None = None, source: str | None = None) -> Api:
        """Another client of this rockd (not signed in), closed at the end of the test."""
        made = Api(self.url, token=token, source=source)
        self.rig.stack.push_async_callback(made.close)
        return made

    def argv(self) -> list[str]:
        listen, state = ["--listen", self.settings.listen], ["--state-dir",
                                                            str(self.settings.state_dir)]
        if self.kind == "serve":
            argv = serve_argv(self.settings, self.args)
        elif self.kind == "demo":
            argv = [str(VENV_BIN / "rockd"), "demo", *listen, *state, *self.args]
        else:
            argv = [sys.executable, "-m", "tests.support.loaded", *listen, *state, *self.args]
        return [*self.prefix, *argv]

    async def start(self, wait: bool = True) -> Rockd:
        """Start it (again) on its state; `wait=False` starts a process without waiting for
        it to serve."""
        assert not self.running, f"rockd {self.name} is running"
        if self.kind is None:
            await self._start_in_process()
        else:
            log = self.settings.state_dir.parent / f"rockd-{self.settings.port}.log"
            self.proc = Process(self.argv(), log, self.url, self.env,
                                stdin=self.kind == "loaded")
            self.procs.append(self.proc)
            if not wait:
                self.proc.launch()
                return self
            self.proc.start()
        await self._read_disks()
        return self

    async def _start_in_process(self) -> None:
        for name, value in self.env.items():
            self.rig.monkeypatch.setenv(name, value)  # the daemon takes the password away
        self.daemon = Daemon(self.settings)
        try:
            await self.daemon.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await self.daemon.stop()
            raise
        self._in_process_running = True
        await asyncio.sleep(0)  # what start-up set going takes its first step, as after a fixture

    async def _read_disks(self) -> None:
        if self.daemon is not None:
            self.disks = disk_ids(self.daemon.tree.get("/disks") or {}, self.devices)
        elif self.signed_in:
            self.disks = await disk_ids_of(self.api, self.devices)

    async def login(self) -> None:
        """Sign `api` in as the administrator."""
        await self.api.login()
        self.signed_in = True
        await self._read_disks()

    async def stop(self) -> None:
        """A clean stop (SIGTERM for a process); nothing if it is not running."""
        if self.kind is None:
            if self._in_process_running:
                self._in_process_running = False
                await self.daemon.stop()
        elif self.proc is not None:
            self.proc.stop()

    async def restart(self) -> Rockd:
        await self.stop()
        return await self.start()

    def kill(self) -> None:
        """kill -9, as a crash (a process only): what it started is left as it was."""
        assert self.proc is not None, "only a process can be killed"
        self.proc.signal(signal.SIGKILL)
        self.proc.wait()

    async def make_pool(self, profile: str | dict) -> dict:
        """A pool "tank" of all its disks: `profile` is the data profile, or more of the
        request's body."""
        body = {"name": "tank", "disks": self.disks,
                **({"data": profile} if isinstance(profile, str) else profile)}
        status, self.pool = await self.api.call("POST", "/api/v1/pools", body)
        assert status == 201, self.pool
        return self.pool

    async def close(self) -> None:
        await self.stop()
        for proc in self.procs:
            proc.stop()


# -- the rig: every rockd of one test -----------------------------------------------------------

class Rig:
    """Starts rockds for one test (`await rig(...)`) and tears all of it down in `close()`."""

    def __init__(self, base: Path, loops: Callable[..., str], monkeypatch: Any):
        self.base, self.loops, self.monkeypatch = base, loops, monkeypatch
        self.stack = AsyncExitStack()
        self.made: list[Rockd] = []

    async def __call__(self, devices: int | list[str] = 0, size: int = 512 << 20,
                       pool: str | dict | None = None,
                       process: bool | Literal["serve", "demo", "loaded"] = False, *,
                       name: str | None = None, sharing: bool = False, admin: bool = True,
                       login: bool = True, env: dict[str, str] | None = None,
                       args: list[str] | tuple[str, ...] = (), prefix: list[str] | None = None,
                       **settings: Any) -> Rockd:
        """Start a rockd and answer it (see `Rockd`).

        devices: how many fresh loop devices of `size` bytes it manages, or their paths.
        pool: a pool "tank" of all of them, of this data profile (or this request body).
        process: in this process (False), `rockd serve` (True), "demo" or "loaded".
        name: its folder under the test's (and its name, say for replication peers).
        sharing: its folders walkable by other users, SFTP's under /run as sshd wants, and
            the services run by rockd itself (for Samba and SFTP with real users).
        admin: made from ROCKD_ADMIN_PASSWORD (else a fresh box, waiting for its setup);
        login: the api signed in as it.
        env, args, prefix: the environment, further options, and a command the process runs
            under (say, a network namespace's).
        settings: any Settings field, over the rig's private defaults.
        """
        root = self._root(name, sharing)
        if sharing:
            sftp = make_sftp_dir()
            self.stack.callback(remove_sftp_dir, sftp)
            self.stack.callback(clean_under, sftp)
            settings = {"services": "rockd", "sftp_dir": sftp, **settings}
        paths = [self.loops(size) for _ in range(devices)] if isinstance(devices, int) \
            else list(devices)
        kind = None if process is False else "serve" if process is True else process
        box = Rockd(self, name or root.name, settings_for(root, paths, **settings), paths, kind,
                    list(args), {"ROCKD_ADMIN_PASSWORD": PASSWORD if admin else "",
                                 **(env or {})}, prefix or [])
        self.made.append(box)
        for folder in {box.settings.state_dir, box.settings.mount_root}:
            if not folder.is_relative_to(root):  # given: cleaned up all the same
                self.stack.callback(clean_under, folder)
        self.stack.push_async_callback(box.close)
        await box.start()
        if admin and login:
            await box.login()
        if pool is not None:
            await box.make_pool(pool)
        return box

    def _root(self, name: str | None, sharing: bool) -> Path:
        """A folder of its own, cleaned up after the rockd in it has stopped."""
        if sharing:
            root = scratch()
        else:
            root = self.base / (name or f"rockd{len(self.made) or ''}")
            assert not root.exists(), f"{root} is another rockd's"
            root.mkdir(parents=True)
        self.stack.callback(clean_under, root, remove=sharing)
        return root

    async def close(self) -> None:
        await self.stack.aclose()


def clean_under(root: Path, remove: bool = False) -> None:
    """What the processes, mounts and loop devices of a rockd left under `root`: processes
    naming it killed, mounts unmounted, loops backed by its files detached; then the folder
    removed if `remove`."""
    inside = str(root).rstrip("/") + "/"
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and inside in " ".join(proc.cmdline()):
                proc.kill()
                proc.wait(5)
    unmount_under(root)
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        with contextlib.suppress(OSError):
            if backing.read_text().strip().startswith(inside):
                release(f"/dev/{backing.parent.parent.name}")
    if remove:
        left = mountinfo.targets_under(root)
        assert left == [], f"still mounted below {root}: {left}"  # rmtree would go into them
        shutil.rmtree(root, ignore_errors=True)

