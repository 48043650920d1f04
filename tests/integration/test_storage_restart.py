"""A real rockd process restarted: pools and shares come back as the user asked."""

import subprocess

from tests.support.host import umount_by_hand


async def test_start_up_mounts_pools_and_puts_back_what_drifted(rockd):
    box = await rockd(devices=2, process=True)
    api = box.api
    status, pool = await api.call("POST", "/api/v1/pools", {
        "name": "keep", "disks": box.disks, "data": "raid1", "compression": "zstd",
        "mount_options": "noatime"})
    assert status == 201, pool
    status, share = await api.call("POST", "/api/v1/shares", {
        "pool": pool["id"], "name": "home", "quota": 64 << 20})
    assert status == 201, share
    await box.stop()
    point = pool["mount_point"]
    try:
        # while rockd is down, someone changes things by hand
        subprocess.run(["btrfs", "qgroup", "limit", "none", share["path"]], check=True)
        subprocess.run(["mount", "-o", "remount,compress=no", point], check=True)
        umount_by_hand(point)

        await box.start()
        pool = (await api.state(f"/pools/{pool['id']}"))["value"]
        assert pool["mounted"] and pool["compression"].startswith("zstd")
        assert "noatime" in pool["mount_options"].split(",")
        share = (await api.state(f"/shares/{share['id']}"))["value"]
        assert share["quota"] == 64 << 20
        assert "drifted" in box.proc.own_output()

        # and with nothing drifted, a restart changes nothing on the system
        await box.restart()
        assert "drifted" not in box.proc.own_output()
    finally:
        await box.stop()
        subprocess.run(["umount", point], check=False, stderr=subprocess.DEVNULL)
