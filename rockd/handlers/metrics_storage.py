"""The storage half of GET /metrics, read from the tree at scrape time: pools (raw and logical
usage, devices' error counters), shares (usage and quota), each pool's last scrub, and the
disks' SMART health and key attributes. Times are Unix timestamps (`..._timestamp_seconds`),
so that an age is `time() - metric` in PromQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from rockd.core.times import parse_iso
from rockd.jobs.scrub import ERRORS

POOL = ["pool", "name"]
"""The labels of a pool's metrics: its id and its name."""


def gauge(name: str, text: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, labels=labels)


def timestamp(text: str | None) -> float | None:
    """An RFC 3339 time of the tree as a Unix time, None for none."""
    when = parse_iso(text)
    return when.timestamp() if when else None


def pools(tree_pools: dict[str, Any]) -> Iterator[Metric]:
    """Each pool: mounted, degraded, raw and logical usage, and its devices' error counters."""
    size = gauge("rockd_pool_size_bytes", "Raw size of the pool's devices", POOL)
    used = gauge("rockd_pool_used_bytes", "Raw bytes in use (all copies)", POOL)
    free = gauge("rockd_pool_free_bytes", "Logical bytes that can still be written", POOL)
    stored = gauge("rockd_pool_stored_bytes", "Logical bytes in use (data, metadata, system)",
                   POOL)
    capacity = gauge("rockd_pool_capacity_bytes", "Logical capacity: stored + free", POOL)
    mounted = gauge("rockd_pool_mounted", "1 if mounted", POOL)
    degraded = gauge("rockd_pool_degraded", "1 if a device is missing", POOL)
    missing = gauge("rockd_pool_missing_devices", "Devices of the pool that are not seen", POOL)
    errors = CounterMetricFamily("rockd_device_errors", "btrfs device error counters",
                                 labels=["pool", "devid", "kind"])
    for pool in tree_pools.values():
        key = [pool["id"], pool["name"]]
        mounted.add_metric(key, float(pool["mounted"]))
        degraded.add_metric(key, float(pool["degraded"]))
        missing.add_metric(key, pool["missing_devices"])
        if usage := pool["usage"]:
            size.add_metric(key, usage["size"])
            used.add_metric(key, usage["used"])
            free.add_metric(key, usage["free_estimate"])
            stored.add_metric(key, usage["stored"])
            capacity.add_metric(key, usage["capacity"])
        for device in pool["devices"]:
            for kind, count in (device["errors"] or {}).items():
                errors.add_metric([pool["id"], str(device["devid"]), kind], count)
    yield from (size, used, free, stored, capacity, mounted, degraded, missing, errors)


def shares(tree_shares: dict[str, Any], tree_pools: dict[str, Any]) -> Iterator[Metric]:
    """Each share's usage (where the pool's quotas are on) and quota (where one is set)."""
    labels = ["pool", "pool_name", "share"]
    referenced = gauge("rockd_share_referenced_bytes",
                       "Bytes the share refers to (btrfs qgroup), the quota's measure", labels)
    exclusive = gauge("rockd_share_exclusive_bytes",
                      "Bytes only the share holds (freed if it is deleted)", labels)
    quota = gauge("rockd_share_quota_bytes", "The share's quota (a limit on referenced bytes)",
                  labels)
    for share in tree_shares.values():
        pool = tree_pools.get(share["pool"])
        key = [share["pool"], pool["name"] if pool else "", share["name"]]
        if usage := share["usage"]:
            referenced.add_metric(key, usage["referenced"])
            exclusive.add_metric(key, usage["exclusive"])
        if share["quota"] is not None:
            quota.add_metric(key, share["quota"])
    yield from (referenced, exclusive, quota)


def last_scrubs(jobs: dict[str, Any]) -> dict[str, Any]:
    """The newest scrub that ran to its end (succeeded or failed), by pool id."""
    found: dict[str, Any] = {}
    for job in jobs.values():
        ended = timestamp(job["ended"])
        if job["kind"] != "scrub" or job["state"] not in ("succeeded", "failed") or not ended:
            continue
        seen = found.get(job["target"])
        if seen is None or ended > (timestamp(seen["ended"]) or 0.0):
            found[job["target"]] = job
    return found


def scrubs(jobs: dict[str, Any], tree_pools: dict[str, Any]) -> Iterator[Metric]:
    """Each pool's last scrub: when it ended, whether it was clean, and what it found."""
    ended = gauge("rockd_pool_scrub_last_end_timestamp_seconds",
                  "When the pool's last scrub ended", POOL)
    success = gauge("rockd_pool_scrub_last_success",
                    "1 if the pool's last scrub ran to its end and found no uncorrected error",
                    POOL)
    found = gauge("rockd_pool_scrub_last_errors",
                  "Errors the last scrub found and could not correct", POOL)
    corrected = gauge("rockd_pool_scrub_last_corrected_errors",
                      "Errors the last scrub found and corrected", POOL)
    for pool_id, job in last_scrubs(jobs).items():
        pool = tree_pools.get(pool_id)
        if pool is None:
            continue
        key = [pool_id, pool["name"]]
        result = job.get("result") or {}
        errors = sum(result.get(k, 0) for k in ERRORS if k != "corrected_errors")
        ended.add_metric(key, timestamp(job["ended"]) or 0.0)
        success.add_metric(key, float(job["state"] == "succeeded" and errors == 0))
        if result:
            found.add_metric(key, errors)
            corrected.add_metric(key, result.get("corrected_errors", 0))
    yield from (ended, success, found, corrected)


SMART = (
    ("temperature", "rockd_disk_temperature_celsius", "Temperature (SMART)", 1),
    ("power_on_hours", "rockd_disk_power_on_seconds", "Power-on time (SMART)", 3600),
    ("reallocated_sectors", "rockd_disk_reallocated_sectors",
     "Sectors the disk has reallocated (SMART 5)", 1),
    ("pending_sectors", "rockd_disk_pending_sectors",
     "Sectors waiting to be reallocated (SMART 197)", 1),
    ("offline_uncorrectable", "rockd_disk_offline_uncorrectable_sectors",
     "Sectors the disk could not read in its offline scan (SMART 198)", 1),
    ("media_errors", "rockd_disk_media_errors",
     "Unrecovered data integrity errors (NVMe media errors)", 1),
    ("percentage_used", "rockd_disk_endurance_used_ratio",
     "Share of the rated endurance used (NVMe percentage used / 100)", 0.01),
)
"""The SMART summary's fields as metrics: (field, name, help, factor to base units)."""


def disks(tree_disks: dict[str, Any]) -> Iterator[Metric]:
    """Each disk with a SMART report: its health and the attributes that foretell failure."""
    labels = ["disk", "name", "serial"]
    healthy = gauge("rockd_disk_smart_healthy", "1 if the SMART overall health passes", labels)
    values = {field: gauge(name, text, labels) for field, name, text, _ in SMART}
    for disk in tree_disks.values():
        smart = disk["smart"]
        if not smart:
            continue
        key = [disk["id"], disk["name"], disk["serial"] or ""]
        if smart["health"] is not None:
            healthy.add_metric(key, float(smart["health"] == "passed"))
        for field, _, _, factor in SMART:
            if smart.get(field) is not None:
                values[field].add_metric(key, smart[field] * factor)
    yield healthy
    yield from values.values()
