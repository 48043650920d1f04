"""The pool rules on a real Tree, without root: which disks a pool may take, which disks it
mounts from, what an import needs, how kept intent and mounts are read, and what the jobs asked
of a pool are refused for before anything starts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rockd.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from rockd.core.jobs import Jobs
from rockd.core.rescan import Rescanner
from rockd.core.tree import Tree
from rockd.storage.mounting import drifted, in_force, members
from rockd.storage.pool_input import free_disks, importable_disk, kept_options, require_disks
from rockd.storage.pool_jobs import PoolJobs, enough_left
from rockd.storage.pools import Pools

POOL = "d7258f6d-e96b-401c-a4e9-a58de85a65ab"


def disk(disk_id: str, **fields) -> dict:
    return {"id": disk_id, "name": disk_id, "path": f"/dev/{disk_id}", "size": 1 << 30,
            "managed": True, "filesystem": None, "partitions": [], "pool": None, **fields}


def btrfs_fs(label: str | None = "tank", duplicate_of: list[str] | None = None) -> dict:
    return {"type": "btrfs", "uuid": POOL, "label": label, "device_uuid": "d1",
            "duplicate_of": duplicate_of or []}


def tree_with(*disks: dict, pools: dict | None = None) -> Tree:
    tree = Tree()
    tree.set("/disks", {d["id"]: d for d in disks})
    tree.set("/pools", pools or {})
    return tree


def pool(mounted: bool = True, **fields) -> dict:
    return {"id": POOL, "name": "tank", "mounted": mounted,
            "mount_point": "/mnt/tank" if mounted else None, "data": "raid1",
            "metadata": "raid1", "missing_devices": 0,
            "devices": [{"devid": 1, "disk": "a", "path": "/dev/a", "size": 1 << 30,
                         "missing": False},
                        {"devid": 2, "disk": "b", "path": "/dev/b", "size": 1 << 30,
                         "missing": False}], **fields}


# -- the disks a pool takes ----------------------------------------------------------------

def test_free_disks_are_answered_in_the_order_given():
    tree = tree_with(disk("a"), disk("b"))
    assert [d["id"] for d in free_disks(tree, ["b", "a"])] == ["b", "a"]


@pytest.mark.parametrize(("held", "error", "code"), [
    ({"managed": False}, Forbidden, "unmanaged_device"),
    ({"pool": POOL}, Conflict, "disk_in_use"),
    ({"filesystem": {"type": "ext4"}}, Conflict, "disk_in_use"),
    ({"partitions": [{"name": "a1", "size": 1}]}, Conflict, "disk_in_use"),
])
def test_a_disk_that_is_not_free_is_refused(held, error, code):
    tree = tree_with(disk("a"), disk("b", **held))
    with pytest.raises(error) as raised:
        free_disks(tree, ["a", "b"])
    assert raised.value.code == code and raised.value.detail == {"disk": "b"}


def test_a_disk_named_twice_or_unknown_is_refused():
    tree = tree_with(disk("a"))
    with pytest.raises(BadRequest):
        free_disks(tree, ["a", "a"])
    with pytest.raises(NotFound):
        free_disks(tree, ["a", "nope"])


def test_an_importable_disk_holds_btrfs_with_a_valid_name():
    tree = tree_with(disk("a", filesystem=btrfs_fs()), disk("b", managed=False),
                     disk("c", filesystem={"type": "xfs"}), disk("d", filesystem=btrfs_fs(None)),
                     disk("e", filesystem=btrfs_fs("bad/name")))
    assert importable_disk(tree, "a")["id"] == "a"
    with pytest.raises(Forbidden):
        importable_disk(tree, "b")
    with pytest.raises(Unprocessable) as raised:
        importable_disk(tree, "c")
    assert raised.value.code == "not_btrfs"
    for bad in ("d", "e"):
        with pytest.raises(Unprocessable) as raised:
            importable_disk(tree, bad)
        assert raised.value.code == "invalid_name"


# -- which disks a pool mounts from ---------------------------------------------------------

def test_members_put_the_chosen_disk_first():
    tree = tree_with(disk("a", pool=POOL, filesystem=btrfs_fs()),
                     disk("b", pool=POOL, filesystem=btrfs_fs()), disk("c"))
    assert members(tree, POOL, "b") == ["/dev/b", "/dev/a"]
    assert members(tree, "other", "b") == []


def test_of_two_copies_only_the_chosen_one_mounts():
    tree = tree_with(disk("a", pool=POOL, filesystem=btrfs_fs(duplicate_of=["copy"])),
                     disk("copy", pool=POOL, filesystem=btrfs_fs(duplicate_of=["a"])))
    assert members(tree, POOL, "a") == ["/dev/a"]
    assert members(tree, POOL, "copy") == ["/dev/copy"]
    with pytest.raises(Conflict) as raised:
        members(tree, POOL, "elsewhere")
    assert raised.value.code == "duplicate_filesystem"


# -- kept intent and the mount table ---------------------------------------------------------

def test_kept_intent_mounts_without_what_is_refused_now(caplog):
    with caplog.at_level(logging.WARNING):
        options = kept_options({"name": "old", "compression": "zstd",
                                "mount_options": "noatime,rescue=usebackuproot,nodatacow"})
    assert options == "noatime,compress=zstd"
    assert "mounted without it" in caplog.text
    assert kept_options({"name": "old", "compression": "zlib:3\n",
                         "mount_options": "noatime,commit=08,nodatacow"}) == "noatime,nodatacow"
    assert kept_options({"name": "new", "compression": None, "mount_options": ""}) == "defaults"


@pytest.mark.parametrize(("option", "shown", "held"), [
    ("noatime", {"noatime"}, True),
    ("datacow", set(), True),
    ("datacow", {"nodatacow"}, False),
    ("nodiscard", {"discard=async"}, False),
    ("discard=sync", {"discard"}, True),
    ("commit=30", set(), True),  # the default: not shown
    ("commit=30", {"commit=60"}, False),
    ("autodefrag", set(), False),
])
def test_options_in_force_as_the_kernel_shows_them(option, shown, held):
    assert in_force(option, shown) is held


def test_a_mount_drifts_from_options_or_compression():
    mount = {"options": ["rw", "noatime"], "super_options": ["compress=zstd:3", "subvol=/"]}
    intent = {"compression": "zstd", "mount_options": "noatime"}
    assert not drifted(mount, intent, "noatime,compress=zstd")
    assert drifted(mount, intent, "noatime,autodefrag,compress=zstd")
    assert drifted(mount, {**intent, "compression": "lzo"}, "noatime,compress=lzo")
    assert drifted(mount, {**intent, "compression": None}, "noatime")


# -- the jobs asked of a pool: refused before anything starts -------------------------------

def test_enough_left_counts_every_profile_in_use():
    with pytest.raises(Unprocessable) as raised:
        enough_left(pool(), [], 1)  # raid1 data and metadata, from the pool
    assert raised.value.detail == {"profile": "raid1", "minimum": 2, "remaining": 1}
    with pytest.raises(Unprocessable) as raised:
        enough_left(pool(data="single"), [("data", "single"), ("metadata", "raid1c3")], 2)
    assert raised.value.detail["profile"] == "raid1c3"
    enough_left(pool(), [("data", "single"), ("metadata", "dup")], 1)
    require_disks("raid6", "raid6", 3, "given", "has")


@pytest.fixture
def pool_jobs(tmp_path: Path) -> tuple[Tree, PoolJobs]:
    tree = tree_with(disk("a", pool=POOL), disk("b", pool=POOL), disk("small", size=1 << 20),
                     pools={POOL: pool()})
    pools = Pools(tree, store=None, mount_root=tmp_path,
                  disk_rescans=Rescanner("disk", lambda name: None))
    return tree, PoolJobs(pools, Jobs(tree))


def test_every_job_needs_the_pool_mounted(pool_jobs):
    tree, work = pool_jobs
    tree.set(("pools", POOL), pool(mounted=False))
    for ask in (lambda: work.scrub(POOL, False), lambda: work.balance(POOL, None),
                lambda: work.convert(POOL, "single", None),
                lambda: work.resize(POOL, "a", None), lambda: work.remove_disks(POOL, ["a"]),
                lambda: work.replace_disk(POOL, "a", "small")):
        with pytest.raises(Conflict) as raised:
            ask()
        assert raised.value.code == "not_mounted"
    with pytest.raises(NotFound):
        work.scrub("no-such-pool", False)


def test_refused_pool_jobs(pool_jobs):
    tree, work = pool_jobs
    refusals = [
        (lambda: work.balance(POOL, "-dconvert=raid1c3"), Unprocessable, "not_enough_disks"),
        (lambda: work.balance(POOL, "-dusage=101"), BadRequest, "invalid_field"),
        (lambda: work.convert(POOL, "raid6", "raid1c4"), Unprocessable, "not_enough_disks"),
        (lambda: work.convert(POOL, "dup", None), BadRequest, "invalid_field"),
        (lambda: work.resize(POOL, "small", None), Unprocessable, "not_in_pool"),
        (lambda: work.remove_disks(POOL, ["a"]), Unprocessable, "not_enough_disks"),
        (lambda: work.remove_disks(POOL, ["small"]), Unprocessable, "not_in_pool"),
        (lambda: work.remove_disks(POOL, ["missing", "a"]), BadRequest, "invalid_field"),
        (lambda: work.remove_disks(POOL, ["missing"]), Conflict, "no_missing_device"),
        (lambda: work.replace_disk(POOL, "devid:02", "small"), BadRequest, "invalid_field"),
        (lambda: work.replace_disk(POOL, "devid:9", "small"), NotFound, "not_found"),
        (lambda: work.replace_disk(POOL, "small", "small"), Unprocessable, "not_in_pool"),
        (lambda: work.replace_disk(POOL, "a", "b"), Conflict, "disk_in_use"),
        (lambda: work.replace_disk(POOL, "a", "small"), Unprocessable, "too_small"),
    ]
    for ask, error, code in refusals:
        with pytest.raises(error) as raised:
            ask()
        assert raised.value.code == code, (code, raised.value)
    assert tree.get("/jobs") is None  # nothing started
