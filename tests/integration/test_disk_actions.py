"""Disk actions and pool capacity on real loop devices: SMART, wipe, full pools."""

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

from rockd.storage import profiles, smart

DATA = Path(__file__).resolve().parents[1] / "data" / "smartctl"


async def test_disk_list_smart_and_wipe(rockd):
    box = await rockd(devices=2, size=256 << 20)
    api, devices = box.api, box.devices
    ids = box.disks
    status, listed = await api.call("GET", "/api/v1/disks")
    assert status == 200 and {d["id"] for d in listed} >= set(ids)
    status, answer = await api.call("GET", f"/api/v1/disks/{ids[0]}/smart")
    assert (status, answer["error"]["code"]) == (422, "smart_unsupported")

    status, pool = await api.call("POST", "/api/v1/pools",
                                  {"name": "w", "disks": ids[:1], "data": "single"})
    assert status == 201
    status, answer = await api.call("POST", f"/api/v1/disks/{ids[0]}/wipe", {"confirm": "x"})
    assert (status, answer["error"]["code"]) == (422, "not_confirmed")
    status, answer = await api.call("POST", f"/api/v1/disks/{ids[0]}/wipe",
                                    {"confirm": ids[0]})
    assert (status, answer["error"]["code"]) == (409, "busy")
    assert subprocess.run(["blkid", "-p", devices[0]], capture_output=True).returncode == 0

    assert (await api.call("DELETE", f"/api/v1/pools/{pool['id']}"))[0] == 204
    status, disk = await api.call("POST", f"/api/v1/disks/{ids[0]}/wipe", {"confirm": ids[0]})
    assert status == 200, disk
    assert disk["filesystem"] is None and disk["pool"] is None
    assert subprocess.run(["blkid", "-p", devices[0]], capture_output=True).returncode == 2
    root = next((d for d in listed if not d["managed"]), None)
    if root is not None:
        status, answer = await api.call("POST", f"/api/v1/disks/{root['id']}/wipe",
                                        {"confirm": root["id"]})
        assert (status, answer["error"]["code"]) == (403, "unmanaged_device")


async def test_capacity_follows_the_allocator(rockd):
    box = await rockd(devices=3, size=256 << 20)
    api = box.api
    ids = box.disks
    sizes = [1 << 40, 1 << 40, 2 << 40]
    status, answer = await api.call("POST", "/api/v1/pools/capacity",
                                    {"sizes": sizes, "data": "raid1"})
    assert status == 200 and answer == profiles.capacity(sizes, "raid1", "raid1")
    assert answer["usable"] > (3 << 40) // 2 * 0.95  # not min(size) * n / 2
    status, answer = await api.call("POST", "/api/v1/pools/capacity",
                                    {"disks": ids, "data": "raid5"})
    assert status == 200 and answer["raw"] == 3 * (256 << 20)
    for body, status_code, code in (
            ({"sizes": [1 << 30], "data": "raid1"}, 422, "not_enough_disks"),
            ({"sizes": [1 << 30], "disks": ids, "data": "single"}, 400, "invalid_field"),
            ({"disks": ["nope"], "data": "single"}, 404, "not_found"),
            ({"sizes": [0], "data": "single"}, 400, "invalid_field")):
        got, answer = await api.call("POST", "/api/v1/pools/capacity", body)
        assert (got, answer["error"]["code"]) == (status_code, code), (body, answer)


async def test_a_full_pool_refuses_new_shares_with_no_space(rockd):
    box = await rockd(devices=1, size=256 << 20)
    daemon, api = box.daemon, box.api
    status, pool = await api.call("POST", "/api/v1/pools", {
        "name": "full", "disks": box.disks, "data": "single",
        "metadata": "single"})
    assert status == 201
    status, share = await api.call("POST", "/api/v1/shares", {"pool": pool["id"], "name": "s"})
    assert status == 201
    blob = Path(share["path"]) / "fill"
    try:
        with blob.open("wb") as f:
            while True:
                f.write(os.urandom(4 << 20))
                f.flush()
                os.fsync(f.fileno())
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    for method, path, body in (
            ("POST", "/api/v1/shares", {"pool": pool["id"], "name": "more"}),
            ("POST", f"/api/v1/shares/{share['id']}/snapshots", {"name": "snap"})):
        status, answer = await api.call(method, path, body)
        assert (status, answer["error"]["code"]) == (422, "no_space"), answer
    assert [s["name"] for s in daemon.tree.get("/shares").values()] == ["s"]


async def test_each_disk_carries_its_smart_summary(rockd, tmp_path, monkeypatch):
    """No disk here has SMART, so smartctl is stood in for by one that answers a real
    drive's report (tests/data/smartctl): rockd's probe reads it into /disks."""
    report = DATA / "WDC_WD20EFRX-68EUZN0_18.json"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "smartctl").write_text(f"#!/bin/sh\nexec cat '{report}'\n")
    (bin_dir / "smartctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    box = await rockd(devices=1, size=256 << 20)
    daemon = box.daemon
    disks = daemon.tree.get("/disks")
    summary = smart.parse(json.loads(report.read_text()))["summary"]
    assert summary["health"] == "passed" and summary["power_on_hours"]
    for disk_id in box.disks:
        assert disks[disk_id]["smart"] is None  # a loop device is never asked
    others = [d for d in disks.values() if d["transport"] != "loop" and d["size"] > 0]
    if not others:
        pytest.skip("this machine has no disk besides loop devices")
    assert all(d["smart"] == summary for d in others), others
