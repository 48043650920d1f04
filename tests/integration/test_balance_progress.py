"""A balance on a real pool, paused and resumed: its progress goes on from where it stood
(the kernel counts afresh after a resume), the pause shows as soon as the kernel has paused,
and filters are checked before anything starts."""

import re
import time
from pathlib import Path

import pytest

from tests.integration.test_jobs import FINAL, follow, kernel_balancing, watch
from tests.support.host import write_pattern
from tests.support.rig import wait_for


async def spread_pool(rockd):
    """A pool of one disk holding 1.5 GiB in several chunks, with a second disk added: a full
    balance has chunks to move."""
    box = await rockd(devices=2, size=3 << 30)
    _, pool = await box.api.call("POST", "/api/v1/pools", {
        "name": "spread", "disks": box.disks[:1], "data": "single", "metadata": "single"})
    for n in range(3):
        write_pattern(Path(pool["mount_point"]) / f"bulk{n}", 512)
    await box.api.call("POST", f"/api/v1/pools/{pool['id']}/disks", {"add": box.disks[1:]})
    return box, pool


def chunks(detail):
    """(moved, in all) from a detail line such as "relocated 3 of 9 chunks"."""
    found = re.search(r"relocated (\d+) of (\d+) chunks?", detail or "")
    return (int(found[1]), int(found[2])) if found else None


async def test_balance_progress_goes_on_after_resume_and_pause_shows_at_once(rockd):
    box, pool = await spread_pool(rockd)
    api, tree = box.api, box.daemon.tree
    status, answer = await api.call("POST", f"/api/v1/pools/{pool['id']}/balance", {})
    assert status == 202, answer
    job_id = answer["job"]["id"]
    await wait_for(lambda: (tree.get(("jobs", job_id, "progress")) or 0) > 0
                   or tree.get(("jobs", job_id, "state")) in FINAL, timeout=120, interval=0.05)
    ws, job = await watch(api, job_id)
    assert job["state"] == "running", job
    asked = time.monotonic()
    status, paused = await api.call("POST", f"/api/v1/jobs/{job_id}/pause")
    answered = time.monotonic()  # `btrfs balance pause` returns once the kernel has paused
    assert status == 200, paused
    # said at once: pausing while the kernel ends its chunk, or paused already
    assert paused["state"] == "paused" or paused["detail"].startswith("pausing"), paused
    job, _ = await follow(ws, job, until=("paused", *FINAL))
    shown = time.monotonic()
    assert job["state"] == "paused", job
    assert shown - answered < 0.5, (answered - asked, shown - answered)
    assert kernel_balancing(pool["mount_point"])
    before = job["progress"]
    assert before and before > 0, job
    status, _ = await api.call("POST", f"/api/v1/jobs/{job_id}/resume")
    assert status == 200
    job, values = await follow(ws, job, until=FINAL, timeout=300)
    await ws.close()
    assert job["state"] == "succeeded", job
    running = [v for v in values if v is not None]
    assert min(running) >= before, (before, values)  # never back to 0 after the resume
    assert running == sorted(running), values
    moved, total = chunks(job["detail"])
    assert moved == total and total > 1, job["detail"]


@pytest.mark.parametrize("filters", ["-dusage=500", "-musage=50..101", "-dlimit=9..2",
                                     "-dusage=50 -mdevid=0"])
async def test_balance_filters_out_of_range_are_refused_before_a_job(rockd, filters):
    box = await rockd(devices=1, pool="single")
    status, answer = await box.api.call("POST", f"/api/v1/pools/{box.pool['id']}/balance",
                                        {"filters": filters})
    assert status == 400, answer
    assert answer["error"]["detail"]["field"] == "filters", answer
    assert not box.daemon.tree.get("/jobs"), box.daemon.tree.get("/jobs")
