"""The long work asked of a pool, run as jobs: scrub, balance (with filters), profile
conversion, device remove and replace, resize, trim and dedup.

Each request is checked against the pool as it is (mounted, the disks named in it, enough
disks left for every profile in use) and refused before anything starts; the job kinds that
do the work live in rockd.jobs, and the pools read back what a job changed (`ReadBack`).
"""

from __future__ import annotations

import os
from typing import Any

from rockd.core import resources
from rockd.core.errors import BadRequest, Conflict, NotFound, Unprocessable
from rockd.core.jobs import Jobs
from rockd.storage import btrfs_ioctl, btrfs_sysfs, pool_care, profiles
from rockd.storage.pool_input import (
    MISSING,
    balance_conversions,
    balance_filters,
    check_profiles,
    devid_of,
    free_disks,
    require_disks,
)
from rockd.storage.pools import Pools


def _present(pool: dict[str, Any]) -> int:
    return sum(1 for d in pool["devices"] if not d["missing"])


def _device_of(pool: dict[str, Any], disk_id: str) -> dict[str, Any]:
    """The pool's device on disk `disk_id`; 422 not_in_pool when it has none."""
    device = next((d for d in pool["devices"] if d["disk"] == disk_id), None)
    if device is None:
        raise Unprocessable(f"disk {disk_id} is not in pool {pool['name']}", code="not_in_pool")
    return device


def enough_left(pool: dict[str, Any], used: list[tuple[str, str]], remaining: int) -> None:
    """422 not_enough_disks when a profile in use needs more than `remaining` present devices.
    `used` is (block group type, profile) of every profile that has chunks, as in the kernel's
    own check (a degraded mount or an unfinished convert leaves chunks of more than one
    profile); empty, the pool's data and metadata profiles count."""
    used = used or [(kind, pool[kind]) for kind in ("data", "metadata") if pool[kind]]
    for kind, name in sorted(used, key=lambda u: -profiles.info(u[1]).min_devices):
        require_disks(name, f"{name} {kind}", remaining, "remaining", "would remain:")


def _profiles_in_use(pool_id: str) -> list[tuple[str, str]]:
    """(block group type, profile) of every profile with chunks in the pool (sysfs)."""
    try:
        allocation = btrfs_sysfs.read_allocation(pool_id)
    except OSError:
        return []
    return [(kind, name) for kind in ("data", "metadata", "system")
            for name in allocation[kind]["profiles"]]


class PoolJobs:
    """Starts the jobs asked of pools, each once the pool is checked to allow it."""

    def __init__(self, pools: Pools, jobs: Jobs):
        self.pools = pools
        self.jobs = jobs

    def scrub(self, pool_id: str, readonly: bool) -> resources.Job:
        pool = self.pools.mounted(pool_id)
        return self.jobs.start("scrub", pool_id, {
            "mount_point": pool["mount_point"], "readonly": readonly,
            "devids": [d["devid"] for d in pool["devices"] if not d["missing"]],
            # read now: writes raise no event, so the tree's usage may be behind
            "bytes": btrfs_sysfs.usage(pool_id, mountpoint=pool["mount_point"])["used"]})

    def _one_at_a_time(self, kind: str, pool: dict[str, Any]) -> None:
        """409 running when a job of `kind` on the pool has not ended."""
        for job in (self.pools.tree.get("/jobs") or {}).values():
            if job["kind"] == kind and job["target"] == pool["id"] and \
                    job["state"] in ("queued", "running", "paused"):
                raise Conflict(f"a {kind} of pool {pool['name']} is running (job "
                               f"{job['id']})", code="running", detail={"job": job["id"]})

    def trim(self, pool_id: str) -> resources.Job:
        """fstrim of a mounted pool whose devices take discard (422 discard_unsupported)."""
        pool = self.pools.mounted(pool_id)
        self._one_at_a_time("trim", pool)
        devices = pool_care.discard_devices(pool)
        return self.jobs.start("trim", pool_id, {"mount_point": pool["mount_point"],
                                                 "devices": devices})

    def dedup(self, pool_id: str, share_ids: list[str] | None) -> resources.Job:
        """duperemove over the shares named (of this pool), or over the whole pool."""
        pool = self.pools.mounted(pool_id)
        self._one_at_a_time("dedup", pool)
        paths, excludes = pool_care.dedup_paths(self.pools.tree, pool, share_ids)
        return self.jobs.start("dedup", pool_id, {
            "mount_point": pool["mount_point"], "shares": share_ids, "paths": paths,
            "excludes": excludes, "hash_file": str(pool_care.hash_file(pool["mount_point"]))})

    def balance(self, pool_id: str, filter_text: str | None) -> resources.Job:
        """A balance job with the user's filters; 422 for a conversion to a profile that needs
        more disks than the pool has."""
        pool = self.pools.mounted(pool_id)
        args = balance_filters(filter_text)
        for profile in balance_conversions(args):
            require_disks(profile, profile, _present(pool), "given",
                          f"pool {pool['name']} has")
        return self.jobs.start("balance", pool_id, {
            "mount_point": pool["mount_point"], "args": args})

    def convert(self, pool_id: str, data: str, metadata: str | None) -> resources.Job:
        pool = self.pools.mounted(pool_id)
        metadata = metadata or pool["metadata"]
        check_profiles(data, metadata, _present(pool))
        return self.jobs.start("balance", pool_id, {
            "mount_point": pool["mount_point"],
            "args": ["--force", f"-dconvert={data}", f"-mconvert={metadata}"]})

    def resize(self, pool_id: str, disk_id: str, size: int | None) -> resources.Job:
        """Grow (or shrink) btrfs on one disk: to the whole disk, or to `size` bytes."""
        pool = self.pools.mounted(pool_id)
        device = _device_of(pool, disk_id)
        amount = "max" if size is None else str(size)
        return self.jobs.start("resize", pool_id, {
            "argv": ["btrfs", "filesystem", "resize", f"{device['devid']}:{amount}",
                     pool["mount_point"]],
            "mount_point": pool["mount_point"]})

    def remove_disks(self, pool_id: str, disk_ids: list[str]) -> resources.Job:
        """A device_remove job for the disks, or, for ["missing"], for a device that is gone."""
        pool = self.pools.mounted(pool_id)
        if MISSING in disk_ids:
            return self._remove_missing(pool, disk_ids)
        paths = [_device_of(pool, disk_id)["path"] for disk_id in disk_ids]
        enough_left(pool, _profiles_in_use(pool_id), _present(pool) - len(paths))
        return self.jobs.start("device_remove", pool_id, {
            "argv": ["btrfs", "device", "remove", *paths, pool["mount_point"]],
            "mount_point": pool["mount_point"], "disks": [os.path.basename(p) for p in paths]})

    def _remove_missing(self, pool: dict[str, Any], disk_ids: list[str]) -> resources.Job:
        """`btrfs device remove missing`: the pool (mounted degraded) forgets one device that
        is gone, after writing the copies it held onto the present devices."""
        if disk_ids != [MISSING]:
            raise BadRequest('"missing" is asked for alone, without disk ids',
                             code="invalid_field", detail={"field": "remove"})
        if not pool["missing_devices"]:
            raise Conflict(f"pool {pool['name']} has no missing device",
                           code="no_missing_device")
        enough_left(pool, _profiles_in_use(pool["id"]), _present(pool))
        return self.jobs.start("device_remove", pool["id"], {
            "argv": ["btrfs", "device", "remove", MISSING, pool["mount_point"]],
            "mount_point": pool["mount_point"], "disks": []})

    def replace_disk(self, pool_id: str, old_ref: str, new_id: str) -> resources.Job:
        """A device_replace job: `old_ref` is a disk id of the pool, or `devid:N` for device N
        (a missing one too: the pool is then mounted degraded)."""
        pool = self.pools.mounted(pool_id)
        devid = devid_of(old_ref)
        if devid is None:
            old = _device_of(pool, old_ref)
        else:
            found = next((d for d in pool["devices"] if d["devid"] == devid), None)
            if found is None:
                raise NotFound(f"pool {pool['name']} has no device {devid}",
                               detail={"devid": devid})
            old = found
        (new,) = free_disks(self.pools.tree, [new_id])
        needed = old["size"]
        if old["missing"]:  # `filesystem show` says 0; the kernel knows the size btrfs used
            needed = next((d["size"] for d in btrfs_ioctl.device_info(pool["mount_point"])
                           if d["devid"] == old["devid"]), needed)
        if new["size"] < needed:
            raise Unprocessable("the new disk is smaller than the one it replaces",
                                code="too_small", detail={"needed": needed})
        names = [new["name"]] + ([os.path.basename(old["path"])] if old["path"] else [])
        return self.jobs.start("device_replace", pool_id, {
            "argv": ["btrfs", "replace", "start", "-B", str(old["devid"]), new["path"],
                     pool["mount_point"]],
            "mount_point": pool["mount_point"], "disks": names})
