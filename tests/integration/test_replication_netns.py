"""Replication between two real `rockd serve` processes, each in a network namespace of its
own, over a veth link that the test cuts in the middle of a transfer (see tests/support/netns.py
for the topology): the run fails within a bounded time, the receiver keeps nothing half-made,
and once the link is back the next run goes on incrementally from the last common snapshot."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.netns import HTTP_PORT, ZMQ_PORT, Namespaces, Unavailable
from tests.support.replication import checksums, write_files
from tests.support.rig import Rockd, wait_for

IDLE = 10.0
"""How long a transfer waits for a silent peer here (`--replication-idle`, 60 s by default):
the receiver's idle timeout, and the sender's wait for credit."""
ABORT = 5.0
"""How long the sender then waits for the receiver to answer its abort."""
BASE, CHANGE = 512 << 20, 256 << 20


@pytest.fixture
async def netboxes(rockd):
    """Boxes "a" and "b" running, each in its own namespace with a 2 GiB pool "tank", paired
    both ways. Everything is undone at the end, failed or not: the processes stopped and the
    namespaces and veths deleted here, then the rig unmounts and detaches the rest."""
    nets = Namespaces()
    boxes: list[Rockd] = []
    try:
        try:
            nets.create()
        except Unavailable as exc:
            pytest.skip(f"no network namespaces here: {exc}")
        for side in "ab":
            boxes.append(await rockd(
                name=side, devices=1, size=2 << 30, pool="single", process=True,
                listen=f"{nets.control[side]}:{HTTP_PORT}", replication_idle=IDLE,
                zmq_listen=f"{nets.link[side]}:{ZMQ_PORT}", prefix=nets.command(side, [])))
        a, b = boxes
        for one, other in ((a, b), (b, a)):
            ident = await get(other, "/api/v1/replication/identity")
            assert ident["address"] == other.settings.zmq_listen, ident
            status, body = await one.api.call("POST", "/api/v1/replication/peers", {
                "name": other.name, "address": ident["address"],
                "public_key": ident["public_key"]})
            assert status == 201, body
        yield nets, a, b
    finally:
        try:
            for box in boxes:
                await box.stop()
        finally:
            nets.close()
            os.sync()
        assert nets.leftovers() == [], f"not deleted: {nets.leftovers()}"


async def get(box: Rockd, path: str):
    status, body = await box.api.call("GET", path)
    assert status == 200, body
    return body


def subvolumes(point: str, *options: str) -> list[str]:
    out = subprocess.run(["btrfs", "subvolume", "list", *options, point],
                         capture_output=True, text=True, check=True).stdout
    return sorted(line.split(" path ", 1)[1] for line in out.splitlines())


async def ended(box: Rockd, job_id: str, timeout: float) -> dict:
    return await box.api.ended_job(job_id, timeout)


async def test_a_link_cut_mid_transfer_fails_the_run_and_the_next_one_is_incremental(
        netboxes):
    nets, a, b = netboxes
    times: dict[str, float] = {}
    status, share = await a.api.call("POST", "/api/v1/shares",
                                     {"pool": a.pool["id"], "name": "home"})
    assert status == 201, share
    root = Path(share["path"])
    write_files(root, 8, BASE // 8)
    status, task = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"}]})
    assert status == 201, task

    async def run() -> dict:
        status, body = await a.api.call("POST", f"/api/v1/replication/tasks/{task['id']}/run")
        assert status == 202, body
        return body["job"]

    began = time.monotonic()
    first = await ended(a, (await run())["id"], 60)
    times["full"] = time.monotonic() - began
    assert first["state"] == "succeeded" and "in full" in first["detail"], first
    first_snapshot = first["result"]["b/tank"]["snapshot"]

    # a large change, and the link cut once it streams
    write_files(root / "big", 4, CHANGE // 4, seed="big")
    point = b.pool["mount_point"]
    expected = sorted(["home", f".snapshots/home/{first_snapshot}"])
    job = await run()

    async def streaming():  # and b's `btrfs receive` has begun
        return ((await get(a, f"/api/v1/jobs/{job['id']}")).get("bytes", 0) > 0
                and subvolumes(point) != expected)
    await wait_for(streaming, timeout=30, interval=0.01)
    nets.cut("b")
    cut = time.monotonic()
    (half_made,) = [p for p in subvolumes(point) if p not in expected]
    assert half_made not in subvolumes(point, "-r")  # btrfs receive is writing it

    # the sender gives up (no credit for IDLE, or the link seen lost), the receiver discards
    # what it got (nothing from the sender for IDLE, or ZeroMQ's heartbeat, 10 s, ending the
    # connection): both within a bound
    failed: dict | None = None
    while failed is None or "discarded" not in times:
        assert time.monotonic() - cut < IDLE + 20, (failed, subvolumes(point))
        if failed is None:
            job = await get(a, f"/api/v1/jobs/{job['id']}")
            if job["state"] not in ("queued", "running"):
                failed, times["failed"] = job, time.monotonic() - cut
        if "discarded" not in times and subvolumes(point) == expected:
            times["discarded"] = time.monotonic() - cut
        await asyncio.sleep(0.05)
    assert failed["state"] == "failed", failed
    assert f"peer b ({b.settings.zmq_listen})" in failed["error"], failed
    assert times["failed"] < IDLE + ABORT + 3, times
    assert times["discarded"] < IDLE + 3, times
    assert 0 < failed["bytes"] < CHANGE, failed
    assert (f"the sender sent nothing for {IDLE:.0f} s" in b.proc.output()
            or "the sender's connection closed" in b.proc.output())

    # nothing half-made on the receiver: not on disk, not in its API
    assert subvolumes(point) == subvolumes(point, "-r") == expected
    snapshots = await get(b, "/api/v1/snapshots")
    assert [s["name"] for s in snapshots] == [first_snapshot], snapshots
    (replica,) = [s for s in await get(b, "/api/v1/shares") if s["name"] == "home"]
    assert replica["replica"]["snapshot"] == first_snapshot, replica

    # the link back: the next run sends the change since the last common snapshot only
    nets.mend("b")
    began = time.monotonic()
    third = await ended(a, (await run())["id"], 60)
    times["incremental"] = time.monotonic() - began
    assert third["state"] == "succeeded", third
    result = third["result"]["b/tank"]
    assert result["incremental"] and "incremental" in third["detail"], third
    assert CHANGE <= third["bytes"] < CHANGE + (16 << 20), third
    assert third["bytes"] < (BASE + CHANGE) / 2, third  # a third of the share
    (replica,) = [s for s in await get(b, "/api/v1/shares") if s["name"] == "home"]
    assert replica["replica"]["snapshot"] == result["snapshot"], replica
    assert checksums(Path(replica["path"])) == checksums(root)
    print(f"\ncut after {failed['bytes'] / 2**20:.0f} MiB: the run failed in "
          f"{times['failed']:.1f} s ({failed['error']}), the receiver discarded in "
          f"{times['discarded']:.1f} s; full run of {BASE >> 20} MiB {times['full']:.1f} s; "
          f"incremental {third['bytes'] / 2**20:.1f} MiB in {times['incremental']:.1f} s")
