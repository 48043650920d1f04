"""The health half of GET /metrics, read from the tree at scrape time: jobs, replication (each
task target's last run and last success, each peer's connection), services and the alerts
that are active now."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import Metric

from rockd.handlers.metrics_storage import gauge, timestamp

SEVERITIES = ("info", "warning", "critical")


def jobs(tree_jobs: dict[str, Any]) -> Iterator[Metric]:
    family = gauge("rockd_jobs", "Jobs by kind and state", ["kind", "state"])
    for (kind, state), count in Counter(
            (j["kind"], j["state"]) for j in tree_jobs.values()).items():
        family.add_metric([kind, state], count)
    yield family


def replication(tree: dict[str, Any]) -> Iterator[Metric]:
    """Each task target (labels task, share, target = peer/pool, peer, pool): when its last
    run was, whether it succeeded, and its last success; each peer: connected or not."""
    labels = ["task", "share", "target", "peer", "pool"]
    last_run = gauge("rockd_replication_last_run_timestamp_seconds",
                     "When the last run to the target was", labels)
    last_ok = gauge("rockd_replication_last_run_success",
                    "1 if the last run to the target succeeded", labels)
    success = gauge("rockd_replication_last_success_timestamp_seconds",
                    "When a run to the target last succeeded (present while the last run did)",
                    labels)
    for task in (tree.get("tasks") or {}).values():
        for where, target in task["targets"].items():
            run = target["last"]
            if not run:
                continue
            key = [task["id"], task["share_name"], where, target["peer"], target["pool"]]
            when = timestamp(run["at"]) or 0.0
            last_run.add_metric(key, when)
            last_ok.add_metric(key, float(run["state"] == "succeeded"))
            if run["state"] == "succeeded":
                success.add_metric(key, when)
    online = gauge("rockd_replication_peer_up", "1 if the peer's connection is up", ["peer"])
    for name, peer in (tree.get("peers") or {}).items():
        online.add_metric([name], float(peer["online"]))
    yield from (last_run, last_ok, success, online)


def services(tree_services: dict[str, Any]) -> Iterator[Metric]:
    """Each service (labels service, unit, backend): active, enabled, available."""
    labels = ["service", "unit", "backend"]
    active = gauge("rockd_service_active", "1 if the service is active (running)", labels)
    enabled = gauge("rockd_service_enabled", "1 if the service is enabled (meant to run)",
                    labels)
    available = gauge("rockd_service_available", "1 if the service is installed on this box",
                      labels)
    for service in tree_services.values():
        key = [service["name"], service["unit"], service["backend"]]
        active.add_metric(key, float(service["active"] == "active"))
        enabled.add_metric(key, float(service["enabled"]))
        available.add_metric(key, float(service["available"]))
    yield from (active, enabled, available)


def alerts(tree_alerts: dict[str, Any]) -> Iterator[Metric]:
    """Active (not cleared) alerts by severity, 0 for each severity without one."""
    family = gauge("rockd_alerts_active", "Alerts active now (not cleared), by severity",
                   ["severity"])
    counts = Counter(a.get("severity") for a in tree_alerts.values() if not a.get("cleared"))
    for severity in sorted({*SEVERITIES, *(s for s in counts if isinstance(s, str))}):
        family.add_metric([severity], counts.get(severity, 0))
    yield family
