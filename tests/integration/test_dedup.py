"""Deduplication with the real duperemove on real loop pools: ten copies of a 64 MiB file in a
share free at least 500 MiB, and the pool's free space grows by what the job reports; a second
run with the pool's hash database hashes nothing again; share ids are checked against the
pool; one dedup of a pool at a time; cancel ends duperemove; progress read from its output."""

import os
import shutil
import subprocess
import time
from pathlib import Path

from rockd.jobs.dedup import Progress
from tests.support.rig import wait_for

MIB = 1 << 20


def free_bytes(point: str) -> int:
    """What the pool can still hold, as statvfs says, after a commit."""
    subprocess.run(["btrfs", "filesystem", "sync", point], check=True)
    found = os.statvfs(point)
    return found.f_bavail * found.f_frsize


def copies(folder: Path, megabytes: int, count: int) -> None:
    """A file of random data and count-1 full copies of it (no reflink), synced."""
    with (folder / "f0").open("wb") as f:
        for _ in range(megabytes):
            f.write(os.urandom(MIB))
    for i in range(1, count):
        subprocess.run(["cp", "--reflink=never", str(folder / "f0"), str(folder / f"f{i}")],
                       check=True)
    subprocess.run(["sync"], check=True)


async def share(api, pool: dict, name: str) -> dict:
    status, made = await api.call("POST", "/api/v1/shares", {"pool": pool["id"], "name": name})
    assert status == 201, made
    return made


async def dedup(api, pool: dict, body: dict) -> tuple[dict, float]:
    began = time.monotonic()
    status, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/dedup", body)
    assert status == 202 and answer["job"]["kind"] == "dedup", answer
    job = await api.ended_job(answer["job"]["id"], timeout=300)
    assert job["state"] == "succeeded", job
    return job, time.monotonic() - began


async def test_ten_copies_free_at_least_500_mib_and_a_rerun_is_incremental(rockd):
    box = await rockd(devices=1, size=2 << 30, pool="single")
    api, pool = box.api, box.pool
    dups, other = await share(api, pool, "dups"), await share(api, pool, "other")
    copies(Path(dups["path"]), 64, 10)
    before = free_bytes(pool["mount_point"])

    job, first = await dedup(api, pool, {"shares": [dups["id"]]})
    saved = job["result"]["bytes_deduplicated"]
    grown = free_bytes(pool["mount_point"]) - before
    print(f"\ndedup of 10 x 64 MiB: reported {saved} bytes deduplicated, free space grew by "
          f"{grown} bytes; {first:.2f} s; detail: {job['detail']}")
    assert saved >= 500 * MIB, job
    assert abs(grown - saved) <= 16 * MIB, (grown, saved)
    assert job["result"]["files"] == 10 and job["result"]["files_hashed"] == 10, job
    assert job["progress"] == 1.0 and "deduplicated" in job["detail"]
    hash_file = Path(pool["mount_point"]) / ".rockd" / "dedup.hash"
    assert hash_file.is_file() and oct(hash_file.parent.stat().st_mode & 0o777) == "0o700"

    job, again = await dedup(api, pool, {"shares": [dups["id"]]})
    print(f"re-run with the hash database: {again:.2f} s, {job['result']['files_hashed']} "
          f"files hashed, {job['result']['bytes_deduplicated']} bytes")
    assert job["result"]["files_hashed"] == 0, job  # nothing read again
    assert job["result"]["bytes_deduplicated"] < 4 * MIB, job

    # the whole pool: a copy in another share is found against the hash database
    shutil.copyfile(Path(dups["path"]) / "f0", Path(other["path"]) / "copy")
    subprocess.run(["sync"], check=True)
    job, whole = await dedup(api, pool, {})
    assert job["params"]["paths"] == [pool["mount_point"]], job
    assert job["result"]["bytes_deduplicated"] >= 60 * MIB, job
    assert job["result"]["files_hashed"] == 1, job
    print(f"whole pool, one new copy: {whole:.2f} s, {job['result']}")


async def test_share_checks_one_at_a_time_and_cancel(rockd):
    box = await rockd(devices=2, size=2 << 30)
    api = box.api
    _, tank = await api.call("POST", "/api/v1/pools", {
        "name": "tank", "disks": [box.disks[0]], "data": "single"})
    _, spare = await api.call("POST", "/api/v1/pools", {
        "name": "spare", "disks": [box.disks[1]], "data": "single"})
    mine, theirs = await share(api, tank, "mine"), await share(api, spare, "theirs")
    for body, status, code in (({"shares": [theirs["id"]]}, 422, "not_in_pool"),
                               ({"shares": ["nope"]}, 404, "not_found"),
                               ({"shares": []}, 400, "invalid_field"),
                               ({"shares": [mine["id"]], "extra": 1}, 400, "invalid_field")):
        got, answer = await api.call("POST", f"/api/v1/pools/{tank['id']}/dedup", body)
        assert (got, answer["error"]["code"]) == (status, code), answer
    assert not [j for j in (await api.call("GET", "/api/v1/jobs"))[1] if j["kind"] == "dedup"]
    job, _ = await dedup(api, tank, {"shares": [mine["id"]]})  # nothing in it: nothing to do
    assert job["result"]["bytes_deduplicated"] == 0 and job["result"]["files"] == 0, job

    block = os.urandom(128 << 10)  # many files of one block: duperemove runs for seconds
    for i in range(8000):
        (Path(mine["path"]) / f"f{i}").write_bytes(block)
    subprocess.run(["sync"], check=True)
    status, answer = await api.call("POST", f"/api/v1/pools/{tank['id']}/dedup",
                                    {"shares": [mine["id"]]})
    assert status == 202, answer
    job_id = answer["job"]["id"]

    async def hashing():
        _, job = await api.call("GET", f"/api/v1/jobs/{job_id}")
        return job["state"] == "running" and job["progress"] and job

    running = await wait_for(hashing, timeout=30)
    assert running["detail"].startswith(("hashing file", "found", "deduplicating")), running
    status, again = await api.call("POST", f"/api/v1/pools/{tank['id']}/dedup", {})
    assert status == 409 and again["error"]["code"] == "running", again
    assert (await api.call("POST", f"/api/v1/jobs/{job_id}/cancel"))[0] == 200
    job = await api.ended_job(job_id)
    assert job["state"] == "cancelled", job

    def duperemove_left():
        return subprocess.run(["pgrep", "-f", f"duperemove .*{tank['mount_point']}"],
                              capture_output=True).returncode != 0

    assert await wait_for(duperemove_left, timeout=10)
    print(f"\ncancelled at {running['progress']:.2f}: {running['detail']}")


async def test_a_killed_rockd_takes_duperemove_with_it_and_a_new_run_works(rockd):
    box = await rockd(process=True, devices=1, size=2 << 30, pool="single")
    api, pool = box.api, box.pool
    mine = await share(api, pool, "mine")
    block = os.urandom(128 << 10)
    for i in range(4000):
        (Path(mine["path"]) / f"f{i}").write_bytes(block)
    subprocess.run(["sync"], check=True)
    before = free_bytes(pool["mount_point"])
    status, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/dedup", {})
    assert status == 202, answer
    job_id = answer["job"]["id"]

    async def hashing():
        _, job = await api.call("GET", f"/api/v1/jobs/{job_id}")
        return job["state"] == "running" and job["progress"]

    await wait_for(hashing, timeout=30)
    box.kill()  # kill -9 mid-run

    def duperemove_gone():
        return subprocess.run(["pgrep", "-f", f"duperemove .*{pool['mount_point']}"],
                              capture_output=True).returncode != 0

    assert await wait_for(duperemove_gone, timeout=10)
    await box.start()
    _, job = await api.call("GET", f"/api/v1/jobs/{job_id}")
    assert job["state"] == "failed" and "rockd restarted" in job["error"], job
    job, _ = await dedup(api, pool, {})  # the hash database outlived the kill
    # 4000 copies of one 128 KiB block (500 MiB) now hold one block's worth, or near it
    assert free_bytes(pool["mount_point"]) - before >= 450 * MIB, job


class FakeJob:
    """What Progress writes to: the job's progress calls, kept."""

    def __init__(self):
        self.calls = []

    def progress(self, fraction, detail):
        self.calls.append((fraction, detail))


def test_progress_is_read_from_duperemove_lines():
    job = FakeJob()
    reader = Progress(job)
    for line in ("Gathering file list...", "[1/4] (25.00%) csum: /mnt/a",
                 "[4/4] (100.00%) csum: /mnt/d", "Total files:  4",
                 "Found 4 identical extents.",
                 "[0x55] (1/1) Try to dedupe extents with id 0dded93c",
                 '[0x55] Dedupe 3 extents (id: 0dded93c) with target: (0, 65536), "/mnt/a"'):
        reader.line(line)
    fractions = [f for f, _ in job.calls]
    assert fractions == sorted(fractions) and fractions[0] == 0.125, job.calls
    assert job.calls[1] == (0.5, "hashing file 4 of 4")
    assert job.calls[-1][0] == 0.99 and "4 of 4 identical extents" in job.calls[-1][1]
    assert (reader.files, reader.hashed) == (4, 4)
