"""For the NFS and SFTP export tests: Unix users made for one test and always removed, the SFTP
folder (which sshd wants root-owned all the way up, so not under /tmp), and a check that nothing
is left mounted below a folder."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from rockd.core import mountinfo
from tests.support.host import unmount_under


def mounts_below(root: Path) -> list[str]:
    """Mount points at or below `root`, deepest first."""
    return mountinfo.targets_under(root)


def make_user(password: str | None = None) -> str:
    """A new Unix user rt-<hex> (no home, no shell) with `password` if given."""
    name = f"rt-{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "--user-group", name], check=True)
    if password is not None:
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
    return name


def remove_user(name: str) -> None:
    assert name.startswith("rt-")
    if subprocess.run(["userdel", name], capture_output=True).returncode != 0:
        subprocess.run(["userdel", "--force", name], capture_output=True)
    subprocess.run(["groupdel", name], capture_output=True)  # if userdel left it


@contextlib.contextmanager
def users(count: int, password: str | None = None):
    """`count` new users, removed afterwards whatever happens."""
    made: list[str] = []
    try:
        for _ in range(count):
            made.append(make_user(password))
        yield made
    finally:
        for name in made:
            remove_user(name)


def make_sftp_dir() -> Path:
    """A root-owned 0755 folder under /run, as sshd demands of a chroot's every parent."""
    path = Path(tempfile.mkdtemp(prefix="rockd-test-sftp-", dir="/run"))
    os.chmod(path, 0o755)
    return path


def remove_sftp_dir(path: Path) -> None:
    """Remove it, after unmounting what is below; never while anything is still mounted there
    (a recursive delete would go into a share)."""
    unmount_under(path)
    left = mounts_below(path)
    if left:
        raise AssertionError(f"still mounted below {path}: {left}")
    shutil.rmtree(path, ignore_errors=True)


def register(monkeypatch, *kinds) -> None:
    """These export kinds in the daemons a test starts, where app.py does not register them."""
    from rockd import app as app_module

    missing = tuple(k for k in kinds if k not in app_module.EXPORT_KINDS)
    if missing:
        monkeypatch.setattr(app_module, "EXPORT_KINDS", (*app_module.EXPORT_KINDS, *missing))
