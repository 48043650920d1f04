"""Shares and snapshots on a real pool: made through the API and by hand, kept live."""

import errno
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.client import receive
from tests.support.rig import wait_for


def is_subvolume(path) -> bool:
    return subprocess.run(["btrfs", "subvolume", "show", str(path)],
                          capture_output=True).returncode == 0


async def test_share_create_attributes_and_delete(rockd):
    box = await rockd(devices=1, pool="single")
    daemon, api, tank = box.daemon, box.api, box.pool
    status, share = await api.call("POST", "/api/v1/shares", {
        "pool": tank["id"], "name": "media", "owner": "nobody", "group": "nogroup",
        "mode": "0750", "compression": "zstd"})
    assert status == 201, share
    path = Path(tank["mount_point"]) / "media"
    assert share["path"] == str(path) and is_subvolume(path)
    st = path.stat()
    assert (share["owner"], share["group"], share["mode"]) == ("nobody", "nogroup", "0750")
    assert oct(st.st_mode & 0o777) == "0o750"
    assert share["compression"] == "zstd" and share["pool"] == tank["id"]
    assert share["usage"] is None and share["quota"] is None  # quotas are off
    status, listed = await api.call("GET", "/api/v1/shares")
    assert [s["id"] for s in listed] == [share["id"]]

    for body, code, status_code in (
            ({"pool": tank["id"], "name": "media"}, "exists", 409),
            ({"pool": tank["id"], "name": "../etc"}, "invalid_name", 400),
            ({"pool": tank["id"], "name": ".snapshots"}, "invalid_name", 400),
            ({"pool": tank["id"], "name": "x", "owner": "no-such-user"}, "unknown_user", 422),
            ({"pool": tank["id"], "name": "x", "mode": "999"}, "invalid_field", 400),
            ({"pool": "nope", "name": "x"}, "not_found", 404)):
        got, answer = await api.call("POST", "/api/v1/shares", body)
        assert (got, answer["error"]["code"]) == (status_code, code), (body, answer)
    assert not (Path(tank["mount_point"]) / "x").exists()

    assert (await api.call("DELETE", f"/api/v1/shares/{share['id']}"))[0] == 204
    assert not path.exists() and daemon.tree.get(("shares", share["id"])) is None


async def test_quota_is_enforced_and_usage_reported(rockd):
    box = await rockd(devices=1, pool="single")
    daemon, api, tank = box.daemon, box.api, box.pool
    status, share = await api.call("POST", "/api/v1/shares", {
        "pool": tank["id"], "name": "capped", "quota": 16 << 20})
    assert status == 201, share
    assert share["quota"] == 16 << 20
    assert daemon.tree.get(("pools", tank["id"], "quotas")) is True
    target = Path(share["path"]) / "big"
    with pytest.raises(OSError) as info, target.open("wb") as f:
        for _ in range(64):
            f.write(os.urandom(1 << 20))
            f.flush()
            os.fsync(f.fileno())
    assert info.value.errno == errno.EDQUOT
    subprocess.run(["btrfs", "quota", "rescan", "-w", tank["mount_point"]], check=True)
    status, share = await api.call("PATCH", f"/api/v1/shares/{share['id']}",
                                   {"quota": None})
    assert status == 200 and share["quota"] is None
    assert share["usage"]["referenced"] > 8 << 20


async def test_snapshots_clone_and_rollback(rockd):
    box = await rockd(devices=1, pool="single")
    daemon, api, tank = box.daemon, box.api, box.pool
    _, share = await api.call("POST", "/api/v1/shares", {"pool": tank["id"], "name": "docs"})
    data = Path(share["path"]) / "note.txt"
    data.write_text("version 1")
    status, snap = await api.call("POST", f"/api/v1/shares/{share['id']}/snapshots",
                                  {"name": "v1"})
    assert status == 201, snap
    snap_path = Path(tank["mount_point"]) / ".snapshots" / "docs" / "v1"
    assert snap["path"] == str(snap_path) and snap["read_only"] and snap["share"] == share["id"]
    assert (snap_path / "note.txt").read_text() == "version 1"
    data.write_text("version 2")

    status, listed = await api.call("GET", f"/api/v1/snapshots?share={share['id']}")
    assert [s["name"] for s in listed] == ["v1"]

    status, clone = await api.call("POST", f"/api/v1/snapshots/{snap['id']}/clone",
                                   {"name": "docs-v1"})
    assert status == 201 and (Path(clone["path"]) / "note.txt").read_text() == "version 1"
    assert not clone["read_only"]
    status, copy = await api.call("POST", f"/api/v1/shares/{share['id']}/clone",
                                  {"name": "docs-copy"})
    assert status == 201 and (Path(copy["path"]) / "note.txt").read_text() == "version 2"

    status, rolled = await api.call("POST", f"/api/v1/shares/{share['id']}/rollback",
                                    {"snapshot": snap["id"]})
    assert status == 200, rolled
    assert rolled["id"] == share["id"] and data.read_text() == "version 1"
    names = {s["name"] for s in daemon.tree.get("/snapshots").values()}
    assert names == {"v1"}  # the safety copy is gone once the rollback succeeded

    status, answer = await api.call("DELETE", f"/api/v1/shares/{share['id']}")
    assert (status, answer["error"]["code"]) == (409, "not_empty")
    assert (await api.call("DELETE", f"/api/v1/snapshots/{snap['id']}"))[0] == 204
    assert not snap_path.exists()
    await api.call("POST", f"/api/v1/shares/{share['id']}/snapshots", {"name": "again"})
    assert (await api.call("DELETE", f"/api/v1/shares/{share['id']}?force=true"))[0] == 204
    assert daemon.tree.get("/snapshots") == {}


async def test_subvolumes_made_and_deleted_by_hand_appear_and_vanish(rockd):
    box = await rockd(devices=1, pool="single")
    daemon, api, tank = box.daemon, box.api, box.pool
    root = Path(tank["mount_point"])
    ws = await api.stream()
    await ws.send_str('{"id": 1, "type": "subscribe", "path": "/shares"}')
    await receive(ws)
    await receive(ws)

    async def until(predicate):
        deadline = time.monotonic() + 1.0
        while True:
            message = await receive(ws, timeout=max(0.01, deadline - time.monotonic()))
            if predicate(message):
                return
    started = time.monotonic()
    subprocess.run(["btrfs", "-q", "subvolume", "create", str(root / "by-hand")], check=True)
    await until(lambda m: any(op["op"] == "add" and op.get("value", {}).get("name") == "by-hand"
                              for op in m.get("ops", [])))
    assert time.monotonic() - started < 1.0
    share = next(s for s in daemon.tree.get("/shares").values() if s["name"] == "by-hand")

    (root / ".snapshots" / "by-hand").mkdir(parents=True)
    subprocess.run(["btrfs", "-q", "subvolume", "snapshot", "-r", str(root / "by-hand"),
                    str(root / ".snapshots" / "by-hand" / "s1")], check=True)
    snaps = await wait_for(lambda: [s for s in daemon.tree.get("/snapshots").values()
                                    if s["name"] == "s1"], timeout=1, interval=0.02)
    assert snaps and snaps[0]["share"] == share["id"]

    started = time.monotonic()
    subprocess.run(["btrfs", "-q", "subvolume", "delete", str(root / ".snapshots" / "by-hand"
                                                              / "s1"), str(root / "by-hand")],
                   check=True)
    await until(lambda m: {"op": "remove", "path": f"/shares/{share['id']}"} in m.get("ops", []))
    assert time.monotonic() - started < 1.0
    await ws.close()


async def test_single_resource_reads_and_snapshot_visibility(rockd):
    box = await rockd(devices=1, pool="single")
    api, tank = box.api, box.pool
    _, share = await api.call("POST", "/api/v1/shares", {"pool": tank["id"], "name": "one"})
    status, got = await api.call("GET", f"/api/v1/shares/{share['id']}")
    assert status == 200 and got == share
    status, snap = await api.call("POST", f"/api/v1/shares/{share['id']}/snapshots",
                                  {"name": "shown", "visible": True})
    assert status == 201 and snap["visible"] is True
    status, got = await api.call("GET", f"/api/v1/snapshots/{snap['id']}")
    assert status == 200 and got["name"] == "shown" and got["visible"] is True
    status, got = await api.call("PATCH", f"/api/v1/snapshots/{snap['id']}", {"visible": False})
    assert status == 200 and got["visible"] is False
    status, got = await api.call("GET", f"/api/v1/pools/{tank['id']}")
    assert status == 200 and got["id"] == tank["id"]
    disk = tank["devices"][0]["disk"]
    status, got = await api.call("GET", f"/api/v1/disks/{disk}")
    assert status == 200 and got["pool"] == tank["id"]
    for path in ("/api/v1/shares/nope", "/api/v1/snapshots/nope", "/api/v1/pools/nope",
                 "/api/v1/disks/nope", "/api/v1/jobs/nope"):
        status, answer = await api.call("GET", path)
        assert (status, answer["error"]["code"]) == (404, "not_found"), path
    status, writable = await api.call("POST", f"/api/v1/shares/{share['id']}/snapshots",
                                      {"name": "rw", "writable": True})
    assert status == 201 and writable["read_only"] is False

