"""Replication between real `rockd serve` processes, each with its own state dir, HTTP port,
ZeroMQ port and loop device: a receiver killed in the middle of a transfer leaves nothing
half-made, and the next run goes on incrementally from the last common snapshot."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

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


async def test_receiver_killed_mid_transfer_then_the_next_run_is_incremental(
        processes, loops, tmp_path):
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

        async def run() -> dict:
            status, body = await a.api.call("POST",
                                            f"/api/v1/replication/tasks/{task['id']}/run")
            assert status == 202, body
            return body["job"]

        first = await a.job((await run())["id"])
        assert first["state"] == "succeeded" and "in full" in first["detail"], first

        # 600 MiB more, and the receiver killed once some of it has gone
        write_files(root / "big", 6, 100 << 20, seed="big")
        job = await run()
        deadline = time.monotonic() + 60
        while (await a.get(f"/api/v1/jobs/{job['id']}")).get("bytes", 0) < (32 << 20):
            assert time.monotonic() < deadline, "the transfer did not start"
            await asyncio.sleep(0.02)
        b.proc.signal(signal.SIGKILL)
        b.proc.wait()
        failed = await a.job(job["id"])
        assert failed["state"] == "failed", failed
        assert 0 < failed["bytes"] < 600 << 20, failed

        await b.start()  # same state, same devices: the pool is mounted again
        point = b.pool["mount_point"]
        every, read_only = subvolumes(point), subvolumes(point, "-r")
        assert [p for p in every if p not in read_only] == [], every  # nothing half-made
        assert "unfinished receive" in b.proc.output()
        shares = await b.get("/api/v1/shares")
        (replica,) = [s for s in shares if s["name"] == "home"]
        assert replica["replica"]["snapshot"] == first["result"]["b/tank"]["snapshot"]

        third = await a.job((await run())["id"])
        assert third["state"] == "succeeded", third
        assert "incremental" in third["detail"], third
        assert 600 << 20 < third["bytes"] < 640 << 20, third  # the change, not the whole share
        shares = await b.get("/api/v1/shares")
        (replica,) = [s for s in shares if s["name"] == "home"]
        assert checksums(Path(replica["path"])) == checksums(root)
    finally:
        await a.close()
        await b.close()
        unmount_under(tmp_path)
        os.sync()
