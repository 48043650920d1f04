"""Facts about the host for /system in the tree: hostname, kernel, boot time, versions."""

from __future__ import annotations

import platform
import socket
import sys
import time
from typing import Any

import aiohttp

from rockd import __version__
from rockd.core.process import CommandError, run
from rockd.core.times import rfc3339
from rockd.core.tree import Subtree


def boot_time() -> float:
    with open("/proc/uptime") as f:
        return time.time() - float(f.read().split()[0])


async def btrfs_progs_version() -> str | None:
    try:
        out = (await run(["btrfs", "--version"], timeout=10)).stdout
    except CommandError:
        return None
    return out.split()[1].lstrip("v") if len(out.split()) > 1 else None


async def probe() -> dict[str, Any]:
    """Hostname, kernel and versions; uptime is derived from boot_time, which never changes."""
    return {
        "hostname": socket.gethostname(),
        "kernel": platform.release(),
        "boot_time": rfc3339(boot_time()),
        "started": rfc3339(time.time()),
        "versions": {
            "rockd": __version__,
            "python": sys.version.split()[0],
            "aiohttp": aiohttp.__version__,
            "btrfs_progs": await btrfs_progs_version(),
        },
    }


def publish(system: Subtree, facts: dict[str, Any]) -> None:
    """Set the facts under /system, and remove what an earlier rockd put there that is no fact
    now (the metrics below /system have an owner of their own, and are left to it)."""
    with system.transaction():
        for key in set(system.get("/system") or {}) - set(facts):
            if system.tree.owner_of(("system", key)) == system.owner:
                system.delete(("system", key))
        for key, value in facts.items():
            system.set(("system", key), value)


def publish_hostname(system: Subtree, hostname: str) -> None:
    """The hostname changed (set through rockd, or seen changed): /system/hostname says so."""
    if system.get("/system/hostname") != hostname:
        system.set(("system", "hostname"), hostname)
