"""A replication task's run, the "replicate" job, and the source's retention.

A run takes a read-only snapshot `repl-{task}-{UTC time}` of the share; for each target at
once, asks which of the share's snapshots it holds (by received UUID), sends incrementally from
the newest one held (`btrfs send -p`), or in full the first time, and has the target prune its
older replicas; then prunes the source's own (keep.py). Retention never deletes, on either side,
the last snapshot common to the two. A run whose snapshot reached no target deletes it. How each
target's last run went is shown on the task (tasks.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import zmq

from rockd.core.jobs import Cancelled, Job, JobFailed, Jobs, Kind
from rockd.core.plural import counted
from rockd.core.times import iso
from rockd.core.tree import Subtree
from rockd.storage.shares import Shares
from rockd.transfer import keep, protocol
from rockd.transfer.peers import Peers
from rockd.transfer.pipes import btrfs_send
from rockd.transfer.protocol import PeerError
from rockd.transfer.sender import COMMIT_SECONDS, Link
from rockd.transfer.tasks import Tasks, where

log = logging.getLogger(__name__)

REPORT_INTERVAL = 1.0


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


class Progress:
    """A run's bytes sent, per target, told to the job at most once a second."""

    def __init__(self, job: Job, targets: list[dict[str, Any]]):
        self.job = job
        self.sent = {where(t): 0 for t in targets}
        self.last = 0.0

    def to(self, target: str) -> Callable[[int], None]:
        def sent(n: int) -> None:
            self.sent[target] += n
            self.report()
        return sent

    def report(self, force: bool = False) -> None:
        moment = time.monotonic()
        if force or moment - self.last >= REPORT_INTERVAL:
            self.last = moment
            self.job.update(bytes=sum(self.sent.values()), detail="; ".join(
                f"{k}: {_mib(v)} sent" for k, v in self.sent.items()))


class ReplicateKind(Kind):
    """A task's run: see the module docstring. Cancel stops it between chunks."""

    name = "replicate"
    exclusive = False

    def __init__(self, tree: Subtree, jobs: Jobs, shares: Shares, peers: Peers, tasks: Tasks,
                 connect: Callable[[dict[str, Any]], Link], clock: Callable[[], datetime]):
        super().__init__()
        self.tree = tree
        self.jobs = jobs
        self.shares = shares
        self.peers = peers
        self.tasks = tasks
        self.connect = connect  # a Link to a peer
        self.clock = clock

    async def run(self, job: Job) -> str:
        task_id = job.params["task"]
        try:
            return await self._run(job, self.tasks.get(task_id))
        finally:
            self.tasks.ended(task_id)

    async def cancel(self, job: Job) -> None:
        """The run sees job.requested at its next chunk, aborts on the peers, and ends."""

    async def _run(self, job: Job, task: dict[str, Any]) -> str:
        share = self.shares.get(task["share"])
        now = self.clock()
        name = protocol.snapshot_name(task["id"], now,
                                      {s["name"] for s in self._source_snapshots(share["id"])})
        job.update(detail=f"snapshot {name}", bytes=0)
        snapshot = await self.shares.snapshot(share["id"], name)
        progress = Progress(job, task["targets"])

        def check() -> None:
            if job.requested == "cancel":
                raise Cancelled

        outcomes = await asyncio.gather(
            *(self._send_to(task, share, snapshot, t, progress.to(where(t)), check)
              for t in task["targets"]), return_exceptions=True)
        progress.report(force=True)
        held_by, failures, lines = self._record(job, task, name, outcomes)
        if not held_by:
            lines.append(await self._drop(snapshot))
        if any(isinstance(o, Cancelled | asyncio.CancelledError) for o in outcomes):
            raise Cancelled
        lines.append(self._prune_source(task, share, held_by, now))
        if failures:
            raise JobFailed("; ".join(failures))
        return "; ".join(line for line in lines if line)

    def _record(self, job: Job, task: dict[str, Any], name: str, outcomes: list[Any]
                ) -> tuple[dict[str, set[str]], list[str], list[str]]:
        """Show how the run went on each target (on the job and the task); answers what each
        target holds now, the failures and the lines of the job's result."""
        results = (self.tree.get(("replication", "tasks", task["id"], "targets")) or {})
        results = {k: dict(v) for k, v in results.items()}
        held_by: dict[str, set[str]] = {}
        failures, lines = [], []
        for target, outcome in zip(task["targets"], outcomes, strict=True):
            last: dict[str, Any] = {"at": iso(self.clock()), "snapshot": name}
            if isinstance(outcome, BaseException):
                if isinstance(outcome, Cancelled | asyncio.CancelledError):
                    last.update(state="cancelled", error="cancelled")
                else:
                    last.update(state="failed", error=str(outcome))
                    failures.append(f"{where(target)}: {outcome}")
            else:
                held_by[where(target)] = outcome["held"]
                last.update(state="succeeded", bytes=outcome["bytes"],
                            incremental=outcome["parent"] is not None,
                            parent=outcome["parent"])
                lines.append(f"{where(target)}: {_mib(outcome['bytes'])} "
                             + (f"incremental from {outcome['parent_name']}"
                                if outcome["parent"] else "in full"))
            results.setdefault(where(target), {})["last"] = last
        job.update(result={k: v["last"] for k, v in results.items()})
        if task["id"] in self.tasks.records:
            self.tasks.publish(task, results)
        return held_by, failures, lines

    async def _send_to(self, task: dict[str, Any], share: dict[str, Any],
                       snapshot: dict[str, Any], target: dict[str, Any],
                       sent: Callable[[int], None], check: Callable[[], None]
                       ) -> dict[str, Any]:
        """Send `snapshot` to one target; answers what the target holds afterwards."""
        peer = self.peers.get(target["peer"])
        name = target.get("name") or share["name"]
        place = {"pool": target["pool"], "name": name, "share": share["id"],
                 "share_name": share["name"], "task": task["id"]}
        async with self.connect(peer) as link:
            held = set((await link.call("held", **place))["held"])
            ours = sorted((s for s in self._source_snapshots(share["id"])
                           if s["read_only"] and s["id"] != snapshot["id"]),
                          key=lambda s: s["subvolume_id"], reverse=True)
            parent = next((s for s in ours if s["id"] in held), None)
            if snapshot["id"] in held:
                return {"held": held, "bytes": 0, "parent": None, "parent_name": None}
            answer, total = await self._stream(link, snapshot, parent, place, sent, check)
            held.add(answer["received_uuid"])
            held.add(snapshot["id"])
            if (task.get("retention") or {}).get("target"):
                try:
                    await link.call("prune", policy=task["retention"]["target"],
                                    source_holds=sorted(held & self._snapshot_ids(share)),
                                    **place)
                except PeerError as exc:
                    log.warning("replication: target retention on %s failed: %s",
                                target["peer"], exc)
            return {"held": held, "bytes": total, "parent": parent["id"] if parent else None,
                    "parent_name": parent["name"] if parent else None}

    async def _stream(self, link: Link, snapshot: dict[str, Any], parent: dict[str, Any] | None,
                      place: dict[str, Any], sent: Callable[[int], None],
                      check: Callable[[], None]) -> tuple[dict, int]:
        """`btrfs send` of `snapshot` (from `parent`) through `link` into the target's `place`,
        committed there; answers the commit's answer and the bytes sent. Aborted on the
        target on any failure."""
        tid = protocol.transfer_id()
        begun = await link.call("begin", transfer=tid, snapshot=snapshot["name"],
                                parent=parent["id"] if parent else None, **place)
        proc = stream = None
        try:
            proc, stream = await btrfs_send(snapshot["path"], parent["path"] if parent else None)
            assert proc.stderr is not None
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
                 "committed in %.2f s", snapshot["name"], link.peer["name"], place["pool"],
                 total, streamed - began, total / max(streamed - began, 1e-6) / 1e6,
                 done - streamed)
        return answer, total

    def _snapshot_ids(self, share: dict[str, Any]) -> set[str]:
        return {s["id"] for s in self._source_snapshots(share["id"])}

    def _source_snapshots(self, share_id: str) -> list[dict[str, Any]]:
        return [s for s in (self.tree.get("/snapshots") or {}).values()
                if s["share"] == share_id]

    async def _drop(self, snapshot: dict[str, Any]) -> str:
        """Delete the run's snapshot, which reached no target (it is no one's base)."""
        try:
            await self.shares.delete_snapshot(snapshot["id"])
        except Exception as exc:
            log.warning("replication: could not delete %s: %s", snapshot["name"], exc)
            return f"snapshot {snapshot['name']} reached no target and was not deleted: {exc}"
        return f"snapshot {snapshot['name']} reached no target: deleted"

    def _prune_source(self, task: dict[str, Any], share: dict[str, Any],
                      held_by: dict[str, set[str]], now: datetime) -> str:
        """Delete, in a job, the task's snapshots that its source retention lets go."""
        if set(held_by) != {where(t) for t in task["targets"]}:
            return "source retention skipped: not every target answered"
        snapshots = self._source_snapshots(share["id"])
        protected = keep.newest_held(snapshots, held_by)
        reached = set().union(*held_by.values())
        doomed = [str(d.id) for d in keep.plan(snapshots, task, protected, now, reached)
                  if not d.keep]
        if not doomed:
            return ""
        paths = [self.tree.get(("snapshots", i, "path")) for i in doomed]
        self.jobs.start("prune", share["pool"], {"paths": paths, "task": task["id"]})
        return f"pruning {counted(len(paths), 'source snapshot')}"
