"""Pools: btrfs filesystems that rockd manages, observed into /pools and changed on request.

A pool is a btrfs filesystem the user created or imported through rockd (kept as intent in
SQLite: its name, compression, mount options). What it is now (devices, profiles, usage,
mounts, error counters) is always read back from the system by `rescan`, never assumed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rockd.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RockdError,
    Unprocessable,
)
from rockd.core.names import valid_name
from rockd.core.rescan import Rescanner
from rockd.core.store import Store
from rockd.core.tree import Tree
from rockd.jobs.balance import filters as balance_filters
from rockd.jobs.supervisor import Job, Jobs
from rockd.storage import btrfs, profiles
from rockd.storage.commands import CommandError, run
from rockd.storage.disks import filesystem

log = logging.getLogger(__name__)

FULL = 1 << 20
"""A pool with less than this free is full: nothing new is made on it."""
COMPRESSION = re.compile(r"^(no|lzo|zlib(:[1-9])?|zstd(:([1-9]|1[0-5]))?)$")
MOUNT_OPTION = re.compile(
    r"^(noatime|relatime|nodiratime|autodefrag|noautodefrag|ssd|nossd|ssd_spread|discard"
    r"|discard=(sync|async)|nodiscard|space_cache=v2|commit=\d{1,4}|flushoncommit"
    r"|noflushoncommit|skip_balance|nodatacow|datacow|nodatasum|datasum|thread_pool=\d{1,3}"
    r"|max_inline=\d{1,8}|barrier|norecovery|rescue=\w+)$")
MISSING = "missing"
"""In `{"remove": [...]}`, a device that is gone (btrfs' own word: `device remove missing`)."""
DEVID = re.compile(r"^devid:([1-9][0-9]{0,19})$")
"""`devid:N`: device N of a pool, for one that has no disk id (a missing one)."""


def devid_of(reference: str) -> int | None:
    """The devid that `devid:N` names, or None for a disk id (disk ids never hold a colon);
    400 for anything else with a colon."""
    if ":" not in reference:
        return None
    m = DEVID.match(reference)
    if m is None:
        raise BadRequest(f"{reference!r} is neither a disk id nor devid:N", code="invalid_field",
                         detail={"field": "replace.old"})
    return int(m[1])


def mount_options(extra: str, compression: str | None) -> str:
    """The -o string for a pool: validated options plus compression."""
    options = [o for o in (extra or "").split(",") if o]
    for option in options:
        if not MOUNT_OPTION.match(option):
            raise BadRequest(f"mount option {option!r} is not allowed", code="invalid_field",
                             detail={"field": "mount_options"})
    if compression and compression != "no":
        options.append(f"compress={compression}")
    return ",".join(options) or "defaults"


def check_profiles(data: str, metadata: str, disks: int) -> None:
    """400 for a profile not offered in its role, 422 with the minimum when disks are short."""
    try:
        profiles.validate(data, metadata, disks)
    except profiles.TooFewDisks as exc:
        raise Unprocessable(str(exc), code="not_enough_disks",
                            detail={"profile": exc.profile, "minimum": exc.minimum,
                                    "given": exc.given}) from None
    except profiles.ProfileError as exc:
        raise BadRequest(str(exc), code="invalid_field") from None


def check_compression(value: str | None) -> None:
    if value is not None and not COMPRESSION.match(value):
        raise BadRequest(f"compression {value!r} is not no, lzo, zlib[:1-9] or zstd[:1-15]",
                         code="invalid_field", detail={"field": "compression"})


def _compression_of(options: list[str]) -> str | None:
    for option in options:
        if option.startswith(("compress=", "compress-force=")):
            return option.split("=", 1)[1]
    return None


def _filesystem_options(mount: dict[str, Any]) -> list[str]:
    """The mount's options (noatime...) then the filesystem's (compress...), without the
    subvolume it shows and without repeats."""
    options: list[str] = []
    for option in mount["options"] + mount["super_options"]:
        if option not in options and not option.startswith(("subvol=", "subvolid=")):
            options.append(option)
    return options


async def unmount(point: str, tries: int = 10) -> None:
    """Unmount, waiting a little while it is busy: rockd's own probes (a rescan that an
    inotify event started) hold the mount for milliseconds at a time."""
    for attempt in range(tries):
        try:
            await run(["umount", point])
            return
        except CommandError as exc:
            if "busy" not in exc.stderr or attempt == tries - 1:
                raise
            await asyncio.sleep(0.1)


def _wanted_compression(intent: dict[str, Any]) -> str | None:
    compression = intent.get("compression")
    return None if compression in (None, "no") else compression


def _same_compression(have: str | None, intent: dict[str, Any]) -> bool:
    """Whether the mount compresses as asked ("zstd" asks for any zstd level)."""
    want = _wanted_compression(intent)
    if have is None or want is None:
        return have == want
    return have == want or (":" not in want and have.split(":")[0] == want)


class Pools:
    """/pools in the tree, the pool intent in SQLite, and the actions on pools."""

    def __init__(self, tree: Tree, store: Store, jobs: Jobs, mount_root: Path,
                 disk_rescans: Rescanner):
        self.tree = tree
        self.store = store
        self.jobs = jobs
        self.mount_root = mount_root
        self.disk_rescans = disk_rescans
        self.rescans = Rescanner("pool", self.rescan)
        self.intent: dict[str, dict] = {}
        self.rescanned: list[Callable[[str], None]] = []

    async def load(self) -> None:
        self.intent = await self.store.intents("pool")
        self.rescans.start()

    # -- observing --------------------------------------------------------------------------

    def mount_point(self, name: str) -> Path:
        return self.mount_root / name

    def _disk_id(self, path: str | None) -> str | None:
        if not path:
            return None
        name = os.path.basename(os.path.realpath(path))
        for disk_id, disk in (self.tree.get("/disks") or {}).items():
            if disk.get("name") == name:
                return disk_id
        return None

    async def probe(self, uuid: str) -> dict[str, Any] | None:
        """The pool as the system shows it now, or None when it is not one of ours."""
        intent = self.intent.get(uuid)
        if intent is None:
            return None
        fs = next((f for f in await btrfs.filesystems() if f["uuid"] == uuid), None)
        mounts = [m for m in btrfs.mounts() if m["uuid"] == uuid]
        top = next((m for m in mounts if m["subvol"] == "/"), mounts[0] if mounts else None)
        expected = str(self.mount_point(intent["name"]))
        mine = next((m for m in mounts if m["target"] == expected), top)
        stats = await btrfs.device_stats(mine["target"]) if mine else {}
        errors = {e["devid"]: {k: v for k, v in e.items() if k != "devid"}
                  for e in stats.values()}
        devices = [{
            "devid": dev["devid"], "disk": self._disk_id(dev["path"]), "path": dev["path"],
            "size": dev["size"], "used": dev["used"], "missing": dev["missing"],
            "errors": errors.get(dev["devid"])} for dev in (fs or {}).get("devices", [])]
        if mine and any(d["missing"] for d in devices):
            # `filesystem show` says size 0 for a missing device; the kernel knows its size
            try:
                known = {d["devid"]: d for d in btrfs.device_info(mine["target"])}
            except OSError as exc:
                log.info("device sizes of %s: %s", intent["name"], exc)
                known = {}
            for device in devices:
                if device["missing"] and device["devid"] in known:
                    device["size"] = known[device["devid"]]["size"]
                    device["used"] = known[device["devid"]]["used"]
        missing = max(sum(1 for d in devices if d["missing"]),
                      (fs or {}).get("devices_missing", 0))
        value: dict[str, Any] = {
            "id": uuid,
            "name": intent["name"],
            "label": fs["label"] if fs else intent["name"],
            "present": fs is not None,
            "mounted": mine is not None,
            "mount_point": mine["target"] if mine else None,
            "mount_options": ",".join(_filesystem_options(mine)) if mine else None,
            "compression": _compression_of(mine["super_options"]) if mine else None,
            "quotas": None,
            "data": None, "metadata": None, "system": None,
            "devices": devices,
            "usage": None,
            "missing_devices": missing,
            # while a device is missing; the kernel keeps the `degraded` mount option (shown
            # in mount_options) after a replace or remove until the pool is mounted again
            "degraded": bool(missing),
            "exclusive_operation": None,
        }
        if mine:
            value.update(btrfs.profiles(uuid))
            value["usage"] = btrfs.usage(uuid, mountpoint=mine["target"])
            value["quotas"] = btrfs.quotas_enabled(uuid)
            value["exclusive_operation"] = btrfs.exclusive_operation(uuid)
        return value

    async def rescan(self, uuid: str) -> None:
        value = await self.probe(uuid)
        if value is None:
            self.tree.delete(("pools", uuid))
        else:
            self.tree.set(("pools", uuid), value)
        for callback in self.rescanned:
            callback(uuid)

    async def rescan_all(self) -> None:
        known = set(self.tree.get("/pools") or {}) | set(self.intent)
        for uuid in known:
            await self.rescan(uuid)

    def refresh_usage(self) -> None:
        """Read each mounted pool's usage again (sysfs, no process): writes raise no event."""
        with self.tree.transaction():
            for pool in (self.tree.get("/pools") or {}).values():
                if not pool["mounted"]:
                    continue
                try:
                    usage = btrfs.usage(pool["id"], mountpoint=pool["mount_point"])
                    allocated = {d["devid"]: d["used"]
                                 for d in btrfs.device_info(pool["mount_point"])}
                except OSError as exc:  # unmounted a moment ago: the mount watcher says so
                    log.debug("usage of %s: %s", pool["name"], exc)
                    continue
                self.tree.set(("pools", pool["id"], "usage"), usage)
                devices = [{**d, "used": allocated.get(d["devid"], d["used"])}
                           for d in pool["devices"]]
                self.tree.set(("pools", pool["id"], "devices"), devices)

    def mounts_changed(self) -> None:
        for uuid in self.intent:
            self.rescans.request(uuid)

    async def settle(self, uuid: str) -> dict[str, Any]:
        self.rescans.request(uuid)
        await self.rescans.settle()
        return self.tree.resource("pools", uuid)

    # -- helpers for actions ----------------------------------------------------------------

    def get(self, pool_id: str) -> dict[str, Any]:
        return self.tree.resource("pools", pool_id)

    def mounted(self, pool_id: str) -> dict[str, Any]:
        pool = self.get(pool_id)
        if not pool["mounted"]:
            raise Conflict(f"pool {pool['name']} is not mounted", code="not_mounted")
        return pool

    def writable(self, pool_id: str) -> dict[str, Any]:
        """A mounted pool with room for a new subvolume (read now: usage has no event)."""
        pool = self.mounted(pool_id)
        if btrfs.usage(pool_id, mountpoint=pool["mount_point"])["free_estimate"] < FULL:
            raise Unprocessable(f"pool {pool['name']} is full", code="no_space")
        return pool

    def free_disks(self, disk_ids: list[str]) -> list[dict[str, Any]]:
        """The disks, checked to be managed and empty, in the order given."""
        if len(set(disk_ids)) != len(disk_ids):
            raise BadRequest("a disk is named twice", code="invalid_field")
        disks = []
        for disk_id in disk_ids:
            disk = self.tree.resource("disks", disk_id)
            if not disk["managed"]:
                raise Forbidden(f"disk {disk_id} is not managed by rockd (see --devices)",
                                code="unmanaged_device", detail={"disk": disk_id})
            if disk.get("pool"):
                raise Conflict(f"disk {disk_id} belongs to a btrfs filesystem",
                               code="disk_in_use", detail={"disk": disk_id})
            if disk.get("filesystem") or disk.get("partitions"):
                raise Conflict(f"disk {disk_id} holds data (a filesystem or partitions); "
                               "wipe it first", code="disk_in_use", detail={"disk": disk_id})
            disks.append(disk)
        return disks

    def _name_free(self, name: str) -> None:
        if any(p["name"] == name for p in self.intent.values()):
            raise Conflict(f"a pool named {name} exists", code="exists")
        point = self.mount_point(name)
        if point.exists() and (point.is_mount() or any(point.iterdir())):
            raise Conflict(f"{point} is in use", code="exists")

    async def _mount(self, uuid: str, devices: list[str], name: str, options: str) -> None:
        point = self.mount_point(name)
        point.mkdir(parents=True, exist_ok=True)
        for device in devices:  # a disk that went away is not a reason to stop
            result = await run(["btrfs", "device", "scan", device], check=False)
            if result.returncode:
                log.info("btrfs device scan %s: %s", device, result.stderr.strip())
        await run(["mount", "-t", "btrfs", "-o", options, f"UUID={uuid}", str(point)])

    async def _remount(self, point: str, intent: dict[str, Any], compression: str | None
                       ) -> None:
        """Remount with the intended options; compression switched off needs saying so."""
        options = mount_options(intent.get("mount_options", ""), intent.get("compression"))
        if _wanted_compression(intent) is None and compression is not None:
            options += ",compress=no"
        await run(["mount", "-o", f"remount,{options}", point])

    async def _save(self, uuid: str, intent: dict[str, Any]) -> None:
        await self.store.set_intent("pool", uuid, intent)
        self.intent[uuid] = intent

    # -- actions ----------------------------------------------------------------------------

    async def create(self, name: str, disk_ids: list[str], data: str, metadata: str | None,
                     compression: str | None, extra_options: str) -> dict[str, Any]:
        check_compression(compression)
        options = mount_options(extra_options, compression)
        metadata = metadata or profiles.default_metadata(data, len(disk_ids))
        check_profiles(data, metadata, len(disk_ids))
        disks = self.free_disks(disk_ids)
        self._name_free(name)
        paths = [d["path"] for d in disks]
        await run(["mkfs.btrfs", "--quiet", "-L", name, "-d", data, "-m", metadata, *paths],
                  timeout=300)
        made = await filesystem(paths[0])  # the signature mkfs just wrote
        if made is None or not made["uuid"]:
            raise RockdError(f"mkfs.btrfs left no filesystem on {paths[0]}")
        uuid = made["uuid"]
        await self._save(uuid, {"name": name, "compression": compression,
                                "mount_options": extra_options})
        try:
            await self._mount(uuid, paths, name, options)
        finally:
            for disk in disks:
                self.disk_rescans.request(disk["name"])
        return await self.settle(uuid)

    async def import_(self, disk_id: str) -> dict[str, Any]:
        disk = self.tree.resource("disks", disk_id)
        if not disk["managed"]:
            raise Forbidden(f"disk {disk_id} is not managed by rockd", code="unmanaged_device")
        fs = disk.get("filesystem")
        if not fs or fs["type"] != "btrfs":
            raise Unprocessable(f"disk {disk_id} holds no btrfs filesystem", code="not_btrfs")
        uuid = fs["uuid"]
        if uuid in self.intent:
            raise Conflict("that filesystem is a pool already", code="exists")
        name = fs.get("label") or ""
        if not valid_name(name):
            raise Unprocessable(f"the filesystem's label {name!r} is not a valid pool name; "
                                "label it first (btrfs filesystem label)", code="invalid_name")
        self._name_free(name)
        members = [d for d in (self.tree.get("/disks") or {}).values() if d.get("pool") == uuid]
        for member in members:
            if not member["managed"]:
                raise Forbidden(f"disk {member['id']} of that filesystem is not managed",
                                code="unmanaged_device")
        await self._save(uuid, {"name": name, "compression": None, "mount_options": ""})
        already = [m for m in btrfs.mounts() if m["uuid"] == uuid]
        if not already:
            await self._mount(uuid, [m["path"] for m in members], name, "defaults")
        return await self.settle(uuid)

    async def delete(self, pool_id: str, force: bool) -> None:
        pool = self.get(pool_id)
        shares = [s for s in (self.tree.get("/shares") or {}).values() if s["pool"] == pool_id]
        if shares and not force:
            raise Conflict(f"pool {pool['name']} holds {len(shares)} shares; "
                           "delete them or ask with force=true", code="not_empty",
                           detail={"shares": len(shares)})
        for mount in sorted(btrfs.mounts(), key=lambda m: len(m["target"]), reverse=True):
            if mount["uuid"] == pool_id:
                try:
                    await unmount(mount["target"])
                except CommandError as exc:
                    raise Conflict(f"pool {pool['name']} is busy: {exc.stderr}",
                                   code="busy") from None
        point = self.mount_point(pool["name"])
        if point.is_dir() and not point.is_mount():
            point.rmdir()
        await self.store.delete_intent("pool", pool_id)
        self.intent.pop(pool_id, None)
        self.tree.delete(("pools", pool_id))
        for callback in self.rescanned:
            callback(pool_id)
        for device in pool["devices"]:
            if device["path"]:
                self.disk_rescans.request(os.path.basename(device["path"]))

    async def update(self, pool_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        pool = self.mounted(pool_id)
        intent = dict(self.intent[pool_id])
        if "compression" in changes:
            check_compression(changes["compression"])
        new = {**intent, **{k: v for k, v in changes.items()
                            if k in ("compression", "mount_options")}}
        mount_options(new["mount_options"], new["compression"])  # validates before any change
        if "label" in changes and changes["label"] != pool["name"]:
            await self._rename(pool, changes["label"])
            new["name"] = changes["label"]
        if new != intent or "compression" in changes or "mount_options" in changes:
            await self._remount(str(self.mount_point(new["name"])), new, pool["compression"])
        if "quotas" in changes and changes["quotas"] != pool["quotas"]:
            verb = "enable" if changes["quotas"] else "disable"
            await run(["btrfs", "quota", verb, str(self.mount_point(new["name"]))], timeout=600)
        await self._save(pool_id, new)
        return await self.settle(pool_id)

    async def _rename(self, pool: dict[str, Any], name: str) -> None:
        """Label the filesystem `name` and move its mount to the matching mount point."""
        self._name_free(name)
        old = self.mount_point(pool["name"])
        await run(["btrfs", "filesystem", "label", str(old), name])
        try:
            await unmount(str(old))
        except CommandError as exc:
            await run(["btrfs", "filesystem", "label", str(old), pool["name"]])
            raise Conflict(f"pool {pool['name']} is busy: {exc.stderr}", code="busy") from None
        old.rmdir()
        intent = self.intent[pool["id"]]
        options = mount_options(intent.get("mount_options", ""), intent.get("compression"))
        members = [d["path"] for d in pool["devices"] if d["path"] and not d["missing"]]
        await self._mount(pool["id"], members, name, options)

    async def add_disks(self, pool_id: str, disk_ids: list[str]) -> dict[str, Any]:
        pool = self.mounted(pool_id)
        disks = self.free_disks(disk_ids)
        await run(["btrfs", "device", "add", *[d["path"] for d in disks], pool["mount_point"]],
                  timeout=300)
        for disk in disks:
            self.disk_rescans.request(disk["name"])
        return await self.settle(pool_id)

    def job_ended(self, job: Job) -> None:
        """A job on a pool ended: what it changed is read back."""
        for name in job.params.get("disks", []):
            self.disk_rescans.request(name)
        self.rescans.request(job.target)

    async def job_settled(self) -> None:
        """Until the disks and pools asked to be read back are."""
        await asyncio.gather(self.disk_rescans.settle(), self.rescans.settle())

    def resize(self, pool_id: str, disk_id: str, size: int | None) -> dict[str, Any]:
        """Grow (or shrink) btrfs on one disk: to the whole disk, or to `size` bytes."""
        pool = self.mounted(pool_id)
        device = next((d for d in pool["devices"] if d["disk"] == disk_id), None)
        if device is None:
            raise Unprocessable(f"disk {disk_id} is not in pool {pool['name']}",
                                code="not_in_pool")
        amount = "max" if size is None else str(size)
        return self.jobs.start("resize", pool_id, {
            "argv": ["btrfs", "filesystem", "resize", f"{device['devid']}:{amount}",
                     pool["mount_point"]],
            "mount_point": pool["mount_point"]})

    def balance(self, pool_id: str, filter_text: str | None) -> dict[str, Any]:
        pool = self.mounted(pool_id)
        return self.jobs.start("balance", pool_id, {
            "mount_point": pool["mount_point"], "args": balance_filters(filter_text)})

    def scrub(self, pool_id: str, readonly: bool) -> dict[str, Any]:
        pool = self.mounted(pool_id)
        return self.jobs.start("scrub", pool_id, {
            "mount_point": pool["mount_point"], "readonly": readonly,
            "devids": [d["devid"] for d in pool["devices"] if not d["missing"]],
            # read now: writes raise no event, so the tree's usage may be behind
            "bytes": btrfs.usage(pool_id, mountpoint=pool["mount_point"])["used"]})

    def _enough_left(self, pool: dict[str, Any], remaining: int) -> None:
        """422 not_enough_disks when a profile in use needs more than `remaining` present
        devices. Every profile that has chunks counts, as in the kernel's own check: a degraded
        mount or an unfinished convert leaves chunks of more than one profile."""
        try:
            allocation = btrfs.read_allocation(pool["id"])
            used = [(kind, name) for kind in ("data", "metadata", "system")
                    for name in allocation[kind]["profiles"]]
        except OSError:
            used = []
        used = used or [(kind, pool[kind]) for kind in ("data", "metadata") if pool[kind]]
        for kind, name in sorted(used, key=lambda u: -profiles.info(u[1]).min_devices):
            minimum = profiles.info(name).min_devices
            if remaining < minimum:
                raise Unprocessable(f"{name} {kind} needs at least {minimum} disks; "
                                    f"{remaining} would remain", code="not_enough_disks",
                                    detail={"profile": name, "minimum": minimum,
                                            "remaining": remaining})

    def remove_disks(self, pool_id: str, disk_ids: list[str]) -> dict[str, Any]:
        """A device_remove job for the disks, or, for ["missing"], for a device that is gone."""
        pool = self.mounted(pool_id)
        present = sum(1 for d in pool["devices"] if not d["missing"])
        if MISSING in disk_ids:
            return self._remove_missing(pool, disk_ids, present)
        paths = []
        for disk_id in disk_ids:
            device = next((d for d in pool["devices"] if d["disk"] == disk_id), None)
            if device is None:
                raise Unprocessable(f"disk {disk_id} is not in pool {pool['name']}",
                                    code="not_in_pool")
            paths.append(device["path"])
        self._enough_left(pool, present - len(paths))
        return self.jobs.start("device_remove", pool_id, {
            "argv": ["btrfs", "device", "remove", *paths, pool["mount_point"]],
            "mount_point": pool["mount_point"], "disks": [os.path.basename(p) for p in paths]})

    def _remove_missing(self, pool: dict[str, Any], disk_ids: list[str], present: int
                        ) -> dict[str, Any]:
        """`btrfs device remove missing`: the pool (mounted degraded) forgets one device that
        is gone, after writing the copies it held onto the present devices."""
        if disk_ids != [MISSING]:
            raise BadRequest('"missing" is asked for alone, without disk ids',
                             code="invalid_field", detail={"field": "remove"})
        if not pool["missing_devices"]:
            raise Conflict(f"pool {pool['name']} has no missing device",
                           code="no_missing_device")
        self._enough_left(pool, present)
        return self.jobs.start("device_remove", pool["id"], {
            "argv": ["btrfs", "device", "remove", MISSING, pool["mount_point"]],
            "mount_point": pool["mount_point"], "disks": []})

    def replace_disk(self, pool_id: str, old_ref: str, new_id: str) -> dict[str, Any]:
        """A device_replace job: `old_ref` is a disk id of the pool, or `devid:N` for device N
        (a missing one too: the pool is then mounted degraded)."""
        pool = self.mounted(pool_id)
        devid = devid_of(old_ref)
        if devid is None:
            old = next((d for d in pool["devices"] if d["disk"] == old_ref), None)
            if old is None:
                raise Unprocessable(f"disk {old_ref} is not in pool {pool['name']}",
                                    code="not_in_pool")
        else:
            old = next((d for d in pool["devices"] if d["devid"] == devid), None)
            if old is None:
                raise NotFound(f"pool {pool['name']} has no device {devid}",
                               detail={"devid": devid})
        (new,) = self.free_disks([new_id])
        needed = old["size"]
        if old["missing"]:  # `filesystem show` says 0; the kernel knows the size btrfs used
            needed = next((d["size"] for d in btrfs.device_info(pool["mount_point"])
                           if d["devid"] == old["devid"]), needed)
        if new["size"] < needed:
            raise Unprocessable("the new disk is smaller than the one it replaces",
                                code="too_small", detail={"needed": needed})
        names = [new["name"]] + ([os.path.basename(old["path"])] if old["path"] else [])
        return self.jobs.start("device_replace", pool_id, {
            "argv": ["btrfs", "replace", "start", "-B", str(old["devid"]), new["path"],
                     pool["mount_point"]],
            "mount_point": pool["mount_point"], "disks": names})

    def convert(self, pool_id: str, data: str, metadata: str | None) -> dict[str, Any]:
        pool = self.mounted(pool_id)
        metadata = metadata or pool["metadata"]
        present = len([d for d in pool["devices"] if not d["missing"]])
        check_profiles(data, metadata, present)
        return self.jobs.start("balance", pool_id, {
            "mount_point": pool["mount_point"],
            "args": ["--force", f"-dconvert={data}", f"-mconvert={metadata}"]})

    async def mount(self, pool_id: str, degraded: bool = False) -> dict[str, Any]:
        """Mount a pool that is not mounted; `degraded` lets one with a missing disk mount."""
        pool = self.get(pool_id)
        if pool["mounted"]:
            raise Conflict(f"pool {pool['name']} is mounted already", code="mounted")
        intent = self.intent[pool_id]
        options = mount_options(intent.get("mount_options", ""), intent.get("compression"))
        if degraded:
            options += ",degraded"
        members = [d["path"] for d in pool["devices"] if d["path"] and not d["missing"]]
        try:
            await self._mount(pool_id, members, pool["name"], options)
        except CommandError as exc:
            raise Unprocessable(f"pool {pool['name']} did not mount: {exc.stderr}",
                                code="mount_failed",
                                detail={"missing_devices": pool["missing_devices"]}) from None
        return await self.settle(pool_id)

    async def unmount(self, pool_id: str) -> dict[str, Any]:
        pool = self.mounted(pool_id)
        try:
            await unmount(pool["mount_point"])
        except CommandError as exc:
            raise Conflict(f"pool {pool['name']} is busy: {exc.stderr}", code="busy") from None
        return await self.settle(pool_id)

    async def reconcile(self) -> None:
        """At start-up: mount every pool that should be, and put back the options the user
        asked for where the system drifted from them (the drift is logged)."""
        mounts = btrfs.mounts()
        for uuid, intent in self.intent.items():
            options = mount_options(intent.get("mount_options", ""), intent.get("compression"))
            point = str(self.mount_point(intent["name"]))
            mine = next((m for m in mounts if m["uuid"] == uuid and m["target"] == point), None)
            try:
                if mine is None:
                    members = [d["path"] for d in (self.tree.get("/disks") or {}).values()
                               if d.get("pool") == uuid]
                    if not members:
                        log.warning("pool %s: no disk of it is present; not mounted",
                                    intent["name"])
                        continue
                    await self._mount(uuid, members, intent["name"], options)
                    log.info("mounted pool %s", intent["name"])
                    continue
                have = set(_filesystem_options(mine))
                wanted = {o for o in options.split(",")
                          if o != "defaults" and not o.startswith("compress=")}
                compression = _compression_of(mine["super_options"])
                if not wanted <= have or not _same_compression(compression, intent):
                    log.warning("pool %s drifted: mounted with %s, wanted %s; remounting",
                                intent["name"], ",".join(sorted(have)), options)
                    await self._remount(point, intent, compression)
            except (CommandError, RockdError) as exc:
                log.warning("pool %s: %s", intent["name"], exc)
