"""SSD care on real loop pools: fstrim as a job gives the freed blocks back to the sparse file
under the loop device (its st_blocks shrink: the truth), 409 for an unmounted pool or a trim
already running, 422 for a pool whose devices take no discard; the devices' rotational and
discard flags (sysfs) in the pool's entry, the options rockd recommends, and those options
applied through the pool's settings seen in the mount table."""

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from rockd.core.errors import Conflict
from rockd.storage import btrfs_sysfs

MIB = 1 << 20


def queue(device: str) -> Path:
    return Path("/sys/block") / os.path.basename(device) / "queue"


def backing_file(device: str) -> Path:
    name = os.path.basename(device)
    return Path((Path("/sys/block") / name / "loop" / "backing_file").read_text().strip())


def allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


@contextlib.contextmanager
def rotational(device: str, value: str):
    """Set the test's own loop device's rotational flag for the test; put back at the end."""
    before = (queue(device) / "rotational").read_text().strip()
    try:
        (queue(device) / "rotational").write_text(value)
        yield
    finally:
        (queue(device) / "rotational").write_text(before)


@pytest.fixture
def ramfs(tmp_path):
    """A ramfs folder of the test's: a file there has no fallocate, so a loop device on it
    takes no discard (as a disk without TRIM). Unmounted after the loop devices are gone."""
    folder = tmp_path / "ramfs"
    folder.mkdir()
    subprocess.run(["mount", "-t", "ramfs", "-o", "mode=0700", "ramfs", str(folder)],
                   check=True)
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def write_random(path: Path, megabytes: int) -> None:
    with path.open("wb") as f:
        for _ in range(megabytes):
            f.write(os.urandom(MIB))
    subprocess.run(["sync"], check=True)


async def test_trim_gives_freed_blocks_back_to_the_sparse_file(rockd):
    box = await rockd(devices=1, size=1 << 30)
    api, daemon = box.api, box.daemon
    pool = await box.make_pool({"data": "single", "mount_options": "nodiscard"})
    assert pool["ssd"]["discard"] is True and pool["devices"][0]["discard"] is True
    image = backing_file(box.devices[0])
    point = Path(pool["mount_point"])
    write_random(point / "bulk", 300)
    full = allocated(image)
    (point / "bulk").unlink()
    subprocess.run(["btrfs", "filesystem", "sync", str(point)], check=True)
    assert allocated(image) > full - 50 * MIB  # nodiscard: deleting gave nothing back

    status, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/trim")
    assert status == 202 and answer["job"]["kind"] == "trim", answer
    job = await api.ended_job(answer["job"]["id"])
    assert job["state"] == "succeeded", job
    trimmed = job["result"]["bytes_trimmed"]
    assert trimmed >= 250 * MIB and "trimmed" in job["detail"], job
    assert any("trimmed" in line for line in job["log"]), job
    shrunk = full - allocated(image)
    assert shrunk >= 250 * MIB, (full, allocated(image))
    print(f"\ntrim: fstrim said {trimmed} bytes; the backing file shrank by {shrunk} bytes "
          f"({full} -> {allocated(image)})")

    # one trim of a pool at a time (the check and the start are one step)
    first = daemon.context.pool_jobs.trim(pool["id"])
    with pytest.raises(Conflict) as refused:
        daemon.context.pool_jobs.trim(pool["id"])
    assert refused.value.code == "running"
    assert (await api.ended_job(first["id"]))["state"] == "succeeded"

    assert (await api.call("POST", f"/api/v1/pools/{pool['id']}/unmount"))[0] == 200
    status, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/trim")
    assert status == 409 and answer["error"]["code"] == "not_mounted", answer
    status, answer = await api.call("POST", "/api/v1/pools/nope/trim")
    assert status == 404, answer


async def test_no_discard_is_refused_and_options_follow_the_devices(ramfs, loops, rockd):
    no_trim = loops(320 << 20, name="ramfs/disk.img")
    assert (queue(no_trim) / "discard_max_bytes").read_text().strip() == "0"
    box = await rockd(devices=[no_trim, loops(512 << 20)])
    api = box.api
    _, plain = await api.call("POST", "/api/v1/pools", {
        "name": "plain", "disks": [box.disks[0]], "data": "single"})
    assert plain["devices"][0]["discard"] is False, plain
    assert plain["ssd"]["discard"] is False  # and the kernel says it is not rotational:
    assert plain["ssd"]["recommended_options"] == ["ssd"], plain["ssd"]  # no discard=async
    status, answer = await api.call("POST", f"/api/v1/pools/{plain['id']}/trim")
    assert status == 422 and answer["error"]["code"] == "discard_unsupported", answer
    assert "discard" in answer["error"]["message"]
    assert not [j for j in (await api.call("GET", "/api/v1/jobs"))[1] if j["kind"] == "trim"]

    with rotational(box.devices[1], "0"):
        status, flash = await api.call("POST", "/api/v1/pools", {
            "name": "flash", "disks": [box.disks[1]], "data": "single",
            "mount_options": "noatime,nossd,nodiscard"})
        assert status == 201, flash
        device = flash["devices"][0]
        assert device["rotational"] is False and device["discard"] is True, device
        ssd = flash["ssd"]
        assert ssd["rotational"] is False and ssd["discard"] is True, ssd
        assert ssd["recommended_options"] == ["ssd", "discard=async"], ssd
        assert ssd["in_force"] == [], ssd
        assert ssd["mount_options"] == "noatime,ssd,discard=async", ssd

        status, changed = await api.call("PATCH", f"/api/v1/pools/{flash['id']}",
                                         {"mount_options": ssd["mount_options"]})
        assert status == 200, changed
        mount = next(m for m in btrfs_sysfs.mounts() if m["uuid"] == flash["id"])
        shown = set(mount["options"] + mount["super_options"])
        assert {"ssd", "discard=async", "noatime"} <= shown, shown
        assert changed["ssd"]["in_force"] == ["ssd", "discard=async"], changed["ssd"]
        print(f"\nmount table after apply: {','.join(sorted(shown))}")


def test_recommendations_and_flags_from_a_sysfs_tree(tmp_path):
    from rockd.jobs.trim import parse_trimmed
    from rockd.storage.pool_care import device_flags, recommendation

    for name, rotational, most in (("sda", "1", "0"), ("nvme0n1", "0", "2199023255040")):
        (tmp_path / name / "queue").mkdir(parents=True)
        (tmp_path / name / "queue" / "rotational").write_text(f"{rotational}\n")
        (tmp_path / name / "queue" / "discard_max_bytes").write_text(f"{most}\n")
    (tmp_path / "nvme0n1" / "nvme0n1p1").mkdir()  # a partition: its disk's queue
    (tmp_path / "nvme0n1p1").symlink_to(tmp_path / "nvme0n1" / "nvme0n1p1")
    assert device_flags("/dev/sda", tmp_path) == {"rotational": True, "discard": False}
    assert device_flags("/dev/nvme0n1p1", tmp_path) == {"rotational": False, "discard": True}
    assert device_flags(None, tmp_path) == {"rotational": None, "discard": None}

    flash = [{"rotational": False, "discard": True}, {"missing": True, "rotational": None}]
    found = recommendation(flash, "noatime,nossd,discard=sync", ["ssd", "discard"])
    assert found == {"rotational": False, "discard": True,
                     "recommended_options": ["ssd", "discard=async"], "in_force": ["ssd"],
                     "mount_options": "noatime,ssd,discard=async"}
    mixed = [{"rotational": True, "discard": True}, {"rotational": False, "discard": False}]
    assert recommendation(mixed, "", None) == {
        "rotational": True, "discard": False, "recommended_options": [], "in_force": None,
        "mount_options": ""}
    assert parse_trimmed("/mnt2/tank: 1.4 GiB (1495334912 bytes) trimmed\n") == 1495334912
    assert parse_trimmed("fstrim: /mnt2/tank: the discard operation is not supported") is None
