"""Shares and snapshots: the subvolumes of each mounted pool, observed into /shares and
/snapshots, and the actions on them.

A share is a subvolume directly under a pool's root; a snapshot lives at
`.snapshots/{share}/{name}`. Any subvolume made by hand in those places is a share or a
snapshot all the same: `rescan_pool` lists what is there (share_probe) and sets exactly that,
after every rescan of the pool (Shares is a PoolFollower). What a request may say is checked
in share_input.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from rockd.core import resources
from rockd.core.errors import Conflict, Unprocessable
from rockd.core.jobs import Job
from rockd.core.process import CommandError, run
from rockd.core.rescan import Rescanner
from rockd.core.store import Store
from rockd.core.tree import Subtree
from rockd.storage import roottree, share_probe
from rockd.storage.pools import Pools
from rockd.storage.share_input import attributes, check_quota
from rockd.storage.share_probe import SNAPSHOTS
from rockd.storage.share_writers import How, let_write

log = logging.getLogger(__name__)


class ShareReferrer(Protocol):
    """What else refers to shares (exports, apps): a share is not deleted while it is referred
    to, unless asked with force, which ends the references first."""

    refers_as: str  # what the references are called in the answer ("exports", "apps")

    def count_of_share(self, share_id: str) -> int:
        """How many references to the share there are."""

    async def remove_of_share(self, share_id: str) -> None:
        """End every reference to the share (it is being deleted with force)."""


class ShareFollower(Protocol):
    """What serves shares and their snapshots (exports): told when the shares or snapshots
    the tree holds have changed."""

    def shares_changed(self) -> None:
        """The shares or snapshots changed: serve what is there now."""


class ReplicaRecords(Protocol):
    """Where a share's replica marker comes from (replication)."""

    def marker(self, pool_id: str, name: str) -> resources.ReplicaSource | None:
        """The source of the share `name` on pool `pool_id` if it is a replica, else None."""


class Shares:
    """/shares and /snapshots in the tree, and what can be done to them."""

    def __init__(self, tree: Subtree, store: Store, pools: Pools):
        self.tree = tree
        self.store = store
        self.pools = pools
        self.rescans = Rescanner("subvolumes", self.rescan_pool)
        self.visible: dict[str, dict] = {}
        self.quotas: dict[str, dict] = {}
        self.read_caches: dict[str, roottree.ItemCache] = {}  # each pool's, kept between reads
        self.held: dict[str, dict[str, set[str]]] | None = None  # pool -> kind -> ids in tree
        self.first_scans: dict[str, tuple[float, float]] = {}  # pool -> (CPU ms, wall ms)
        self.referrers: list[ShareReferrer] = []  # exports, apps: see `refer`
        self.followers: list[ShareFollower] = []  # exports: see `tell`
        self.replicas: ReplicaRecords | None = None  # see `mark_replicas_from`

    def refer(self, referrer: ShareReferrer) -> None:
        """Count `referrer`'s references before a share is deleted."""
        self.referrers.append(referrer)

    def tell(self, follower: ShareFollower) -> None:
        """Tell `follower` whenever the shares or snapshots change."""
        self.followers.append(follower)

    def mark_replicas_from(self, records: ReplicaRecords) -> None:
        """Show each share's replica marker (/shares/{id}/replica) as `records` says."""
        self.replicas = records

    def _replica_of(self, pool_id: str, name: str) -> resources.ReplicaSource | None:
        return self.replicas.marker(pool_id, name) if self.replicas is not None else None

    def _changed_since(self, rev: int) -> None:
        """Tell the followers, if the tree moved on since `rev`."""
        if self.tree.rev != rev:
            for follower in self.followers:
                follower.shares_changed()

    async def load(self) -> None:
        self.visible = await self.store.intents("snapshot")
        self.quotas = await self.store.intents("share")
        self.rescans.start()

    async def reconcile(self) -> None:
        """At start-up, once the pools are seen: put back quotas that drifted (logged)."""
        await self.rescans.settle()  # each pool's rescan asked for its subvolumes' one
        for pool in (self.tree.get("/pools") or {}).values():
            if pool["id"] in self.first_scans and self.held is not None:
                cpu, wall = self.first_scans[pool["id"]]
                log.info("start-up scan of pool %s: %d subvolumes in %.1f ms of CPU "
                         "(%.1f ms from its start to its end)", pool["name"],
                         sum(len(ids) for ids in self.held.get(pool["id"], {}).values()),
                         cpu, wall)
        for share_id, intent in list(self.quotas.items()):
            share = self.tree.get(("shares", share_id))
            if share is None:
                continue  # its pool is not mounted now, or the share is gone
            if share["quota"] != intent["quota"]:
                log.warning("share %s drifted: quota %s, wanted %s; setting it again",
                            share["name"], share["quota"], intent["quota"])
                pool = self.pools.mounted(share["pool"])
                await self._set_quota(Path(share["path"]), intent["quota"], pool)
                await self.settled(share["pool"])

    # -- observing --------------------------------------------------------------------------

    def pool_rescanned(self, pool_id: str, mount_points: Mapping[str, str]) -> None:
        """A pool was read again (a PoolFollower): its subvolumes are read again too."""
        self.rescans.request(pool_id)

    def _held_by(self, pool_id: str) -> dict[str, set[str]]:
        """The ids of the pool's shares and snapshots in the tree (an index built from the tree
        once, then kept by `rescan_pool`, the only writer of entries: a pool's scan never walks
        the other pools' entries)."""
        if self.held is None:
            self.held = {}
            for kind in ("shares", "snapshots"):
                for item_id, item in (self.tree.get(f"/{kind}") or {}).items():
                    self.held.setdefault(item["pool"], {"shares": set(), "snapshots": set()})[
                        kind].add(item_id)
        return self.held.setdefault(pool_id, {"shares": set(), "snapshots": set()})

    async def rescan_pool(self, pool_id: str) -> None:
        """Read the pool's subvolumes and set its shares and snapshots to what is there. The
        pool's read cache (roottree.ItemCache) leaves out the formatting of what did not change
        since its last read; what is unchanged in the tree is not set again."""
        started = time.perf_counter()
        pool = self.tree.get(("pools", pool_id))
        shares: dict[str, resources.Share] = {}
        snapshots: dict[str, resources.Snapshot] = {}
        cache = self.read_caches.setdefault(pool_id, roottree.ItemCache())
        cache.cpu_seconds = 0.0
        if pool and pool["mounted"]:
            root = pool["mount_point"]
            subvolumes, qgroups = await share_probe.subvolumes(pool_id, root, cache)
        cpu = time.thread_time()
        if pool and pool["mounted"]:
            shares, snapshots = share_probe.sort(pool_id, root, subvolumes, qgroups,
                                                 self.visible, self._replica_of)
        before = self.tree.rev
        held = self._held_by(pool_id)
        with self.tree.transaction():
            for kind, found in (("shares", shares), ("snapshots", snapshots)):
                for item_id in held[kind].difference(found):
                    self.tree.delete((kind, item_id))
                known = self.tree.get(f"/{kind}") or {}
                for item_id, item in found.items():
                    if known.get(item_id) != item:  # most are unchanged: skip their diff
                        self.tree.set((kind, item_id), item)
                held[kind] = set(found)
        cpu = (time.thread_time() - cpu + cache.cpu_seconds) * 1000
        wall = (time.perf_counter() - started) * 1000
        self._changed_since(before)
        self.first_scans.setdefault(pool_id, (cpu, wall))
        log.debug("scanned %d shares and %d snapshots of pool %s in %.1f ms of CPU", len(shares),
                  len(snapshots), pool_id, cpu)

    async def settled(self, pool_id: str) -> None:
        self.rescans.request(pool_id)
        await self.rescans.settle()

    def job_ended(self, job: Job) -> None:
        """A job deleted subvolumes of the pool it ran on: they are read back."""
        self.rescans.request(job.target)

    async def job_settled(self) -> None:
        await self.rescans.settle()

    def get(self, share_id: str) -> dict[str, Any]:
        return self.tree.resource("shares", share_id)

    def get_snapshot(self, snapshot_id: str) -> dict[str, Any]:
        return self.tree.resource("snapshots", snapshot_id)

    def _by_path(self, kind: str, path: str) -> dict[str, Any]:
        for item in (self.tree.get(f"/{kind}") or {}).values():
            if item["path"] == path:
                return item
        raise RuntimeError(f"{path} did not appear after it was made")

    # -- actions ----------------------------------------------------------------------------

    @staticmethod
    def _free(path: Path) -> None:
        if os.path.lexists(path):
            raise Conflict(f"{path.name} exists", code="exists")

    async def create(self, pool_id: str, name: str, quota: int | None = None,
                     compression: str | None = None, owner: str | None = None,
                     group: str | None = None, mode: str | None = None) -> dict[str, Any]:
        pool = self.pools.writable(pool_id)
        attrs = attributes(owner, group, mode, compression)
        check_quota(quota, pool)
        path = Path(pool["mount_point"]) / name
        self._free(path)
        await run(["btrfs", "subvolume", "create", str(path)])
        try:
            await self._apply(path, attrs, quota, pool)
        except Exception:
            await run(["btrfs", "subvolume", "delete", str(path)], check=False)
            raise
        await self.settled(pool_id)
        share = self._by_path("shares", str(path))
        if quota is not None:
            await self._remember_quota(share["id"], quota)
        return share

    async def _apply(self, path: Path, attrs: dict[str, Any], quota: int | bool | None,
                     pool: dict[str, Any]) -> None:
        if "uid" in attrs or "gid" in attrs:
            os.chown(path, attrs.get("uid", -1), attrs.get("gid", -1))
        if "mode" in attrs:
            os.chmod(path, attrs["mode"])
        if "compression" in attrs:
            await run(["btrfs", "property", "set", str(path), "compression",
                       attrs["compression"]])
        if quota is not False:
            await self._set_quota(path, quota, pool)

    async def _remember_quota(self, share_id: str, quota: int | None) -> None:
        if quota is None:
            if self.quotas.pop(share_id, None) is not None:
                await self.store.delete_intent("share", share_id)
        else:
            self.quotas[share_id] = {"quota": quota}
            await self.store.set_intent("share", share_id, {"quota": quota})

    async def _set_quota(self, path: Path, quota: int | None, pool: dict[str, Any]) -> None:
        if quota is None:
            if pool["quotas"]:
                await run(["btrfs", "qgroup", "limit", "none", str(path)])
            return
        if not pool["quotas"]:
            await run(["btrfs", "quota", "enable", pool["mount_point"]], timeout=600)
            await self.pools.settle(pool["id"])  # the pool shows quotas on before we answer
        await run(["btrfs", "qgroup", "limit", str(quota), str(path)])

    async def update(self, share_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        share = self.get(share_id)
        pool = self.pools.mounted(share["pool"])
        attrs = attributes(changes.get("owner"), changes.get("group"), changes.get("mode"),
                                 changes.get("compression"))
        quota = changes.get("quota", False)
        check_quota(quota or None, pool)
        await self._apply(Path(share["path"]), attrs, quota, pool)
        await self.settled(share["pool"])
        return self.get(share_id)

    async def let_write(self, share_id: str, user: str, how: How) -> dict[str, Any]:
        """Let `user` write to the share's root folder (rockd.storage.share_writers)."""
        share = self.get(share_id)
        self.pools.mounted(share["pool"])
        let_write(share, user, how)
        await self.settled(share["pool"])
        return self.get(share_id)

    def _snapshots_of(self, share_id: str) -> list[dict[str, Any]]:
        return [s for s in (self.tree.get("/snapshots") or {}).values()
                if s["share"] == share_id]

    async def delete(self, share_id: str, force: bool) -> None:
        share = self.get(share_id)
        snapshots = self._snapshots_of(share_id)
        held = {"snapshots": len(snapshots),
                **{r.refers_as: r.count_of_share(share_id) for r in self.referrers}}
        if any(held.values()) and not force:
            said = " and ".join(f"{n} {what}" for what, n in held.items() if n)
            raise Conflict(f"share {share['name']} has {said}; delete them or ask with "
                           "force=true", code="not_empty", detail=held)
        for referrer in self.referrers:
            if referrer.count_of_share(share_id):
                await referrer.remove_of_share(share_id)
        paths = [s["path"] for s in snapshots] + [share["path"]]
        try:
            await run(["btrfs", "subvolume", "delete", "--commit-after", *paths], timeout=600)
        except CommandError as exc:
            raise Conflict(f"could not delete share {share['name']}: {exc.stderr}",
                           code="busy") from None
        await self._remember_quota(share_id, None)
        await self.settled(share["pool"])

    async def clone(self, source: dict[str, Any], name: str) -> dict[str, Any]:
        """A writable snapshot of a share or snapshot, as a new share of the same pool."""
        pool = self.pools.writable(source["pool"])
        path = Path(pool["mount_point"]) / name
        self._free(path)
        await run(["btrfs", "subvolume", "snapshot", source["path"], str(path)])
        await self.settled(pool["id"])
        return self._by_path("shares", str(path))

    async def snapshot(self, share_id: str, name: str, writable: bool = False,
                       visible: bool = False) -> dict[str, Any]:
        share = self.get(share_id)
        pool = self.pools.writable(share["pool"])
        folder = Path(pool["mount_point"]) / SNAPSHOTS / share["name"]
        path = folder / name
        self._free(path)
        folder.mkdir(parents=True, exist_ok=True)
        argv = ["btrfs", "subvolume", "snapshot"] + ([] if writable else ["-r"])
        await run([*argv, share["path"], str(path)])
        await self.settled(pool["id"])
        snapshot = self._by_path("snapshots", str(path))
        if visible:
            await self.set_visible(snapshot["id"], True)
            snapshot = self.get_snapshot(snapshot["id"])
        return snapshot

    async def set_visible(self, snapshot_id: str, visible: bool) -> None:
        self.get_snapshot(snapshot_id)  # 404 for an unknown one
        if visible:
            self.visible[snapshot_id] = {"visible": True}
            await self.store.set_intent("snapshot", snapshot_id, {"visible": True})
        else:
            self.visible.pop(snapshot_id, None)
            await self.store.delete_intent("snapshot", snapshot_id)
        self.tree.set(("snapshots", snapshot_id, "visible"), visible)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        snapshot = self.get_snapshot(snapshot_id)
        await run(["btrfs", "subvolume", "delete", "--commit-after", snapshot["path"]],
                  timeout=600)
        if self.visible.pop(snapshot_id, None) is not None:
            await self.store.delete_intent("snapshot", snapshot_id)
        await self.settled(snapshot["pool"])

    async def rollback(self, share_id: str, snapshot_id: str) -> dict[str, Any]:
        """Make the share's content the snapshot's, keeping the share (and its id).

        The share's current state is first kept as a read-only snapshot; only once the
        snapshot's content is in place is that safety copy deleted. On any failure the share
        is put back from it.
        """
        share = self.get(share_id)
        snapshot = self.get_snapshot(snapshot_id)
        if snapshot["share"] != share_id:
            raise Unprocessable("that snapshot is not of this share", code="wrong_share")
        pool = self.pools.mounted(share["pool"])
        nested = [s for s in (self.tree.get("/shares") or {}).values()
                  if s["path"].startswith(share["path"] + "/")]
        if nested:
            raise Conflict("the share holds other subvolumes", code="busy")
        folder = Path(pool["mount_point"]) / SNAPSHOTS / share["name"]
        safety = folder / f"rollback-{int(time.time())}"
        folder.mkdir(parents=True, exist_ok=True)
        await run(["btrfs", "subvolume", "snapshot", "-r", share["path"], str(safety)])
        try:
            await self._replace_content(Path(share["path"]), Path(snapshot["path"]))
        except Exception:
            log.exception("rollback of %s failed; restoring its previous content",
                          share["name"])
            await self._replace_content(Path(share["path"]), safety)
            raise
        await run(["btrfs", "subvolume", "delete", str(safety)])
        await self.settled(pool["id"])
        return self.get(share_id)

    async def _replace_content(self, target: Path, source: Path) -> None:
        def empty() -> None:
            for entry in os.scandir(target):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)

        await asyncio.to_thread(empty)
        await run(["cp", "-a", "--reflink=always", f"{source}/.", f"{target}/"], timeout=86400)
