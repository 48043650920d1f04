"""Two disks holding one filesystem (a cloned image: the same filesystem and device UUID):
each is shown as the other's duplicate, and the pool is always mounted from the disk it was
imported from, never from its copy."""

import os
import subprocess
from pathlib import Path


def source_of(point: str) -> str:
    """The device mounted at `point` (mountinfo's source)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" ")
        if fields[4] == point:
            return fields[fields.index("-", 6) + 2]
    raise AssertionError(f"nothing is mounted at {point}")


def blkid_uuid(device: str) -> str:
    return subprocess.run(["blkid", "-p", "-o", "value", "-s", "UUID", device], check=True,
                          capture_output=True, text=True).stdout.strip()


async def test_a_copied_disk_is_a_duplicate_and_never_mounted_instead(rockd, tmp_path):
    box = await rockd(devices=2, size=256 << 20)
    daemon, api, devices = box.daemon, box.api, box.devices
    ids = box.disks
    subprocess.run(["mkfs.btrfs", "-q", "-f", "-L", "twin", devices[0]], check=True)
    subprocess.run(["dd", f"if={devices[0]}", f"of={devices[1]}", "bs=4M", "conv=sparse",
                    "status=none"], check=True)
    subprocess.run(["udevadm", "settle"], check=True)
    uuid = blkid_uuid(devices[0])
    assert blkid_uuid(devices[1]) == uuid
    for device in devices:
        await daemon.context.disks.rescan(Path(device).name)
    for disk, other in ((ids[0], ids[1]), (ids[1], ids[0])):
        status, answer = await api.call("GET", f"/api/v1/disks/{disk}")
        assert status == 200 and answer["filesystem"]["duplicate_of"] == [other], answer
        assert answer["pool"] == uuid
    # the copy udev names for the UUID is the one `mount UUID=` would take: ask for the other
    named = os.path.realpath(f"/dev/disk/by-uuid/{uuid}")
    asked, copy = (0, 1) if named == devices[1] else (1, 0)
    status, pool = await api.call("POST", "/api/v1/pools/import", {"disk": ids[asked]})
    assert status == 201, pool
    assert source_of(pool["mount_point"]) == devices[asked]
    assert [d["disk"] for d in pool["devices"]] == [ids[asked]]

    status, answer = await api.call("POST", "/api/v1/pools/import", {"disk": ids[copy]})
    assert (status, answer["error"]["code"]) == (409, "duplicate_filesystem"), answer
    assert answer["error"]["detail"]["duplicate_of"] == [ids[asked]]

    # mounted again, by rockd's hand and at start-up: from the same disk
    url = f"/api/v1/pools/{pool['id']}"
    assert (await api.call("POST", url + "/unmount"))[0] == 200
    subprocess.run(["btrfs", "device", "scan", devices[copy]], check=True)  # as udev would
    status, pool = await api.call("POST", url + "/mount", {})
    assert status == 200, pool
    assert source_of(pool["mount_point"]) == devices[asked]
    assert (await api.call("POST", url + "/unmount"))[0] == 200
    subprocess.run(["btrfs", "device", "scan", devices[copy]], check=True)
    await daemon.context.pools.reconcile()
    assert source_of(pool["mount_point"]) == devices[asked]

    # kernel 6.18 mounts the copy too, by path, under a temporary fsid: the pool stays itself
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    subprocess.run(["mount", devices[copy], str(scratch)], check=True)
    try:
        temp = [f.parent.parent.name for f in Path("/sys/fs/btrfs").glob(
            f"*/devices/{Path(devices[copy]).name}")]
        assert temp and temp != [uuid], temp
        assert Path(f"/sys/fs/btrfs/{temp[0]}/temp_fsid").read_text().strip() == "1"
        pool = await daemon.context.pools.settle(pool["id"])
        assert pool["mounted"] and [d["disk"] for d in pool["devices"]] == [ids[asked]]
        status, answer = await api.call("POST", f"/api/v1/disks/{ids[copy]}/wipe",
                                        {"confirm": ids[copy]})
        assert (status, answer["error"]["code"]) == (409, "busy"), answer
    finally:
        subprocess.run(["umount", str(scratch)], check=True)

    # the copy is not part of the mounted pool: it can be wiped, and then nothing is a duplicate
    status, answer = await api.call("POST", f"/api/v1/disks/{ids[copy]}/wipe",
                                    {"confirm": ids[copy]})
    assert status == 200 and answer["filesystem"] is None, answer
    status, answer = await api.call("GET", f"/api/v1/disks/{ids[asked]}")
    assert answer["filesystem"]["duplicate_of"] == [], answer
