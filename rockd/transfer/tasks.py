"""Replication tasks: a share, the peers' pools it goes to, a cron expression and a retention
for each side. Kept as intent ("replication_task", by id) and shown at /replication/tasks/{id}
with the next run, the running job and, per target, how its last run went.

A run is a "replicate" job (runs.py), started by hand or when the task's cron fires: the
schedule wakes at the next cron time of any enabled task (rockd.jobs.wakeup), and a slot
missed while rockd was down runs once when it starts.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rockd.core import resources
from rockd.core.errors import BadRequest, Conflict, NotFound
from rockd.core.jobs import Jobs
from rockd.core.store import Store
from rockd.core.tasks import cancel_and_wait
from rockd.core.times import iso, parse_iso
from rockd.core.tree import Subtree
from rockd.jobs import cron, retention
from rockd.jobs.wakeup import run_on_cron
from rockd.storage.shares import Shares
from rockd.transfer import keep
from rockd.transfer.peers import Peers

log = logging.getLogger(__name__)

INTENT = "replication_task"


def where(target: dict[str, Any]) -> str:
    """A target's key in a task's view: "{peer}/{pool}"."""
    return f"{target['peer']}/{target['pool']}"


class Tasks:
    """The replication tasks: their intent, /replication/tasks in the tree, their schedule."""

    def __init__(self, tree: Subtree, store: Store, jobs: Jobs, shares: Shares, peers: Peers,
                 clock: Callable[[], datetime]):
        self.tree = tree
        self.store = store
        self.jobs = jobs
        self.shares = shares
        self.peers = peers
        self.clock = clock
        self.records: dict[str, dict[str, Any]] = {}
        self.running: dict[str, str] = {}  # task id -> job id
        self._changed = asyncio.Event()
        self._loop: asyncio.Task | None = None

    async def load(self) -> None:
        self.records = await self.store.intents(INTENT)

    def start(self) -> None:
        """Run each task when its cron fires (a slot missed while rockd was down: now)."""
        self._loop = asyncio.create_task(run_on_cron(
            self.run_due,
            lambda: [t["cron"] for t in self.records.values() if t["enabled"] and t["cron"]],
            self._changed, self.clock, "replication tasks"), name="replication-schedule")

    async def stop(self) -> None:
        if self._loop is not None:
            await cancel_and_wait(self._loop)
            self._loop = None

    # -- reading -----------------------------------------------------------------------------

    def get(self, task_id: str) -> dict[str, Any]:
        task = self.records.get(task_id)
        if task is None:
            raise NotFound(f"no replication task {task_id}")
        return task

    def view(self, task_id: str) -> dict[str, Any]:
        self.get(task_id)
        return self.tree.get(("replication", "tasks", task_id))

    def listed(self) -> list[dict[str, Any]]:
        return list((self.tree.get("/replication/tasks") or {}).values())

    def of_peer(self, name: str) -> list[str]:
        """The ids of the tasks that replicate to peer `name`."""
        return [t["id"] for t in self.records.values()
                if any(target["peer"] == name for target in t["targets"])]

    def publish(self, task: dict[str, Any], results: dict | None = None) -> None:
        """Show the task; `results`: each target's last run ({where: {"last": ...}}), by
        default what is shown now."""
        current = self.tree.get(("replication", "tasks", task["id"])) or {}
        results = results if results is not None else current.get("targets") or {}
        next_run = (cron.next_run(task["cron"], self.clock())
                    if task["enabled"] and task["cron"] else None)
        self.tree.set(("replication", "tasks", task["id"]), {
            **task, "keep_last": keep.keep_last(task), "next_run": iso(next_run),
            "running": self.running.get(task["id"]),
            "targets": {where(t): {**t, "last": (results.get(where(t)) or {}).get("last")}
                        for t in task["targets"]}})

    # -- changing ----------------------------------------------------------------------------

    def _check(self, targets: list[dict[str, Any]], expr: str | None,
               policy: dict | None, share: str, task_id: str | None = None) -> str | None:
        seen = set()
        for target in targets:
            self.peers.get(target["peer"])
            if where(target) in seen:
                raise BadRequest(f"target {where(target)} is named twice", code="invalid_field")
            seen.add(where(target))
        try:
            if expr is not None:
                expr = cron.validate(expr)
            for side in (policy or {}).values():
                if side is not None:
                    retention.Policy.parse(side)
        except ValueError as exc:
            raise BadRequest(str(exc), code="invalid_field") from None
        for other in self.records.values():
            same = seen & {where(t) for t in other["targets"]}
            if other["share"] == share and other["id"] != task_id and same:
                raise Conflict(f"task {other['id']} already replicates "
                               f"{other['share_name']} to {', '.join(sorted(same))}",
                               code="exists", detail={"task": other["id"]})
        return expr

    async def _save(self, task: dict[str, Any]) -> dict[str, Any]:
        await self.store.set_intent(INTENT, task["id"], task)
        self.records[task["id"]] = task
        self.publish(task)
        self._changed.set()
        return self.tree.get(("replication", "tasks", task["id"]))

    async def create(self, share_id: str, targets: list[dict[str, Any]], expr: str | None,
                     policy: dict | None, enabled: bool, keep_last: int = keep.KEEP_LAST
                     ) -> dict[str, Any]:
        share = self.shares.get(share_id)
        expr = self._check(targets, expr, policy, share_id)
        task = {"id": secrets.token_hex(4), "share": share_id, "share_name": share["name"],
                "targets": targets, "cron": expr, "retention": policy, "keep_last": keep_last,
                "enabled": enabled, "created": iso(self.clock()), "last_run": None}
        return await self._save(task)

    async def update(self, task_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        task = {**self.get(task_id), **changes}
        task["cron"] = self._check(task["targets"], task["cron"], task["retention"],
                                   task["share"], task_id)
        return await self._save(task)

    def retention(self, task_id: str, now: datetime) -> list[retention.Decision]:
        """What the task's source retention would do now: each target's last snapshot sent
        counts as its newest common one."""
        task = self.get(task_id)
        snapshots = [s for s in (self.tree.get("/snapshots") or {}).values()
                     if s["share"] == task["share"]]
        ids = {s["name"]: s["id"] for s in snapshots}
        last = {name: (t.get("last") or {}) for name, t in
                (self.tree.get(("replication", "tasks", task_id, "targets")) or {}).items()}
        held_by = {name: {ids[run["snapshot"]]} for name, run in last.items()
                   if run.get("state") == "succeeded" and run.get("snapshot") in ids}
        return keep.plan(snapshots, task, keep.newest_held(snapshots, held_by), now)

    async def delete(self, task_id: str) -> None:
        self.get(task_id)
        await self.store.delete_intent(INTENT, task_id)
        del self.records[task_id]
        self.tree.delete(("replication", "tasks", task_id))
        self._changed.set()

    # -- runs --------------------------------------------------------------------------------

    def run(self, task_id: str) -> resources.Job:
        """Start a run of the task as a job; 409 while one runs."""
        task = self.get(task_id)
        if task_id in self.running:
            raise Conflict(f"task {task_id} is running (job {self.running[task_id]})",
                           code="busy", detail={"job": self.running[task_id]})
        share = self.shares.get(task["share"])
        job = self.jobs.start("replicate", share["id"], {"task": task_id})
        self.running[task_id] = job["id"]
        self.publish(task)
        return job

    def ended(self, task_id: str) -> None:
        """A run of the task ended, however: shown as not running."""
        self.running.pop(task_id, None)
        if task_id in self.records:
            self.publish(self.records[task_id])

    async def run_due(self, now: datetime) -> list[resources.Job]:
        """Start, once each, the tasks with a cron slot since their last run (or creation)."""
        started = []
        for task in list(self.records.values()):
            since = parse_iso(task["last_run"]) or parse_iso(task["created"])
            if (not task["enabled"] or not task["cron"]
                    or not cron.missed(task["cron"], since, now)):
                continue
            try:
                started.append(self.run(task["id"]))
            except Exception as exc:
                log.warning("replication task %s did not start: %s", task["id"], exc)
            await self._save({**task, "last_run": iso(now)})
        return started
