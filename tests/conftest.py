"""Fixtures: `rockd`, the one rig (tests/support/rig.py) that starts rockd daemons in this
process or as real processes; `loops`, the loop devices they manage; `accounts`, the Unix
users and groups a test makes; and `udevd`.

Every loop device, mount, process, account and folder a test makes is removed when it ends,
failed or not, and every daemon manages only the test's own loop devices.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from rockd.watchers.udev import udevd_running
from tests.support.host import attach_loop, release
from tests.support.process import private_service_args
from tests.support.rig import Rig
from tests.support.samba import Accounts
from tests.support.smartctl_standin import Smartctl

__all__ = ["private_service_args"]  # bench/stream_flood.py imports it from here


@pytest.fixture
async def rockd(tmp_path, loops, monkeypatch, accounts):
    """`await rockd(devices=2, pool="single", process=False, sharing=False, **settings)`: a
    rockd of the test's own, signed in to (see tests/support/rig.py); all of it torn down
    at the end, before the loop devices are detached and the test's accounts deleted."""
    rig = Rig(tmp_path, loops, monkeypatch)
    try:
        yield rig
    finally:
        await rig.close()


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
def loops(tmp_path, request):
    """Attach sparse files as loop devices (`loops(size)`); all of them are detached at the
    end. The first one needs root and udevd (the test is skipped without root)."""
    attached: list[str] = []

    def attach(size: int = 256 << 20, name: str | None = None) -> str:
        if os.geteuid() != 0:
            pytest.skip("needs root for loop devices")
        request.getfixturevalue("udevd")
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
def accounts():
    """Unique names for the Unix users and groups a test makes (`rt-<hex>`), every one of
    them deleted at the end, failed or not."""
    made = Accounts()
    try:
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def standin(tmp_path, monkeypatch):
    """The smartctl stand-in (tests/support/smartctl_standin.py) first in PATH."""
    made = Smartctl(tmp_path)
    monkeypatch.setenv("PATH", f"{made.path}:{os.environ['PATH']}")
    return made
