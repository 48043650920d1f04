"""`make install` (scripts/install.sh) on this box, into a prefix of the test's own: the copy
runs from its own virtualenv and serves its web UI, the units it wrote pass systemd's own
check, and what only development needs is left out. (Debian packages are skipped: the set-up
installed them; systemd is not PID 1 here, so nothing is started.)"""

from __future__ import annotations

import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from rockd.config import Settings
from tests.support.client import free_port
from tests.support.process import ROOT, Process, options

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="installing needs root")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("install")
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install.sh"), "--prefix", str(root / "opt"),
         "--bin", str(root / "bin"), "--units", str(root / "units"), "--no-packages",
         "--no-start"], capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "start it with: systemctl enable --now rockd" in done.stdout
    return root


def test_the_copy_runs_from_its_own_virtualenv(installed: Path):
    code = subprocess.run(
        [str(installed / "opt" / "venv" / "bin" / "python"), "-c",
         "import rockd; print(rockd.__file__)"], capture_output=True, text=True, check=True,
        cwd="/")
    assert Path(code.stdout.strip()).is_relative_to(installed / "opt")
    for tool in ("rockd", "rockctl"):
        assert (installed / "bin" / tool).resolve() == installed / "opt" / "venv" / "bin" / tool
    client = subprocess.run([str(installed / "bin" / "rockctl"), "--help"], capture_output=True,
                            text=True, cwd="/")
    assert client.returncode == 0 and "pools" in client.stdout, client.stderr
    for left_out in (".git", ".venv", "tests", "bench", "build"):
        assert not (installed / "opt" / left_out).exists(), left_out


def test_the_installed_rockd_serves_its_web_ui(installed: Path):
    port = free_port()
    state = installed / "state"
    argv = [str(installed / "bin" / "rockd"), "serve",
            *options({"listen": f"127.0.0.1:{port}", "state_dir": state,
                      "mount_root": state / "mnt", "devices": [],
                      "samba_dir": state / "samba", "smb_port": free_port(),
                      "nfs_exports": state / "exports.d" / "rockd.exports",
                      "sftp_port": free_port(), "services": "rockd"})]
    # a file only the copy has: served, so the web UI is the copy's, not this tree's
    (installed / "opt" / "web" / "installed.js").write_text("// the installed copy\n")
    process = Process(argv, installed / "rockd.log", f"http://127.0.0.1:{port}").start()
    try:
        with urllib.request.urlopen(f"{process.url}/", timeout=5) as answer:
            page = answer.read().decode()
        assert "/web/app.js" in page
        for path in ("/web/app.js", "/web/node_modules/lit/index.js", "/web/installed.js"):
            with urllib.request.urlopen(f"{process.url}{path}", timeout=5) as answer:
                assert answer.status == 200, path
    finally:
        process.stop()
    assert Settings().state_dir != state  # (the box's own state was never touched)


@pytest.mark.parametrize("unit", ["rockd.service", "rockd-sftp.service"])
def test_the_units_pass_systemds_check(installed: Path, unit: str):
    path = installed / "units" / unit
    text = path.read_text()
    if unit == "rockd.service":
        assert f"ExecStart={installed / 'bin' / 'rockd'} serve" in text
        assert "WatchdogSec=" in text and "Type=notify" in text
    done = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                          text=True, timeout=60)
    # an unknown or misspelt key is only a warning: any word from it is a failure here
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr
