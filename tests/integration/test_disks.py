"""Disks on real loop devices: the inventory, and udev events that keep it live."""

import subprocess
import time

import orjson

from tests.support.client import receive


def free_loop() -> str:
    return subprocess.run(["losetup", "--find"], capture_output=True, text=True,
                          check=True).stdout.strip()


async def next_disk_patch(ws, path: str, timeout: float = 2.0) -> dict:
    """The next patch that touches the disk with this /dev path."""
    deadline = time.monotonic() + timeout
    while True:
        message = await receive(ws, timeout=max(0.01, deadline - time.monotonic()))
        if message["type"] == "patch" and path.encode() in orjson.dumps(message["ops"]):
            return message


async def test_loop_attached_and_detached_by_hand_appears_and_disappears(rockd, tmp_path,
                                                                         udevd):
    device = free_loop()
    image = tmp_path / "by-hand.img"
    with image.open("wb") as f:
        f.truncate(128 << 20)
    client = (await rockd(devices=[device], process=True)).api
    ws = await client.stream()
    await ws.send_str('{"id": 1, "type": "subscribe", "path": "/disks"}')
    assert (await receive(ws))["type"] == "subscribed"
    snapshot = await receive(ws)
    assert all(d["path"] != device for d in snapshot["value"].values())
    try:
        started = time.monotonic()
        subprocess.run(["losetup", device, str(image)], check=True)
        patch = await next_disk_patch(ws, device)
        assert time.monotonic() - started < 1.0
        added = [op["value"] for op in patch["ops"] if op["op"] == "add"]
        assert added and added[0]["path"] == device and added[0]["size"] == 128 << 20
        assert added[0]["managed"] is True and added[0]["backing_file"] == str(image)
        disk_id = added[0]["id"]

        # a filesystem made by hand shows up as the disk's signature
        subprocess.run(["mkfs.btrfs", "-q", "-f", "-L", "byhand", device], check=True)
        state = await client.state(f"/disks/{disk_id}")
        deadline = time.monotonic() + 2
        while state["value"]["filesystem"] is None and time.monotonic() < deadline:
            await receive(ws, timeout=2)
            state = await client.state(f"/disks/{disk_id}")
        fs = state["value"]["filesystem"]
        assert fs["type"] == "btrfs" and fs["label"] == "byhand"
        assert state["value"]["pool"] == fs["uuid"]

        started = time.monotonic()
        subprocess.run(["losetup", "--detach", device], check=True)
        while True:
            patch = await receive(ws, timeout=2)
            if {"op": "remove", "path": f"/disks/{disk_id}"} in patch.get("ops", []):
                break
        assert time.monotonic() - started < 1.0
    finally:
        subprocess.run(["losetup", "--detach", device], check=False,
                       stderr=subprocess.DEVNULL)
