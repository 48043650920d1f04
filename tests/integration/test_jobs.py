"""Jobs on real pools: scrub with progress and corrected corruption, balance with pause,
resume and cancel, a queued exclusive job, and re-attaching after kill -9."""

import subprocess
import time
from pathlib import Path

import orjson
import pytest

from tests.support.client import receive
from tests.support.host import throttle_scrub, write_pattern
from tests.support.rig import wait_for

FINAL = ("succeeded", "failed", "cancelled")


async def watch(api, job_id):
    """A stream subscription to one job; returns the socket after its snapshot."""
    ws = await api.stream()
    await ws.send_str(orjson.dumps({"id": 1, "type": "subscribe",
                                    "path": f"/jobs/{job_id}"}).decode())
    await receive(ws)
    return ws, (await receive(ws))["value"]


async def follow(ws, job, until=FINAL, timeout=60.0):
    """Apply patches to `job` until its state is one of `until`; collect progress values."""
    seen = [job["progress"]]
    deadline = time.monotonic() + timeout
    while job["state"] not in until:
        message = await receive(ws, timeout=max(0.1, deadline - time.monotonic()))
        for op in message.get("ops", []):
            field = op["path"].split("/")[3:] if op["path"].count("/") > 2 else []
            if not field:
                job = op["value"]
            else:
                job[field[0]] = op["value"]
        seen.append(job["progress"])
    return job, seen


async def test_scrub_shows_progress_and_ends_with_counts(rockd):
    box = await rockd(devices=2, size=1 << 30)
    daemon, api = box.daemon, box.api
    _, pool = await api.call("POST", "/api/v1/pools", {
        "name": "scrubbed", "disks": box.disks, "data": "raid1"})
    write_pattern(Path(pool["mount_point"]) / "data", 192)
    throttle_scrub(pool["id"], 48 << 20)  # ~4 s per device: progress has time to show
    await daemon.context.pools.settle(pool["id"])
    status, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/scrub", {})
    assert status == 202, answer
    ws, job = await watch(api, answer["job"]["id"])
    job, seen = await follow(ws, job)
    assert job["state"] == "succeeded", job
    values = {v for v in seen if v is not None}
    assert len(values) >= 2 and job["progress"] == 1.0, seen
    assert job["result"]["data_bytes_scrubbed"] >= 2 * (192 << 20)
    assert job["result"]["corrected_errors"] == 0 and "0 errors" in job["detail"]
    status, answer = await api.call("POST", f"/api/v1/jobs/{job['id']}/pause")
    assert (status, answer["error"]["code"]) == (409, "ended")
    await ws.close()


async def test_scrub_paused_resumes_where_it_stopped(rockd):
    box = await rockd(devices=2, size=1 << 30)
    daemon, api = box.daemon, box.api
    _, pool = await api.call("POST", "/api/v1/pools", {
        "name": "patient", "disks": box.disks, "data": "raid1"})
    write_pattern(Path(pool["mount_point"]) / "data", 192)
    throttle_scrub(pool["id"], 32 << 20)
    await daemon.context.pools.settle(pool["id"])
    _, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/scrub", {})
    ws, job = await watch(api, answer["job"]["id"])

    async def scrubbed_something():
        return (await api.call("GET", f"/api/v1/jobs/{job['id']}"))[1]["progress"]
    await wait_for(scrubbed_something, timeout=10, interval=0.1)
    status, _ = await api.call("POST", f"/api/v1/jobs/{job['id']}/pause")
    assert status == 200
    await ws.close()
    ws, job = await watch(api, job["id"])
    job, _ = await follow(ws, job, until=("paused", *FINAL))
    assert job["state"] == "paused"
    status, _ = await api.call("POST", f"/api/v1/jobs/{job['id']}/resume")
    assert status == 200
    job, _ = await follow(ws, job)
    assert job["state"] == "succeeded", job
    assert job["result"]["data_bytes_scrubbed"] > 0
    assert any("resume" in line or "scrub" in line for line in job["log"])
    await ws.close()


async def test_scrub_corrects_a_corrupted_mirror(rockd, tmp_path):
    box = await rockd(devices=2, size=512 << 20)
    daemon, api, devices = box.daemon, box.api, box.devices
    _, pool = await api.call("POST", "/api/v1/pools", {
        "name": "healing", "disks": box.disks, "data": "raid1"})
    target = Path(pool["mount_point"]) / "known"
    block = write_pattern(target, 8)
    backing = next(d["backing_file"] for d in daemon.tree.get("/disks").values()
                   if d["path"] == devices[0])
    image = Path(backing).read_bytes()
    at = image.find(block[:4096])
    assert at > 0, "the data is not on the first mirror's image"
    with open(backing, "r+b") as f:  # ruin 64 KiB of one copy
        f.seek(at)
        f.write(b"\xde\xad" * (32 << 10))
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3")
    _, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/scrub", {})
    ws, job = await watch(api, answer["job"]["id"])
    job, _ = await follow(ws, job)
    assert job["state"] == "succeeded", job
    assert job["result"]["corrected_errors"] > 0, job
    assert job["result"]["uncorrectable_errors"] == 0
    Path("/proc/sys/vm/drop_caches").write_text("3")
    with target.open("rb") as f:
        assert all(f.read(1 << 20) == block for _ in range(8))
    await daemon.context.pools.settle(pool["id"])
    errors = [d["errors"] for d in daemon.tree.get(("pools", pool["id"], "devices"))]
    assert sum(e["corruption_errs"] + e["read_io_errs"] for e in errors) > 0, errors
    await ws.close()


async def balance_pool(rockd):
    box = await rockd(devices=2, size=3 << 30)
    daemon, api = box.daemon, box.api
    ids = box.disks
    _, pool = await api.call("POST", "/api/v1/pools", {
        "name": "moving", "disks": ids[:1], "data": "single", "metadata": "single"})
    write_pattern(Path(pool["mount_point"]) / "bulk", 1024)
    await api.call("POST", f"/api/v1/pools/{pool['id']}/disks", {"add": ids[1:]})
    return daemon, api, pool


async def test_balance_pause_resume_cancel_and_a_queued_second_job(rockd):
    daemon, api, pool = await balance_pool(rockd)
    url = f"/api/v1/pools/{pool['id']}"
    status, answer = await api.call("POST", url + "/profile", {"data": "raid1",
                                                               "metadata": "raid1"})
    assert status == 202
    ws, job = await watch(api, answer["job"]["id"])
    job, _ = await follow(ws, job, until=("running", *FINAL))
    # a second exclusive job on the same pool waits for this one
    status, second = await api.call("POST", url + "/balance", {"filters": "-dusage=0"})
    assert status == 202 and second["job"]["state"] == "queued"

    async def balancing():
        await daemon.context.pools.settle(pool["id"])
        return daemon.tree.get(("pools", pool["id"], "exclusive_operation")) == "balance"
    await wait_for(balancing, timeout=60, interval=0.1)
    status, paused = await api.call("POST", f"/api/v1/jobs/{job['id']}/pause")
    assert status == 200, paused
    job, _ = await follow(ws, job, until=("paused", *FINAL))
    assert job["state"] == "paused"
    assert daemon.tree.get(("jobs", second["job"]["id"], "state")) == "queued"
    status, _ = await api.call("POST", f"/api/v1/jobs/{job['id']}/resume")
    assert status == 200
    job, _ = await follow(ws, job, until=("running", *FINAL))
    status, _ = await api.call("POST", f"/api/v1/jobs/{job['id']}/cancel")
    assert status == 200
    job, _ = await follow(ws, job)
    assert job["state"] == "cancelled", job
    ws2, queued = await watch(api, second["job"]["id"])
    queued, _ = await follow(ws2, queued)
    assert queued["state"] == "succeeded", queued  # it ran once the first had ended
    await ws.close()
    await ws2.close()


async def test_kill9_during_a_balance_reattaches_the_same_job(rockd):
    box = await rockd(devices=2, size=3 << 30, process=True)
    api = box.api
    _, pool = await api.call("POST", "/api/v1/pools", {
        "name": "phoenix", "disks": box.disks, "data": "single", "metadata": "raid1"})
    try:
        write_pattern(Path(pool["mount_point"]) / "bulk", 1024)
        status, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/balance", {})
        assert status == 202
        job_id = answer["job"]["id"]
        ws, job = await watch(api, job_id)
        await follow(ws, job, until=("running", *FINAL))
        await wait_for(lambda: kernel_balancing(pool["mount_point"]), 30, 0.05)
        box.kill()
        await box.start()
        ws, job = await watch(api, job_id)
        assert job["id"] == job_id
        job, _ = await follow(ws, job, timeout=120)
        assert job["state"] == "succeeded" and "after a restart" in job["detail"], job
    finally:
        await box.stop()
        subprocess.run(["btrfs", "balance", "cancel", pool["mount_point"]],
                       capture_output=True, check=False)
        subprocess.run(["umount", pool["mount_point"]], capture_output=True, check=False)


async def test_resize_and_a_vanished_job_after_restart(rockd, tmp_path):
    box = await rockd(devices=1, size=1 << 30)
    daemon, api = box.daemon, box.api
    _, pool = await api.call("POST", "/api/v1/pools", {
        "name": "elastic", "disks": box.disks, "data": "single"})
    disk = pool["devices"][0]["disk"]
    status, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/resize",
                                    {"disk": disk, "size": 512 << 20})
    assert status == 202
    ws, job = await watch(api, answer["job"]["id"])
    job, _ = await follow(ws, job)
    assert job["state"] == "succeeded", job
    await daemon.context.pools.settle(pool["id"])
    assert daemon.tree.get(("pools", pool["id"], "devices"))[0]["size"] == 512 << 20
    status, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/resize",
                                    {"disk": disk})
    ws2, job = await watch(api, answer["job"]["id"])
    job, _ = await follow(ws2, job)
    await daemon.context.pools.settle(pool["id"])
    assert daemon.tree.get(("pools", pool["id"], "devices"))[0]["size"] == 1 << 30
    # a job the tree says is running, whose work is gone (as after a crash): ends as failed
    daemon.context.jobs.tree.set(("jobs", "ghost"), {
        "id": "ghost", "kind": "balance", "target": pool["id"], "state": "running",
        "progress": 0.5, "detail": "", "started": None, "ended": None, "error": None,
        "log": [], "params": {"mount_point": pool["mount_point"], "args": []}})
    daemon.context.jobs.reattach()
    await daemon.context.jobs.wait()
    ghost = daemon.tree.get(("jobs", "ghost"))
    assert ghost["state"] == "failed" and "before the balance began" in ghost["error"], ghost
    await ws.close()
    await ws2.close()


# -- a balance that ends while rockd is dead ------------------------------------------------

def kernel_balancing(point: str) -> bool:
    """Whether the kernel runs (or holds paused) a balance on the filesystem at `point`."""
    return subprocess.run(["btrfs", "balance", "status", point],
                          capture_output=True).returncode == 1


async def pool_with_data(box, body, megabytes, members=None):
    """A pool made by a rockd process (stopped again) of its first `members` devices (all),
    holding `megabytes` of data."""
    status, pool = await box.api.call("POST", "/api/v1/pools",
                                      {**body, "disks": box.disks[:members]})
    assert status == 201, pool
    write_pattern(Path(pool["mount_point"]) / "bulk", megabytes)
    await box.stop()
    return pool


async def killed_while(box, pool, path, body, busy, wait=True):
    """POST `body` to the pool's `path` (a job), kill -9 rockd once `busy()` says the kernel
    does the work, wait until it no longer does (unless `wait` is False), and start rockd
    again: answers the job as it ends."""
    await box.start()
    status, answer = await box.api.call("POST", f"/api/v1/pools/{pool['id']}/{path}", body)
    assert status == 202, answer
    await wait_for(busy, 30, 0.05)
    box.kill()
    if wait:
        await wait_for(lambda: not busy(), 120, 0.05)
    await box.start()
    return await box.api.ended_job(answer["job"]["id"], 30)


def stop_all(pool, work: str) -> None:
    """Cancel what the kernel may still do on the pool (`work`: balance or scrub) and
    unmount it (the rockd process is stopped by the rig)."""
    subprocess.run(["btrfs", work, "cancel", pool["mount_point"]], capture_output=True,
                   check=False)
    subprocess.run(["umount", pool["mount_point"]], capture_output=True, check=False)


async def test_a_balance_that_ended_while_rockd_was_dead_succeeded(rockd):
    box = await rockd(devices=2, size=3 << 30, process=True)
    pool = await pool_with_data(box, {"name": "lazarus", "data": "single", "metadata": "raid1"},
                                1024)
    try:
        job = await killed_while(box, pool, "balance", {},
                                 lambda: kernel_balancing(pool["mount_point"]))
        assert job["state"] == "succeeded", job
        assert "kernel's log" in job["detail"] and job["error"] is None, job
    finally:
        stop_all(pool, "balance")


@pytest.mark.parametrize("wait", [True, False], ids=["ended-while-dead", "restarted-at-once"])
async def test_a_balance_that_failed_while_rockd_was_dead_says_why(rockd, wait):
    # raid1 of 1300 MiB needs more than two 1.5 GiB disks hold beside their metadata: the
    # conversion relocates chunks for about two seconds, then ends with ENOSPC
    box = await rockd(devices=2, size=1536 << 20, process=True)
    pool = await pool_with_data(box, {"name": "icarus", "data": "single", "metadata": "raid1"},
                                1300)
    try:
        job = await killed_while(box, pool, "profile", {"data": "raid1", "metadata": "raid1"},
                                 lambda: kernel_balancing(pool["mount_point"]), wait)
        assert job["state"] == "failed", job
        assert job["error"].startswith("No space left on device"), job
        assert "ended with status: -28" in job["error"], job
    finally:
        stop_all(pool, "balance")


def kernel_scrubbing(point: str) -> bool:
    status = subprocess.run(["btrfs", "scrub", "status", point], capture_output=True,
                            text=True).stdout
    return "Status:           running" in status


async def test_a_scrub_that_ended_while_rockd_was_dead_has_its_counts(rockd):
    box = await rockd(devices=2, size=1 << 30, process=True)
    pool = await pool_with_data(box, {"name": "sleeper", "data": "raid1"}, 192)
    try:
        throttle_scrub(pool["id"], 64 << 20)  # about 3 s a device
        job = await killed_while(box, pool, "scrub", {},
                                 lambda: kernel_scrubbing(pool["mount_point"]))
        assert job["state"] == "succeeded", job
        assert "after a restart" in job["detail"] and "0 errors" in job["detail"], job
        assert job["result"]["data_bytes_scrubbed"] >= 2 * (192 << 20), job
        assert job["result"]["uncorrectable_errors"] == 0
    finally:
        stop_all(pool, "scrub")


def exclusive_operation(pool_id: str) -> str:
    return Path(f"/sys/fs/btrfs/{pool_id}/exclusive_operation").read_text().strip()


@pytest.mark.parametrize("change", ["remove", "replace"])
async def test_a_device_change_that_ended_while_rockd_was_dead_succeeded(rockd, change):
    box = await rockd(devices=3, size=2 << 30, process=True)
    ids = box.disks
    pool = await pool_with_data(box, {"name": "shifting", "data": "single",
                                      "metadata": "single"}, 1024, members=2)
    body, after = {"remove": ({"remove": [ids[1]]}, [ids[0]]),
                   "replace": ({"replace": {"old": ids[1], "new": ids[2]}}, [ids[0], ids[2]]),
                   }[change]
    try:
        job = await killed_while(box, pool, "disks", body,
                                 lambda: exclusive_operation(pool["id"]) == f"device {change}")
        assert job["state"] == "succeeded" and "after a restart" in job["detail"], job
        pool = (await box.api.state(f"/pools/{pool['id']}"))["value"]
        assert sorted(d["disk"] for d in pool["devices"]) == sorted(after), pool
    finally:
        stop_all(pool, "replace")
