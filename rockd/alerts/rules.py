"""The alert rules: pure functions from the state tree to the conditions that hold now.

Each family reads one top-level part of the tree (`FAMILIES`: the part's key, and the rule)
and answers every condition it finds there, each with its kind, the tree path of its subject,
a severity and a message that says what is wrong and what to do. `Facts` carries what the
rules need besides the tree: the time, the thresholds, and what the engine remembers of the
past (a pool's devices before one went missing, whether the Docker engine was ever up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rockd.core.times import parse_iso

STALE_AFTER = timedelta(hours=24)
"""A replication task whose last success (to any target) is older than this is stale."""
TLS_AHEAD = timedelta(days=30)
DEVICE_ERRORS = ("write_io_errs", "read_io_errs", "flush_io_errs", "corruption_errs",
                 "generation_errs")
DISK_TEMPERATURE = {"NVMe": (70, 80), None: (55, 65)}
"""°C at which a disk's temperature is a warning, and critical (NVMe drives run hotter)."""
SMART_SECTORS = ("reallocated_sectors", "pending_sectors", "offline_uncorrectable")
SCRUB_ERRORS = ("read_errors", "csum_errors", "verify_errors", "super_errors",
                "uncorrectable_errors", "unverified_errors")


@dataclass(frozen=True)
class Condition:
    """Something wrong now: `kind` of trouble at `subject` (a tree path)."""

    kind: str
    subject: str
    severity: str  # info, warning or critical
    message: str
    count: int = 0
    """A counter that only rises while the trouble grows (errors, bad sectors): a rise is
    told again."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.subject)


@dataclass
class Facts:
    """What the rules know besides the tree."""

    now: datetime
    pool_used_percent: tuple[float, float] = (80.0, 95.0)
    devices: dict[str, dict[int, str]] = field(default_factory=dict)
    """Each pool's devices by devid, as last seen present (to name one that went missing)."""
    docker_seen_up: bool = False
    """The Docker engine was up since rockd started (or apps are installed): it is used."""
    deadlines: list[datetime] = field(default_factory=list)
    """Filled by the rules: when a condition that does not hold yet will hold (a timer)."""


Rule = Callable[[Any, Facts], Iterator[Condition]]


def _level(percent: float, facts: Facts) -> str | None:
    warning, critical = facts.pool_used_percent
    return "critical" if percent >= critical else "warning" if percent >= warning else None


def pools(section: dict[str, Any], facts: Facts) -> Iterator[Condition]:
    """pool_degraded, device_errors and pool_full, for each pool."""
    for pool_id, pool in (section or {}).items():
        subject, name = f"/pools/{pool_id}", pool.get("name", pool_id)
        if pool.get("missing_devices") or any(d.get("missing") for d in pool.get("devices")
                                               or []):
            named = _missing(pool, facts.devices.get(pool_id, {}))
            yield Condition(
                "pool_degraded", subject, "critical",
                f"Pool {name} is degraded: missing {named}. Its data has lost redundancy. "
                f"Re-attach the device, or replace it with a new disk (Pools > {name} > "
                "Disks > Replace), then scrub the pool.")
        for index, device in enumerate(pool.get("devices") or []):
            errors = device.get("errors") or {}
            total = sum(errors.get(k, 0) for k in DEVICE_ERRORS)
            if total:
                where = device.get("path") or f"devid {device['devid']}"
                counts = ", ".join(f"{k} {errors[k]}" for k in DEVICE_ERRORS if errors.get(k))
                yield Condition(
                    "device_errors", f"{subject}/devices/{index}", "warning",
                    f"Device {where} of pool {name} has errors ({counts}). Check its "
                    "cable and SMART report, scrub the pool, and replace the disk if the "
                    "counters keep rising.", total)
        usage = pool.get("usage") or {}
        if usage.get("capacity"):
            percent = 100.0 * usage["stored"] / usage["capacity"]
            level = _level(percent, facts)
            if level:
                yield Condition(
                    "pool_full", subject, level,
                    f"Pool {name} is {percent:.0f} % full. Delete data or old snapshots, "
                    "or add a disk to the pool.")


def _missing(pool: dict[str, Any], known: dict[int, str]) -> str:
    """The missing devices of a pool in words: by devid, with the path each had (an
    unmounted pool does not list a device it cannot see at all)."""
    devices = pool.get("devices") or []
    present = {d["devid"] for d in devices if not d.get("missing")}
    devids = sorted({d["devid"] for d in devices if d.get("missing")}
                    | (set(known) - present))
    named = ", ".join(f"devid {devid} ({known.get(devid, 'unknown device')})"
                      for devid in devids)
    return named or f"{pool['missing_devices']} device(s)"


def disks(section: dict[str, Any], facts: Facts) -> Iterator[Condition]:
    """smart_failing: SMART health failed, or reallocated, pending or uncorrectable sectors;
    disk_temperature: too hot; smart_test_failed: the newest self-test failed."""
    for disk_id, disk in (section or {}).items():
        smart = disk.get("smart") or {}
        name = disk.get("path") or disk_id
        sectors = {k: smart.get(k) or 0 for k in SMART_SECTORS}
        yield from _disk_smart(disk_id, name, smart)
        if smart.get("health") == "failed":
            yield Condition("smart_failing", f"/disks/{disk_id}", "critical",
                            f"Disk {name} ({disk.get('model') or 'unknown model'}) reports "
                            "SMART health FAILED. Back up its data and replace it now.")
        elif any(sectors.values()):
            counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sectors.items() if v)
            yield Condition("smart_failing", f"/disks/{disk_id}", "warning",
                            f"Disk {name} has {counts}. Run a long SMART test and plan "
                            "to replace it if the count rises.", sum(sectors.values()))


def _disk_smart(disk_id: str, name: str, smart: dict[str, Any]) -> Iterator[Condition]:
    """disk_temperature and smart_test_failed, for one disk."""
    warm, hot = DISK_TEMPERATURE.get(smart.get("protocol"), DISK_TEMPERATURE[None])
    temperature = smart.get("temperature")
    if isinstance(temperature, int) and temperature >= warm:
        yield Condition("disk_temperature", f"/disks/{disk_id}", "critical" if
                        temperature >= hot else "warning",
                        f"Disk {name} is at {temperature} °C (above {warm} °C). Check the "
                        "fans and airflow of the box; heat shortens a disk's life.")
    last = smart.get("last_test") or {}
    if last and not last.get("passed"):
        where = f" at LBA {last['lba']}" if last.get("lba") is not None else ""
        yield Condition("smart_test_failed", f"/disks/{disk_id}", "critical",
                        f"The {last.get('kind') or last.get('type') or 'last'} self-test of "
                        f"disk {name} failed: {last.get('status') or 'no status'}{where}. "
                        "Back up its data and replace it; a self-test that passes clears this.")


def shares(section: dict[str, Any], facts: Facts) -> Iterator[Condition]:
    """quota_full: a share's referenced bytes against its quota."""
    for share_id, share in (section or {}).items():
        quota, usage = share.get("quota"), share.get("usage") or {}
        if not quota or "referenced" not in usage:
            continue
        percent = 100.0 * usage["referenced"] / quota
        level = _level(percent, facts)
        if level:
            yield Condition("quota_full", f"/shares/{share_id}", level,
                            f"Share {share.get('name', share_id)} is {percent:.0f} % of its "
                            "quota. Delete data or snapshots, or raise the quota.")


def jobs(section: dict[str, Any], facts: Facts) -> Iterator[Condition]:
    """job_failed, and scrub_errors: a scrub that found errors."""
    for job_id, job in (section or {}).items():
        subject, kind, target = f"/jobs/{job_id}", job.get("kind"), job.get("target")
        if job.get("state") == "failed":
            reason = job.get("error") or "no reason given"
            yield Condition("job_failed", subject, "warning",
                            f"The {kind} job on {target} failed: {reason}. Read its log "
                            "(Jobs) and run it again once the cause is fixed.")
        result = job.get("result") or {}
        if kind == "scrub" and job.get("state") in ("succeeded", "failed"):
            found = sum(result.get(k) or 0 for k in SCRUB_ERRORS)
            if found:
                yield Condition("scrub_errors", subject, "critical",
                                f"A scrub of pool {target} found {found} error(s) it could "
                                "not correct. Check the devices' error counters and SMART "
                                "reports, and restore damaged files from a backup.")


def services(section: dict[str, Any], facts: Facts) -> Iterator[Condition]:
    """service_failed: a service that failed (keeps dying)."""
    for name, service in (section or {}).items():
        if service.get("enabled") and service.get("active") == "failed":
            yield Condition("service_failed", f"/services/{name}", "warning",
                            f"The service {name} has failed. Read its log, fix its "
                            "configuration, and start it again (Services).")


def engine(section: dict[str, Any], facts: Facts) -> Iterator[Condition]:
    """docker_down: the Docker engine went away after it was up."""
    if facts.docker_seen_up and (section or {}).get("state") not in (None, "up"):
        yield Condition("docker_down", "/apps-engine", "critical",
                        "The Docker engine is gone "
                        f"({section.get('error') or section.get('state')}): apps are not "
                        "running. Start the engine again (Apps).")


def replication(section: dict[str, Any], facts: Facts) -> Iterator[Condition]:
    """replication_stale: no target of an enabled task succeeded for STALE_AFTER."""
    for task_id, task in ((section or {}).get("tasks") or {}).items():
        if not task.get("enabled") or not task.get("targets"):
            continue
        successes = [parse_iso(t["last"]["at"]) for t in task["targets"].values()
                     if t.get("last") and t["last"].get("state") == "succeeded"]
        since = max((s for s in successes if s), default=None) or parse_iso(task.get("created"))
        if since is None:
            continue
        if facts.now - since >= STALE_AFTER:
            yield Condition("replication_stale", f"/replication/tasks/{task_id}", "warning",
                            f"Replication of {task.get('share_name')} has not succeeded "
                            f"since {task.get('created') if not successes else since.isoformat()}."
                            " Check that the peers are online and read the task's last error.")
        else:
            facts.deadlines.append(since + STALE_AFTER)


def system(section: dict[str, Any], facts: Facts) -> Iterator[Condition]:
    """tls_expiring: the served certificate ends within TLS_AHEAD (if rockd shows it)."""
    tls = (section or {}).get("tls")
    ends = parse_iso(tls.get("not_after")) if isinstance(tls, dict) else None
    if ends is None:
        return
    if ends - facts.now <= TLS_AHEAD:
        yield Condition("tls_expiring", "/system/tls", "warning" if ends > facts.now
                        else "critical", f"The HTTPS certificate ends on {ends.date()}. "
                        "Renew it and restart rockd with the new one.")
    else:
        facts.deadlines.append(ends - TLS_AHEAD)


def ups(section: dict[str, Any], facts: Facts) -> Iterator[Condition]:
    """ups_on_battery: the power failed (critical at a low battery or once the shutdown
    began); ups_unreachable: NUT cannot tell how the UPS is."""
    if not section.get("configured"):
        return
    name = section.get("name")
    if section.get("on_battery"):
        then = (f"rockd is shutting this machine down ({section['shutting_down']})"
                if section.get("shutting_down") else
                f"rockd shuts this machine down at {section.get('shutdown_at')} unless power "
                "returns first")
        low = " and its battery is low" if section.get("low_battery") else ""
        yield Condition("ups_on_battery", "/ups", "critical" if low
                        or section.get("shutting_down") else "warning",
                        f"Power failed: the UPS {name} is on battery since "
                        f"{section.get('on_battery_since')}{low}. {then}.")
    elif section.get("last_error"):
        yield Condition("ups_unreachable", "/ups", "warning",
                        f"rockd cannot read the UPS {name}: {section['last_error']}. Check its "
                        "cable or the NUT server (UPS).")


FAMILIES: dict[str, Rule] = {
    "pools": pools, "disks": disks, "shares": shares, "jobs": jobs, "services": services,
    "apps-engine": engine, "replication": replication, "system": system, "ups": ups,
}
"""Each top-level part of the tree that alerts follow, and its rule."""


def evaluate(family: str, root: dict[str, Any], facts: Facts) -> list[Condition]:
    """The conditions of one family that hold in the tree `root` now."""
    return list(FAMILIES[family](root.get(family) or {}, facts))
