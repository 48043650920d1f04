"""Schedules on a real pool, over simulated days: snapshots made, retention pruned exactly
(by age, and the last N, the newest scheduled ones), a snapshot made by hand never touched, and
each prune job saying in words how many it deleted."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from rockd.jobs.schedules import snapshot_name
from tests.support.rig import wait_for


async def share_and_snapshot(api, pool: dict, share: str, snapshot: str) -> tuple[dict, dict]:
    """A new share of `pool` and a snapshot of it made by hand (which no schedule prunes)."""
    _, made = await api.call("POST", "/api/v1/shares", {"pool": pool["id"], "name": share})
    _, manual = await api.call("POST", f"/api/v1/shares/{made['id']}/snapshots",
                               {"name": snapshot})
    return made, manual


async def test_hourly_snapshots_with_retention_over_two_days(rockd):
    box = await rockd(devices=1, pool="single")
    daemon, api, pool = box.daemon, box.api, box.pool
    share, manual = await share_and_snapshot(api, pool, "home", "manual")
    for body, code in (({"kind": "snapshot", "target": share["id"], "cron": "61 * * * *"},
                        "invalid_field"),
                       ({"kind": "snapshot", "target": "nope", "cron": "0 * * * *"},
                        "not_found"),
                       ({"kind": "scrub", "target": pool["id"], "cron": "0 3 * * 0",
                         "retention": {"daily": 1}}, "invalid_field")):
        status, answer = await api.call("POST", "/api/v1/schedules", body)
        assert answer["error"]["code"] == code, answer
    status, schedule = await api.call("POST", "/api/v1/schedules", {
        "kind": "snapshot", "target": share["id"], "cron": "0 * * * *",
        "retention": {"hourly": 3, "daily": 2}})
    assert status == 201 and schedule["next_run"], schedule

    scheduler = daemon.context.scheduler
    start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                             microsecond=0)
    for hour in range(54):
        await scheduler.run_due(start + timedelta(hours=hour))
        await daemon.context.jobs.wait()
    await daemon.context.shares.settled(pool["id"])

    def names():
        return sorted(s["name"] for s in daemon.tree.get("/snapshots").values())

    kept = [snapshot_name(schedule["id"], start + timedelta(hours=h))
            for h in (24, 48, 51, 52, 53)]
    assert names() == sorted([*kept, "manual"])
    on_disk = sorted(p.name for p in (Path(pool["mount_point"]) / ".snapshots" / "home")
                     .iterdir())
    assert on_disk == names()
    prunes = [j for j in daemon.tree.get("/jobs").values() if j["kind"] == "prune"]
    assert prunes and all(j["state"] == "succeeded" for j in prunes)

    # what retention would do now, and why
    status, preview = await api.call("GET", f"/api/v1/schedules/{schedule['id']}/retention")
    assert status == 200
    why = {p["snapshot"]: p for p in preview}
    assert why[manual["id"]]["keep"] and "by hand" in why[manual["id"]]["reasons"][0]
    assert all(p["keep"] for p in preview)

    # ten slots missed while "down": one run (one snapshot at 15:30, none for 06:00-15:00),
    # then retention: days 1 and 2 by their first, and the last three hours hold only 15:30
    late = start + timedelta(hours=63, minutes=30)
    await scheduler.run_due(late)
    await daemon.context.jobs.wait()
    await daemon.context.shares.settled(pool["id"])
    assert names() == sorted([*kept[:2], snapshot_name(schedule["id"], late), "manual"])

    status, changed = await api.call("PATCH", f"/api/v1/schedules/{schedule['id']}",
                                     {"enabled": False})
    assert status == 200 and changed["next_run"] is None
    status, listed = await api.call("GET", "/api/v1/schedules")
    assert [s["id"] for s in listed] == [schedule["id"]]
    assert (await api.call("DELETE", f"/api/v1/schedules/{schedule['id']}"))[0] == 204
    assert daemon.tree.get("/schedules") == {}


async def test_the_scheduler_runs_a_missed_slot_by_itself(rockd):
    box = await rockd(devices=1, pool="single")
    daemon, api, pool = box.daemon, box.api, box.pool
    _, share = await api.call("POST", "/api/v1/shares", {"pool": pool["id"], "name": "s"})
    _, schedule = await api.call("POST", "/api/v1/schedules", {
        "kind": "snapshot", "target": share["id"], "cron": "*/5 * * * *"})
    scheduler = daemon.context.scheduler
    # as if it had been made an hour ago, with rockd down since: it runs at once, once
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    scheduler.schedules[schedule["id"]]["created"] = past
    scheduler._changed.set()

    def made():
        return [s for s in daemon.tree.get("/snapshots").values()
                if s["name"].startswith(f"auto-{schedule['id']}-")]
    assert len(await wait_for(made, timeout=5, interval=0.05)) == 1
    assert daemon.tree.get(("schedules", schedule["id"], "last_run")) is not None


async def test_a_schedule_whose_share_is_gone_can_still_be_changed(rockd):
    box = await rockd(devices=1, pool="single")
    daemon, api, pool = box.daemon, box.api, box.pool
    _, share = await api.call("POST", "/api/v1/shares", {"pool": pool["id"], "name": "gone"})
    _, schedule = await api.call("POST", "/api/v1/schedules", {
        "kind": "snapshot", "target": share["id"], "cron": "0 * * * *"})
    assert (await api.call("DELETE", f"/api/v1/shares/{share['id']}"))[0] == 204
    status, changed = await api.call("PATCH", f"/api/v1/schedules/{schedule['id']}",
                                     {"enabled": False})
    assert status == 200 and changed["enabled"] is False, changed
    status, answer = await api.call("PATCH", f"/api/v1/schedules/{schedule['id']}",
                                    {"cron": "not cron"})
    assert (status, answer["error"]["code"]) == (400, "invalid_field")
    assert daemon.tree.get(("schedules", schedule["id"], "cron")) == "0 * * * *"


async def test_a_null_where_a_value_belongs_is_refused_and_changes_nothing(rockd):
    box = await rockd(devices=1, pool="single")
    daemon, api, pool = box.daemon, box.api, box.pool
    _, share = await api.call("POST", "/api/v1/shares", {"pool": pool["id"], "name": "nulls"})
    _, schedule = await api.call("POST", "/api/v1/schedules", {
        "kind": "snapshot", "target": share["id"], "cron": "0 * * * *"})
    for body in ({"enabled": None}, {"cron": None}):
        status, answer = await api.call("PATCH", f"/api/v1/schedules/{schedule['id']}", body)
        assert (status, answer["error"]["code"]) == (400, "invalid_field"), (body, answer)
    assert daemon.tree.get(("schedules", schedule["id"])) == schedule
    status, changed = await api.call("PATCH", f"/api/v1/schedules/{schedule['id']}",
                                     {"retention": None})  # none: keeps every snapshot
    assert status == 200 and changed["retention"] is None, changed


async def test_keep_the_last_three_of_a_schedule_every_five_minutes(rockd):
    box = await rockd(devices=1, pool="single")
    daemon, api, pool = box.daemon, box.api, box.pool
    share, manual = await share_and_snapshot(api, pool, "work", "by-hand")
    status, schedule = await api.call("POST", "/api/v1/schedules", {
        "kind": "snapshot", "target": share["id"], "cron": "*/5 * * * *",
        "retention": {"last": 3}})
    assert status == 201, schedule
    assert schedule["retention"]["last"] == 3

    scheduler = daemon.context.scheduler
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    for slot in range(8):
        await scheduler.run_due(start + timedelta(minutes=5 * slot))
        await daemon.context.jobs.wait()
    await daemon.context.shares.settled(pool["id"])

    newest = [snapshot_name(schedule["id"], start + timedelta(minutes=5 * s)) for s in (5, 6, 7)]
    names = sorted(s["name"] for s in daemon.tree.get("/snapshots").values())
    assert names == sorted([*newest, "by-hand"])
    on_disk = sorted(p.name for p in (Path(pool["mount_point"]) / ".snapshots" / "work")
                     .iterdir())
    assert on_disk == names

    prunes = [j for j in daemon.tree.get("/jobs").values() if j["kind"] == "prune"]
    assert len(prunes) == 5 and all(j["state"] == "succeeded" for j in prunes), prunes
    assert {j["detail"] for j in prunes} == {"deleted 1 snapshot"}

    status, preview = await api.call("GET", f"/api/v1/schedules/{schedule['id']}/retention")
    assert status == 200
    why = {p["snapshot"]: p for p in preview}
    assert why[manual["id"]]["keep"] and "by hand" in why[manual["id"]]["reasons"][0]
    scheduled = [p for p in preview if p["snapshot"] != manual["id"]]
    assert all(p["keep"] and any("one of the last 3" in r for r in p["reasons"])
               for p in scheduled), scheduled

    # a count the API refuses names the field, and changes nothing
    status, answer = await api.call("PATCH", f"/api/v1/schedules/{schedule['id']}",
                                    {"retention": {"last": -1}})
    assert status == 400, answer
    assert "last" in str(answer["error"].get("detail")), answer
    assert daemon.tree.get(("schedules", schedule["id"], "retention", "last")) == 3
    status, answer = await api.call("PATCH", f"/api/v1/schedules/{schedule['id']}",
                                    {"cron": "0 0 31 2 *"})
    assert status == 400 and answer["error"]["detail"]["field"] == "cron", answer
    assert "never fires" in answer["error"]["message"]
