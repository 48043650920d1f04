"""A pool unmounted while rockd reads it (the mount table read a moment before the unmount
still lists it) is read again as unmounted, not a failed rescan."""

from __future__ import annotations

from rockd.storage import btrfs_sysfs
from tests.support.host import umount_by_hand
from tests.support.rig import wait_for


async def test_a_pool_unmounted_while_it_is_read_is_read_again(rockd, monkeypatch):
    box = await rockd(devices=1, pool="single")
    daemon, tank = box.daemon, box.pool
    pools = daemon.context.pools
    before = [m for m in btrfs_sysfs.mounts() if m["uuid"] == tank["id"]]
    assert before
    umount_by_hand(tank["mount_point"])

    async def unmounted():
        return daemon.tree.get(("pools", tank["id"], "mounted")) is False
    await wait_for(unmounted)
    await pools.rescans.settle()

    real = btrfs_sysfs.mounts
    tables = iter([real() + before])  # the table as read just before the unmount, once

    def mounts(**kwargs):
        return next(tables, None) or real(**kwargs)
    monkeypatch.setattr(btrfs_sysfs, "mounts", mounts)
    await pools.rescan(tank["id"])  # reads the stale mount first: its commands then fail
    pool = daemon.tree.get(("pools", tank["id"]))
    assert (pool["mounted"], pool["mount_point"], pool["usage"]) == (False, None, None)
