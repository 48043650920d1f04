"""A real rockd process restarted: pools and shares come back as the user asked."""

import subprocess

from tests.support.host import disk_ids_of, umount_by_hand


async def test_start_up_mounts_pools_and_puts_back_what_drifted(processes, managing, tmp_path,
                                                                loops):
    devices = [loops(512 << 20), loops(512 << 20)]
    state = tmp_path / "state"
    proc, api = await managing(state, devices)
    ids = await disk_ids_of(api, devices)
    status, pool = await api.call("POST", "/api/v1/pools", {
        "name": "keep", "disks": ids, "data": "raid1", "compression": "zstd",
        "mount_options": "noatime"})
    assert status == 201, pool
    status, share = await api.call("POST", "/api/v1/shares", {
        "pool": pool["id"], "name": "home", "quota": 64 << 20})
    assert status == 201, share
    await api.close()
    proc.stop()
    point = pool["mount_point"]
    try:
        # while rockd is down, someone changes things by hand
        subprocess.run(["btrfs", "qgroup", "limit", "none", share["path"]], check=True)
        subprocess.run(["mount", "-o", "remount,compress=no", point], check=True)
        umount_by_hand(point)

        proc, api = await managing(state, devices)
        pool = (await api.state(f"/pools/{pool['id']}"))["value"]
        assert pool["mounted"] and pool["compression"].startswith("zstd")
        assert "noatime" in pool["mount_options"].split(",")
        share = (await api.state(f"/shares/{share['id']}"))["value"]
        assert share["quota"] == 64 << 20
        assert "drifted" in proc.output()
        await api.close()

        # and with nothing drifted, a restart changes nothing on the system
        proc.stop()
        log_size = len(proc.output())
        proc = processes("serve", state_dir=state, extra=["--devices", ",".join(devices)])
        assert "drifted" not in proc.output()[log_size:]
    finally:
        proc.stop()
        subprocess.run(["umount", point], check=False, stderr=subprocess.DEVNULL)
