"""The alert rules on tree fragments: which conditions hold, with what severity and words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rockd.alerts.rules import Facts, evaluate

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def facts(**more) -> Facts:
    return Facts(NOW, **more)


def pool(**more) -> dict:
    return {"name": "tank", "missing_devices": 0, "usage": None, "devices": [
        {"devid": 1, "path": "/dev/sda", "missing": False, "errors": None},
        {"devid": 2, "path": "/dev/sdb", "missing": False, "errors": None}], **more}


def kinds(conditions) -> list[tuple[str, str, str]]:
    return [(c.kind, c.subject, c.severity) for c in conditions]


def test_a_healthy_tree_holds_no_condition():
    root = {"pools": {"p": pool()}, "disks": {"d": {"smart": {"health": "passed"}}},
            "jobs": {"j": {"kind": "scrub", "state": "succeeded", "result": {}}},
            "services": {"smb": {"enabled": True, "active": "active"}}}
    assert [c for family in root for c in evaluate(family, root, facts())] == []


def test_a_missing_device_is_named_from_what_was_seen_before():
    root = {"pools": {"p": pool(missing_devices=1, devices=[
        {"devid": 1, "path": "/dev/sda", "missing": False, "errors": None}])}}
    (found,) = evaluate("pools", root, facts(devices={"p": {1: "/dev/sda", 2: "/dev/sdb"}}))
    assert kinds([found]) == [("pool_degraded", "/pools/p", "critical")]
    assert "devid 2 (/dev/sdb)" in found.message and "replace" in found.message


def test_device_errors_and_fullness_with_the_thresholds():
    devices = pool()["devices"]
    devices[1]["errors"] = {"read_io_errs": 3, "write_io_errs": 0}
    root = {"pools": {"p": pool(devices=devices, usage={"stored": 90, "capacity": 100})}}
    assert kinds(evaluate("pools", root, facts())) == [
        ("device_errors", "/pools/p/devices/1", "warning"), ("pool_full", "/pools/p", "warning")]
    assert kinds(evaluate("pools", root, facts(pool_used_percent=(50, 90))))[1][2] == "critical"
    assert len(evaluate("pools", root, facts(pool_used_percent=(95, 99)))) == 1


def test_smart_quota_jobs_services_and_the_engine():
    root = {"disks": {"a": {"smart": {"health": "failed"}},
                      "b": {"smart": {"health": "passed", "pending_sectors": 8}}},
            "shares": {"s": {"name": "photos", "quota": 100, "usage": {"referenced": 96}},
                       "t": {"name": "none", "quota": None, "usage": {"referenced": 5}}},
            "jobs": {"j": {"kind": "balance", "target": "p", "state": "failed", "error": "x"},
                     "k": {"kind": "scrub", "target": "p", "state": "succeeded",
                           "result": {"csum_errors": 2, "corrected_errors": 5}}},
            "services": {"smb": {"enabled": True, "active": "failed"},
                         "nfs": {"enabled": False, "active": "failed"}},
            "apps-engine": {"state": "down", "error": "gone"}}
    assert kinds(evaluate("disks", root, facts())) == [
        ("smart_failing", "/disks/a", "critical"), ("smart_failing", "/disks/b", "warning")]
    assert kinds(evaluate("shares", root, facts())) == [("quota_full", "/shares/s", "critical")]
    assert kinds(evaluate("jobs", root, facts())) == [
        ("job_failed", "/jobs/j", "warning"), ("scrub_errors", "/jobs/k", "critical")]
    assert kinds(evaluate("services", root, facts())) == [
        ("service_failed", "/services/smb", "warning")]
    assert evaluate("apps-engine", root, facts()) == []  # never up: not installed, no alert
    assert kinds(evaluate("apps-engine", root, facts(docker_seen_up=True))) == [
        ("docker_down", "/apps-engine", "critical")]


def test_a_replication_goes_stale_and_the_deadline_is_told():
    last = {"at": "2026-12-04T06:00:00Z", "state": "succeeded", "snapshot": "x"}
    task = {"enabled": True, "share_name": "photos", "created": "2026-12-01T00:00:00Z",
            "targets": {"peer/pool": {"last": last}}}
    root = {"replication": {"tasks": {"t": task}}}
    known = facts()
    assert evaluate("replication", root, known) == []
    assert known.deadlines == [datetime(2026, 12, 5, 6, 0, tzinfo=UTC)]
    later = Facts(NOW + timedelta(days=1))
    assert kinds(evaluate("replication", root, later)) == [
        ("replication_stale", "/replication/tasks/t", "warning")]


def test_a_certificate_near_its_end_and_none_shown():
    assert evaluate("system", {"system": {"hostname": "x"}}, facts()) == []
    root = {"system": {"tls": {"not_after": "2026-12-20T00:00:00Z"}}}
    assert kinds(evaluate("system", root, facts())) == [("tls_expiring", "/system/tls",
                                                         "warning")]
