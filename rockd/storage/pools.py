"""Pools: btrfs filesystems that rockd manages, observed into /pools and changed on request.

A pool is a btrfs filesystem the user created or imported through rockd (kept as intent in
SQLite: its name, compression, mount options, the disk it came from). What it is now (devices,
profiles, usage, mounts, error counters) is always read back from the system by `rescan`
(pool_probe), never assumed, and each rescan is told to the PoolFollowers. Here is a pool's
life: create, import, change, mount, unmount, delete. What a request may say is checked in
pool_input, mounts are made in mounting, and the jobs asked of a pool start in pool_jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from rockd.core.errors import Conflict, Forbidden, RockdError, Unprocessable
from rockd.core.jobs import Job
from rockd.core.process import CommandError, run
from rockd.core.rescan import Rescanner
from rockd.core.store import Store
from rockd.core.tree import Subtree
from rockd.storage import btrfs, btrfs_sysfs, mounting, pool_probe, profiles
from rockd.storage.disks import filesystem
from rockd.storage.pool_input import (
    check_compression,
    check_profiles,
    free_disks,
    importable_disk,
    kept_options,
    mount_options,
)

log = logging.getLogger(__name__)

FULL = 1 << 20
"""A pool with less than this free is full: nothing new is made on it."""


class PoolFollower(Protocol):
    """What follows the pools (the shares, which read each pool's subvolumes; the subvolume
    watcher, which watches each mounted pool): told after every rescan of a pool."""

    def pool_rescanned(self, pool_id: str, mount_points: Mapping[str, str]) -> None:
        """Pool `pool_id` was read again, or deleted; `mount_points` maps every mounted pool's
        id to where it is mounted now."""


class Pools:
    """/pools in the tree, the pool intent in SQLite, and the actions on pools."""

    def __init__(self, tree: Subtree, store: Store, mount_root: Path, disk_rescans: Rescanner):
        self.tree = tree
        self.store = store
        self.mount_root = mount_root
        self.disk_rescans = disk_rescans
        self.rescans = Rescanner("pool", self.rescan)
        self.intent: dict[str, dict] = {}
        self.followers: list[PoolFollower] = []
        self._claiming = asyncio.Lock()
        """Held from the checks of a create, import or rename to its intent kept: two of them
        never both pass the checks for one name or one disk."""

    def tell(self, follower: PoolFollower) -> None:
        """Tell `follower` of every rescan of a pool."""
        self.followers.append(follower)

    async def load(self) -> None:
        self.intent = await self.store.intents("pool")
        self.rescans.start()

    # -- observing --------------------------------------------------------------------------

    def mount_point(self, name: str) -> Path:
        return self.mount_root / name

    async def rescan(self, uuid: str) -> None:
        intent = self.intent.get(uuid)
        value = None if intent is None else await pool_probe.probe(
            self.tree, uuid, intent, str(self.mount_point(intent["name"])))
        if value is None or uuid not in self.intent:  # deleted while it was probed
            self.tree.delete(("pools", uuid))
        else:
            self.tree.set(("pools", uuid), value)
        self._tell(uuid)

    def _tell(self, uuid: str) -> None:
        mount_points = {p["id"]: p["mount_point"]
                        for p in (self.tree.get("/pools") or {}).values() if p["mounted"]}
        for follower in self.followers:
            follower.pool_rescanned(uuid, mount_points)

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
                    usage, devices = pool_probe.current_usage(pool)
                except OSError as exc:  # unmounted a moment ago: the mount watcher says so
                    log.debug("usage of %s: %s", pool["name"], exc)
                    continue
                self.tree.set(("pools", pool["id"], "usage"), usage)
                self.tree.set(("pools", pool["id"], "devices"), devices)

    def mounts_changed(self, lines: list[str]) -> None:
        """The mount table changed (`lines` came or went): every pool is read again."""
        for uuid in self.intent:
            self.rescans.request(uuid)

    def disks_changed(self, pool_id: str) -> None:
        """A disk of the btrfs filesystem `pool_id` came, went or changed (a DiskFollower)."""
        self.rescans.request(pool_id)

    async def settle(self, uuid: str) -> dict[str, Any]:
        self.rescans.request(uuid)
        await self.rescans.settle()
        return self.tree.resource("pools", uuid)

    def job_ended(self, job: Job) -> None:
        """A job on a pool ended: what it changed is read back."""
        for name in job.params.get("disks", []):
            self.disk_rescans.request(name)
        self.rescans.request(job.target)

    async def job_settled(self) -> None:
        """Until the disks and pools asked to be read back are."""
        await asyncio.gather(self.disk_rescans.settle(), self.rescans.settle())

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
        if btrfs_sysfs.usage(pool_id, mountpoint=pool["mount_point"])["free_estimate"] < FULL:
            raise Unprocessable(f"pool {pool['name']} is full", code="no_space")
        return pool

    # -- keeping intent ---------------------------------------------------------------------

    def _name_free(self, name: str, uuid: str | None = None) -> None:
        """409 when a pool has the name, or its mount point is in use (see point_free)."""
        if any(p["name"] == name for p in self.intent.values()):
            raise Conflict(f"a pool named {name} exists", code="exists")
        mounting.point_free(self.mount_point(name), uuid)

    async def _save(self, uuid: str, intent: dict[str, Any]) -> None:
        await self.store.set_intent("pool", uuid, intent)
        self.intent[uuid] = intent

    async def _keep(self, uuid: str, intent: dict[str, Any], mounted: bool) -> None:
        """Save the intent of a pool that is now mounted; when that fails, unmount it again
        (if rockd mounted it): intent exists only for what was done."""
        try:
            await self._save(uuid, intent)
        except Exception:
            if mounted:
                with contextlib.suppress(CommandError):
                    await mounting.unmount(str(self.mount_point(intent["name"])))
            raise

    async def _wipe(self, paths: list[str]) -> None:
        """Erase the filesystem that create made on disks that were empty before."""
        for path in paths:
            result = await run(["wipefs", "--all", path], check=False)
            if result.returncode:
                log.warning("wipefs %s: %s", path, result.stderr.strip())

    # -- the pool's life -------------------------------------------------------------------

    async def create(self, name: str, disk_ids: list[str], data: str, metadata: str | None,
                     compression: str | None, extra_options: str) -> dict[str, Any]:
        """mkfs on empty disks, mount, then keep the intent. Everything is checked before
        mkfs; a failure after it erases what mkfs wrote, so the disks are empty again."""
        check_compression(compression)
        options = mount_options(extra_options, compression)
        metadata = metadata or profiles.default_metadata(data, len(disk_ids))
        check_profiles(data, metadata, len(disk_ids))
        async with self._claiming:
            await self.disk_rescans.settle()  # what a create just before made is seen
            disks = free_disks(self.tree, disk_ids)
            self._name_free(name)
            uuid = await self._format(disks, ["-L", name, "-d", data, "-m", metadata], options,
                                      {"name": name, "compression": compression,
                                       "mount_options": extra_options, "disk": disk_ids[0]})
        return await self.settle(uuid)

    async def _format(self, disks: list[dict[str, Any]], mkfs: list[str], options: str,
                      intent: dict[str, Any]) -> str:
        """mkfs.btrfs with `mkfs` arguments on the disks, mounted with `options`, `intent`
        kept: answers the new filesystem's UUID."""
        paths = [d["path"] for d in disks]
        try:  # without -f: mkfs refuses a disk formatted since rockd looked at it
            await run(["mkfs.btrfs", "--quiet", *mkfs, *paths], timeout=300)
        except CommandError as exc:
            if "existing filesystem" not in exc.stderr and "mounted" not in exc.stderr:
                raise
            raise Conflict(f"a disk is in use: {exc.stderr}", code="disk_in_use") from None
        try:
            made = await filesystem(paths[0])  # the signature mkfs just wrote
            if made is None or not made["uuid"]:
                raise RockdError(f"mkfs.btrfs left no filesystem on {paths[0]}")
            await mounting.mount(self.mount_point(intent["name"]), paths, intent["name"], options)
            await self._keep(made["uuid"], intent, mounted=True)
        except Exception:
            await self._wipe(paths)
            raise
        finally:
            for disk in disks:
                self.disk_rescans.request(disk["name"])
        return made["uuid"]

    async def import_(self, disk_id: str) -> dict[str, Any]:
        """Take over the btrfs filesystem on a disk: mounted from that disk (a copy of it on
        another disk is refused, never mounted instead), then its intent kept."""
        disk = importable_disk(self.tree, disk_id)
        fs, name = disk["filesystem"], disk["filesystem"]["label"]
        async with self._claiming:
            self._importable(disk)
            self._name_free(name, fs["uuid"])
            members = mounting.members(self.tree, fs["uuid"], disk_id)
            await self._all_managed(fs["uuid"])
            already = [m for m in btrfs_sysfs.mounts() if m["uuid"] == fs["uuid"]]
            if not already:
                await mounting.mount(self.mount_point(name), members, name, "defaults")
            await self._keep(fs["uuid"], {"name": name, "compression": None,
                                          "mount_options": "", "disk": disk_id},
                             mounted=not already)
        return await self.settle(fs["uuid"])

    async def _all_managed(self, uuid: str) -> None:
        """403 when a device of the filesystem `uuid` is not a disk rockd may change."""
        fs = next((f for f in await btrfs.filesystems() if f["uuid"] == uuid), None)
        for device in (fs or {}).get("devices", []):
            found = pool_probe.disk_id(self.tree, device["path"])
            if device["path"] and not (found and self.tree.get(("disks", found, "managed"))):
                raise Forbidden(f"{device['path']}, a device of that filesystem, is not managed "
                                "by rockd (see --devices)", code="unmanaged_device",
                                detail={"device": device["path"]})

    def _importable(self, disk: dict[str, Any]) -> None:
        """409 when the filesystem on `disk` is a pool already, or a copy of it (the same
        UUID, on another disk) is a pool or is mounted: import never takes the wrong one."""
        uuid, twins = disk["filesystem"]["uuid"], disk["filesystem"].get("duplicate_of") or []
        if uuid in self.intent:
            if twins:
                raise Conflict(f"disk {disk['id']} holds a copy of pool "
                               f"{self.intent[uuid]['name']} (the same filesystem UUID as "
                               f"disk {', '.join(twins)}); give it a UUID of its own first "
                               "(btrfstune -u)", code="duplicate_filesystem",
                               detail={"duplicate_of": twins})
            raise Conflict("that filesystem is a pool already", code="exists")
        mounted = [m["source"] for m in btrfs_sysfs.mounts() if m["uuid"] == uuid]
        if mounted and not (btrfs_sysfs.SYS_FS_BTRFS / uuid / "devices" / disk["name"]).exists():
            raise Conflict(f"a copy of that filesystem (the same UUID) is mounted from "
                           f"{mounted[0]}", code="duplicate_filesystem",
                           detail={"duplicate_of": twins, "mounted": mounted[0]})

    async def delete(self, pool_id: str, force: bool) -> None:
        pool = self.get(pool_id)
        shares = [s for s in (self.tree.get("/shares") or {}).values() if s["pool"] == pool_id]
        if shares and not force:
            raise Conflict(f"pool {pool['name']} holds {len(shares)} shares; "
                           "delete them or ask with force=true", code="not_empty",
                           detail={"shares": len(shares)})
        for mount in sorted(btrfs_sysfs.mounts(), key=lambda m: len(m["target"]), reverse=True):
            if mount["uuid"] == pool_id:
                await mounting.release(mount["target"], pool["name"])
        point = self.mount_point(pool["name"])
        if point.is_dir() and not point.is_mount():
            point.rmdir()
        await self.store.delete_intent("pool", pool_id)
        self.intent.pop(pool_id, None)
        self.tree.delete(("pools", pool_id))
        self._tell(pool_id)
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
        if changes.keys() & {"compression", "mount_options"}:  # checked before any change
            mount_options(new["mount_options"], new["compression"])
        if "label" in changes and changes["label"] != pool["name"]:
            async with self._claiming:
                await self._rename(pool, changes["label"])
                await self._save(pool_id, {**intent, "name": changes["label"]})  # done
            new["name"] = changes["label"]
        if new != intent or "compression" in changes or "mount_options" in changes:
            await mounting.remount(str(self.mount_point(new["name"])), new, pool["compression"])
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
            await mounting.unmount(str(old))
        except CommandError as exc:
            await run(["btrfs", "filesystem", "label", str(old), pool["name"]])
            raise Conflict(f"pool {pool['name']} is busy: {exc.stderr}", code="busy") from None
        old.rmdir()
        options = kept_options(self.intent[pool["id"]])
        members = [d["path"] for d in pool["devices"] if d["path"] and not d["missing"]]
        await mounting.mount(self.mount_point(name), members, name, options)

    async def add_disks(self, pool_id: str, disk_ids: list[str]) -> dict[str, Any]:
        pool = self.mounted(pool_id)
        disks = free_disks(self.tree, disk_ids)
        await run(["btrfs", "device", "add", *[d["path"] for d in disks], pool["mount_point"]],
                  timeout=300)
        for disk in disks:
            self.disk_rescans.request(disk["name"])
        return await self.settle(pool_id)

    async def mount(self, pool_id: str, degraded: bool = False) -> dict[str, Any]:
        """Mount a pool that is not mounted; `degraded` lets one with a missing disk mount."""
        pool = self.get(pool_id)
        if pool["mounted"]:
            raise Conflict(f"pool {pool['name']} is mounted already", code="mounted")
        intent = self.intent[pool_id]
        options = kept_options(intent)
        if degraded:
            options += ",degraded"
        members = mounting.members(self.tree, pool_id, intent.get("disk"))
        if not members:
            raise Unprocessable(f"no disk of pool {pool['name']} is present",
                                code="mount_failed",
                                detail={"missing_devices": pool["missing_devices"]})
        try:
            await mounting.mount(self.mount_point(pool["name"]), members, pool["name"], options)
        except Unprocessable as exc:
            exc.detail["missing_devices"] = pool["missing_devices"]
            raise
        return await self.settle(pool_id)

    async def unmount(self, pool_id: str) -> dict[str, Any]:
        pool = self.mounted(pool_id)
        await mounting.release(pool["mount_point"], pool["name"])
        return await self.settle(pool_id)

    async def reconcile(self) -> None:
        """At start-up: mount every pool that should be, and put back the options the user
        asked for where the system drifted from them (the drift is logged)."""
        mounts = btrfs_sysfs.mounts()
        for uuid, intent in self.intent.items():
            point = str(self.mount_point(intent["name"]))
            mine = next((m for m in mounts if m["uuid"] == uuid and m["target"] == point), None)
            try:
                options = kept_options(intent)
                if mine is None:
                    members = mounting.members(self.tree, uuid, intent.get("disk"))
                    if not members:
                        log.warning("pool %s: no disk of it is present; not mounted",
                                    intent["name"])
                        continue
                    await mounting.mount(self.mount_point(intent["name"]), members,
                                         intent["name"], options)
                    log.info("mounted pool %s", intent["name"])
                    continue
                if mounting.drifted(mine, intent, options):
                    log.warning("pool %s drifted: mounted with %s, wanted %s; remounting",
                                intent["name"],
                                ",".join(sorted(set(mounting.filesystem_options(mine)))), options)
                    await mounting.remount(point, intent,
                                           mounting.compression_of(mine["super_options"]))
            except (CommandError, RockdError) as exc:
                log.warning("pool %s: %s", intent["name"], exc)
