"""System events, derived from the state tree as it changes: a tree listener that keeps a short
summary of each thing it follows (a disk's presence, a pool's mount and health, a job's state,
a service's, the Docker engine's, a replication peer's) and, for each revision that touches
one, compares the summary before and after and records what changed, in words.

The summaries start from the tree as it was loaded, so a restart repeats nothing; what changed
while rockd was down (a disk pulled) is recorded when the first scan finds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from rockd.core.tree import Revision, Subtree

Summary = dict[str, Any] | None
Said = tuple[str, str]  # (kind, message)
ENDED = ("succeeded", "failed", "cancelled")


def _size(size: Any) -> str:
    value = float(size or 0)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


# -- what each followed thing is summarised as, and what a change of summary says ------------

def disk_summary(disk: Any) -> Summary:
    return {"name": disk.get("name"), "size": disk.get("size"), "model": disk.get("model"),
            "pool": disk.get("pool")}


def disk_said(tree: Subtree, old: Summary, new: Summary) -> Iterator[Said]:
    if old is None and new is not None:
        model = f"{new['model']}, " if new["model"] else ""
        yield "disk_appeared", f"Disk {new['name']} appeared ({model}{_size(new['size'])})."
    elif new is None and old is not None:
        pool = tree.get(("pools", old["pool"] or "", "name")) if old["pool"] else None
        where = f", a disk of pool {pool}" if pool else ""
        yield "disk_gone", f"Disk {old['name']} is gone ({_size(old['size'])}{where})."


def pool_summary(pool: Any) -> Summary:
    return {"name": pool.get("name"), "mounted": pool.get("mounted"),
            "mount_point": pool.get("mount_point"), "degraded": pool.get("degraded"),
            "missing": pool.get("missing_devices")}


def pool_said(tree: Subtree, old: Summary, new: Summary) -> Iterator[Said]:
    if new is None:
        return
    before = old or {"mounted": False, "degraded": False, "missing": 0}
    name = new["name"]
    if new["mounted"] and not before["mounted"]:
        yield "pool_mounted", f"Pool {name} was mounted at {new['mount_point']}."
    elif before["mounted"] and not new["mounted"]:
        yield "pool_unmounted", f"Pool {name} was unmounted."
    missing = new["missing"] or 0
    if (new["degraded"] or missing) and not (before["degraded"] or before["missing"]):
        devices = "1 device is" if missing == 1 else f"{missing} devices are"
        yield "pool_degraded", (f"Pool {name} is degraded: {devices} missing. Replace or "
                                "re-attach the missing device, or remove it from the pool.")
    elif (before["degraded"] or before["missing"]) and not (new["degraded"] or missing):
        yield "pool_healthy", f"Pool {name} is no longer degraded: every device is present."


def job_summary(job: Any) -> Summary:
    return {"kind": job.get("kind"), "target": job.get("target"), "state": job.get("state"),
            "error": job.get("error"), "detail": job.get("detail")}


def job_said(tree: Subtree, old: Summary, new: Summary) -> Iterator[Said]:
    if new is None or new["state"] not in ENDED or (old is not None and old["state"] in ENDED):
        return
    target = new["target"]
    name = (tree.get(("pools", target, "name")) or tree.get(("shares", target, "name"))
            or target)
    what = f"The {str(new['kind']).replace('_', ' ')} job of {name}"
    if new["state"] == "failed":
        yield "job_failed", f"{what} failed: {new['error'] or 'no reason given'}."
    else:
        yield "job_ended", f"{what} {new['state']}."


def service_summary(service: Any) -> Summary:
    return {"active": service.get("active"), "pid": service.get("main_pid")}


def service_said(name: str, old: Summary, new: Summary) -> Iterator[Said]:
    if old is None or new is None or old["active"] == new["active"]:
        if (old and new and old["active"] == new["active"] == "active" and old["pid"]
                and new["pid"] and old["pid"] != new["pid"]):
            yield "service_restarted", f"Service {name} restarted (pid {new['pid']})."
        return
    if new["active"] == "failed":
        yield "service_failed", f"Service {name} failed."
    elif new["active"] == "active":
        again = " again" if old["active"] == "failed" else ""
        yield "service_started", f"Service {name} is running{again}."
    elif new["active"] == "inactive" and old["active"] == "active":
        yield "service_stopped", f"Service {name} stopped."


def engine_summary(engine: Any) -> Summary:
    return {"state": engine.get("state"), "error": engine.get("error"),
            "version": engine.get("version")}


def engine_said(old: Summary, new: Summary) -> Iterator[Said]:
    if old is None or new is None or old["state"] == new["state"]:
        return
    if new["state"] == "up":
        yield "docker_up", f"The Docker engine is up (version {new['version'] or 'unknown'})."
    elif old["state"] == "up":
        yield "docker_down", f"The Docker engine is down: {new['error'] or 'no reason given'}."


def peer_summary(peer: Any) -> Summary:
    return {"online": peer.get("online"), "error": peer.get("last_error")}


def peer_said(name: str, old: Summary, new: Summary) -> Iterator[Said]:
    if old is None or new is None or old["online"] == new["online"]:
        return
    if new["online"]:
        yield "peer_online", f"Replication peer {name} is online."
    else:
        yield "peer_offline", (f"Replication peer {name} is offline: "
                               f"{new['error'] or 'no reason given'}.")


@dataclass(frozen=True)
class Followed:
    """A collection of the tree followed (`path` of a dict of items, or of one item when
    `single`), how an item is summarised, and what a change of summary says (given the tree,
    the item's key, the old and the new summary)."""

    path: tuple[str, ...]
    summary: Callable[[Any], Summary]
    said: Callable[[Subtree, str, Summary, Summary], Iterable[Said]]
    single: bool = False


FOLLOWED = (
    Followed(("disks",), disk_summary, lambda t, k, o, n: disk_said(t, o, n)),
    Followed(("pools",), pool_summary, lambda t, k, o, n: pool_said(t, o, n)),
    Followed(("jobs",), job_summary, lambda t, k, o, n: job_said(t, o, n)),
    Followed(("services",), service_summary, lambda t, k, o, n: service_said(k, o, n)),
    Followed(("apps-engine",), engine_summary, lambda t, k, o, n: engine_said(o, n),
             single=True),
    Followed(("replication", "peers"), peer_summary, lambda t, k, o, n: peer_said(k, o, n)),
)

Record = Callable[..., None]
"""EventLog.record: (kind, message, resource=...)."""


class SystemEvents:
    """The tree listener that records system events (`tree.listen(SystemEvents(...))`)."""

    def __init__(self, tree: Subtree, record: Record, followed: tuple[Followed, ...] = FOLLOWED):
        self.tree, self.record, self.followed = tree, record, followed
        self.known: dict[tuple[str, ...], dict[str, Summary]] = {
            f.path: self._summaries(f, None) for f in followed}

    def _items(self, followed: Followed) -> dict[str, Any]:
        value = self.tree.get(followed.path)
        if followed.single:
            return {"": value} if isinstance(value, dict) else {}
        return value if isinstance(value, dict) else {}

    def _summaries(self, followed: Followed, keys: set[str] | None) -> dict[str, Summary]:
        items = self._items(followed)
        wanted = items.keys() if keys is None else keys
        return {key: followed.summary(items[key]) if isinstance(items.get(key), dict) else None
                for key in wanted}

    def __call__(self, revision: Revision) -> None:
        for followed in self.followed:
            keys = self._touched(followed, revision)
            if keys:
                self._compare(followed, keys)

    def _touched(self, followed: Followed, revision: Revision) -> set[str]:
        """The keys of the items of `followed` that the revision's ops may have changed."""
        path, depth = followed.path, len(followed.path)
        keys: set[str] = set()
        for op in revision.ops:
            tokens = op.tokens
            if tokens[:depth] == path[: len(tokens)]:
                if len(tokens) > depth and not followed.single:
                    keys.add(tokens[depth])
                else:  # the whole collection (or above it, or the single item) changed
                    keys |= set(self.known[path]) | set(self._items(followed))
        return keys

    def _compare(self, followed: Followed, keys: set[str]) -> None:
        known = self.known[followed.path]
        for key, new in self._summaries(followed, keys).items():
            old = known.get(key)
            if old == new:
                continue
            for kind, message in followed.said(self.tree, key, old, new):
                self.record(kind, message, resource=key or followed.path[-1])
            if new is None:
                known.pop(key, None)
            else:
                known[key] = new
