"""Replication between real `rockd serve` processes, each with its own state dir, HTTP port,
ZeroMQ port and loop device: either side killed in the middle of a transfer leaves nothing
half-made on the receiver, and the next run goes on incrementally from the last common
snapshot."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.support.client import Api, free_port
from tests.support.host import disk_ids_of, unmount_under
from tests.support.replication import checksums, write_files


class Box:
    """One rockd process with a pool "tank" on its own loop device."""

    def __init__(self, processes, tmp_path: Path, name: str, device: str):
        self.processes, self.name, self.device = processes, name, device
        self.state = tmp_path / name
        self.zmq = f"127.0.0.1:{free_port(span=2)}"
        self.port = free_port()
        self.proc = None
        self.api: Api | None = None
        self.pool: dict = {}

    async def start(self) -> Box:
        self.proc = self.processes("serve", state_dir=self.state, port=self.port, extra=[
            "--devices", self.device, "--zmq-listen", self.zmq])
        if self.api is not None:
            await self.api.close()
        self.api = Api(self.proc.url)
        await self.api.login()
        return self

    async def make_pool(self) -> None:
        ids = await disk_ids_of(self.api, [self.device])
        status, self.pool = await self.api.call("POST", "/api/v1/pools", {
            "name": "tank", "disks": ids, "data": "single"})
        assert status == 201, self.pool

    async def get(self, path: str):
        status, body = await self.api.call("GET", path)
        assert status == 200, body
        return body

    async def job(self, job_id: str, timeout: float = 120.0) -> dict:
        return await self.api.ended_job(job_id, timeout)

    async def close(self) -> None:
        if self.api is not None:
            await self.api.close()
        if self.proc is not None:
            self.proc.stop()


def subvolumes(point: str, *options: str) -> list[str]:
    out = subprocess.run(["btrfs", "subvolume", "list", *options, point],
                         capture_output=True, text=True, check=True).stdout
    return sorted(line.split(" path ", 1)[1] for line in out.splitlines())


async def pair(one: Box, other: Box) -> None:
    ident = await other.get("/api/v1/replication/identity")
    assert ident["address"] == other.zmq
    status, body = await one.api.call("POST", "/api/v1/replication/peers", {
        "name": other.name, "address": ident["address"], "public_key": ident["public_key"]})
    assert status == 201, body


@dataclass
class Replicating:
    """Box a, whose share "home" (32 MiB) has been replicated once in full to box b."""

    a: Box
    b: Box
    root: Path
    task: dict
    first: dict

    async def run(self) -> dict:
        status, body = await self.a.api.call(
            "POST", f"/api/v1/replication/tasks/{self.task['id']}/run")
        assert status == 202, body
        return body["job"]

    async def start_big_change(self) -> dict:
        """600 MiB more, and a run of it once some of it has gone."""
        write_files(self.root / "big", 6, 100 << 20, seed="big")
        job = await self.run()
        deadline = time.monotonic() + 60
        while (await self.a.get(f"/api/v1/jobs/{job['id']}")).get("bytes", 0) < (32 << 20):
            assert time.monotonic() < deadline, "the transfer did not start"
            await asyncio.sleep(0.02)
        return job

    def half_made(self) -> list[str]:
        """The subvolumes on b that are not read-only: what an unfinished receive leaves."""
        point = self.b.pool["mount_point"]
        read_only = subvolumes(point, "-r")
        return [p for p in subvolumes(point) if p not in read_only]

    async def next_run_is_incremental(self) -> None:
        """The next run sends just the change, from the last common snapshot, and the replica
        then equals the share."""
        third = await self.a.job((await self.run())["id"])
        assert third["state"] == "succeeded", third
        assert "incremental" in third["detail"], third
        assert 600 << 20 < third["bytes"] < 640 << 20, third  # the change, not the whole share
        shares = await self.b.get("/api/v1/shares")
        (replica,) = [s for s in shares if s["name"] == "home"]
        assert checksums(Path(replica["path"])) == checksums(self.root)


@pytest.fixture
async def replicating(processes, loops, tmp_path):
    a = Box(processes, tmp_path, "a", loops(2 << 30, name="a.img"))
    b = Box(processes, tmp_path, "b", loops(2 << 30, name="b.img"))
    try:
        await a.start()
        await b.start()
        await a.make_pool()
        await b.make_pool()
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
        setup.first = await a.job((await setup.run())["id"])
        first = setup.first
        assert first["state"] == "succeeded" and "in full" in first["detail"], first
        yield setup
    finally:
        await a.close()
        await b.close()
        unmount_under(tmp_path)
        os.sync()


async def test_receiver_killed_mid_transfer_then_the_next_run_is_incremental(replicating):
    a, b = replicating.a, replicating.b
    job = await replicating.start_big_change()
    b.proc.signal(signal.SIGKILL)
    b.proc.wait()
    failed = await a.job(job["id"])
    assert failed["state"] == "failed", failed
    assert 0 < failed["bytes"] < 600 << 20, failed

    await b.start()  # same state, same devices: the pool is mounted again
    assert replicating.half_made() == []
    assert "unfinished receive" in b.proc.output()
    shares = await b.get("/api/v1/shares")
    (replica,) = [s for s in shares if s["name"] == "home"]
    assert replica["replica"]["snapshot"] == replicating.first["result"]["b/tank"]["snapshot"]
    await replicating.next_run_is_incremental()


async def test_sender_killed_mid_transfer_then_the_next_run_is_incremental(replicating):
    a, b = replicating.a, replicating.b
    job = await replicating.start_big_change()
    assert replicating.half_made() != []  # b's `btrfs receive` is writing
    a.proc.signal(signal.SIGKILL)
    a.proc.wait()

    # b sees the sender's connection close and discards what it got at once, not after
    # --replication-idle (60 s here)
    first = replicating.first["result"]["b/tank"]["snapshot"]

    async def discarded() -> bool:
        snapshots = await b.get("/api/v1/snapshots")
        return (replicating.half_made() == [] and [s["name"] for s in snapshots] == [first]
                and "the sender's connection closed" in b.proc.output())
    await wait_for(discarded, timeout=15)

    await a.start()  # the killed run ends as failed, and the next one goes on from the first
    failed = await a.get(f"/api/v1/jobs/{job['id']}")
    assert failed["state"] == "failed" and "restarted" in failed["error"], failed
    await replicating.next_run_is_incremental()


async def test_a_restart_on_the_same_port_is_waited_for_until_it_serves(processes, tmp_path):
    """A box restarted here writes to the log of the one before it: `start` returns once the
    new process has reconciled (its own "rockd serving on"), not at the old one's line."""
    first = processes("serve", state_dir=tmp_path / "state")
    first.stop()
    again = processes("serve", state_dir=tmp_path / "state", port=first.port)
    assert again.output().count("rockd serving on") == 2, again.output()
