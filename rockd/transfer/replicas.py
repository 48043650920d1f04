"""Replicas on the receiving box: where received snapshots live, and what is made of them.

A replica of share S received into pool P under name N is laid out as a share and its
snapshots are, so the rest of rockd shows it as such:

    P/.snapshots/N/{sent name}   every snapshot received, read-only with a received UUID,
                                 under the name it was sent with; `btrfs receive` writes here
    P/N                          the share: a read-only snapshot of the newest one received
                                 (it inherits the received UUID, so it is held as well)

btrfs cannot move a read-only subvolume to another folder (rename answers EROFS, measured on
kernel 6.18), and making it writable to move it clears its received UUID, so a received
subvolume is never moved: `btrfs receive` writes straight into the replica's snapshot folder,
the path it writes is recorded as intent ("replica_receiving") before it starts, and it is
deleted on any failure, or at the next start if rockd died meanwhile. Only once its stream's
checksum matched and btrfs made it read-only with a received UUID does it become the head.

Which shares are replicas, and of what, is intent too (kind "replica", key "{pool}/{N}"): the
sending peer's key, the source share's id and name, the task, and the name of the head's
snapshot. A promoted replica keeps its record, marked promoted, so that the task's chain ends
there: a later transfer into it is refused while the promoted share exists.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rockd.core import resources
from rockd.core.errors import Conflict, Unprocessable
from rockd.core.process import run
from rockd.core.store import Store
from rockd.jobs import retention
from rockd.storage import btrfs
from rockd.storage.share_probe import SNAPSHOTS
from rockd.storage.shares import Shares
from rockd.transfer.protocol import snapshot_time

log = logging.getLogger(__name__)

SUBVOLUME_INODE = 256


def key(pool_id: str, name: str) -> str:
    return f"{pool_id}/{name}"


def is_subvolume(path: Path | str) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return st.st_ino == SUBVOLUME_INODE and os.path.isdir(path)


async def delete_subvolume(path: Path | str) -> bool:
    """Delete the subvolume at `path` if there is one; answers whether there was."""
    if not is_subvolume(path):
        return False
    await run(["btrfs", "subvolume", "delete", str(path)], timeout=600)
    return True


class Replicas:
    """The replica records, and the layout on disk that they describe."""

    def __init__(self, store: Store, shares: Shares, peer_name):
        self.store = store
        self.shares = shares
        self.pools = shares.pools
        self.tree = shares.tree
        self.peer_name = peer_name  # public key -> peer name or None
        self.records: dict[str, dict[str, Any]] = {}
        self.receiving: dict[str, dict[str, Any]] = {}

    async def load(self) -> None:
        self.records = await self.store.intents("replica")
        self.receiving = await self.store.intents("replica_receiving")

    def marker(self, pool_id: str, name: str) -> resources.ReplicaSource | None:
        """What /shares/{id}/replica shows: the source of a replica, or None."""
        record = self.records.get(key(pool_id, name))
        if record is None or record.get("promoted"):
            return None
        return {"peer": self.peer_name(record["peer_key"]) or record["peer_key"],
                "share": record["source_name"], "share_id": record["source_share"],
                "task": record["task"], "snapshot": record["head"]}

    async def save(self, record: dict[str, Any]) -> None:
        k = key(record["pool"], record["name"])
        self.records[k] = record
        await self.store.set_intent("replica", k, record)

    def pool_by_name(self, name: str) -> dict[str, Any]:
        for pool in (self.tree.get("/pools") or {}).values():
            if pool["name"] == name:
                return self.pools.mounted(pool["id"])
        raise Unprocessable(f"no pool named {name} here", code="unknown_pool")

    @staticmethod
    def folder(pool: dict[str, Any], name: str) -> Path:
        return Path(pool["mount_point"]) / SNAPSHOTS / name

    # -- what a replica holds ----------------------------------------------------------------

    async def held(self, pool: dict[str, Any], name: str) -> list[dict[str, Any]]:
        """The read-only received subvolumes of replica `name`: its snapshots and its head."""
        subs = await btrfs.subvolumes(pool["mount_point"])
        found = []
        for sub in subs:
            path = sub["path"]
            mine = path == name or (path.startswith(f"{SNAPSHOTS}/{name}/")
                                    and path.count("/") == 2)
            if mine and sub["read_only"] and sub["received_uuid"]:
                found.append({"received_uuid": sub["received_uuid"], "uuid": sub["uuid"],
                              "path": path, "head": path == name,
                              "name": path.rsplit("/", 1)[-1]})
        return found

    def check_target(self, pool: dict[str, Any], name: str, peer_key: str,
                     source_share: str) -> dict[str, Any] | None:
        """The replica record that `name` in `pool` continues, None for a new replica, or 409
        when the name is a share of its own, another source's replica, or promoted."""
        record = self.records.get(key(pool["id"], name))
        head = Path(pool["mount_point"]) / name
        if record is not None and record.get("promoted"):
            if os.path.lexists(head):
                raise Conflict(f"{name} on pool {pool['name']} was promoted to a writable "
                               "share: the replication chain ended there", code="promoted")
            return None  # promoted, then deleted: the name is free again
        if record is not None:
            if record["peer_key"] != peer_key or record["source_share"] != source_share:
                raise Conflict(f"{name} on pool {pool['name']} is a replica of another "
                               "share", code="exists")
            return record
        if os.path.lexists(head):
            raise Conflict(f"{name} on pool {pool['name']} is a share of that box's own",
                           code="exists")
        return None

    # -- receiving ---------------------------------------------------------------------------

    async def begin(self, tid: str, pool: dict[str, Any], name: str, sent_name: str) -> Path:
        """Where `btrfs receive` is to write, recorded first so that it is deleted if rockd
        dies before the subvolume is verified; a half-made one of that name goes first."""
        folder = self.folder(pool, name)
        path = folder / sent_name
        if is_subvolume(path):
            if sent_name in {h["name"] for h in await self.held(pool, name)}:
                raise Conflict(f"{sent_name} was received already", code="exists")
            log.warning("replication: deleting %s, a half-made earlier receive", path)
            await delete_subvolume(path)
        self.receiving[tid] = {"pool": pool["id"], "path": str(path)}
        await self.store.set_intent("replica_receiving", tid, self.receiving[tid])
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    async def discard(self, tid: str) -> None:
        """Delete what transfer `tid` made (anything at its path), and its record."""
        entry = self.receiving.pop(tid, None)
        if entry is None:
            return
        try:
            if await delete_subvolume(entry["path"]):
                log.warning("replication: deleted %s, an unfinished receive", entry["path"])
        finally:
            await self.store.delete_intent("replica_receiving", tid)

    async def finished(self, tid: str) -> None:
        if self.receiving.pop(tid, None) is not None:
            await self.store.delete_intent("replica_receiving", tid)

    async def clean(self) -> set[str]:
        """At start-up: delete every receive that rockd did not see to its end; answers the
        pools that changed."""
        changed = set()
        for tid, entry in list(self.receiving.items()):
            if not self.tree.get(("pools", entry["pool"], "mounted")):
                continue  # its pool is not mounted now: next time
            await self.discard(tid)
            changed.add(entry["pool"])
        return changed

    async def place(self, pool: dict[str, Any], name: str, sent_name: str,
                    record: dict[str, Any]) -> None:
        """Make the verified `.snapshots/{name}/{sent_name}` the replica's head: the share at
        `{pool}/{name}` becomes a read-only snapshot of it."""
        head = Path(pool["mount_point"]) / name
        await delete_subvolume(head)
        await run(["btrfs", "subvolume", "snapshot", "-r",
                   str(self.folder(pool, name) / sent_name), str(head)])
        await self.save({**record, "head": sent_name})

    async def promote(self, share: dict[str, Any]) -> dict[str, Any]:
        """A replica becomes a normal writable share: a writable snapshot of the newest one
        received takes the read-only head's place. (Flipping the head's `ro` would clear its
        received UUID, and the snapshots received stay as they are.)"""
        record = self.records.get(key(share["pool"], share["name"]))
        if record is None or record.get("promoted"):
            raise Unprocessable(f"share {share['name']} is not a replica", code="not_a_replica")
        pool = self.pools.mounted(share["pool"])
        head = Path(pool["mount_point"]) / share["name"]
        newest = self.folder(pool, share["name"]) / record["head"]
        if not is_subvolume(newest):
            raise Conflict(f"{newest} is gone: the replica cannot be promoted", code="gone")
        await delete_subvolume(head)
        await run(["btrfs", "subvolume", "snapshot", str(newest), str(head)])
        await self.save({**record, "promoted": datetime.now(UTC).isoformat()})
        await self.shares.settled(pool["id"])
        for item in (self.tree.get("/shares") or {}).values():
            if item["path"] == str(head):
                return item
        raise RuntimeError(f"{head} did not appear after it was made")

    # -- retention ---------------------------------------------------------------------------

    async def prune_plan(self, pool: dict[str, Any], name: str, policy: dict[str, Any],
                         source_holds: set[str], now: datetime) -> list[str]:
        """Paths of the replica's received snapshots that the target retention lets go: never
        the head's, never the newest one the source still holds (the last common snapshot),
        and never one whose name rockd did not give."""
        held = [h for h in await self.held(pool, name) if not h["head"]]
        record = self.records.get(key(pool["id"], name)) or {}
        keep = {h["path"] for h in held if h["name"] == record.get("head")}
        common = [h for h in held if h["received_uuid"] in source_holds]
        if common:
            keep.add(max(common, key=lambda h: snapshot_time(h["name"]) or now)["path"])
        items = []
        for h in held:
            when = snapshot_time(h["name"])
            items.append((h["path"], when or now, when is not None and h["path"] not in keep))
        decisions = retention.plan(items, retention.Policy.parse(policy), now)
        root = pool["mount_point"]
        return [f"{root}/{d.id}" for d in decisions if not d.keep and d.id not in keep]
