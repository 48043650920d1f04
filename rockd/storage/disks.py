"""The disk inventory: sysfs, udev's properties and blkid's probe of each disk, kept in /disks.

`DiskInventory.rescan_many(names)` probes disks by their kernel names, several at once, and
sets (or removes) their entries in one revision; the udev watcher asks for that on every event
of a disk, through `DiskRescans`, which gathers a storm of events (sixty disks attached at
once) into a few batches. SMART is read with bounded concurrency (`smart.summaries`), never
one disk after another. DiskFollowers (the pools) hear of every change to a disk of a btrfs
filesystem.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Any, Protocol

import pyudev

from rockd.core import mountinfo
from rockd.core.errors import Conflict, Forbidden, Unprocessable
from rockd.core.process import run
from rockd.core.rescan import Rescanner
from rockd.core.tree import Subtree
from rockd.storage import smart
from rockd.storage.devices import SYS_BLOCK, Allowlist

log = logging.getLogger(__name__)

PROBES = 8
"""Disks probed (sysfs, udev, blkid) at once."""

SKIP = re.compile(r"^(ram|zram|dm-|sr|fd)\d*")
UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _transport(name: str, sysdir: Path) -> str:
    if name.startswith("loop"):
        return "loop"
    if name.startswith("nvme"):
        return "nvme"
    if name.startswith("vd"):
        return "virtio"
    real = str(sysdir.resolve())
    if "/usb" in real:
        return "usb"
    if "/ata" in real:
        return "sata"
    return "scsi"


def stable_id(name: str, *, wwn: str | None, serial: str | None, model: str | None,
              backing_file: str | None) -> str:
    """A disk id that survives reboots and renames (by WWN, else serial, else backing file)."""
    if wwn:
        raw = f"wwn-{wwn}"
    elif serial:
        raw = f"{model or 'disk'}_{serial}"
    elif backing_file:
        digest = hashlib.sha256(backing_file.encode()).hexdigest()[:8]
        raw = f"loop-{Path(backing_file).name}-{digest}"
    else:
        raw = name
    return UNSAFE_ID_CHARS.sub("_", raw).strip("_")


def _udev_properties(name: str) -> dict[str, str]:
    """What udev's database holds for the disk (empty where udevd does not run)."""
    try:
        device = pyudev.Devices.from_name(pyudev.Context(), "block", name)
        return dict(device.properties)
    except (pyudev.DeviceNotFoundError, OSError):
        return {}


async def filesystem(path: str) -> dict[str, Any] | None:
    """The filesystem signature on a device (blkid's low-level probe), or None if it has none:
    type, uuid, label, device_uuid (btrfs: the device's own UUID within its filesystem) and
    duplicate_of (filled in by the inventory: see `duplicates`)."""
    result = await run(["blkid", "--probe", "--output", "export", path], timeout=10,
                       check=False)
    if result.returncode != 0:
        return None
    fields = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    if "TYPE" not in fields:
        return None
    return {"type": fields["TYPE"], "uuid": fields.get("UUID"), "label": fields.get("LABEL"),
            "device_uuid": fields.get("UUID_SUB"), "duplicate_of": []}


def duplicates(disks: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """For each disk whose filesystem another disk holds too, the other disks' ids: the same
    type, UUID and device UUID make a copy (a cloned image, a `dd` of a disk), while the devices
    of one multi-device btrfs share the UUID but not the device UUID."""
    groups: dict[tuple[str, str, str | None], list[str]] = {}
    for disk in disks.values():
        fs = disk.get("filesystem")
        if fs and fs.get("uuid"):
            key = (fs["type"], fs["uuid"], fs.get("device_uuid"))
            groups.setdefault(key, []).append(disk["id"])
    return {disk_id: sorted(i for i in group if i != disk_id)
            for group in groups.values() for disk_id in group}


def probe(name: str, allow: Allowlist) -> dict[str, Any] | None:
    """What sysfs and udev tell of one whole disk, or None for devices that are not disks."""
    sysdir = SYS_BLOCK / name
    if SKIP.match(name) or not sysdir.exists():
        return None
    backing = _read(sysdir / "loop" / "backing_file")
    if name.startswith("loop") and (backing is None or not allow.allows(name)):
        return None  # unattached loops, and other people's loops, are not disks of this box
    udev = _udev_properties(name)
    sectors = _read(sysdir / "size")
    model = udev.get("ID_MODEL") or _read(sysdir / "device" / "model")
    serial = (udev.get("ID_SERIAL_SHORT") or _read(sysdir / "serial")
              or _read(sysdir / "device" / "serial"))
    wwn = udev.get("ID_WWN") or _read(sysdir / "wwid") or _read(sysdir / "device" / "wwid")
    partitions = [
        {"name": p.name, "size": int(_read(p / "size") or 0) * 512}
        for p in sorted(sysdir.iterdir()) if (p / "partition").exists()
    ]
    return {
        "id": stable_id(name, wwn=wwn, serial=serial, model=model, backing_file=backing),
        "name": name,
        "path": f"/dev/{name}",
        "size": int(sectors or 0) * 512,
        "model": model,
        "serial": serial,
        "wwn": wwn,
        "transport": _transport(name, sysdir),
        "rotational": _read(sysdir / "queue" / "rotational") == "1",
        "removable": _read(sysdir / "removable") == "1",
        "read_only": _read(sysdir / "ro") == "1",
        "backing_file": backing,
        "partitions": partitions,
        "managed": allow.allows(name),
        "filesystem": None,
        "pool": None,
    }


def has_smart(disk: dict[str, Any], loops: bool = False) -> bool:
    """Whether smartctl is worth asking about the disk (a loop device never has SMART, but
    `loops` asks about them too: a smartctl stand-in answers for them)."""
    return (loops or disk["transport"] != "loop") and disk["size"] > 0


async def probe_disk(name: str, allow: Allowlist) -> dict[str, Any] | None:
    """`probe` plus the filesystem signature and the pool a btrfs signature makes it part of
    (the SMART summary is left for `probe_disks`, which reads it for many disks at once)."""
    disk = probe(name, allow)
    if disk is not None and disk["size"] > 0 and disk["managed"]:
        fs = await filesystem(disk["path"])
        disk["filesystem"] = fs
        if fs and fs["type"] == "btrfs":
            disk["pool"] = fs["uuid"]
    return disk


async def probe_disks(names: list[str], allow: Allowlist, smart_loops: bool = False
                      ) -> dict[str, dict[str, Any] | None]:
    """`probe_disk` of each name, PROBES at a time, then the SMART summaries of those that may
    have one, `smart.CONCURRENCY` at a time. Answers each name's disk, or None where it is
    no disk; a name whose probe failed (logged) is left out."""
    gate = asyncio.Semaphore(PROBES)

    async def one(name: str) -> tuple[bool, dict[str, Any] | None]:
        async with gate:
            try:
                return True, await probe_disk(name, allow)
            except Exception:
                log.exception("probe of disk %s failed", name)
                return False, None

    answers = await asyncio.gather(*(one(n) for n in names))
    found = {name: disk for name, (probed, disk) in zip(names, answers, strict=True) if probed}
    summaries = await smart.summaries([d["path"] for d in found.values()
                                       if d is not None and has_smart(d, smart_loops)],
                                      asleep_ok=True)  # a udev event must not wake a disk
    for disk in found.values():
        if disk is not None:
            disk["smart"] = summaries.get(disk["path"])
    return found


def _mounted(disk: dict[str, Any]) -> bool:
    """Whether the disk, one of its partitions, or the btrfs it is a device of is mounted
    (not a copy of it on another disk: that has its own folder in sysfs)."""
    names = {disk["name"], *(p["name"] for p in disk["partitions"])}
    if any(os.path.basename(m.source) in names for m in mountinfo.read()):
        return True
    return any(Path("/sys/fs/btrfs").glob(f"*/devices/{disk['name']}"))


class DiskFollower(Protocol):
    """What follows the disks of btrfs filesystems (the pools, which read a pool again)."""

    def disks_changed(self, pool_id: str) -> None:
        """A disk of the btrfs filesystem `pool_id` (its UUID) came, went or changed."""


class DiskExtras(Protocol):
    """A part that shows more of each disk than the probe reads (its power settings)."""

    def disk_extras(self, disk: dict[str, Any], new: bool) -> None:
        """Add this part's fields to a probed `disk` before it is set (in place); `new`: it
        was not in /disks before (it came, or came back)."""


class DiskInventory:
    """/disks in the tree, one rescan per disk."""

    def __init__(self, tree: Subtree, allow: Allowlist, smart_loops: bool = False):
        self.tree = tree
        self.allow = allow
        self.smart_loops = smart_loops  # loop devices asked for SMART too (a stand-in)
        self.followers: list[DiskFollower] = []
        self.extras: list[DiskExtras] = []  # what adds fields to each disk probed

    def _extras(self, disk: dict[str, Any]) -> None:
        new = self.tree.get(("disks", disk["id"])) is None
        for extra in self.extras:
            extra.disk_extras(disk, new)

    def tell(self, follower: DiskFollower) -> None:
        """Tell `follower` whenever a disk of a btrfs filesystem comes, goes or changes."""
        self.followers.append(follower)

    def _ids_named(self, name: str) -> list[str]:
        return [i for i, d in (self.tree.get("/disks") or {}).items() if d.get("name") == name]

    async def rescan(self, name: str) -> None:
        """Probe one disk again."""
        await self.rescan_many([name])

    async def rescan_many(self, names: list[str]) -> None:
        """Probe these disks again (at once) and set what was found in one revision."""
        probed = await probe_disks(names, self.allow, self.smart_loops)
        pools: set[str] = set()
        with self.tree.transaction():
            for name, disk in probed.items():
                for stale in [self.tree.get(("disks", i)) for i in self._ids_named(name)]:
                    pools.add(stale.get("pool") or "")
                    if disk is None or stale["id"] != disk["id"]:
                        self.tree.delete(("disks", stale["id"]))
                if disk is not None:
                    pools.add(disk.get("pool") or "")
                    self._extras(disk)
                    if disk.get("smart") is None:  # asleep, or not read: as last read
                        disk["smart"] = self.tree.get(("disks", disk["id"], "smart"))
                    if self.tree.get(("disks", disk["id"])) != disk:
                        self.tree.set(("disks", disk["id"]), disk)
            self._mark_duplicates()
        for pool in sorted(pools - {""}):
            for follower in self.followers:
                follower.disks_changed(pool)

    def set_smart(self, disk_id: str, summary: dict[str, Any] | None) -> None:
        """The disk's SMART summary as just read (`storage/smart_monitor.py`)."""
        if self.tree.get(("disks", disk_id)) is not None and \
                self.tree.get(("disks", disk_id, "smart")) != summary:
            self.tree.set(("disks", disk_id, "smart"), summary)

    async def wipe(self, disk_id: str, confirm: str) -> dict[str, Any]:
        """Erase every filesystem signature of a managed disk that nothing has mounted."""
        disk = self.tree.resource("disks", disk_id)
        if confirm != disk_id:
            raise Unprocessable("confirm must repeat the disk's id", code="not_confirmed")
        if not disk["managed"]:
            raise Forbidden(f"disk {disk_id} is not managed by rockd", code="unmanaged_device")
        pool = self.tree.get(("pools", disk["pool"])) if disk.get("pool") else None
        in_mounted = (pool is not None and pool["mounted"]
                      and any(d["disk"] == disk_id for d in pool["devices"]))
        if in_mounted or _mounted(disk):
            raise Conflict(f"disk {disk_id} is in a mounted pool", code="busy")
        await run(["wipefs", "--all", disk["path"]])
        await self.rescan(disk["name"])
        return self.tree.get(("disks", disk_id))

    async def rescan_all(self) -> None:
        """Every block device of the host, probed at once (see `probe_disks`)."""
        probed = await probe_disks(sorted(p.name for p in SYS_BLOCK.iterdir()), self.allow,
                                   self.smart_loops)
        disks = {disk["id"]: disk for disk in probed.values() if disk is not None}
        for disk in disks.values():
            self._extras(disk)
            if disk.get("smart") is None:  # asleep, or not read: as last known
                disk["smart"] = self.tree.get(("disks", disk["id"], "smart"))
        with self.tree.transaction():
            self.tree.set("/disks", disks)
            self._mark_duplicates()

    def _mark_duplicates(self) -> None:
        """Set each filesystem's duplicate_of (see `duplicates`) where it changed."""
        disks = self.tree.get("/disks") or {}
        for disk_id, twins in duplicates(disks).items():
            if disks[disk_id]["filesystem"].get("duplicate_of") != twins:
                self.tree.set(("disks", disk_id, "filesystem", "duplicate_of"), twins)


class DiskRescans(Rescanner[str]):
    """The disks' Rescanner: each disk named since the last batch was read is probed in the
    next one, all of them at once, so a storm of udev events (a shelf of disks powered on,
    sixty loop devices attached) costs a few revisions of /disks, not one rescan per event."""

    def __init__(self, inventory: DiskInventory):
        super().__init__("disk", inventory.rescan)
        self.inventory = inventory

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                names = list(self._pending)
                self._pending.clear()
                try:
                    await self.inventory.rescan_many(names)
                except Exception:
                    log.exception("rescan of disks %s failed", ", ".join(names))
            self._idle.set()
