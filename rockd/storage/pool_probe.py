"""Observing a pool: what the system shows now of one btrfs filesystem that rockd manages, as
the entry /pools/{id} holds it. Read only: Pools sets the tree from these answers.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from rockd.core.process import CommandError
from rockd.core.tree import Subtree
from rockd.storage import btrfs, btrfs_ioctl, btrfs_sysfs
from rockd.storage.mounting import compression_of, filesystem_options
from rockd.storage.pool_care import device_flags, recommendation

log = logging.getLogger(__name__)


def disk_id(tree: Subtree, path: str | None) -> str | None:
    """The id in /disks of the disk at `path` (a device path or a link to one)."""
    if not path:
        return None
    name = os.path.basename(os.path.realpath(path))
    for found, disk in (tree.get("/disks") or {}).items():
        if disk.get("name") == name:
            return found
    return None


def _mine(uuid: str, expected: str) -> dict[str, Any] | None:
    """The mount of the filesystem to read it through: the one at `expected` (the pool's
    mount point), else its top subvolume's, else any."""
    mounts = [m for m in btrfs_sysfs.mounts() if m["uuid"] == uuid]
    top = next((m for m in mounts if m["subvol"] == "/"), mounts[0] if mounts else None)
    return next((m for m in mounts if m["target"] == expected), top)


async def _devices(tree: Subtree, fs: dict[str, Any] | None, mine: dict[str, Any] | None,
                   name: str) -> list[dict[str, Any]]:
    """The filesystem's devices with their disk ids and error counters."""
    stats = await btrfs.device_stats(mine["target"]) if mine else {}
    errors = {e["devid"]: {k: v for k, v in e.items() if k != "devid"}
              for e in stats.values()}
    devices = [{
        "devid": dev["devid"], "disk": disk_id(tree, dev["path"]), "path": dev["path"],
        "size": dev["size"], "used": dev["used"], "missing": dev["missing"],
        "errors": errors.get(dev["devid"]), **device_flags(dev["path"])}
        for dev in (fs or {}).get("devices", [])]
    if mine and any(d["missing"] for d in devices):
        # `filesystem show` says size 0 for a missing device; the kernel knows its size
        try:
            known = {d["devid"]: d for d in btrfs_ioctl.device_info(mine["target"])}
        except OSError as exc:
            log.info("device sizes of %s: %s", name, exc)
            known = {}
        for device in devices:
            if device["missing"] and device["devid"] in known:
                device["size"] = known[device["devid"]]["size"]
                device["used"] = known[device["devid"]]["used"]
    return devices


async def probe(tree: Subtree, uuid: str, intent: dict[str, Any], expected: str
                ) -> dict[str, Any]:
    """The pool `uuid` (kept as `intent`, to be mounted at `expected`) as the system shows it
    now; the disks are named by their ids in /disks of `tree`. A pool unmounted while it is
    read (its commands then fail on a mount point that is no longer it) is read again."""
    try:
        return await _read(tree, uuid, intent, expected)
    except (OSError, CommandError):
        if any(m["uuid"] == uuid for m in btrfs_sysfs.mounts()):
            raise
        log.debug("pool %s was unmounted while it was read", intent["name"])
        return await _read(tree, uuid, intent, expected)


async def _read(tree: Subtree, uuid: str, intent: dict[str, Any], expected: str
                ) -> dict[str, Any]:
    fs = next((f for f in await btrfs.filesystems() if f["uuid"] == uuid), None)
    mine = _mine(uuid, expected)
    devices = await _devices(tree, fs, mine, intent["name"])
    missing = max(sum(1 for d in devices if d["missing"]),
                  (fs or {}).get("devices_missing", 0))
    value: dict[str, Any] = {
        "id": uuid,
        "name": intent["name"],
        "label": fs["label"] if fs else intent["name"],
        "present": fs is not None,
        "mounted": mine is not None,
        "mount_point": mine["target"] if mine else None,
        "mount_options": ",".join(filesystem_options(mine)) if mine else None,
        "compression": compression_of(mine["super_options"]) if mine else None,
        "quotas": None,
        "data": None, "metadata": None, "system": None,
        "devices": devices,
        "usage": None,
        "missing_devices": missing,
        # while a device is missing; the kernel keeps the `degraded` mount option (shown
        # in mount_options) after a replace or remove until the pool is mounted again
        "degraded": bool(missing),
        "exclusive_operation": None,
        "ssd": recommendation(devices, intent.get("mount_options") or "",
                              filesystem_options(mine) if mine else None),
    }
    if mine:
        value.update(btrfs_sysfs.profiles(uuid))
        value["usage"] = btrfs_sysfs.usage(uuid, mountpoint=mine["target"])
        value["quotas"] = btrfs_sysfs.quotas_enabled(uuid)
        value["exclusive_operation"] = btrfs_sysfs.exclusive_operation(uuid)
    return value


def current_usage(pool: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A mounted pool's usage and its devices with their allocation as they are now (sysfs and
    one ioctl, no process: writes raise no event); OSError when it is no longer mounted."""
    known = btrfs_ioctl.device_info(pool["mount_point"])
    usage = btrfs_sysfs.usage(pool["id"], device_sizes=[d["size"] for d in known],
                              device_used=[d["used"] for d in known])
    allocated = {d["devid"]: d["used"] for d in known}
    devices = [{**d, "used": allocated.get(d["devid"], d["used"])} for d in pool["devices"]]
    return usage, devices
