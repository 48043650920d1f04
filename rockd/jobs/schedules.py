"""Schedules: snapshots, scrubs, balances, trims, dedups and SMART self-tests on cron
expressions, and snapshot retention.

A schedule is intent (kept in SQLite) shown at /schedules/{id} with its next run. One task
sleeps until the earliest next run; a schedule whose slots passed while rockd was down runs
once at start-up, not once per slot. A snapshot schedule names its snapshots
`auto-{schedule id}-{UTC time}`; only those are ever deleted by its retention, in a prune job.
A `config_backup` schedule writes the settings backup into its share (through the
`ConfigBackups` it was given), keeping the newest `retention.last` files. A `smart_test`
schedule targets a disk and names its test in `options.type`; a `dedup` schedule may name
shares of its pool in `options.shares` (else the whole pool).
The clock is injected, so whole months can be simulated.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from rockd.core import resources
from rockd.core.errors import BadRequest, NotFound
from rockd.core.jobs import Jobs
from rockd.core.store import Store
from rockd.core.tasks import cancel_and_wait
from rockd.core.times import iso, parse_iso, utcnow
from rockd.core.tree import Subtree
from rockd.jobs import cron, retention
from rockd.jobs.wakeup import run_on_cron
from rockd.storage import pool_care
from rockd.storage.pool_jobs import PoolJobs
from rockd.storage.pools import Pools
from rockd.storage.shares import Shares

log = logging.getLogger(__name__)

KINDS = ("snapshot", "scrub", "balance", "config_backup", "trim", "dedup", "smart_test")
SHARE_KINDS = ("snapshot", "config_backup")  # the kinds whose target is a share
DISK_KINDS = ("smart_test",)  # the kinds whose target is a disk
SMART_TYPES = ("short", "long", "conveyance")
STAMP = "%Y%m%dT%H%M%SZ"
AUTO_NAME = re.compile(r"auto-(?P<schedule>[0-9a-f]{8})-(?P<when>[0-9]{8}T[0-9]{6}Z)")
NO_POLICY = "no retention policy: nothing is deleted"


def snapshot_name(schedule_id: str, when: datetime) -> str:
    return f"auto-{schedule_id}-{when.astimezone(UTC).strftime(STAMP)}"


class ConfigBackups(Protocol):
    """Who writes the settings backup (rockd.backup) a `config_backup` schedule asks for."""

    async def write_backup(self, share_id: str, keep: int, when: datetime) -> str:
        """Write it into the share (named for `when`), keeping the newest `keep` (0: all);
        answer its path."""


class SelfTests(Protocol):
    """Who starts a disk's SMART self-test (its checks first) for a `smart_test` schedule."""

    async def start_test(self, disk_id: str, test: str) -> resources.Job:
        """Start the `smart_test` job of the disk."""


def check_options(kind: str, options: dict[str, Any] | None) -> dict[str, Any] | None:
    """The options of a schedule of `kind`: `type` for smart_test (required), `shares` for
    dedup (optional); 400 invalid_field otherwise."""
    options = options or None
    allowed = {"smart_test": {"type"}, "dedup": {"shares"}}.get(kind, set())
    extra = sorted(set(options or {}) - allowed)
    if extra:
        raise BadRequest(f"a {kind} schedule takes no option {extra[0]}", code="invalid_field",
                         detail={"field": f"options.{extra[0]}"})
    if kind == "smart_test" and (options or {}).get("type") not in SMART_TYPES:
        raise BadRequest(f"a smart_test schedule needs options.type: one of "
                         f"{', '.join(SMART_TYPES)}", code="invalid_field",
                         detail={"field": "options.type"})
    if options is not None and "shares" in options and not options["shares"]:
        options = {k: v for k, v in options.items() if k != "shares"} or None
    return options


class Scheduler:
    """Keeps the schedules, runs what is due, and prunes what retention lets go."""

    def __init__(self, tree: Subtree, store: Store, jobs: Jobs, pools: Pools, pool_jobs: PoolJobs,
                 shares: Shares, clock: Callable[[], datetime] = utcnow):
        self.tree = tree
        self.store = store
        self.jobs = jobs
        self.pools = pools
        self.pool_jobs = pool_jobs
        self.shares = shares
        self.clock = clock
        self.schedules: dict[str, dict[str, Any]] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.backups: ConfigBackups | None = None
        self.self_tests: SelfTests | None = None

    def backups_by(self, backups: ConfigBackups) -> None:
        self.backups = backups

    def self_tests_by(self, self_tests: SelfTests) -> None:
        self.self_tests = self_tests

    async def load(self) -> None:
        self.schedules = await self.store.intents("schedule")
        with self.tree.transaction():
            self.tree.set("/schedules", {})
            for schedule in self.schedules.values():
                self._publish(schedule)

    def start(self) -> None:
        self._task = asyncio.create_task(run_on_cron(
            self.run_due, lambda: [s["cron"] for s in self.schedules.values() if s["enabled"]],
            self._changed, lambda: self.clock(), "schedules"), name="scheduler")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    # -- the schedules ----------------------------------------------------------------------

    def _publish(self, schedule: dict[str, Any]) -> None:
        after = self.clock()
        next_run = cron.next_run(schedule["cron"], after) if schedule["enabled"] else None
        self.tree.set(("schedules", schedule["id"]), {**schedule, "next_run": iso(next_run)})

    async def _save(self, schedule: dict[str, Any]) -> dict[str, Any]:
        await self.store.set_intent("schedule", schedule["id"], schedule)
        self.schedules[schedule["id"]] = schedule
        self._publish(schedule)
        self._changed.set()
        return self.tree.get(("schedules", schedule["id"]))

    def _check(self, kind: str, target: str | None, expr: str, policy: dict | None) -> str:
        """The cron expression, normalised; 404 for an unknown target (None: not checked)."""
        if target is not None and kind in DISK_KINDS:
            self.tree.resource("disks", target)
        elif target is not None:
            (self.shares if kind in SHARE_KINDS else self.pools).get(target)
        try:
            expr = cron.validate(expr)
        except ValueError as exc:
            raise BadRequest(str(exc), code="invalid_field", detail={"field": "cron"}) from None
        try:
            if policy is not None:
                if kind not in SHARE_KINDS:
                    raise ValueError("only snapshot and config_backup schedules have a "
                                     "retention")
                retention.Policy.parse(policy)
        except ValueError as exc:
            raise BadRequest(str(exc), code="invalid_field",
                             detail={"field": "retention"}) from None
        return expr

    async def create(self, kind: str, target: str, expr: str, policy: dict | None,
                     enabled: bool, options: dict[str, Any] | None = None) -> dict[str, Any]:
        expr = self._check(kind, target, expr, policy)
        options = check_options(kind, options)
        if kind == "dedup" and options:  # 404, 422 not_in_pool or read_only now, not later
            pool_care.dedup_paths(self.tree, self.pools.get(target), options["shares"])
        schedule = {"id": secrets.token_hex(4), "kind": kind, "target": target, "cron": expr,
                    "retention": policy, "enabled": enabled,
                    "created": iso(self.clock()), "last_run": None}
        if options:
            schedule["options"] = options
        return await self._save(schedule)

    def get(self, schedule_id: str) -> dict[str, Any]:
        schedule = self.schedules.get(schedule_id)
        if schedule is None:
            raise NotFound(f"no schedule {schedule_id}")
        return schedule

    async def update(self, schedule_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        schedule = {**self.get(schedule_id), **changes}
        # the target cannot change: one whose share or pool is gone can still be disabled
        schedule["cron"] = self._check(schedule["kind"], None, schedule["cron"],
                                       schedule["retention"])
        return await self._save(schedule)

    async def delete(self, schedule_id: str) -> None:
        self.get(schedule_id)
        await self.store.delete_intent("schedule", schedule_id)
        del self.schedules[schedule_id]
        self.tree.delete(("schedules", schedule_id))
        self._changed.set()

    # -- running ----------------------------------------------------------------------------

    async def run_due(self, now: datetime) -> None:
        """Run, once each, the schedules with a slot since their last run (or creation)."""
        for schedule in list(self.schedules.values()):
            since = parse_iso(schedule["last_run"]) or parse_iso(schedule["created"])
            if not schedule["enabled"] or not cron.missed(schedule["cron"], since, now):
                continue
            try:
                await self._run(schedule, now)
            except Exception as exc:
                log.warning("schedule %s (%s of %s) failed: %s", schedule["id"],
                            schedule["kind"], schedule["target"], exc)
            await self._save({**schedule, "last_run": iso(now)})

    async def _run(self, schedule: dict[str, Any], now: datetime) -> None:
        if schedule["kind"] == "scrub":
            self.pool_jobs.scrub(schedule["target"], False)
        elif schedule["kind"] == "balance":
            self.pool_jobs.balance(schedule["target"], None)
        elif schedule["kind"] == "trim":
            self.pool_jobs.trim(schedule["target"])
        elif schedule["kind"] == "dedup":
            self.pool_jobs.dedup(schedule["target"],
                                 (schedule.get("options") or {}).get("shares"))
        elif schedule["kind"] == "smart_test":
            test = schedule["options"]["type"]
            if self.self_tests is not None:
                await self.self_tests.start_test(schedule["target"], test)
            else:
                self.jobs.start("smart_test", schedule["target"], {"type": test})
        elif schedule["kind"] == "config_backup":
            if self.backups is None:
                raise RuntimeError("no settings backup is wired")
            await self.backups.write_backup(schedule["target"],
                                            (schedule["retention"] or {}).get("last") or 0,
                                            now)
        else:
            await self.shares.snapshot(schedule["target"],
                                       snapshot_name(schedule["id"], now))
            if schedule["retention"]:
                self.prune(schedule, now)

    def decisions(self, schedule: dict[str, Any], now: datetime) -> list[retention.Decision]:
        """What the schedule's retention does with each snapshot of its share, and why (a
        config_backup schedule keeps files, not snapshots: none; nor do the pool and disk
        kinds)."""
        if schedule["kind"] != "snapshot":
            return []
        if not schedule["retention"]:
            return [retention.Decision(s["id"], now, True, (NO_POLICY,))
                    for s in (self.tree.get("/snapshots") or {}).values()
                    if s["share"] == schedule["target"]]
        items = []
        for snap in (self.tree.get("/snapshots") or {}).values():
            if snap["share"] != schedule["target"]:
                continue
            match = AUTO_NAME.fullmatch(snap["name"])
            mine = match is not None and match["schedule"] == schedule["id"]
            when = (datetime.strptime(match["when"], STAMP).replace(tzinfo=UTC)
                    if mine and match is not None else parse_iso(snap["created"]) or now)
            items.append((snap["id"], when, mine))
        owners = {s["id"]: retention.made_by(s["name"]) for s in (self.tree.get("/snapshots")
                                                                   or {}).values()}
        return retention.plan(items, retention.Policy.parse(schedule["retention"]), now, owners)

    def prune(self, schedule: dict[str, Any], now: datetime) -> resources.Job | None:
        """Delete, in a job, the snapshots the schedule's retention lets go."""
        doomed = [d.id for d in self.decisions(schedule, now) if not d.keep]
        if not doomed:
            return None
        share = self.shares.get(schedule["target"])
        paths = [self.tree.get(("snapshots", str(i), "path")) for i in doomed]
        return self.jobs.start("prune", share["pool"], {"paths": paths,
                                                        "schedule": schedule["id"]})
