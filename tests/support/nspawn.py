"""A Debian 12 root for systemd-nspawn, to run rockd under a real systemd as PID 1: made by
debootstrap once and kept in /var/cache/rockd-tests (a cache: deleting it costs only the next
run's download), copied for each test, and booted with systemd-nspawn on the host's network.

The host's pip configuration, wheel folders and CA bundle are lent read-only to commands run
in the root, so pip there installs as it does here (this machine's package index is behind a
proxy with its own certificate)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

CACHE = Path("/var/cache/rockd-tests")
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "python3-venv", "btrfs-progs",
            "ca-certificates")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LENT = (Path("/etc/pip.conf"), Path("/etc/xdg/pip"), Path("/opt/wheels"), Path("/opt/pypi"),
        Path("/opt/pypi-more"))
NSPAWN = ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit"]


def cached_root() -> Path:
    """The pristine root (made by debootstrap on first use)."""
    key = hashlib.sha256(" ".join((SUITE, *PACKAGES)).encode()).hexdigest()[:12]
    root = CACHE / f"{SUITE}-{key}"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}",
                        SUITE, str(root), MIRROR], check=True, capture_output=True,
                       timeout=900)
        (root / ".complete").touch()
    return root


def copy_root(target: Path) -> Path:
    """A copy of the pristine root at `target`, for one test to change and boot."""
    subprocess.run(["cp", "-a", str(cached_root()), str(target)], check=True)
    return target


def lent() -> list[str]:
    """nspawn options lending the host's pip set-up and CA bundle to the root."""
    options = [f"--bind-ro={CA_BUNDLE}:/etc/ssl/certs/host-ca.crt",
               "--setenv=PIP_CERT=/etc/ssl/certs/host-ca.crt"]
    options += [f"--bind-ro={path}" for path in LENT if path.exists()]
    if os.environ.get("PIP_FIND_LINKS"):
        options.append(f"--setenv=PIP_FIND_LINKS={os.environ['PIP_FIND_LINKS']}")
    return options


def run_in(root: Path, argv: list[str], *, binds: tuple[str, ...] = (),
           timeout: float = 600) -> subprocess.CompletedProcess:
    """`argv` run in `root` (no boot: the command is the container's first process)."""
    return subprocess.run([*NSPAWN, "-D", str(root), *lent(), *binds, *argv],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def boot(root: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Boot `root` with systemd as PID 1 until it powers itself off."""
    return subprocess.run([*NSPAWN, "-D", str(root), "-b", "--console=passive"],
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
