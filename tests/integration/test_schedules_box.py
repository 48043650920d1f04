"""Schedules of the box's care: a trim and a dedup of a real pool and a SMART self-test of a
disk (smartctl stood in for, tests/support/smartctl_standin.py: no disk here has SMART) run
when due on the scheduler's injected clock; each kind's target and options are checked."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

WDC = "WDC_WD20EFRX-68EUZN0_18.json"


async def test_trim_dedup_and_smart_test_schedules_run_when_due(rockd, loops, standin):
    pool_device, smart_device = loops(1 << 30), loops(64 << 20)
    standin.assign(smart_device, WDC, step=0.2)
    box = await rockd(devices=[pool_device, smart_device], smart_loops=True, smart_poll=0.1)
    api, daemon = box.api, box.daemon
    pool_disk, smart_disk = box.disks
    _, pool = await api.call("POST", "/api/v1/pools", {
        "name": "tank", "disks": [pool_disk], "data": "single"})
    _, share = await api.call("POST", "/api/v1/shares", {"pool": pool["id"], "name": "docs"})
    folder = Path(share["path"])
    (folder / "a").write_bytes(os.urandom(8 << 20))
    subprocess.run(["cp", "--reflink=never", str(folder / "a"), str(folder / "b")], check=True)
    subprocess.run(["sync"], check=True)

    cron = "0 3 * * *"
    for body, status, field in (
            ({"kind": "smart_test", "target": smart_disk, "cron": cron}, 400, "options.type"),
            ({"kind": "smart_test", "target": smart_disk, "cron": cron,
              "options": {"type": "weekly"}}, 400, None),
            ({"kind": "smart_test", "target": pool["id"], "cron": cron,
              "options": {"type": "short"}}, 404, None),
            ({"kind": "trim", "target": pool["id"], "cron": cron,
              "options": {"type": "short"}}, 400, "options.type"),
            ({"kind": "trim", "target": smart_disk, "cron": cron}, 404, None),
            ({"kind": "dedup", "target": pool["id"], "cron": cron,
              "options": {"shares": ["nope"]}}, 404, None),
            ({"kind": "trim", "target": pool["id"], "cron": cron,
              "retention": {"daily": 1}}, 400, "retention")):
        got, answer = await api.call("POST", "/api/v1/schedules", body)
        assert got == status, (body, answer)
        if field:
            assert answer["error"]["detail"]["field"] == field, answer
    assert daemon.tree.get("/schedules") == {}

    made = {}
    for kind, target, options in (("trim", pool["id"], None),
                                  ("dedup", pool["id"], {"shares": [share["id"]]}),
                                  ("smart_test", smart_disk, {"type": "short"})):
        body = {"kind": kind, "target": target, "cron": cron,
                **({"options": options} if options else {})}
        status, schedule = await api.call("POST", "/api/v1/schedules", body)
        assert status == 201 and schedule["next_run"], schedule
        assert schedule.get("options") == options, schedule
        made[kind] = schedule

    start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=2, minute=0, second=0,
                                                             microsecond=0)
    await daemon.context.scheduler.run_due(start)  # nothing due yet
    assert not daemon.tree.get("/jobs")
    await daemon.context.scheduler.run_due(start + timedelta(hours=1, minutes=1))
    await daemon.context.jobs.wait()
    jobs = {j["kind"]: j for j in daemon.tree.get("/jobs").values()}
    assert set(jobs) == {"trim", "dedup", "smart_test"}, jobs
    assert all(j["state"] == "succeeded" for j in jobs.values()), jobs
    assert jobs["trim"]["target"] == pool["id"] and jobs["trim"]["result"]["bytes_trimmed"] > 0
    assert jobs["dedup"]["params"]["paths"] == [share["path"]], jobs["dedup"]
    assert jobs["dedup"]["result"]["bytes_deduplicated"] >= 7 << 20, jobs["dedup"]
    assert (jobs["smart_test"]["target"], jobs["smart_test"]["params"]["type"]) == \
        (smart_disk, "short")
    assert standin.started(smart_device) == ["short"]
    for schedule in made.values():
        assert daemon.tree.get(f"/schedules/{schedule['id']}/last_run"), schedule
