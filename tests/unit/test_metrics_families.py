"""The /metrics families read from trees as their owners write them: alerts counted by
severity (zeros where the subtree is absent), the newest ended scrub of each pool, SMART
summaries in base units. The integration tests compare the same against a running rockd."""

from __future__ import annotations

from datetime import UTC, datetime

from rockd.handlers import metrics_health as health
from rockd.handlers import metrics_storage as storage


def by_labels(families, name):
    family = next(f for f in families if f.name == name)
    return {tuple(s.labels.values()): s.value for s in family.samples}


def test_alerts_are_counted_by_severity_while_not_cleared():
    assert by_labels(health.alerts({}), "rockd_alerts_active") == {
        ("critical",): 0, ("info",): 0, ("warning",): 0}
    alerts = {
        "a1": {"severity": "critical", "cleared": None},
        "a2": {"severity": "critical", "cleared": "2026-12-04T05:00:00Z"},
        "a3": {"severity": "warning", "cleared": None},
        "a4": {"severity": "warning", "cleared": None},
    }
    assert by_labels(health.alerts(alerts), "rockd_alerts_active") == {
        ("critical",): 1, ("info",): 0, ("warning",): 2}


def scrub(job_id, state, ended, result=None):
    return {"id": job_id, "kind": "scrub", "target": "p1", "state": state, "ended": ended,
            **({"result": result} if result is not None else {})}


def test_the_last_scrub_is_the_newest_that_ran_to_its_end():
    pools = {"p1": {"id": "p1", "name": "tank"}}
    clean = {k: 0 for k in ("data_bytes_scrubbed", "tree_bytes_scrubbed", "csum_errors",
                            "corrected_errors")}
    jobs = {
        "j1": scrub("j1", "succeeded", "2026-12-01T00:00:00Z", {**clean, "csum_errors": 2,
                                                              "corrected_errors": 1}),
        "j2": scrub("j2", "succeeded", "2026-12-03T00:00:00Z", clean),
        "j3": scrub("j3", "cancelled", "2026-12-04T00:00:00Z"),
        "j4": scrub("j4", "running", None),
        "j5": {**scrub("j5", "succeeded", "2026-12-05T00:00:00Z"), "kind": "balance"},
    }
    families = list(storage.scrubs(jobs, pools))
    key = ("p1", "tank")
    assert by_labels(families, "rockd_pool_scrub_last_end_timestamp_seconds") == {
        key: datetime(2026, 12, 3, tzinfo=UTC).timestamp()}
    assert by_labels(families, "rockd_pool_scrub_last_success") == {key: 1.0}
    assert by_labels(families, "rockd_pool_scrub_last_errors") == {key: 0}
    jobs["j2"]["result"] = {**clean, "csum_errors": 3, "corrected_errors": 1}
    families = list(storage.scrubs(jobs, pools))
    assert by_labels(families, "rockd_pool_scrub_last_success") == {key: 0.0}
    assert by_labels(families, "rockd_pool_scrub_last_errors") == {key: 3}
    assert by_labels(families, "rockd_pool_scrub_last_corrected_errors") == {key: 1}


def test_smart_summaries_in_base_units_and_disks_without_smart_left_out():
    summary = {"health": "failed", "temperature": 41, "power_on_hours": 10,
               "reallocated_sectors": 8, "pending_sectors": None, "media_errors": None,
               "offline_uncorrectable": 2, "percentage_used": 7}
    disks = {"d1": {"id": "d1", "name": "sda", "serial": "S1", "smart": summary},
             "d2": {"id": "d2", "name": "loop0", "serial": None, "smart": None}}
    families = list(storage.disks(disks))
    key = ("d1", "sda", "S1")
    assert by_labels(families, "rockd_disk_smart_healthy") == {key: 0.0}
    assert by_labels(families, "rockd_disk_power_on_seconds") == {key: 36000}
    assert by_labels(families, "rockd_disk_temperature_celsius") == {key: 41}
    assert by_labels(families, "rockd_disk_reallocated_sectors") == {key: 8}
    assert by_labels(families, "rockd_disk_pending_sectors") == {}
    assert by_labels(families, "rockd_disk_offline_uncorrectable_sectors") == {key: 2}
    assert by_labels(families, "rockd_disk_endurance_used_ratio") == {key: 0.07}
