"""Pools on real loop devices: create, observe, change, grow, shrink, import, delete."""

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from rockd.core.process import CommandError
from rockd.storage import mounting
from tests.support.changes import changes
from tests.support.client import receive
from tests.support.host import umount_by_hand, write_pattern
from tests.support.rig import wait_for


def mounted_at(path: Path) -> bool:
    return any(line.split(" ")[4] == str(path) for line in open("/proc/self/mountinfo"))


async def create(api, name, disks, data, **extra):
    status, body = await api.call("POST", "/api/v1/pools",
                                  {"name": name, "disks": disks, "data": data, **extra})
    return status, body


async def test_create_raid1_pool_observed_and_deleted(rockd):
    box = await rockd(devices=2)
    daemon, api, devices = box.daemon, box.api, box.devices
    ids = box.disks
    status, pool = await create(api, "tank", ids, "raid1", compression="zstd:3")
    assert status == 201, pool
    point = box.settings.mount_root / "tank"
    assert pool["mounted"] and pool["mount_point"] == str(point) and mounted_at(point)
    assert (pool["data"], pool["metadata"]) == ("raid1", "raid1")
    assert pool["compression"] == "zstd:3" and "compress=zstd:3" in pool["mount_options"]
    assert sorted(d["disk"] for d in pool["devices"]) == sorted(ids)
    assert all(d["errors"]["corruption_errs"] == 0 and not d["missing"] for d in pool["devices"])
    assert pool["degraded"] is False and pool["missing_devices"] == 0
    assert pool["usage"]["size"] == 2 * (512 << 20)
    assert 0 < pool["usage"]["free_estimate"] < 512 << 20
    blkid = subprocess.run(["blkid", "-p", "-o", "value", "-s", "UUID", devices[0]],
                           capture_output=True, text=True).stdout.strip()
    assert pool["id"] == blkid
    await daemon.context.pools.disk_rescans.settle()
    for disk_id in ids:
        assert daemon.tree.get(("disks", disk_id, "pool")) == pool["id"]
    # data written shows in usage after a rescan
    (point / "blob").write_bytes(b"x" * (64 << 20))
    subprocess.run(["sync"], check=True)
    status, listed = await api.call("GET", "/api/v1/pools")
    assert status == 200 and [p["id"] for p in listed] == [pool["id"]]

    status, _ = await api.call("DELETE", f"/api/v1/pools/{pool['id']}")
    assert status == 204
    assert not mounted_at(point) and daemon.tree.get(("pools", pool["id"])) is None


@pytest.mark.parametrize(("data", "metadata", "count"), [
    ("single", "dup", 1), ("raid0", "raid1", 2), ("raid1c3", "raid1c3", 3),
    ("raid1c4", "raid1c4", 4), ("raid10", "raid10", 4), ("raid5", "raid1", 3),
    ("raid6", "raid1c3", 4),
])
async def test_every_profile(rockd, data, metadata, count):
    box = await rockd(devices=count, size=256 << 20)
    api = box.api
    status, pool = await create(api, f"p-{data}", box.disks, data,
                                metadata=metadata)
    assert status == 201, pool
    assert (pool["data"], pool["metadata"]) == (data, metadata)
    assert len(pool["devices"]) == count
    assert (await api.call("DELETE", f"/api/v1/pools/{pool['id']}"))[0] == 204


async def test_bad_pool_requests_change_nothing(rockd):
    box = await rockd(devices=3, size=256 << 20)
    daemon, api, devices = box.daemon, box.api, box.devices
    ids = box.disks
    changed = changes(daemon)
    cases = [
        ({"name": "t", "disks": ids[:1], "data": "raid1"}, 422, "not_enough_disks"),
        ({"name": "t", "disks": ids[:2], "data": "raid6"}, 422, "not_enough_disks"),
        ({"name": "t", "disks": ids[:2], "data": "raid1", "metadata": "raid1c4"}, 422,
         "not_enough_disks"),
        ({"name": "t", "disks": ids[:2], "data": "raid7"}, 400, "invalid_field"),
        ({"name": "../t", "disks": ids[:2], "data": "raid1"}, 400, "invalid_name"),
        ({"name": "t", "disks": ["nope"], "data": "single"}, 404, "not_found"),
        ({"name": "t", "disks": [ids[0], ids[0]], "data": "raid1"}, 400, "invalid_field"),
        ({"name": "t", "disks": ids[:2], "data": "raid1", "compression": "gzip"}, 400,
         "invalid_field"),
        ({"name": "t", "disks": ids[:2], "data": "raid1", "mount_options": "subvol=/etc"},
         400, "invalid_field"),
    ]
    for body, status, code in cases:
        got, answer = await api.call("POST", "/api/v1/pools", body)
        assert (got, answer["error"]["code"]) == (status, code), (body, answer)
    assert daemon.tree.get("/pools") == {}
    for dev in devices:
        assert subprocess.run(["blkid", "-p", dev], capture_output=True).returncode == 2
    assert changed == []
    # a disk with a filesystem on it, and a disk rockd may not touch
    subprocess.run(["mkfs.btrfs", "-q", "-f", devices[2]], check=True)
    await daemon.context.disks.rescan(Path(devices[2]).name)
    got, answer = await create(api, "t", ids[1:], "raid1")
    assert (got, answer["error"]["code"]) == (409, "disk_in_use")
    root = next((d for d in daemon.tree.get("/disks").values() if not d["managed"]), None)
    if root is not None:
        got, answer = await create(api, "t", [ids[0], root["id"]], "raid1")
        assert (got, answer["error"]["code"]) == (403, "unmanaged_device")
    got, answer = await create(api, "ok", ids[:1], "single")
    assert got == 201
    got, answer = await create(api, "ok", ids[1:2], "single")
    assert (got, answer["error"]["code"]) == (409, "exists")


async def test_pool_unmounted_and_mounted_by_hand_is_seen_at_once(rockd):
    box = await rockd(devices=1)
    api, devices = box.api, box.devices
    status, pool = await create(api, "hand", box.disks, "single")
    assert status == 201
    ws = await api.stream()
    await ws.send_str(f'{{"id": 1, "type": "subscribe", "path": "/pools/{pool["id"]}/mounted"}}')
    await receive(ws)
    assert (await receive(ws))["value"] is True
    point = box.settings.mount_root / "hand"
    started = time.monotonic()
    umount_by_hand(point)
    patch = await receive(ws, timeout=2)
    assert patch["ops"][-1]["value"] is False and time.monotonic() - started < 1
    started = time.monotonic()
    subprocess.run(["mount", devices[0], str(point)], check=True)
    patch = await receive(ws, timeout=2)
    assert patch["ops"][-1]["value"] is True and time.monotonic() - started < 1
    await ws.close()


async def test_patch_compression_options_quotas_and_label(rockd):
    box = await rockd(devices=1)
    api = box.api
    _, pool = await create(api, "opts", box.disks, "single")
    url = f"/api/v1/pools/{pool['id']}"
    status, pool = await api.call("PATCH", url, {"compression": "lzo",
                                                 "mount_options": "noatime"})
    assert status == 200, pool
    assert pool["compression"] == "lzo" and "noatime" in pool["mount_options"].split(",")
    status, pool = await api.call("PATCH", url, {"quotas": True})
    assert status == 200 and pool["quotas"] is True
    status, pool = await api.call("PATCH", url, {"label": "renamed"})
    assert status == 200 and pool["name"] == "renamed"
    assert pool["mount_point"] == str(box.settings.mount_root / "renamed")
    assert mounted_at(box.settings.mount_root / "renamed")
    status, answer = await api.call("PATCH", url, {"mount_options": "device=/dev/sda"})
    assert (status, answer["error"]["code"]) == (400, "invalid_field")


async def test_add_remove_replace_and_convert(rockd):
    box = await rockd(devices=4, size=384 << 20)
    api = box.api
    ids = box.disks
    _, pool = await create(api, "grow", ids[:1], "single", metadata="single")
    url = f"/api/v1/pools/{pool['id']}"
    status, pool = await api.call("POST", url + "/disks", {"add": [ids[1]]})
    assert status == 200 and len(pool["devices"]) == 2

    async def finished(job):
        async def ended():
            _, current = await api.call("GET", f"/api/v1/jobs/{job['id']}")
            return current if current["state"] in ("succeeded", "failed") else None
        return await wait_for(ended, timeout=30, interval=0.1)

    status, answer = await api.call("POST", url + "/profile", {"data": "raid1",
                                                               "metadata": "raid1"})
    assert status == 202, answer
    job = await finished(answer["job"])
    assert job["state"] == "succeeded", job
    _, pool = await api.call("GET", url)
    assert (pool["data"], pool["metadata"]) == ("raid1", "raid1")

    status, answer = await api.call("POST", url + "/disks", {"remove": [ids[1]]})
    assert (status, answer["error"]["code"]) == (422, "not_enough_disks")
    status, answer = await api.call("POST", url + "/disks",
                                    {"replace": {"old": ids[1], "new": ids[2]}})
    assert status == 202
    assert (await finished(answer["job"]))["state"] == "succeeded"
    _, pool = await api.call("GET", url)
    assert sorted(d["disk"] for d in pool["devices"]) == sorted([ids[0], ids[2]])

    await api.call("POST", url + "/disks", {"add": [ids[3]]})
    status, answer = await api.call("POST", url + "/disks", {"remove": [ids[0]]})
    assert status == 202
    assert (await finished(answer["job"]))["state"] == "succeeded"
    _, pool = await api.call("GET", url)
    assert sorted(d["disk"] for d in pool["devices"]) == sorted([ids[2], ids[3]])


async def test_import_a_filesystem_made_by_hand(rockd, tmp_path):
    box = await rockd(devices=2)
    daemon, api, devices = box.daemon, box.api, box.devices
    subprocess.run(["mkfs.btrfs", "-q", "-f", "-L", "legacy", "-d", "raid1", "-m", "raid1",
                    *devices], check=True)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    subprocess.run(["mount", devices[0], str(scratch)], check=True)
    try:
        subprocess.run(["btrfs", "-q", "subvolume", "create", str(scratch / "photos")],
                       check=True)
        (scratch / "photos" / "a.jpg").write_bytes(b"jpeg")
        (scratch / ".snapshots" / "photos").mkdir(parents=True)
        subprocess.run(["btrfs", "-q", "subvolume", "snapshot", "-r", str(scratch / "photos"),
                        str(scratch / ".snapshots" / "photos" / "before")], check=True)
    finally:
        subprocess.run(["umount", str(scratch)], check=True)
    for dev in devices:
        await daemon.context.disks.rescan(Path(dev).name)
    status, pool = await api.call("POST", "/api/v1/pools/import",
                                  {"disk": box.disks[0]})
    assert status == 201, pool
    assert pool["name"] == "legacy" and pool["data"] == "raid1" and pool["mounted"]
    await daemon.context.shares.settled(pool["id"])
    shares = list(daemon.tree.get("/shares").values())
    snapshots = list(daemon.tree.get("/snapshots").values())
    assert [s["name"] for s in shares] == ["photos"]
    assert [(s["name"], s["share"], s["read_only"]) for s in snapshots] == [
        ("before", shares[0]["id"], True)]
    status, answer = await api.call("POST", "/api/v1/pools/import",
                                    {"disk": box.disks[1]})
    assert (status, answer["error"]["code"]) == (409, "exists")


async def test_missing_disk_shows_degraded_and_mounts_degraded_on_request(rockd, loops):
    box = await rockd(devices=2)
    api, devices = box.api, box.devices
    _, pool = await create(api, "mirror", box.disks, "raid1")
    url = f"/api/v1/pools/{pool['id']}"
    status, pool = await api.call("POST", url + "/unmount")
    assert status == 200 and not pool["mounted"]
    loops.detach(devices[1])
    status, answer = await api.call("POST", url + "/mount", {})
    assert (status, answer["error"]["code"]) == (422, "mount_failed"), answer
    status, pool = await api.call("POST", url + "/mount", {"degraded": True})
    assert status == 200, pool
    assert pool["mounted"] and pool["degraded"] and pool["missing_devices"] == 1
    assert [d["missing"] for d in sorted(pool["devices"], key=lambda d: d["devid"])] == [
        False, True]
    status, answer = await api.call("POST", url + "/mount", {})
    assert (status, answer["error"]["code"]) == (409, "mounted")


async def test_usage_follows_writes_while_watched(rockd):
    box = await rockd(devices=1)
    api = box.api
    _, pool = await create(api, "filling", box.disks, "single")
    ws = await api.stream()
    await ws.send_str(f'{{"id": 1, "type": "subscribe", "path": "/pools/{pool["id"]}/usage"}}')
    await receive(ws)
    used = (await receive(ws))["value"]["used"]
    with open(f"{pool['mount_point']}/blob", "wb") as f:
        f.write(os.urandom(64 << 20))
    subprocess.run(["sync"], check=True)
    deadline = time.monotonic() + 5
    while used < 64 << 20:
        for op in (await receive(ws, timeout=max(0.1, deadline - time.monotonic())))["ops"]:
            if op["path"].endswith("/usage/used"):
                used = op["value"]
            elif op["path"].endswith("/usage"):
                used = op["value"]["used"]
    assert used >= 64 << 20
    await ws.close()


async def test_device_allocation_follows_writes_while_watched(rockd):
    box = await rockd(devices=1)
    api = box.api
    _, pool = await create(api, "growing", box.disks, "single")
    allocated = pool["devices"][0]["used"]
    ws = await api.stream()
    await ws.send_str(f'{{"id": 1, "type": "subscribe", "path": "/pools/{pool["id"]}"}}')
    await receive(ws)
    await receive(ws)
    # more data than the chunks allocated so far hold: btrfs allocates new ones
    with open(f"{pool['mount_point']}/blob", "wb") as f:
        f.write(os.urandom(allocated + (64 << 20)))
    subprocess.run(["sync"], check=True)
    deadline = time.monotonic() + 5
    grown = allocated
    while grown <= allocated:
        for op in (await receive(ws, timeout=max(0.1, deadline - time.monotonic())))["ops"]:
            if op["path"] == f"/pools/{pool['id']}/devices/0/used":
                grown = op["value"]
    assert grown > allocated
    await ws.close()


# -- a missing device: replaced by devid, or removed ----------------------------------------

SCRUB_ERRORS = ("read_errors", "csum_errors", "verify_errors", "super_errors",
                "uncorrectable_errors", "corrected_errors", "unverified_errors")


async def job_end(api, job, timeout=120.0):
    return await api.ended_job(job["id"], timeout)


async def lose_one(daemon, api, loops, name, ids, data, lost):
    """A pool of the disks `ids` holding a file of a known pattern; then unmounted, the disk
    `lost` detached (the box lost it) and the pool mounted degraded. Answers (pool, block)."""
    status, pool = await create(api, name, ids, data)
    assert status == 201, pool
    block = write_pattern(Path(pool["mount_point"]) / "kept", 24)
    url = f"/api/v1/pools/{pool['id']}"
    status, pool = await api.call("POST", url + "/unmount")
    assert status == 200, pool
    loops.detach(lost)
    status, pool = await api.call("POST", url + "/mount", {"degraded": True})
    assert status == 200, pool
    assert pool["degraded"] and pool["missing_devices"] == 1
    return pool, block


def intact(pool, block, megabytes=24) -> bool:
    return (Path(pool["mount_point"]) / "kept").read_bytes() == block * megabytes


async def test_missing_device_replaced_by_devid(rockd, loops):
    box = await rockd(devices=3)
    daemon, api, devices = box.daemon, box.api, box.devices
    ids = box.disks
    pool, block = await lose_one(daemon, api, loops, "mended", ids[:2], "raid1", devices[1])
    url = f"/api/v1/pools/{pool['id']}"
    (lost,) = [d for d in pool["devices"] if d["missing"]]
    # `filesystem show` says 0 for it; the pool shows the size btrfs knows (DEV_INFO)
    assert lost["disk"] is None and lost["size"] == 512 << 20, lost

    status, answer = await api.call("POST", url + "/disks", {
        "replace": {"old": f"devid:{lost['devid']}", "new": ids[2]}})
    assert status == 202, answer
    assert answer["job"]["kind"] == "device_replace"
    job = await job_end(api, answer["job"])
    assert job["state"] == "succeeded", job
    pool = await daemon.context.pools.settle(pool["id"])
    assert pool["missing_devices"] == 0 and pool["degraded"] is False, pool
    assert sorted(d["disk"] for d in pool["devices"]) == sorted([ids[0], ids[2]])
    assert [d["devid"] for d in pool["devices"] if d["disk"] == ids[2]] == [lost["devid"]]
    assert intact(pool, block)
    await daemon.context.pools.disk_rescans.settle()
    assert daemon.tree.get(("disks", ids[2], "pool")) == pool["id"]

    # btrfs wrote the chunks it made during the replace (in a degraded mount) as single,
    # the system chunk too: a converting balance (as the UI offers it) makes them raid1 again
    status, answer = await api.call("POST", url + "/balance", {"filters": (
        "--force -dconvert=raid1,soft -mconvert=raid1,soft -sconvert=raid1,soft")})
    assert status == 202, answer
    assert (await job_end(api, answer["job"]))["state"] == "succeeded"
    pool = await daemon.context.pools.settle(pool["id"])
    assert {k: v["profiles"] for k, v in pool["usage"]["allocation"].items()} == {
        "data": ["raid1"], "metadata": ["raid1"], "system": ["raid1"]}

    # mounted normally again, the pool no longer carries the degraded mount option
    status, pool = await api.call("POST", url + "/unmount")
    assert status == 200, pool
    status, pool = await api.call("POST", url + "/mount", {})
    assert status == 200, pool
    assert pool["degraded"] is False and "degraded" not in pool["mount_options"].split(",")
    assert intact(pool, block)
    status, answer = await api.call("POST", url + "/scrub", {})
    assert status == 202, answer
    job = await job_end(api, answer["job"])
    assert job["state"] == "succeeded", job
    assert {k: job["result"][k] for k in SCRUB_ERRORS} == dict.fromkeys(SCRUB_ERRORS, 0), job
    assert job["result"]["data_bytes_scrubbed"] >= 2 * (24 << 20)


async def test_missing_device_removed(rockd, loops):
    box = await rockd(devices=3)
    daemon, api, devices = box.daemon, box.api, box.devices
    ids = box.disks
    pool, block = await lose_one(daemon, api, loops, "shrunk", ids, "raid1", devices[2])
    assert pool["data"] == "raid1" and len(pool["devices"]) == 3
    url = f"/api/v1/pools/{pool['id']}"
    status, answer = await api.call("POST", url + "/disks", {"remove": ["missing"]})
    assert status == 202, answer
    assert answer["job"]["kind"] == "device_remove"
    job = await job_end(api, answer["job"])
    assert job["state"] == "succeeded", job
    pool = await daemon.context.pools.settle(pool["id"])
    assert pool["missing_devices"] == 0 and pool["degraded"] is False, pool
    assert sorted(d["disk"] for d in pool["devices"]) == sorted(ids[:2])
    assert not any(d["missing"] for d in pool["devices"])
    assert intact(pool, block)


async def test_missing_device_refusals_change_nothing(rockd, loops):
    box = await rockd(devices=4)
    daemon, api, devices = box.daemon, box.api, box.devices
    ids = box.disks
    mirror, _ = await lose_one(daemon, api, loops, "mirror", ids[:2], "raid1", devices[1])
    status, whole = await create(api, "whole", ids[2:3], "single")
    assert status == 201, whole
    # a free disk smaller than the device that is missing
    small = Path(devices[3])
    backing = Path(f"/sys/block/{small.name}/loop/backing_file").read_text().strip()
    os.truncate(backing, 256 << 20)
    subprocess.run(["losetup", "--set-capacity", devices[3]], check=True)
    await daemon.context.disks.rescan(small.name)
    assert daemon.tree.get(("disks", ids[3], "size")) == 256 << 20
    for pool in (mirror, whole):
        await daemon.context.pools.settle(pool["id"])
    await daemon.context.pools.disk_rescans.settle()
    (lost,) = [d for d in mirror["devices"] if d["missing"]]
    changed = changes(daemon)

    async def refused(pool, body, status, code):
        got, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/disks", body)
        assert (got, answer["error"]["code"]) == (status, code), (body, answer)
        assert set(answer["error"]) == {"code", "message", "detail"}
        return answer["error"]

    def replacing(old, new=ids[3]):
        return {"replace": {"old": old, "new": new}}

    await refused(mirror, replacing("devid:two"), 400, "invalid_field")
    await refused(mirror, replacing("devid:0"), 400, "invalid_field")
    await refused(mirror, replacing("devid:-2"), 400, "invalid_field")
    await refused(mirror, replacing("devid:2:3"), 400, "invalid_field")
    error = await refused(mirror, replacing("devid:7"), 404, "not_found")
    assert error["detail"] == {"devid": 7}
    error = await refused(mirror, replacing(f"devid:{lost['devid']}"), 422, "too_small")
    assert error["detail"] == {"needed": 512 << 20}
    await refused(mirror, replacing(f"devid:{lost['devid']}", ids[2]), 409, "disk_in_use")
    await refused(mirror, replacing(f"devid:{lost['devid']}", "nope"), 404, "not_found")
    error = await refused(mirror, {"remove": ["missing"]}, 422, "not_enough_disks")
    assert (error["detail"]["profile"], error["detail"]["minimum"]) == ("raid1", 2)
    await refused(mirror, {"remove": ["missing", ids[0]]}, 400, "invalid_field")
    await refused(whole, {"remove": ["missing"]}, 409, "no_missing_device")
    await refused(whole, replacing("devid:2"), 404, "not_found")
    assert changed == []
    assert not daemon.tree.get("/jobs")

    status, _ = await api.call("POST", f"/api/v1/pools/{whole['id']}/unmount")
    assert status == 200
    await daemon.context.pools.settle(whole["id"])
    changed = changes(daemon)
    await refused(whole, replacing("devid:1"), 409, "not_mounted")
    await refused(whole, {"remove": ["missing"]}, 409, "not_mounted")
    assert changed == []
    assert not daemon.tree.get("/jobs")
    assert subprocess.run(["blkid", "-p", devices[3]], capture_output=True).returncode == 2
    pool = daemon.tree.get(("pools", mirror["id"]))
    assert pool["mounted"] and pool["missing_devices"] == 1 and len(pool["devices"]) == 2


async def test_present_device_replaced_by_devid(rockd):
    box = await rockd(devices=2)
    daemon, api = box.daemon, box.api
    ids = box.disks
    _, pool = await create(api, "moved", ids[:1], "single")
    block = write_pattern(Path(pool["mount_point"]) / "kept", 24)
    status, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/disks",
                                    {"replace": {"old": "devid:1", "new": ids[1]}})
    assert status == 202, answer
    assert (await job_end(api, answer["job"]))["state"] == "succeeded"
    pool = await daemon.context.pools.settle(pool["id"])
    assert [(d["devid"], d["disk"]) for d in pool["devices"]] == [(1, ids[1])]
    assert intact(pool, block)


# -- refusals before any change, and failures that keep nothing --------------------------------

def ruin_chunk_tree(device: str) -> None:
    """Overwrite every copy of the chunk tree's root block: the superblock (and so blkid)
    still says btrfs, but the kernel cannot mount it ("failed to read chunk root")."""
    super_ = subprocess.run(["btrfs", "inspect-internal", "dump-super", device], check=True,
                            capture_output=True, text=True).stdout
    logical = next(line.split()[1] for line in super_.splitlines()
                   if line.startswith("chunk_root\t"))
    mapped = subprocess.run(["btrfs-map-logical", "-l", logical, device], check=True,
                            capture_output=True, text=True).stdout
    offsets = [int(line.split(" physical ")[1].split()[0]) for line in mapped.splitlines()
               if line.startswith("mirror ")]
    assert offsets, mapped
    with open(device, "r+b") as f:
        for offset in offsets:
            f.seek(offset)
            f.write(b"\xde\xad\xbe\xef" * 4096)
        os.fsync(f.fileno())


async def test_import_of_a_corrupt_filesystem_is_422_with_the_kernels_reason(rockd):
    box = await rockd(devices=1)
    daemon, api, devices = box.daemon, box.api, box.devices
    (disk,) = box.disks
    subprocess.run(["mkfs.btrfs", "-q", "-f", "-L", "broken", devices[0]], check=True)
    ruin_chunk_tree(devices[0])
    await daemon.context.disks.rescan(Path(devices[0]).name)
    assert daemon.tree.get(("disks", disk, "filesystem", "label")) == "broken"
    for _ in range(2):  # the second time as the first: nothing was kept
        status, answer = await api.call("POST", "/api/v1/pools/import", {"disk": disk})
        assert (status, answer["error"]["code"]) == (422, "mount_failed"), answer
        assert "failed to read chunk root" in answer["error"]["message"], answer
        kernel = answer["error"]["detail"]["kernel"]
        assert any("bad tree block start" in line for line in kernel), kernel
        assert all(Path(devices[0]).name in line for line in kernel), kernel
        assert "superblock" in answer["error"]["detail"]["mount"]
    assert await daemon.store.intents("pool") == {} and daemon.context.pools.intent == {}
    assert (await api.call("GET", "/api/v1/pools"))[1] == []
    assert not (box.settings.mount_root / "broken").exists()
    # the name is free: a sound filesystem of that name imports
    subprocess.run(["mkfs.btrfs", "-q", "-f", "-L", "broken", devices[0]], check=True)
    await daemon.context.disks.rescan(Path(devices[0]).name)
    status, pool = await api.call("POST", "/api/v1/pools/import", {"disk": disk})
    assert status == 201, pool
    assert pool["name"] == "broken" and pool["mounted"]


BAD_OPTIONS = [
    ("rescue=bogus", 400), ("rescue=", 400), ("rescue=usebackuproot:nologreplay", 400),
    ("noatime\n", 400), ("noatime,ssd\n", 400), ("\nnoatime", 400), (" noatime", 400),
    ("noatime, ssd", 400), ("-o", 400), ("-onoatime", 400), ("noatime\x00", 400),
    ("commit=\u0661\u0662", 400), ("commit=\uff11", 400), ("commit=08", 400),
    ("commit=010", 400), ("commit=99999", 400), ("commit=-1", 400), ("commit=0x10", 400),
    ("thread_pool=0", 400), ("thread_pool=\u0967", 400), ("thread_pool=1000", 400),
    ("max_inline=4k", 400), ("max_inline=999999999", 400), ("max_inline=4097", 400),
    ("space_cache", 400), ("space_cache=v1", 400), ("nospace_cache", 400), ("device=/dev/sda", 400),
    ("subvol=/etc", 400), ("ro", 400), ("degraded", 400), ("compress=zlib", 400),
    ("norecovery", 422), ("rescue=nologreplay", 422), ("rescue=usebackuproot", 422),
    ("rescue=ignorebadroots", 422), ("rescue=ibadroots", 422), ("rescue=all", 422),
    ("rescue=ignoredatacsums", 422), ("rescue=ignoremetacsums", 422),
    ("rescue=ignoresuperflags", 422), ("noatime,rescue=all", 422),
    ("nodatacow,compress", 400),
]
CONFLICTING = [({"mount_options": o, "compression": c}, 422)
               for o in ("nodatacow", "nodatasum", "noatime,nodatasum") for c in ("zstd", "lzo")]
BAD_COMPRESSION = ["zstd\n", "zlib:3\n", "lzo\n", "zstd:\u0663", "zstd:16", "zlib:0",
                   "zlib:10", "zstd:-1", " zstd", "ZSTD", "zstd:03", ""]


def formatted(device: str) -> bool:
    return subprocess.run(["blkid", "-p", device], capture_output=True).returncode != 2


async def test_bad_mount_options_and_compression_are_refused_before_mkfs(rockd):
    box = await rockd(devices=1, size=256 << 20)
    daemon, api, devices = box.daemon, box.api, box.devices
    ids = box.disks
    changed = changes(daemon)
    bodies = [({"mount_options": o}, status) for o, status in BAD_OPTIONS]
    bodies += [({"compression": c}, 400) for c in BAD_COMPRESSION] + CONFLICTING
    for extra, want in bodies:
        status, answer = await create(api, "t", ids, "single", **extra)
        assert status == want, (extra, answer)
        assert answer["error"]["code"] in ("invalid_field" if want == 400 else
                                           ("recovery_option", "conflicting_options")), answer
        assert answer["error"]["detail"]["field"] in extra, (extra, answer)
        assert not formatted(devices[0]), extra
    assert await daemon.store.intents("pool") == {} and daemon.context.pools.intent == {}
    assert changed == []

    # and the same values given to a pool change neither it nor what rockd keeps of it
    status, pool = await create(api, "t", ids, "single", mount_options="noatime")
    assert status == 201, pool
    url = f"/api/v1/pools/{pool['id']}"
    kept = dict(daemon.context.pools.intent[pool["id"]])
    changed = changes(daemon)
    for extra, want in bodies:
        status, answer = await api.call("PATCH", url, extra)
        assert status == want, (extra, answer)
    # balance filters: what btrfs would refuse, or could not do with one disk, starts no job
    for filters, want in [("-dusage=101", 400), ("-dusage=\u0665", 400), ("-s", 400),
                          ("-dusage=50,limit=x", 400), ("-dconvert=raid1", 422),
                          ("--force -mconvert=raid1c3,soft", 422)]:
        status, answer = await api.call("POST", url + "/balance", {"filters": filters})
        assert status == want, (filters, answer)
    assert daemon.context.pools.intent[pool["id"]] == kept
    assert await daemon.store.intents("pool") == {pool["id"]: kept}
    assert changed == []


ALLOWED_OPTIONS = [
    "noatime", "relatime", "nodiratime", "autodefrag", "noautodefrag", "ssd", "nossd",
    "ssd_spread", "discard", "discard=sync", "discard=async", "nodiscard", "space_cache=v2",
    "commit=0", "commit=1", "commit=9999", "flushoncommit", "noflushoncommit", "skip_balance",
    "nodatacow", "datacow", "nodatasum", "datasum", "thread_pool=1", "thread_pool=999",
    "max_inline=0", "max_inline=4096", "barrier", "noatime,ssd,commit=120",
]


async def test_every_allowed_mount_option_really_mounts(rockd, caplog):
    box = await rockd(devices=1, size=256 << 20)
    daemon, api = box.daemon, box.api
    ids = box.disks
    status, pool = await create(api, "every", ids, "single",
                                mount_options=",".join(ALLOWED_OPTIONS))
    assert status == 201, pool
    assert pool["mounted"], pool
    url = f"/api/v1/pools/{pool['id']}"
    for option in ALLOWED_OPTIONS:
        status, answer = await api.call("PATCH", url, {"mount_options": option})
        assert status == 200 and answer["mounted"], (option, answer)  # a remount
        status, answer = await api.call("POST", url + "/unmount")
        assert status == 200, (option, answer)
        status, answer = await api.call("POST", url + "/mount", {})  # a mount
        assert status == 200 and answer["mounted"], (option, answer)
        assert daemon.context.pools.intent[pool["id"]]["mount_options"] == option
        # as mounted, the option is in force: start-up sees no drift to put back
        caplog.clear()
        await daemon.context.pools.reconcile()
        assert "drifted" not in caplog.text, (option, caplog.text)
    # and with compression, each option that can go with it
    status, answer = await api.call("PATCH", url, {"compression": "zstd:15"})
    assert status == 200 and answer["compression"] == "zstd:15", answer
    for option in ALLOWED_OPTIONS:
        status, answer = await api.call("PATCH", url, {"mount_options": option})
        if option in ("nodatacow", "nodatasum"):
            assert (status, answer["error"]["code"]) == (422, "conflicting_options"), answer
            continue
        assert status == 200, (option, answer)
        assert (await api.call("POST", url + "/unmount"))[0] == 200
        status, answer = await api.call("POST", url + "/mount", {})
        assert status == 200 and answer["compression"] == "zstd:15", (option, answer)
        caplog.clear()
        await daemon.context.pools.reconcile()
        assert "drifted" not in caplog.text, (option, caplog.text)


async def test_a_create_whose_mount_fails_leaves_its_disks_empty(rockd, monkeypatch):
    box = await rockd(devices=1, size=256 << 20)
    daemon, api, devices = box.daemon, box.api, box.devices
    ids = box.disks
    real = mounting.run

    async def mount_refused(argv, **options):
        """The system as it is, but for a kernel that refuses to mount (as it does a
        filesystem it finds damaged)."""
        if argv[0] == "mount":
            raise CommandError(argv, 32, f"mount: {argv[-1]}: can't read superblock")
        return await real(argv, **options)

    monkeypatch.setattr(mounting, "run", mount_refused)
    status, answer = await create(api, "doomed", ids, "single")
    assert (status, answer["error"]["code"]) == (422, "mount_failed"), answer
    assert not formatted(devices[0])
    assert await daemon.store.intents("pool") == {} and daemon.context.pools.intent == {}
    assert not (box.settings.mount_root / "doomed").exists()
    monkeypatch.undo()
    status, pool = await create(api, "doomed", ids, "single")
    assert status == 201 and pool["mounted"], pool


async def test_two_creates_of_one_name_at_once_make_one_pool(rockd):
    box = await rockd(devices=4, size=256 << 20)
    daemon, api, devices = box.daemon, box.api, box.devices
    ids = box.disks
    answers = await asyncio.gather(create(api, "twice", ids[:2], "raid1"),
                                   create(api, "twice", ids[2:], "raid1"),
                                   create(api, "other", ids[1:3], "raid1"))
    assert sorted(status for status, _ in answers) == [201, 409, 409], answers
    (made,) = [body for status, body in answers if status == 201]
    assert list(daemon.context.pools.intent) == [made["id"]]
    await daemon.context.disks.rescan_all()
    used = {d["disk"] for d in made["devices"]}
    for device, disk in zip(devices, ids, strict=True):
        assert formatted(device) == (disk in used), device


async def test_import_takes_over_what_an_import_cut_short_left_mounted(rockd):
    # rockd killed between an import's mount and its intent kept: the filesystem is mounted
    # at the pool's mount point and rockd knows nothing of it; importing it again finishes
    box = await rockd(devices=1)
    daemon, api, devices = box.daemon, box.api, box.devices
    (disk,) = box.disks
    subprocess.run(["mkfs.btrfs", "-q", "-f", "-L", "halfway", devices[0]], check=True)
    point = box.settings.mount_root / "halfway"
    point.mkdir(parents=True)
    subprocess.run(["mount", devices[0], str(point)], check=True)
    await daemon.context.disks.rescan(Path(devices[0]).name)
    status, pool = await api.call("POST", "/api/v1/pools/import", {"disk": disk})
    assert status == 201, pool
    assert pool["mounted"] and pool["mount_point"] == str(point)
    points = [line.split(" ")[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    assert points.count(str(point)) == 1


async def test_import_refuses_a_filesystem_with_a_device_rockd_does_not_manage(rockd, loops):
    box = await rockd(devices=1)
    daemon, api, devices = box.daemon, box.api, box.devices
    stranger = loops(512 << 20)  # not in the daemon's --devices
    subprocess.run(["mkfs.btrfs", "-q", "-f", "-L", "halfmine", "-d", "raid1", "-m", "raid1",
                    devices[0], stranger], check=True)
    await daemon.context.disks.rescan(Path(devices[0]).name)
    (disk,) = box.disks
    status, answer = await api.call("POST", "/api/v1/pools/import", {"disk": disk})
    assert (status, answer["error"]["code"]) == (403, "unmanaged_device"), answer
    assert answer["error"]["detail"] == {"device": stranger}
    assert daemon.context.pools.intent == {}
    assert not mounted_at(box.settings.mount_root / "halfmine")


async def test_intent_an_older_rockd_kept_still_mounts_without_what_is_refused(rockd, caplog):
    box = await rockd(devices=1)
    daemon, api = box.daemon, box.api
    status, pool = await create(api, "older", box.disks, "single")
    assert status == 201, pool
    pools, url = daemon.context.pools, f"/api/v1/pools/{pool['id']}"
    assert (await api.call("POST", url + "/unmount"))[0] == 200
    for compression, options, shown in [
            ("zstd", "noatime,rescue=usebackuproot,nodatacow", "compress=zstd:3"),
            ("zlib:3\n", "noatime,commit=08,nodatacow", "nodatacow")]:
        await pools._save(pool["id"], {**pools.intent[pool["id"]], "compression": compression,
                                       "mount_options": options})
        caplog.clear()
        await pools.reconcile()  # as at start-up
        pool = await pools.settle(pool["id"])
        assert pool["mounted"], (options, caplog.text)
        assert {"noatime", shown} <= set(pool["mount_options"].split(",")), pool
        assert "mounted without it" in caplog.text
        status, answer = await api.call("PATCH", url, {"quotas": True})  # other changes work
        assert status == 200 and answer["quotas"], answer
        assert (await api.call("POST", url + "/unmount"))[0] == 200
