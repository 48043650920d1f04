"""Replication: peers, tasks on cron, their runs as jobs, and replicas, in one place.

Intent (SQLite): peers ("replication_peer", by name), tasks ("replication_task", by id) and
replicas ("replica", see replicas.py). Shown in the tree at /replication/{identity, peers,
tasks}; each task also shows, per target, how its last run there went.

A run (a "replicate" job): take a read-only snapshot `repl-{task}-{UTC time}` of the share;
for each target at once, ask which of the share's snapshots it holds (by received UUID), send
incrementally from the newest one held (`btrfs send -p`), or in full the first time, and have
the target prune its older replicas; then prune the source's own. Retention never deletes,
on either side, the last snapshot common to the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import zmq
import zmq.asyncio

from rockd.config import Settings
from rockd.core.errors import BadRequest, Conflict, NotFound
from rockd.core.store import Store
from rockd.core.times import iso, parse_iso, utcnow
from rockd.core.tree import Tree
from rockd.jobs import cron, retention
from rockd.jobs.supervisor import Cancelled, Job, JobFailed, Jobs, Kind
from rockd.jobs.wakeup import run_on_cron
from rockd.storage.pools import Pools
from rockd.storage.shares import Shares
from rockd.transfer import keys, protocol
from rockd.transfer.pipes import btrfs_send
from rockd.transfer.receiver import Receiver
from rockd.transfer.replicas import Replicas
from rockd.transfer.sender import COMMIT_SECONDS, Link, PeerError

log = logging.getLogger(__name__)

REPORT_INTERVAL = 1.0


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def source_plan(snapshots: list[dict[str, Any]], task_id: str, policy: dict | None,
                protected: dict[str, str], now: datetime) -> list[retention.Decision]:
    """What the source's retention does with each snapshot of the share, and why.

    Only this task's snapshots (`repl-{task}-...`) are ever deleted; `protected` maps the
    snapshot ids that a target holds as its newest common one to that target's name: those
    are kept whatever the policy says, so the next run can still send incrementally.
    """
    items = []
    for snap in snapshots:
        when = protocol.snapshot_time(snap["name"])
        mine = when is not None and snap["name"].startswith(f"repl-{task_id}-")
        items.append((snap["id"], when if mine else (parse_iso(snap["created"]) or now), mine))
    if not policy:
        decisions = [retention.Decision(i, w, True, ("no retention policy: nothing is deleted",))
                     for i, w, _ in items]
    else:
        decisions = retention.plan(items, retention.Policy.parse(policy), now)
    out = []
    for d in decisions:
        if d.id in protected:
            reason = f"last snapshot common with {protected[d.id]}: kept for the next increment"
            d = retention.Decision(d.id, d.created, True,
                                   (*[r for r in d.reasons if d.keep], reason))
        out.append(d)
    return out


class ReplicateKind(Kind):
    """A task's run: see the module docstring. Cancel stops it between chunks."""

    name = "replicate"
    exclusive = False

    def __init__(self, replication: Replication):
        super().__init__()
        self.replication = replication

    async def run(self, job: Job) -> str:
        return await self.replication.run_job(job)

    async def cancel(self, job: Job) -> None:
        """The run sees job.requested at its next chunk, aborts on the peers, and ends."""


class Replication:
    """Everything of replication that the daemon holds."""

    def __init__(self, settings: Settings, tree: Tree, store: Store, jobs: Jobs, pools: Pools,
                 shares: Shares, clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.tree = tree
        self.store = store
        self.jobs = jobs
        self.pools = pools
        self.shares = shares
        self.clock = clock
        self.public, self.secret = keys.load_or_create(settings.state_dir / "replication")
        self.context = zmq.asyncio.Context()
        self.peers: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.replicas = Replicas(store, shares, self.peer_name)
        self.receiver = Receiver(self.context, self.public, self.secret, settings.zmq_listen,
                                 self.replicas, self.peer_name, self._prune_replica,
                                 idle=settings.replication_idle)
        self.receiver.clock = lambda: self.clock()
        self.running: dict[str, str] = {}  # task id -> job id
        self._changed = asyncio.Event()
        self._loop: asyncio.Task | None = None

    # -- life --------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the intent, show it, hook into shares and jobs (before the tree is observed)."""
        self.peers = await self.store.intents("replication_peer")
        self.tasks = await self.store.intents("replication_task")
        await self.replicas.load()
        self.shares.replica_of = self.replicas.marker
        self.jobs.register(ReplicateKind(self))
        old = self.tree.get("/replication/tasks") or {}
        with self.tree.transaction():
            self.tree.set("/replication", {
                "identity": {"public_key": self.public.decode(),
                             "listen": self.settings.zmq_listen},
                "peers": {name: self._peer_view(p) for name, p in self.peers.items()},
                "tasks": {}})
            for task in self.tasks.values():
                self._publish(task, (old.get(task["id"]) or {}).get("targets"))

    async def start(self) -> None:
        """Once pools and shares are observed: clean half-made receives, listen, schedule."""
        await self.receiver.clean()
        self.receiver.start()
        self.tree.set("/replication/identity/listening", self.receiver.listening)
        self._loop = asyncio.create_task(run_on_cron(
            self.run_due,
            lambda: [t["cron"] for t in self.tasks.values() if t["enabled"] and t["cron"]],
            self._changed, lambda: self.clock(), "replication tasks"),
            name="replication-schedule")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        await self.receiver.stop()
        self.context.destroy(linger=0)

    # -- identity and peers ------------------------------------------------------------------

    def identity(self, host: str | None = None) -> dict[str, Any]:
        """What a peer needs to pair with this box: the public key, and where to connect (a
        wildcard listen address is given as the host that the asker reached this box by)."""
        listen = self.settings.zmq_listen
        bind_host, _, port = listen.rpartition(":")
        if bind_host in ("0.0.0.0", "*", "[::]", "::") and host:  # noqa: S104
            bind_host = f"[{host}]" if ":" in host else host
        return {"public_key": self.public.decode(), "address": f"{bind_host}:{port}"}

    def peer_name(self, public_key: str) -> str | None:
        for peer in self.peers.values():
            if peer["public_key"] == public_key:
                return peer["name"]
        return None

    @staticmethod
    def _peer_view(peer: dict[str, Any]) -> dict[str, Any]:
        return {k: peer[k] for k in ("name", "address", "public_key", "created")}

    def get_peer(self, name: str) -> dict[str, Any]:
        peer = self.peers.get(name)
        if peer is None:
            raise NotFound(f"no peer {name}")
        return peer

    async def add_peer(self, name: str, address: str, public_key: str) -> dict[str, Any]:
        try:
            protocol.endpoint(address)
            protocol.endpoint(protocol.data_address(address))  # (its port + 1 takes data)
            keys.check_public_key(public_key)
        except ValueError as exc:
            raise BadRequest(str(exc), code="invalid_field") from None
        if name in self.peers:
            raise Conflict(f"peer {name} exists", code="exists")
        if public_key == self.public.decode():
            raise BadRequest("that is this box's own key", code="invalid_field")
        if self.peer_name(public_key) is not None:
            raise Conflict(f"peer {self.peer_name(public_key)} has that key", code="exists")
        peer = {"name": name, "address": address, "public_key": public_key,
                "created": iso(self.clock())}
        await self.store.set_intent("replication_peer", name, peer)
        self.peers[name] = peer
        self.tree.set(("replication", "peers", name), self._peer_view(peer))
        log.info("replication: paired with peer %s at %s", name, address)
        await self._refresh_replicas()
        return self._peer_view(peer)

    async def delete_peer(self, name: str) -> None:
        self.get_peer(name)
        users = [t["id"] for t in self.tasks.values()
                 if any(target["peer"] == name for target in t["targets"])]
        if users:
            raise Conflict(f"tasks {', '.join(users)} replicate to peer {name}: change or "
                           "delete them first", code="in_use", detail={"tasks": users})
        await self.store.delete_intent("replication_peer", name)
        del self.peers[name]
        self.tree.delete(("replication", "peers", name))
        log.info("replication: unpaired peer %s", name)
        await self._refresh_replicas()

    async def _refresh_replicas(self) -> None:
        """Replica markers name their peer: rescan the pools that hold replicas."""
        for pool_id in {r["pool"] for r in self.replicas.records.values()}:
            if self.tree.get(("pools", pool_id, "mounted")):
                self.shares.rescans.request(pool_id)

    # -- tasks -------------------------------------------------------------------------------

    def get_task(self, task_id: str) -> dict[str, Any]:
        task = self.tasks.get(task_id)
        if task is None:
            raise NotFound(f"no replication task {task_id}")
        return task

    def _publish(self, task: dict[str, Any], results: dict | None = None) -> None:
        current = self.tree.get(("replication", "tasks", task["id"])) or {}
        results = results if results is not None else current.get("targets") or {}
        last = {f"{t['peer']}/{t['pool']}": (results.get(f"{t['peer']}/{t['pool']}") or {})
                .get("last") for t in task["targets"]}
        next_run = (cron.next_run(task["cron"], self.clock())
                    if task["enabled"] and task["cron"] else None)
        self.tree.set(("replication", "tasks", task["id"]), {
            **task, "next_run": iso(next_run), "running": self.running.get(task["id"]),
            "targets": {k: {**t, "last": last[k]} for t, k in
                        ((t, f"{t['peer']}/{t['pool']}") for t in task["targets"])}})

    def _check(self, targets: list[dict[str, Any]], expr: str | None,
               policy: dict | None) -> str | None:
        seen = set()
        for target in targets:
            self.get_peer(target["peer"])
            where = (target["peer"], target["pool"])
            if where in seen:
                raise BadRequest(f"target {where[0]}/{where[1]} is named twice",
                                 code="invalid_field")
            seen.add(where)
        try:
            if expr is not None:
                expr = cron.validate(expr)
            for side in (policy or {}).values():
                if side is not None:
                    retention.Policy.parse(side)
        except ValueError as exc:
            raise BadRequest(str(exc), code="invalid_field") from None
        return expr

    async def _save(self, task: dict[str, Any]) -> dict[str, Any]:
        await self.store.set_intent("replication_task", task["id"], task)
        self.tasks[task["id"]] = task
        self._publish(task)
        self._changed.set()
        return self.tree.get(("replication", "tasks", task["id"]))

    async def create_task(self, share_id: str, targets: list[dict[str, Any]], expr: str | None,
                          policy: dict | None, enabled: bool) -> dict[str, Any]:
        share = self.shares.get(share_id)
        expr = self._check(targets, expr, policy)
        task = {"id": secrets.token_hex(4), "share": share_id, "share_name": share["name"],
                "targets": targets, "cron": expr, "retention": policy, "enabled": enabled,
                "created": iso(self.clock()), "last_run": None}
        return await self._save(task)

    async def update_task(self, task_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        task = {**self.get_task(task_id), **changes}
        task["cron"] = self._check(task["targets"], task["cron"], task["retention"])
        return await self._save(task)

    async def delete_task(self, task_id: str) -> None:
        self.get_task(task_id)
        await self.store.delete_intent("replication_task", task_id)
        del self.tasks[task_id]
        self.tree.delete(("replication", "tasks", task_id))
        self._changed.set()

    def run(self, task_id: str) -> dict[str, Any]:
        """Start a run of the task as a job; 409 while one runs."""
        task = self.get_task(task_id)
        if task_id in self.running:
            raise Conflict(f"task {task_id} is running (job {self.running[task_id]})",
                           code="busy", detail={"job": self.running[task_id]})
        share = self.shares.get(task["share"])
        job = self.jobs.start("replicate", share["id"], {"task": task_id})
        self.running[task_id] = job["id"]
        self._publish(task)
        return job

    # -- the schedule ------------------------------------------------------------------------

    async def run_due(self, now: datetime) -> list[dict[str, Any]]:
        """Start, once each, the tasks with a cron slot since their last run (or creation)."""
        started = []
        for task in list(self.tasks.values()):
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

    # -- a run -------------------------------------------------------------------------------

    async def run_job(self, job: Job) -> str:
        task_id = job.params["task"]
        try:
            return await self._run(job, self.get_task(task_id))
        finally:
            self.running.pop(task_id, None)
            if task_id in self.tasks:
                self._publish(self.tasks[task_id])

    async def _run(self, job: Job, task: dict[str, Any]) -> str:
        share = self.shares.get(task["share"])
        now = self.clock()
        name = protocol.snapshot_name(task["id"], now,
                                      {s["name"] for s in self._source_snapshots(share["id"])})
        job.update(detail=f"snapshot {name}", bytes=0)
        snapshot = await self.shares.snapshot(share["id"], name)
        progress = {f"{t['peer']}/{t['pool']}": 0 for t in task["targets"]}
        last_report = [0.0]

        def report(force: bool = False) -> None:
            moment = time.monotonic()
            if force or moment - last_report[0] >= REPORT_INTERVAL:
                last_report[0] = moment
                job.update(bytes=sum(progress.values()), detail="; ".join(
                    f"{k}: {_mib(v)} sent" for k, v in progress.items()))

        def sent_to(where: str) -> Callable[[int], None]:
            def sent(n: int) -> None:
                progress[where] += n
                report()
            return sent

        def check() -> None:
            if job.requested == "cancel":
                raise Cancelled

        outcomes = await asyncio.gather(
            *(self._send_to(task, share, snapshot, target, sent_to(where), check)
              for target, where in ((t, f"{t['peer']}/{t['pool']}") for t in task["targets"])),
            return_exceptions=True)
        report(force=True)
        results = (self.tree.get(("replication", "tasks", task["id"], "targets")) or {})
        results = {k: dict(v) for k, v in results.items()}
        held_by: dict[str, set[str]] = {}
        failures, lines = [], []
        for target, outcome in zip(task["targets"], outcomes, strict=True):
            where = f"{target['peer']}/{target['pool']}"
            last: dict[str, Any] = {"at": iso(self.clock()), "snapshot": name}
            if isinstance(outcome, BaseException):
                if isinstance(outcome, Cancelled | asyncio.CancelledError):
                    last.update(state="cancelled", error="cancelled")
                else:
                    last.update(state="failed", error=str(outcome))
                    failures.append(f"{where}: {outcome}")
            else:
                held_by[where] = outcome["held"]
                last.update(state="succeeded", bytes=outcome["bytes"],
                            incremental=outcome["parent"] is not None,
                            parent=outcome["parent"])
                lines.append(f"{where}: {_mib(outcome['bytes'])} "
                             + (f"incremental from {outcome['parent_name']}"
                                if outcome["parent"] else "in full"))
            results.setdefault(where, {})["last"] = last
        job.update(result={k: v["last"] for k, v in results.items()})
        if task["id"] in self.tasks:
            self._publish(task, results)
        if any(isinstance(o, Cancelled | asyncio.CancelledError) for o in outcomes):
            raise Cancelled
        lines.append(self._prune_source(task, share, held_by, now))
        if failures:
            raise JobFailed("; ".join(failures))
        return "; ".join(line for line in lines if line)

    async def _send_to(self, task: dict[str, Any], share: dict[str, Any],
                       snapshot: dict[str, Any], target: dict[str, Any],
                       sent: Callable[[int], None], check: Callable[[], None]
                       ) -> dict[str, Any]:
        """Send `snapshot` to one target; answers what the target holds afterwards."""
        peer = self.get_peer(target["peer"])
        name = target.get("name") or share["name"]
        where = {"pool": target["pool"], "name": name, "share": share["id"],
                 "share_name": share["name"], "task": task["id"]}
        async with Link(self.context, peer, self.public, self.secret,
                        idle=self.settings.replication_idle) as link:
            held = set((await link.call("held", **where))["held"])
            ours = sorted((s for s in (self.tree.get("/snapshots") or {}).values()
                           if s["share"] == share["id"] and s["read_only"]
                           and s["id"] != snapshot["id"]),
                          key=lambda s: s["subvolume_id"], reverse=True)
            parent = next((s for s in ours if s["id"] in held), None)
            if snapshot["id"] in held:
                return {"held": held, "bytes": 0, "parent": None, "parent_name": None}
            tid = protocol.transfer_id()
            begun = await link.call("begin", transfer=tid, snapshot=snapshot["name"],
                                    parent=parent["id"] if parent else None, **where)
            proc = stream = None
            try:
                proc, stream = await btrfs_send(snapshot["path"],
                                                parent["path"] if parent else None)
                errors = asyncio.ensure_future(proc.stderr.read())
                began = time.perf_counter()
                total, _ = await link.send_stream(tid, bytes.fromhex(begun["key"]),
                                                  begun["ticket"], stream, sent, check)
                streamed = time.perf_counter()
                stream.close()
                status = await proc.wait()
                if status != 0:
                    message = (await errors).decode(errors="replace").strip()
                    raise PeerError(f"btrfs send exited {status}: {message or 'no message'}")
                answer = await link.call("commit", timeout=COMMIT_SECONDS, transfer=tid)
            except BaseException:
                if proc is not None and proc.returncode is None:
                    proc.kill()
                    await proc.wait()
                if stream is not None:
                    stream.close()
                with contextlib.suppress(PeerError, zmq.ZMQError):
                    await link.call("abort", timeout=5.0, transfer=tid)
                raise
            done = time.perf_counter()
            log.info("replication: sent %s to %s/%s: %d bytes in %.2f s (%.0f MB/s), "
                     "committed in %.2f s", snapshot["name"], target["peer"], target["pool"],
                     total, streamed - began, total / max(streamed - began, 1e-6) / 1e6,
                     done - streamed)
            held.add(answer["received_uuid"])
            held.add(snapshot["id"])
            if ((task.get("retention") or {}).get("target")):
                try:
                    await link.call("prune", policy=task["retention"]["target"],
                                    source_holds=sorted(held & self._snapshot_ids(share)),
                                    **where)
                except PeerError as exc:
                    log.warning("replication: target retention on %s failed: %s",
                                target["peer"], exc)
            return {"held": held, "bytes": total, "parent": parent["id"] if parent else None,
                    "parent_name": parent["name"] if parent else None}

    def _snapshot_ids(self, share: dict[str, Any]) -> set[str]:
        return {s["id"] for s in (self.tree.get("/snapshots") or {}).values()
                if s["share"] == share["id"]}

    def _source_snapshots(self, share_id: str) -> list[dict[str, Any]]:
        return [s for s in (self.tree.get("/snapshots") or {}).values()
                if s["share"] == share_id]

    def protected(self, task: dict[str, Any], share_id: str,
                  held_by: dict[str, set[str]]) -> dict[str, str]:
        """Per target, the newest snapshot of the share it holds: {snapshot id: target}."""
        snaps = sorted(self._source_snapshots(share_id), key=lambda s: s["subvolume_id"],
                       reverse=True)
        out: dict[str, str] = {}
        for where, held in held_by.items():
            newest = next((s for s in snaps if s["id"] in held), None)
            if newest is not None:
                out.setdefault(newest["id"], where)
        return out

    def _prune_source(self, task: dict[str, Any], share: dict[str, Any],
                      held_by: dict[str, set[str]], now: datetime) -> str:
        policy = (task.get("retention") or {}).get("source")
        if not policy:
            return ""
        targets = {f"{t['peer']}/{t['pool']}" for t in task["targets"]}
        if set(held_by) != targets:
            return "source retention skipped: not every target answered"
        decisions = source_plan(self._source_snapshots(share["id"]), task["id"], policy,
                                self.protected(task, share["id"], held_by), now)
        doomed = [d.id for d in decisions if not d.keep]
        if not doomed:
            return ""
        paths = [self.tree.get(("snapshots", i, "path")) for i in doomed]
        self.jobs.start("prune", share["pool"], {"paths": paths, "task": task["id"]})
        return f"pruning {len(paths)} source snapshots"

    def _prune_replica(self, pool: dict[str, Any], paths: list[str]) -> dict | None:
        return self.jobs.start("prune", pool["id"], {"paths": paths, "replica": True})

    # -- replicas ----------------------------------------------------------------------------

    async def promote(self, share_id: str) -> dict[str, Any]:
        share = self.shares.get(share_id)
        for incoming in self.receiver.incoming.values():
            if (incoming.pool["id"] == share["pool"] and incoming.name == share["name"]
                    and not incoming.result.done()):
                raise Conflict(f"{share['name']} is receiving a transfer", code="busy")
        promoted = await self.replicas.promote(share)
        log.info("replication: promoted replica %s to a writable share", share["name"])
        return promoted
