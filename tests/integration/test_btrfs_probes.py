"""The btrfs probes on real pools: sparse files, loop devices, mkfs.btrfs, mount (root only).

Each fixture unmounts what it mounted and detaches the loop devices it attached, failed test or
not, and touches no device it did not make.
"""

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rockd.storage import btrfs, btrfs_ioctl, btrfs_sysfs

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for loop devices and mounts"),
    pytest.mark.skipif(not (shutil.which("mkfs.btrfs") and shutil.which("losetup")),
                       reason="needs btrfs-progs and losetup"),
]

MiB = 1 << 20
DISK = 512 * MiB
WRITTEN = 64 * MiB


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True)


@dataclass
class Pool:
    uuid: str
    mkfs_uuid: str
    loops: list[str]
    mnt: Path
    base: Path
    mounted: list[Path] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)

    def mount(self, target: Path, *options: str, device: str | None = None) -> Path:
        target.mkdir(parents=True, exist_ok=True)
        sh("mount", *(["-o", ",".join(options)] if options else []),
           device or self.loops[0], str(target))
        self.mounted.append(target)
        return target

    def umount(self, target: Path) -> None:
        sh("umount", str(target))
        self.mounted.remove(target)

    def detach(self, device: str) -> None:
        sh("btrfs", "device", "scan", "--forget", device, check=False)
        sh("losetup", "--detach", device)
        self.attached.remove(device)


@contextmanager
def made_pool(base: Path, count: int, *mkfs_args: str) -> Iterator[Pool]:
    """`count` loop devices of DISK bytes, one btrfs across them, mounted at base/"pool mnt"."""
    pool = Pool("", "", [], base / "pool mnt", base)
    try:
        for i in range(count):
            image = base / f"disk {i}.img"
            with image.open("wb") as f:
                f.truncate(DISK)
            device = sh("losetup", "--find", "--show", str(image)).stdout.strip()
            assert device.startswith("/dev/loop")
            pool.attached.append(device)
            pool.loops.append(device)
        made = sh("mkfs.btrfs", "-K", *mkfs_args, *pool.loops).stdout
        pool.mkfs_uuid = re.search(r"^UUID:\s+(\S+)$", made, re.M)[1]
        pool.uuid = sh("blkid", "-p", "-s", "UUID", "-o", "value", pool.loops[0]).stdout.strip()
        pool.mount(pool.mnt)
        yield pool
    finally:
        for target in reversed(pool.mounted):
            if sh("umount", str(target), check=False).returncode != 0:
                sh("umount", "--lazy", str(target), check=False)
        for device in pool.attached:
            sh("btrfs", "device", "scan", "--forget", device, check=False)
            sh("losetup", "--detach", device, check=False)


def write(path: Path, size: int) -> None:
    with path.open("wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
    sh("btrfs", "filesystem", "sync", str(path.parent))


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Iterator[Pool]:
    """raid1 on two loops, quotas on, shares and snapshots (read-only and not), 64 MiB in
    "data" written after its snapshot (so it is exclusive to it), a second mount of "share
    one" by subvol=."""
    with made_pool(tmp_path_factory.mktemp("btrfs"), 2, "-L", "rockd test", "-d", "raid1",
                   "-m", "raid1") as pool:
        mnt = pool.mnt
        sh("btrfs", "quota", "enable", str(mnt))
        for name in ("share one", "data", "data/nested", "frozen"):
            sh("btrfs", "subvolume", "create", str(mnt / name))
        (mnt / ".snapshots" / "data").mkdir(parents=True)
        sh("btrfs", "subvolume", "snapshot", "-r", str(mnt / "data"),
           str(mnt / ".snapshots" / "data" / "snap 1"))
        sh("btrfs", "subvolume", "snapshot", str(mnt / "share one"), str(mnt / "clone"))
        sh("btrfs", "property", "set", str(mnt / "frozen"), "ro", "true")
        sh("btrfs", "qgroup", "limit", "1G", str(mnt / "share one"))  # JSON output aborts now
        write(mnt / "data" / "blob", WRITTEN)
        pool.mount(pool.base / "share mnt", "subvol=share one")
        yield pool


def filesystem_usage(mnt: Path) -> dict[str, int]:
    """The raw figures of `btrfs filesystem usage` (its free estimate is not what rockd shows:
    tests/integration/test_capacity.py checks that one against a fill)."""
    text = sh("btrfs", "filesystem", "usage", "-b", str(mnt)).stdout

    def field(label: str) -> int:
        return int(re.search(rf"^\s+{label}:\s+(\d+)", text, re.M)[1])
    return {"size": field("Device size"), "allocated": field("Device allocated"),
            "used": field("Used")}


async def test_filesystems(pool):
    assert pool.uuid == pool.mkfs_uuid
    fs = next(f for f in await btrfs.filesystems() if f["uuid"] == pool.uuid)
    assert fs["label"] == "rockd test" and fs["total_devices"] == 2
    assert [(d["devid"], d["path"], d["size"], d["missing"]) for d in fs["devices"]] == [
        (1, pool.loops[0], DISK, False), (2, pool.loops[1], DISK, False)]
    assert all(d["used"] > WRITTEN for d in fs["devices"])  # allocated: one copy on each
    assert fs["bytes_used"] >= WRITTEN and fs["devices_missing"] == 0


async def test_usage_and_profiles(pool):
    assert btrfs_sysfs.profiles(pool.uuid) == {"data": "raid1", "metadata": "raid1",
                                         "system": "raid1"}
    got = btrfs_sysfs.usage(pool.uuid, mountpoint=pool.mnt)
    want = filesystem_usage(pool.mnt)
    assert {k: got[k] for k in want} == want
    assert got["size"] == 2 * DISK and got["data_ratio"] == 2.0
    assert got["allocation"]["data"]["used"] >= WRITTEN
    assert got["used"] >= 2 * WRITTEN  # raw: both copies
    assert btrfs_sysfs.usage(pool.uuid) == got  # the mount point found through mounts()
    assert [(d["devid"], d["path"], d["size"]) for d in btrfs_ioctl.device_info(pool.mnt)] == [
        (1, pool.loops[0], DISK), (2, pool.loops[1], DISK)]


async def test_subvolumes(pool):
    subs = {s["path"]: s for s in await btrfs.subvolumes(pool.mnt)}
    assert set(subs) == {"share one", "data", "data/nested", "frozen", ".snapshots/data/snap 1",
                         "clone"}
    assert {p for p, s in subs.items() if s["read_only"]} == {".snapshots/data/snap 1",
                                                              "frozen"}
    shown = sh("btrfs", "subvolume", "show", str(pool.mnt / "data")).stdout
    data = subs["data"]
    assert data["uuid"] == re.search(r"^\s+UUID:\s+(\S+)$", shown, re.M)[1]
    assert data["id"] == int(re.search(r"Subvolume ID:\s+(\d+)", shown)[1])
    snap = subs[".snapshots/data/snap 1"]
    assert snap["parent_uuid"] == data["uuid"] and snap["received_uuid"] is None
    assert subs["clone"]["parent_uuid"] == subs["share one"]["uuid"]
    assert subs["data/nested"]["parent_id"] == data["id"]
    now = datetime.now(UTC)
    for path in (".snapshots/data/snap 1", "clone"):
        created = datetime.fromisoformat(subs[path]["created"])
        assert now - timedelta(minutes=5) < created <= now + timedelta(seconds=2)
    created = datetime.fromisoformat(data["created"])  # the root tree has every otime
    assert now - timedelta(minutes=5) < created <= now + timedelta(seconds=2)
    # the same, seen through the mount of "share one"
    inner = await btrfs.subvolumes(pool.base / "share mnt")
    assert {s["path"]: s["id"] for s in inner} == {p: s["id"] for p, s in subs.items()}


async def test_root_tree_and_btrfs_progs_agree(pool):
    read = {s["id"]: s for s in await btrfs.subvolumes(pool.mnt)}
    listed = {s["id"]: s for s in await btrfs.subvolumes_listed(pool.mnt)}
    assert read.keys() == listed.keys()
    for subvol, mine in read.items():
        theirs = listed[subvol]
        assert {k: v for k, v in mine.items() if k != "created"} == \
            {k: v for k, v in theirs.items() if k != "created"}
        # btrfs-progs prints otime for snapshots only; where it does, both agree
        assert theirs["created"] in (None, mine["created"])
    assert listed[read_id(read, "data")]["created"] is None


def read_id(subvolumes: dict, path: str) -> int:
    return next(i for i, s in subvolumes.items() if s["path"] == path)


async def test_qgroups(pool):
    subs = {s["path"]: s["id"] for s in await btrfs.subvolumes(pool.mnt)}
    sh("btrfs", "filesystem", "sync", str(pool.mnt))
    groups = await btrfs.qgroups(pool.mnt)
    data = groups[f"0/{subs['data']}"]
    assert data["exclusive"] >= WRITTEN and data["referenced"] >= data["exclusive"]
    assert data["max_referenced"] is None and data["max_exclusive"] is None
    share = groups[f"0/{subs['share one']}"]
    assert share["max_referenced"] == 1 << 30 and share["max_exclusive"] is None
    assert {f"0/{i}" for i in subs.values()} <= set(groups)
    from_sysfs = btrfs_sysfs.qgroups_sysfs(pool.uuid)
    for key in (f"0/{subs['data']}", f"0/{subs['share one']}"):
        assert from_sysfs[key] == groups[key]


async def test_device_stats(pool):
    stats = await btrfs.device_stats(pool.mnt)
    assert set(stats) == set(pool.loops)
    assert all(v == 0 for s in stats.values() for k, v in s.items() if k != "devid")


async def test_mounts(pool):
    ours = [m for m in btrfs_sysfs.mounts() if m["uuid"] == pool.uuid]
    assert sorted(m["target"] for m in ours) == sorted([str(pool.mnt),
                                                        str(pool.base / "share mnt")])
    top = next(m for m in ours if m["target"] == str(pool.mnt))
    share = next(m for m in ours if m["target"] != str(pool.mnt))
    share_id = next(s["id"] for s in await btrfs.subvolumes(pool.mnt)
                    if s["path"] == "share one")
    assert top["source"] in pool.loops and top["subvol"] == "/" and top["subvolid"] == 5
    assert share["subvol"] == "/share one" and share["subvolid"] == share_id
    assert share["root"] == "/share one" and share["major_minor"] == top["major_minor"]
    assert "rw" in top["options"] and "space_cache=v2" in top["super_options"]


async def test_used_grows_after_writing(pool):
    share = pool.mnt / "share one"
    share_id = next(s["id"] for s in await btrfs.subvolumes(pool.mnt)
                    if s["path"] == "share one")
    before = btrfs_sysfs.usage(pool.uuid)
    fs_before = next(f for f in await btrfs.filesystems() if f["uuid"] == pool.uuid)
    q_before = (await btrfs.qgroups(pool.mnt))[f"0/{share_id}"]
    try:
        write(share / "grow.bin", WRITTEN)
        after = btrfs_sysfs.usage(pool.uuid)
        fs_after = next(f for f in await btrfs.filesystems() if f["uuid"] == pool.uuid)
        q_after = (await btrfs.qgroups(pool.mnt))[f"0/{share_id}"]
    finally:
        (share / "grow.bin").unlink(missing_ok=True)
        sh("btrfs", "filesystem", "sync", str(pool.mnt))
    data_before, data_after = before["allocation"]["data"], after["allocation"]["data"]
    assert data_after["used"] - data_before["used"] >= WRITTEN
    assert after["used"] - before["used"] >= 2 * WRITTEN  # raw, raid1
    assert after["free_estimate"] <= before["free_estimate"] - WRITTEN
    assert fs_after["bytes_used"] - fs_before["bytes_used"] >= WRITTEN
    assert q_after["exclusive"] - q_before["exclusive"] >= WRITTEN


async def test_missing_device(tmp_path):
    """raid1 of two loops; unmount, detach one: listed as missing unmounted and degraded."""
    with made_pool(tmp_path, 2, "-d", "raid1", "-m", "raid1") as pool:
        write(pool.mnt / "blob", 8 * MiB)
        assert await btrfs.qgroups(pool.mnt) is None  # quotas were never enabled
        pool.umount(pool.mnt)
        pool.detach(pool.loops[1])

        fs = next(f for f in await btrfs.filesystems() if f["uuid"] == pool.uuid)
        assert fs["label"] is None and fs["total_devices"] == 2
        assert [d["path"] for d in fs["devices"]] == [pool.loops[0]]
        assert fs["devices_missing"] == 1

        pool.mount(pool.mnt, "degraded")
        fs = next(f for f in await btrfs.filesystems() if f["uuid"] == pool.uuid)
        assert [(d["devid"], d["path"], d["missing"]) for d in fs["devices"]] == [
            (1, pool.loops[0], False), (2, None, True)]
        (mount,) = [m for m in btrfs_sysfs.mounts() if m["uuid"] == pool.uuid]
        assert "degraded" in mount["super_options"]
        # the missing device still counts at its size, as in `btrfs filesystem usage`
        got = btrfs_sysfs.usage(pool.uuid)
        want = filesystem_usage(pool.mnt)
        assert {k: got[k] for k in want} == want and got["size"] == 2 * DISK
        assert [d["path"] for d in btrfs_ioctl.device_info(pool.mnt)] == [pool.loops[0], None]
        stats = await btrfs.device_stats(pool.mnt)
        assert set(stats) == {pool.loops[0], "devid:2"} and stats["devid:2"]["devid"] == 2
