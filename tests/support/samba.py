"""For the Samba tests: a folder SMB users can reach (the rig's `sharing=True` puts a rockd
there), the test's accounts, and smbclient against rockd's own smbd (a test port on loopback).
Accounts a test makes on this machine (its /etc/passwd is the system's own) are named
`rt-<hex>` and removed at the end, failed or not."""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
from pathlib import Path

from rockd.config import Settings


def scratch() -> Path:
    """A folder others can walk through (pytest's own are 0700: an SMB user could not reach
    a share under them)."""
    base = Path(tempfile.mkdtemp(prefix="rockd-smb-", dir="/tmp"))
    os.chmod(base, 0o755)
    return base


class Accounts:
    """Unique account names for a test, every one removed at the end."""

    def __init__(self) -> None:
        self.users: list[str] = []
        self.groups: list[str] = []

    def user(self) -> str:
        name = f"rt-{secrets.token_hex(4)}"
        self.users.append(name)
        return name

    def group(self) -> str:
        name = f"rt-{secrets.token_hex(4)}"
        self.groups.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.users:
            subprocess.run(["userdel", name], capture_output=True, check=False)
            # its own group, where userdel left it (another user was in it)
            subprocess.run(["groupdel", name], capture_output=True, check=False)
        for name in self.groups:
            subprocess.run(["groupdel", name], capture_output=True, check=False)


def smbclient(settings: Settings, share: str, user: str, password: str, command: str,
              timeout: float = 30) -> subprocess.CompletedProcess:
    """smbclient against rockd's smbd on loopback; the password through the environment
    (PASSWD), never argv."""
    return subprocess.run(
        ["smbclient", f"//127.0.0.1/{share}", "-p", str(settings.smb_port), "-U", user,
         "-m", "SMB3", "-c", command],
        env={**os.environ, "PASSWD": password}, capture_output=True, text=True,
        timeout=timeout, check=False)
