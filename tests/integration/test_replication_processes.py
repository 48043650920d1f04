"""Replication between real `rockd serve` processes, each with its own state dir, HTTP port,
ZeroMQ port and loop device: either side killed in the middle of a transfer leaves nothing
half-made on the receiver, and the next run goes on incrementally from the last common
snapshot."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.support.replication import checksums, write_files
from tests.support.rig import Rockd, wait_for


async def with_pool(rockd, name: str) -> Rockd:
    """A rockd process with a pool "tank" on a 2 GiB loop device of its own."""
    return await rockd(name=name, devices=1, size=2 << 30, pool="single", process=True)


async def get(box: Rockd, path: str):
    status, body = await box.api.call("GET", path)
    assert status == 200, body
    return body


def subvolumes(point: str, *options: str) -> list[str]:
    out = subprocess.run(["btrfs", "subvolume", "list", *options, point],
                         capture_output=True, text=True, check=True).stdout
    return sorted(line.split(" path ", 1)[1] for line in out.splitlines())


async def pair(one: Rockd, other: Rockd) -> None:
    ident = await get(other, "/api/v1/replication/identity")
    assert ident["address"] == other.settings.zmq_listen
    status, body = await one.api.call("POST", "/api/v1/replication/peers", {
        "name": other.name, "address": ident["address"], "public_key": ident["public_key"]})
    assert status == 201, body


@dataclass
class Replicating:
    """Box a, whose share "home" (32 MiB) has been replicated once in full to box b."""

    a: Rockd
    b: Rockd
    root: Path
    task: dict
    first: dict
    receiving: psutil.Process | None = None

    async def run(self) -> dict:
        status, body = await self.a.api.call(
            "POST", f"/api/v1/replication/tasks/{self.task['id']}/run")
        assert status == 202, body
        return body["job"]

    async def start_big_change(self) -> dict:
        """600 MiB more, and a run of it held in the middle: b's `btrfs receive` is stopped
        (SIGSTOP) once its subvolume exists, so the sender, out of credit, waits with the
        transfer half made, however fast the machine. `thaw()` lets it go on."""
        write_files(self.root / "big", 6, 100 << 20, seed="big")
        job = await self.run()
        receiving = self.receiving = await wait_for(self._receive_process, timeout=60)

        async def held() -> bool:
            receiving.suspend()
            if self.half_made():
                return True
            receiving.resume()  # its subvolume is not there yet: a moment more
            await asyncio.sleep(0.05)
            return False
        await wait_for(held, timeout=30)
        return job

    def _receive_process(self) -> psutil.Process | None:
        """b's `btrfs receive`, once it runs."""
        assert self.b.proc is not None and self.b.proc.proc is not None
        for child in psutil.Process(self.b.proc.proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if child.cmdline()[:2] == ["btrfs", "receive"]:
                    return child
        return None

    def thaw(self) -> None:
        """Let the stopped `btrfs receive` go on (or end, its rockd gone)."""
        with contextlib.suppress(psutil.Error):
            self.receiving.resume()

    def half_made(self) -> list[str]:
        """The subvolumes on b that are not read-only: what an unfinished receive leaves (a
        new subvolume is listed once its transaction commits: commit it first)."""
        point = self.b.pool["mount_point"]
        subprocess.run(["btrfs", "filesystem", "sync", point], check=True, capture_output=True)
        read_only = subvolumes(point, "-r")
        return [p for p in subvolumes(point) if p not in read_only]

    async def next_run_is_incremental(self) -> None:
        """The next run sends just the change, from the last common snapshot, and the replica
        then equals the share."""
        third = await self.a.api.ended_job((await self.run())["id"])
        assert third["state"] == "succeeded", third
        assert "incremental" in third["detail"], third
        assert 600 << 20 < third["bytes"] < 640 << 20, third  # the change, not the whole share
        shares = await get(self.b, "/api/v1/shares")
        (replica,) = [s for s in shares if s["name"] == "home"]
        assert checksums(Path(replica["path"])) == checksums(self.root)


@pytest.fixture
async def replicating(rockd):
    a, b = await with_pool(rockd, "a"), await with_pool(rockd, "b")
    await pair(a, b)
    await pair(b, a)
    status, share = await a.api.call("POST", "/api/v1/shares",
                                     {"pool": a.pool["id"], "name": "home"})
    assert status == 201, share
    root = Path(share["path"])
    write_files(root, 8, 4 << 20)  # 32 MiB
    status, task = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"}]})
    assert status == 201, task
    setup = Replicating(a, b, root, task, {})
    setup.first = await a.api.ended_job((await setup.run())["id"])
    first = setup.first
    assert first["state"] == "succeeded" and "in full" in first["detail"], first
    yield setup
    os.sync()


async def test_receiver_killed_mid_transfer_then_the_next_run_is_incremental(replicating):
    a, b = replicating.a, replicating.b
    job = await replicating.start_big_change()
    b.kill()
    replicating.thaw()
    failed = await a.api.ended_job(job["id"])
    assert failed["state"] == "failed", failed
    assert 0 < failed["bytes"] < 600 << 20, failed

    await b.start()  # same state, same devices: the pool is mounted again
    assert replicating.half_made() == []
    assert "unfinished receive" in b.proc.output()
    shares = await get(b, "/api/v1/shares")
    (replica,) = [s for s in shares if s["name"] == "home"]
    assert replica["replica"]["snapshot"] == replicating.first["result"]["b/tank"]["snapshot"]
    await replicating.next_run_is_incremental()


async def test_sender_killed_mid_transfer_then_the_next_run_is_incremental(replicating):
    a, b = replicating.a, replicating.b
    job = await replicating.start_big_change()
    assert replicating.half_made() != []  # b's `btrfs receive` is writing
    a.kill()
    replicating.thaw()

    # b sees the sender's connection close and discards what it got at once, not after
    # --replication-idle (60 s here)
    first = replicating.first["result"]["b/tank"]["snapshot"]

    async def discarded() -> bool:
        snapshots = await get(b, "/api/v1/snapshots")
        return (replicating.half_made() == [] and [s["name"] for s in snapshots] == [first]
                and "the sender's connection closed" in b.proc.output())
    await wait_for(discarded, timeout=15)

    await a.start()  # the killed run ends as failed, and the next one goes on from the first
    failed = await get(a, f"/api/v1/jobs/{job['id']}")
    assert failed["state"] == "failed" and "restarted" in failed["error"], failed
    await replicating.next_run_is_incremental()


async def test_a_restart_on_the_same_port_is_waited_for_until_it_serves(rockd):
    """A box restarted here writes to the log of the one before it: `start` returns once the
    new process has reconciled (its own "rockd serving on"), not at the old one's line."""
    box = await rockd(process=True, login=False)
    await box.restart()
    assert box.proc.output().count("rockd serving on") == 2, box.proc.output()
