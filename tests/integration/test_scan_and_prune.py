"""Many snapshots on a real pool: a scan that parses again only what changed but still sees every
snapshot made, deleted or changed (also across a restart), and a retention prune of many
snapshots that is one job, whose progress rises, and after which they are gone on disk."""

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rockd.jobs.schedules import snapshot_name
from tests.support import subvolumes


def snapshot_names(daemon, share_id: str) -> set[str]:
    return {s["name"] for s in daemon.tree.get("/snapshots").values() if s["share"] == share_id}


async def test_a_scan_reparses_only_what_changed_and_sees_all_of_it(rockd):
    box = await rockd(devices=1, pool="single")
    status, share = await box.api.call("POST", "/api/v1/shares",
                                       {"pool": box.pool["id"], "name": "home"})
    assert status == 201, share
    root = Path(box.pool["mount_point"])
    held = root / ".snapshots" / "home"
    held.mkdir(parents=True, exist_ok=True)
    for i in range(40):
        subvolumes.snapshot(root / "home", held / f"s{i:02d}")
    shares = box.daemon.context.shares
    await shares.settled(box.pool["id"])
    assert snapshot_names(box.daemon, share["id"]) == {f"s{i:02d}" for i in range(40)}

    # what did not change is not parsed again: the same formatted fields are kept
    cache = shares.read_caches[box.pool["id"]]
    before = dict(cache.items)
    subvolumes.snapshot(root / "home", held / "new")
    subprocess.run(["btrfs", "subvolume", "delete", str(held / "s00")], check=True,
                   capture_output=True)
    subprocess.run(["btrfs", "property", "set", "-ts", str(held / "s01"), "ro", "false"],
                   check=True)
    await shares.settled(box.pool["id"])
    by_name = {s["name"]: s for s in box.daemon.tree.get("/snapshots").values()
               if s["share"] == share["id"]}
    assert set(by_name) == {f"s{i:02d}" for i in range(1, 40)} | {"new"}
    assert by_name["s01"]["read_only"] is False and by_name["s02"]["read_only"] is True
    after = cache.items
    kept = [i for i in after if i in before and after[i][1] is before[i][1]]
    changed = {by_name[name]["subvolume_id"] for name in ("s01", "new")}
    assert set(kept) == set(after) - changed - {s["subvolume_id"] for s in
                                                box.daemon.tree.get("/shares").values()}

    # across a restart: a snapshot deleted and one made while rockd was stopped
    await box.stop()
    subprocess.run(["btrfs", "subvolume", "delete", str(held / "s02")], check=True,
                   capture_output=True)
    subvolumes.snapshot(root / "home", held / "made-while-stopped")
    await box.start()
    names = snapshot_names(box.daemon, share["id"])
    assert names == {f"s{i:02d}" for i in range(3, 40)} | {"s01", "new", "made-while-stopped"}


async def test_a_retention_prune_of_many_snapshots_is_one_job_whose_progress_rises(rockd):
    box = await rockd(devices=1, pool="single")
    daemon, api = box.daemon, box.api
    status, share = await api.call("POST", "/api/v1/shares",
                                   {"pool": box.pool["id"], "name": "home"})
    assert status == 201, share
    status, schedule = await api.call("POST", "/api/v1/schedules", {
        "kind": "snapshot", "target": share["id"], "cron": "0 * * * *",
        "retention": {"last": 1}})
    assert status == 201, schedule
    root = Path(box.pool["mount_point"])
    held = root / ".snapshots" / "home"
    held.mkdir(parents=True, exist_ok=True)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    count = 120
    for i in range(count):
        subvolumes.snapshot(root / "home", held / snapshot_name(schedule["id"],
                                                                start - timedelta(minutes=i)))
    await daemon.context.shares.settled(box.pool["id"])
    assert len(snapshot_names(daemon, share["id"])) == count

    progress: dict[str, list[float]] = {}
    daemon.tree.listen(lambda revision: [
        progress.setdefault(op.tokens[1], []).append(op.new_value()) for op in revision.ops
        if op.tokens[:1] == ("jobs",) and op.tokens[2:] == ("progress",)])
    await daemon.context.scheduler.run_due(start + timedelta(hours=1))
    await daemon.context.jobs.wait()
    await daemon.context.shares.settled(box.pool["id"])

    prunes = [j for j in daemon.tree.get("/jobs").values() if j["kind"] == "prune"]
    assert len(prunes) == 1, prunes
    job = prunes[0]
    assert (job["state"], job["detail"]) == ("succeeded", f"deleted {count} snapshots"), job
    seen = progress[job["id"]]
    assert seen == sorted(seen) and seen[-1] == 1.0 and 0 < seen[0] < 1, seen
    made = snapshot_name(schedule["id"], start + timedelta(hours=1))
    assert [p.name for p in held.iterdir()] == [made]
    assert snapshot_names(daemon, share["id"]) == {made}
