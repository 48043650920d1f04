"""Replication snapshots on the source: a failed run leaves none behind, a task keeps its last N
that reached a target (never a target's newest common one), and retention's previews, the
task's and a snapshot schedule's, call them the task's, not hand-made."""

from __future__ import annotations

import subprocess

from tests.integration.test_replication import boxes, pair, run, share_with_files
from tests.support.rig import Rockd


def repl_snapshots(box: Rockd, share_id: str) -> list[str]:
    """The names of the share's replication snapshots, in the tree and on disk (equal)."""
    in_tree = sorted(s["name"] for s in box.daemon.tree.get("/snapshots").values()
                     if s["share"] == share_id and s["name"].startswith("repl-"))
    out = subprocess.run(["btrfs", "subvolume", "list", "-o", box.pool["mount_point"]],
                         capture_output=True, text=True, check=True).stdout
    on_disk = sorted(line.rsplit("/", 1)[1] for line in out.splitlines()
                     if "/repl-" in line)
    assert in_tree == on_disk, (in_tree, on_disk)
    return in_tree


async def settle(*boxes: Rockd) -> None:
    for box in boxes:
        await box.daemon.context.jobs.wait()
        await box.daemon.context.shares.settled(box.pool["id"])


async def test_a_failed_run_leaves_no_snapshot_unless_it_reached_a_target(rockd):
    a, b = await boxes(rockd, "a", "b")
    await pair(a, b)
    share = await share_with_files(a, count=2, size=1 << 20)
    # every target fails: the run's snapshot goes
    status, task = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "nopool"}]})
    assert status == 201, task
    for _ in range(2):
        job = await run(a, task["id"])
        assert job["state"] == "failed" and "nopool" in job["error"], job
        await settle(a)
        assert repl_snapshots(a, share["id"]) == []
    # one target of two fails: the snapshot reached the other, and is its next base
    status, both = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"},
                                          {"peer": "b", "pool": "nopool2"}]})
    assert status == 201, both
    job = await run(a, both["id"])
    assert job["state"] == "failed", job
    await settle(a)
    last = job["result"]["b/tank"]
    assert last["state"] == "succeeded", job
    assert repl_snapshots(a, share["id"]) == [last["snapshot"]]


async def test_a_task_keeps_its_last_n_snapshots_and_previews_them_as_its_own(rockd):
    a, b = await boxes(rockd, "a", "b")
    await pair(a, b)
    share = await share_with_files(a, count=2, size=1 << 20)
    status, bad = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"}], "keep_last": 0})
    assert status == 400, bad
    status, task = await a.api.call("POST", "/api/v1/replication/tasks", {
        "share": share["id"], "targets": [{"peer": "b", "pool": "tank"}], "keep_last": 2})
    assert status == 201 and task["keep_last"] == 2, task
    # a snapshot made by hand, and one a failed run of an older rockd left behind
    for name in ("by-hand", f"repl-{task['id']}-20200101T000000Z"):
        status, snap = await a.api.call("POST", f"/api/v1/shares/{share['id']}/snapshots",
                                        {"name": name})
        assert status == 201, snap
    made = []
    for _ in range(4):
        job = await run(a, task["id"])
        assert job["state"] == "succeeded", job
        made.append(job["result"]["b/tank"]["snapshot"])
        await settle(a, b)
    assert repl_snapshots(a, share["id"]) == sorted(made[-2:])
    names = {s["name"] for s in a.daemon.tree.get("/snapshots").values()
             if s["share"] == share["id"]}
    assert "by-hand" in names

    status, preview = await a.api.call("GET",
                                       f"/api/v1/replication/tasks/{task['id']}/retention")
    assert status == 200, preview
    by_name = {a.daemon.tree.get(("snapshots", d["snapshot"], "name")): d for d in preview}
    assert set(by_name) == {*made[-2:], "by-hand"}, preview
    assert all(d["keep"] for d in preview), preview
    assert any("last snapshot common with b/tank" in r for r in by_name[made[-1]]["reasons"])
    assert any("one of the last 2" in r for r in by_name[made[-2]]["reasons"]), preview
    assert by_name["by-hand"]["reasons"] == ["made by hand: never deleted by retention"]

    # a snapshot schedule's preview on the same share: the task's snapshots are the task's
    status, schedule = await a.api.call("POST", "/api/v1/schedules", {
        "kind": "snapshot", "target": share["id"], "cron": "0 3 * * *",
        "retention": {"daily": 1}})
    assert status == 201, schedule
    status, preview = await a.api.call("GET", f"/api/v1/schedules/{schedule['id']}/retention")
    assert status == 200, preview
    by_name = {a.daemon.tree.get(("snapshots", d["snapshot"], "name")): d for d in preview}
    reasons = by_name[made[-1]]["reasons"]
    assert any(f"replication task {task['id']}" in r for r in reasons), reasons
    assert not any("made by hand" in r for r in reasons), reasons
