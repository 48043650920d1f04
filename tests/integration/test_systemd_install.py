"""rockd installed by `make install` (scripts/install.sh) on a Debian 12 root and run by a
real systemd as PID 1 (systemd-nspawn -b): the unit starts it as Type=notify, it answers, its
log is in the journal, and when its event loop stops (SIGSTOP) systemd's watchdog restarts it.

The root shares the host's network: rockd there listens on a free port of 127.0.0.1, with no
device to manage. A check unit inside runs after rockd, writes what it saw, and powers off."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support import nspawn
from tests.support.client import PASSWORD, free_port
from tests.support.process import ROOT

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for systemd-nspawn"),
    pytest.mark.skipif(not (shutil.which("systemd-nspawn") and shutil.which("debootstrap")),
                       reason="needs systemd-container and debootstrap (make setup)"),
]

CHECK = """#!/bin/sh
exec > /root/seen 2>&1
up() { for i in $(seq 120); do systemctl is-active -q rockd && return 0; sleep 0.5; done; }
up
echo "active=$(systemctl is-active rockd) pid1=$(cat /proc/1/comm)"
python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}/api/v1/health').read().decode())"
systemctl show rockd -p Type -p WatchdogUSec -p NRestarts -p MainPID
pid=$(systemctl show rockd -p MainPID --value)
kill -STOP "$pid"
restarts() { systemctl show rockd -p NRestarts --value; }
for i in $(seq 60); do [ "$(restarts)" != 0 ] && break; sleep 0.5; done
up
echo "after: active=$(systemctl is-active rockd)"
systemctl show rockd -p NRestarts -p MainPID -p Result
journalctl -u rockd -o cat --no-pager
systemctl poweroff
"""

CHECK_UNIT = """[Unit]
Description=the test's check of rockd
Wants=rockd.service
After=rockd.service
[Service]
Type=oneshot
ExecStart=/root/check.sh
"""

# the installed unit as it is, with the test's port and a watchdog short enough to wait for
DROP_IN = """[Service]
Environment=ROCKD_ADMIN_PASSWORD={password}
ExecStart=
ExecStart=/usr/local/bin/rockd serve --listen 127.0.0.1:{port} --devices /dev/rockd-none
WatchdogSec=4
"""


def _enable(root: Path, unit: str) -> None:
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")


def test_installed_rockd_runs_under_systemd_and_its_watchdog_restarts_a_stuck_loop(tmp_path):
    root = nspawn.copy_root(tmp_path / "debian")
    try:
        installed = nspawn.run_in(
            root, ["bash", "/src/scripts/install.sh", "--no-packages", "--no-start",
                   "--copy-web-libraries"], binds=(f"--bind-ro={ROOT}:/src",))
        assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
        units = root / "etc/systemd/system"
        assert (units / "rockd.service").exists()
        assert os.readlink(root / "usr/local/bin/rockd") == "/opt/rockd/venv/bin/rockd"

        port = free_port()
        (units / "rockd.service.d").mkdir()
        (units / "rockd.service.d" / "test.conf").write_text(
            DROP_IN.format(port=port, password=PASSWORD))
        (root / "root/check.sh").write_text(CHECK.replace("{port}", str(port)))
        (root / "root/check.sh").chmod(0o755)
        (units / "check.service").write_text(CHECK_UNIT)
        _enable(root, "rockd.service")
        _enable(root, "check.service")

        booted = nspawn.boot(root)
        seen = (root / "root/seen").read_text()
        assert booted.returncode == 0, booted.stdout[-3000:] + seen
    finally:
        shutil.rmtree(tmp_path / "debian", ignore_errors=True)

    assert "active=active pid1=systemd" in seen, seen
    assert '"status":"ok"' in seen, seen
    assert "Type=notify" in seen and "WatchdogUSec=4s" in seen, seen
    assert "rockd.service: Watchdog timeout" in seen or "watchdog" in seen, seen
    after = seen.split("after:", 1)[1]
    assert "active=active" in after and "NRestarts=1" in after, seen
    assert seen.count("rockd serving on") == 2, seen  # in the journal: first start, restart
    # the journal stamps each line: rockd's own lines there carry no second time
    logged = [line for line in seen.splitlines() if "rockd.app:" in line]
    assert logged and all(line.startswith("INFO rockd.app:") for line in logged), logged
    assert "feeding systemd's watchdog every 2.0 s" in seen, seen
