"""The btrfs parsers on output captured from btrfs-progs 6.2 (tests/data/btrfs/README.md)."""

import json
import logging
import re
from pathlib import Path

import pytest

from rockd.core.process import CommandError, Result
from rockd.storage import btrfs, btrfs_parsers, btrfs_sysfs
from rockd.storage.profiles import GiB, KiB, MiB

DATA = Path(__file__).resolve().parents[1] / "data" / "btrfs"
MY_POOL = "d7258f6d-e96b-401c-a4e9-a58de85a65ab"
SINGLE = "f896eb68-87cd-474a-aed7-471a801b37b0"
DATA_UUID = "e64cfe50-6855-7a4d-bb24-aa298d55e70f"


def read(name: str) -> str:
    return (DATA / name).read_text()


def fake_run(answers: dict[str, Result], seen: list[list[str]] | None = None):
    """A stand-in for process.run answering by the argv's flags."""
    async def run(argv, *, timeout=60.0, check=True):
        if seen is not None:
            seen.append(argv)
        for key, result in answers.items():
            if key in argv:
                if check and result.returncode:
                    raise CommandError(argv, result.returncode, result.stderr)
                return result
        raise AssertionError(f"unexpected command {argv}")
    return run


# --- filesystem show -----------------------------------------------------------------------

def test_filesystem_show_two_pools():
    pools = btrfs_parsers.parse_filesystem_show(read("filesystem-show.txt"))
    assert [p["uuid"] for p in pools] == [MY_POOL, SINGLE]
    mine, single = pools
    assert mine["label"] == "my pool" and single["label"] is None
    assert mine["total_devices"] == 2 and mine["bytes_used"] == 61161472
    assert mine["devices"] == [
        {"devid": 1, "size": 1 << 30, "used": 659292160, "path": "/dev/loop0", "missing": False},
        {"devid": 2, "size": 1 << 30, "used": 659292160, "path": "/dev/loop1", "missing": False},
    ]
    assert mine["devices_missing"] == 0
    assert single["devices"] == [{"devid": 1, "size": 512 << 20, "used": 92274688,
                                  "path": "/dev/loop2", "missing": False}]
    json.dumps(pools)


def test_filesystem_show_missing_device_unmounted():
    """Unmounted, btrfs-progs only says "Some devices missing": counted, not listed."""
    mine, single = btrfs_parsers.parse_filesystem_show(
        read("filesystem-show-missing-unmounted.txt"))
    assert mine["uuid"] == MY_POOL and mine["total_devices"] == 2
    assert [d["devid"] for d in mine["devices"]] == [1]
    assert mine["devices_missing"] == 1
    assert single["devices_missing"] == 0


def test_filesystem_show_missing_device_degraded():
    mine, _ = btrfs_parsers.parse_filesystem_show(read("filesystem-show-missing-degraded.txt"))
    assert mine["devices"][1] == {"devid": 2, "size": 0, "used": 0, "path": None,
                                  "missing": True}
    assert mine["devices"][0]["missing"] is False and mine["devices_missing"] == 1


def test_filesystem_show_missing_device_never_seen():
    """Missing since before this mount (forgotten): btrfs-progs prints an empty path."""
    (pool,) = btrfs_parsers.parse_filesystem_show(read("filesystem-show-missing-forgotten.txt"))
    assert pool["devices"][1] == {"devid": 2, "size": 0, "used": 0, "path": None,
                                  "missing": True}
    assert pool["devices_missing"] == 1


def test_filesystem_show_label_with_quotes():
    (pool,) = btrfs_parsers.parse_filesystem_show(read("filesystem-show-quoted-label.txt"))
    assert pool["label"] == "it's a 'pool'"
    assert [d["size"] for d in pool["devices"]] == [1 << 30, 512 << 20, 512 << 20]


def test_filesystem_show_label_with_newlines():
    """Hand-made from the captured text: a label of three lines is joined back; its devices
    go to it, not to the filesystem listed before it."""
    text = read("filesystem-show.txt").replace("Label: none", "Label: 'two\nlines\n'")
    mine, odd = btrfs_parsers.parse_filesystem_show(text)
    assert odd["label"] == "two\nlines\n" and odd["uuid"] == SINGLE
    assert len(mine["devices"]) == 2 and len(odd["devices"]) == 1
    broken = read("filesystem-show.txt").replace("Label: none  uuid", "Label: 'never closed")
    (mine,) = btrfs_parsers.parse_filesystem_show(broken)
    assert len(mine["devices"]) == 2  # the orphaned device line is not taken as its own


def test_filesystem_show_nothing_and_noise(caplog):
    assert btrfs_parsers.parse_filesystem_show("") == []
    text = read("filesystem-show.txt").replace("\tTotal devices 1", "\tsomething new\n"
                                                                    "\tTotal devices 1")
    with caplog.at_level(logging.WARNING):
        pools = btrfs_parsers.parse_filesystem_show(text)
    assert len(pools) == 2 and "something new" in caplog.text


# --- device stats --------------------------------------------------------------------------

def test_device_stats_zero():
    stats = btrfs_parsers.parse_device_stats(read("device-stats.json"))
    assert stats == {"/dev/loop2": {k: 0 for k in btrfs_parsers.DEVICE_STAT_KEYS} | {"devid": 1}}


def test_device_stats_errors_and_missing_device():
    stats = btrfs_parsers.parse_device_stats(read("device-stats-errors.json"))
    assert stats["/dev/loop1"]["corruption_errs"] == 16 and stats["/dev/loop1"]["devid"] == 2
    assert stats["/dev/loop0"]["corruption_errs"] == 0
    degraded = btrfs_parsers.parse_device_stats(read("device-stats-degraded.json"))
    assert set(degraded) == {"/dev/loop0", "devid:2"}
    assert degraded["devid:2"]["corruption_errs"] == 16
    forgotten = btrfs_parsers.parse_device_stats(read("device-stats-missing-forgotten.json"))
    assert set(forgotten) == {"/dev/loop3", "devid:2"} and forgotten["devid:2"]["devid"] == 2


async def test_device_stats_exit_64_is_an_answer(monkeypatch):
    monkeypatch.setattr(btrfs, "run", fake_run({"stats": Result(64, read(
        "device-stats-errors.json"), "")}))
    stats = await btrfs.device_stats("/mnt")
    assert stats["/dev/loop1"]["corruption_errs"] == 16
    monkeypatch.setattr(btrfs, "run", fake_run({"stats": Result(1, "", "ERROR: not btrfs")}))
    with pytest.raises(CommandError):
        await btrfs.device_stats("/mnt")


# --- subvolumes ----------------------------------------------------------------------------

def test_subvolume_list():
    subs = btrfs_parsers.parse_subvolume_list(read("subvolume-list.txt"))
    by_path = {s["path"]: s for s in subs}
    assert list(by_path) == ["data", "my share", ".snapshots/data/2024-01-01 daily",
                             "data/nested", "bad\nname", "clone of share", "ends with space ",
                             ".snapshots/data/second"]
    data = by_path["data"]
    assert data == {"id": 256, "parent_id": 5, "top_level": 5, "path": "data",
                    "uuid": DATA_UUID, "parent_uuid": None, "received_uuid": None,
                    "read_only": False, "generation": 19, "ogeneration": 7, "created": None}
    snap = by_path[".snapshots/data/2024-01-01 daily"]
    assert snap["parent_uuid"] == DATA_UUID and snap["id"] == 258
    nested = by_path["data/nested"]  # printed as <FS_TREE>/data/nested
    assert nested["parent_id"] == nested["top_level"] == 256
    assert by_path["clone of share"]["parent_uuid"] == by_path["my share"]["uuid"]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", s["uuid"]) for s in subs)
    json.dumps(subs)


def test_subvolume_list_at_a_mounted_subvolume_gives_the_same_paths():
    """-a prints paths outside the mounted subvolume as <FS_TREE>/...: all come out alike."""
    at_top = btrfs_parsers.parse_subvolume_list(read("subvolume-list.txt"))
    at_sub = btrfs_parsers.parse_subvolume_list(read("subvolume-list-at-subvolume.txt"))
    assert [(s["id"], s["path"]) for s in at_sub] == [(s["id"], s["path"]) for s in at_top]


def test_subvolume_list_read_only_and_snapshot_times():
    read_only = btrfs_parsers.parse_subvolume_list(read("subvolume-list-readonly.txt"))
    assert [(s["id"], s["path"]) for s in read_only] == [
        (257, "my share"), (258, ".snapshots/data/2024-01-01 daily"),
        (263, ".snapshots/data/second")]
    snaps = btrfs_parsers.parse_subvolume_list(read("subvolume-list-snapshots.txt"))
    assert {s["id"]: s["created"] for s in snaps} == {
        258: "2026-11-25T12:41:44Z", 261: "2026-11-25T12:41:44Z", 263: "2026-11-25T12:43:36Z"}


def test_subvolume_list_malformed_lines(caplog):
    """Names holding newlines (hand-made here beyond the captured one) never crash the parser:
    continuation lines are joined back, a stray first line is skipped, and both are logged."""
    line = read("subvolume-list.txt").split("\n")[0]  # the real line of "data"
    head = line[:line.index(" path ") + len(" path ")]
    text = ("garbage before any subvolume\n"
            + head + "two\nlines\n"
            + head.replace("ID 256", "ID 300") + "ends with newline\n\n"
            + head.replace("ID 256", "ID 301") + "odd\u2028sep\rcr\x1c\n"
            + head.replace("ID 256", "ID 302") + "\n"
            + "ID x gen y path not a number\n")
    with caplog.at_level(logging.WARNING):
        subs = btrfs_parsers.parse_subvolume_list(text)
    assert [(s["id"], s["path"]) for s in subs] == [
        (256, "two\nlines"), (300, "ends with newline\n"), (301, "odd\u2028sep\rcr\x1c"),
        (302, "\nID x gen y path not a number")]
    assert "garbage before" in caplog.text and "newline" in caplog.text


async def test_subvolumes_merges_the_three_listings(monkeypatch):
    seen: list[list[str]] = []
    monkeypatch.setattr(btrfs, "run", fake_run({
        "-puqRc": Result(0, read("subvolume-list.txt"), ""),
        "-r": Result(0, read("subvolume-list-readonly.txt"), ""),
        "-s": Result(0, read("subvolume-list-snapshots.txt"), ""),
    }, seen))
    subs = {s["path"]: s for s in await btrfs.subvolumes_listed("/mnt/pool")}
    assert {p for p, s in subs.items() if s["read_only"]} == {
        "my share", ".snapshots/data/2024-01-01 daily", ".snapshots/data/second"}
    assert subs[".snapshots/data/second"]["created"] == "2026-11-25T12:43:36Z"
    assert subs["clone of share"]["created"] and subs["data"]["created"] is None
    assert all("-a" in argv for argv in seen) and ["env", "TZ=UTC"] in [a[:2] for a in seen]


# --- qgroups -------------------------------------------------------------------------------

def test_qgroup_show():
    groups = btrfs_parsers.parse_qgroup_show(read("qgroup-show.txt"))
    assert len(groups) == 9 and "0/260" in groups  # the subvolume named "bad\nname"
    assert groups["0/256"] == {"referenced": 60801024, "exclusive": 52412416,
                               "max_referenced": 100 << 20, "max_exclusive": 50 << 20}
    assert groups["0/5"] == {"referenced": 16384, "exclusive": 16384,
                             "max_referenced": None, "max_exclusive": None}


async def test_qgroups_disabled_is_none(monkeypatch):
    monkeypatch.setattr(btrfs, "run", fake_run({"qgroup": Result(
        1, "", read("qgroup-show-disabled.stderr"))}))
    assert await btrfs.qgroups("/mnt") is None
    monkeypatch.setattr(btrfs, "run", fake_run({"qgroup": Result(1, "", "ERROR: other")}))
    with pytest.raises(CommandError):
        await btrfs.qgroups("/mnt")
    monkeypatch.setattr(btrfs, "run", fake_run({"qgroup": Result(0, read("qgroup-show.txt"),
                                                                 "")}))
    assert (await btrfs.qgroups("/mnt"))["0/263"]["referenced"] == 8404992


def test_qgroups_sysfs(tmp_path):
    base = tmp_path / "U" / "qgroups"
    for name, values in {"0_5": (16384, 16384, 0, 0, 0), "0_256": (9, 8, 100, 50, 3),
                         "0_257": (7, 6, 100, 0, 1), "1_100": (1, 1, 0, 0, 0)}.items():
        (base / name).mkdir(parents=True)
        for key, value in zip(("referenced", "exclusive", "max_referenced", "max_exclusive",
                               "limit_flags"), values, strict=True):
            (base / name / key).write_text(f"{value}\n")
    (base / "enabled").write_text("1\n")
    (base / "inconsistent").write_text("0\n")
    groups = btrfs_sysfs.qgroups_sysfs("U", root=tmp_path)
    assert groups == {
        "0/5": {"referenced": 16384, "exclusive": 16384, "max_referenced": None,
                "max_exclusive": None},
        "0/256": {"referenced": 9, "exclusive": 8, "max_referenced": 100, "max_exclusive": 50},
        "0/257": {"referenced": 7, "exclusive": 6, "max_referenced": 100,
                  "max_exclusive": None},
        "1/100": {"referenced": 1, "exclusive": 1, "max_referenced": None,
                  "max_exclusive": None}}
    (base / "enabled").write_text("0\n")
    assert btrfs_sysfs.qgroups_sysfs("U", root=tmp_path) is None
    assert btrfs_sysfs.qgroups_sysfs("absent", root=tmp_path) is None


# --- usage and profiles --------------------------------------------------------------------

def filesystem_usage(name: str) -> dict[str, float]:
    text = read(name)

    def field(label: str) -> float:
        return float(re.search(rf"^\s+{label}:\s+([\d.]+)", text, re.M)[1])
    return {"size": field("Device size"), "allocated": field("Device allocated"),
            "unallocated": field("Device unallocated"), "used": field("Used"),
            "free_estimate": field(r"Free \(estimated\)"), "data_ratio": field("Data ratio"),
            "metadata_ratio": field("Metadata ratio")}


@pytest.mark.parametrize(("capture", "sizes", "expected_profiles"), [
    ("degraded", [1 << 30, 1 << 30], {"data": "raid1", "metadata": "raid1", "system": "raid1"}),
    ("single", [512 << 20], {"data": "single", "metadata": "dup", "system": "dup"}),
    ("mixed-profiles", [1 << 30, 512 << 20, 512 << 20],
     {"data": "raid1", "metadata": "raid1c3", "system": "raid1c3"}),
])
def test_usage_matches_btrfs_filesystem_usage(capture, sizes, expected_profiles):
    """sysfs allocation + device sizes give exactly the raw figures `btrfs filesystem usage
    -b` said (not its free estimate: rockd places chunks as the allocator does)."""
    root = DATA / f"sysfs-{capture}"
    (uuid,) = [p.name for p in root.iterdir()]
    got = btrfs_sysfs.usage(uuid, root=root, device_sizes=sizes)
    want = filesystem_usage(f"filesystem-usage-{capture}.txt")
    for key in ("size", "allocated", "unallocated", "used"):
        assert got[key] == want[key], key
    assert got["capacity"] == got["stored"] + got["free_estimate"]
    assert round(got["data_ratio"], 2) == want["data_ratio"]
    assert round(got["metadata_ratio"], 2) == want["metadata_ratio"]
    assert btrfs_sysfs.profiles(uuid, root=root) == expected_profiles
    assert {k: v["profile"] for k, v in got["allocation"].items()} == expected_profiles
    json.dumps(got)


def blocks(profile: str, total: int, used: int, ratio: float) -> dict:
    return {"profile": profile, "profiles": [profile], "total": total, "used": used,
            "disk_total": int(total * ratio), "disk_used": int(used * ratio)}


def test_raid5_free_space_counts_parity():
    """raid5 of 3 disks of 1 GiB + the reserved MiB: sysfs says disk_total == total for data
    (no parity); the devices' allocation says 1.5. Free: the data chunk's free 768 MiB plus
    two thirds of the 3 GiB left unallocated."""
    allocation = {"data": blocks("raid5", GiB, 256 * MiB, 1.0),
                  "metadata": blocks("raid1c3", 256 * MiB, MiB, 3.0),
                  "system": blocks("raid1c3", 8 * MiB, 16 * KiB, 3.0), "global_reserve": 0}
    allocated = 3 * 256 * MiB + 3 * 8 * MiB + 3 * GiB // 2   # metadata, system, data + parity
    sizes = [GiB + MiB + allocated // 3] * 3
    got = btrfs_sysfs.summarize_usage(allocation, sizes, [allocated // 3] * 3)
    assert got["data_ratio"] == 1.5 and got["allocated"] == allocated
    assert got["allocation"]["data"]["disk_total"] == 3 * GiB // 2  # with its parity
    assert got["free_estimate"] == 768 * MiB + 2 * GiB
    assert got["used"] == 256 * MiB * 3 // 2 + 3 * MiB + 3 * 16 * KiB
    assert got["stored"] == 256 * MiB + MiB + 16 * KiB
    assert got["capacity"] == got["stored"] + got["free_estimate"]


def test_raid1_free_space_on_unequal_disks():
    """raid1 over 1 + 1 + 4 GiB (and the reserved MiB each) holds 2 GiB, not half of 6."""
    empty = {k: blocks(p, 0, 0, 2.0) for k, p in
             (("data", "raid1"), ("metadata", "raid1"), ("system", "raid1"))}
    got = btrfs_sysfs.summarize_usage(empty, [GiB + MiB, GiB + MiB, 4 * GiB + MiB], [0, 0, 0])
    assert got["free_estimate"] == 2 * GiB


def test_no_free_space_once_metadata_is_exhausted():
    """As statfs: no metadata chunk fits and the metadata left cannot hold the global reserve,
    so nothing can be written, whatever the data chunks hold."""
    allocation = {"data": blocks("single", GiB, 0, 1.0),
                  "metadata": blocks("dup", 64 * MiB, 62 * MiB, 2.0),
                  "system": blocks("dup", 8 * MiB, 16 * KiB, 2.0), "global_reserve": 4 * MiB}
    used = GiB + 2 * 64 * MiB + 2 * 8 * MiB
    assert btrfs_sysfs.summarize_usage(allocation, [used + MiB], [used])["free_estimate"] == 0
    allocation["metadata"] = blocks("dup", 64 * MiB, 32 * MiB, 2.0)
    assert btrfs_sysfs.summarize_usage(allocation, [used + MiB], [used])["free_estimate"] == GiB


def test_usage_during_a_conversion_lists_both_profiles():
    root = DATA / "sysfs-mixed-profiles"
    (uuid,) = [p.name for p in root.iterdir()]
    data = btrfs_sysfs.read_allocation(uuid, root=root)["data"]
    assert data["profiles"] == ["raid1", "single"] and data["profile"] == "raid1"


def test_usage_without_a_mount_falls_back_to_block_device_sizes(caplog, monkeypatch):
    """Not mounted, so no ioctl: the present block devices' sizes (the missing one is left
    out, which the ioctl would have counted). No real mounts: another pool on /dev/loop0 would
    match the captured sysfs' loop0."""
    monkeypatch.setattr(btrfs_sysfs, "mounts", lambda **_: [])
    with caplog.at_level(logging.WARNING):
        got = btrfs_sysfs.usage(MY_POOL, root=DATA / "sysfs-degraded")
    assert got["size"] == 1 << 30 and got["unallocated"] == 0
    assert "device sizes" in caplog.text


def test_usage_of_an_unknown_filesystem(tmp_path):
    with pytest.raises(FileNotFoundError):
        btrfs_sysfs.usage("nope", root=tmp_path, device_sizes=[1])


# --- mounts --------------------------------------------------------------------------------

def test_mountinfo():
    found = btrfs_parsers.parse_mountinfo(read("mountinfo.txt"))
    assert [m["target"] for m in found] == ["/tmp/btrfs-explore/mnt", "/tmp/btrfs-explore/mnt2",
                                            "/tmp/btrfs-explore/mnt sub"]
    top, _, sub = found
    assert top == {"source": "/dev/loop0", "target": "/tmp/btrfs-explore/mnt", "root": "/",
                   "options": ["rw", "relatime"],
                   "super_options": ["rw", "discard=async", "space_cache=v2", "subvolid=5",
                                     "subvol=/"],
                   "subvol": "/", "subvolid": 5, "uuid": None, "major_minor": "0:39"}
    assert sub["subvol"] == "/my share" and sub["root"] == "/my share"
    assert sub["subvolid"] == 257 and sub["major_minor"] == top["major_minor"]


def test_mountinfo_escapes_and_optional_fields():
    text = ("61 1 0:50 /a\\011b /srv/x\\134y\\012z rw,noatime shared:7 master:3 - btrfs "
            "/dev/mapper/vg-data rw,compress=zstd:3,subvolid=260,subvol=/a\\011b\\054c\n"
            "62 1 0:51 / /srv/ext4 rw - ext4 /dev/sdb1 rw\n"
            "not a mountinfo line\n\n")
    (m,) = btrfs_parsers.parse_mountinfo(text)
    assert m["target"] == "/srv/x\\y\nz" and m["root"] == "/a\tb"
    assert m["options"] == ["rw", "noatime"]
    assert m["super_options"] == ["rw", "compress=zstd:3", "subvolid=260", "subvol=/a\tb,c"]
    assert m["subvol"] == "/a\tb,c" and m["subvolid"] == 260
    assert m["source"] == "/dev/mapper/vg-data"


def test_mounts_maps_devices_to_filesystems(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text(read("mountinfo.txt").replace("/dev/loop2", "/nonexistent/loop2"))
    sysfs = tmp_path / "sys"
    for fs, dev, number in ((MY_POOL, "loop0", "7:0"), (SINGLE, "loop2", "7:2")):
        (sysfs / fs / "devices" / dev).mkdir(parents=True)
        (sysfs / fs / "devices" / dev / "dev").write_text(number + "\n")
    (sysfs / "features").mkdir()
    found = btrfs_sysfs.mounts(table=info, root=sysfs)
    # /dev/loop0 by its device number (or its name), the vanished path by its name
    assert [m["uuid"] for m in found] == [MY_POOL, SINGLE, MY_POOL]
    assert btrfs_sysfs.mounts(table=info, root=tmp_path / "absent")[0]["uuid"] is None
