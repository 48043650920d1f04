"""Observing shares and snapshots: a mounted pool's subvolumes sorted into shares (directly
under its root, not hidden) and snapshots (`.snapshots/{share}/{name}`), as /shares and
/snapshots hold them. Read only: Shares sets the tree from these answers.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
from collections.abc import Callable, Mapping
from typing import Any

from rockd.core import resources
from rockd.core.process import CommandError
from rockd.storage import btrfs, btrfs_sysfs, roottree

log = logging.getLogger(__name__)

SNAPSHOTS = ".snapshots"

ReplicaOf = Callable[[str, str], resources.ReplicaSource | None]
"""(pool id, share name) -> where the share was received from, None for no replica."""


def _compression(path: str) -> str | None:
    try:
        value = os.getxattr(path, "btrfs.compression").decode().strip("\0")
    except OSError:
        return None
    return value or None


def _owner(st: os.stat_result, names: dict[tuple[str, int], str] | None = None
           ) -> tuple[str, str]:
    """The names of the owner and group (`names`: those already looked up in this scan)."""
    names = {} if names is None else names
    return (_named(names, "u", st.st_uid, lambda uid: pwd.getpwuid(uid).pw_name),
            _named(names, "g", st.st_gid, lambda gid: grp.getgrgid(gid).gr_name))


def _named(names: dict[tuple[str, int], str], kind: str, number: int,
           lookup: Callable[[int], str]) -> str:
    """A user's or group's name, looked up once per scan; the number when it has none."""
    key = (kind, number)
    if key not in names:
        try:
            names[key] = lookup(number)
        except KeyError:
            names[key] = str(number)
    return names[key]


def _usage(qgroups: dict[str, Any] | None, subvol_id: int
           ) -> tuple[resources.SubvolumeUsage | None, int | None]:
    if qgroups is None:
        return None, None
    group = qgroups.get(f"0/{subvol_id}")
    if group is None:
        return None, None
    return ({"referenced": group["referenced"], "exclusive": group["exclusive"]},
            group["max_referenced"])


async def subvolumes(pool_id: str, root: str, cache: roottree.ItemCache | None = None
                     ) -> tuple[list[dict], dict | None]:
    """The subvolumes of the pool mounted at `root`, and its quota groups (None with quotas
    off). A pool unmounted while they are read has none, as any unmounted pool. `cache` is
    the pool's own, kept from one read to the next (see roottree)."""
    try:
        found = await btrfs.subvolumes(root, cache)
        qgroups = await btrfs.qgroups(root) if btrfs_sysfs.quotas_enabled(pool_id) else None
    except (OSError, CommandError):
        if any(m["target"] == root for m in btrfs_sysfs.mounts()):
            raise
        log.debug("%s went away while its subvolumes were read", root)
        return [], None
    return found, qgroups


def share(pool_id: str, root: str, sub: dict[str, Any], qgroups: dict[str, Any] | None,
          replica: resources.ReplicaSource | None,
          names: dict[tuple[str, int], str] | None = None) -> resources.Share:
    """The /shares entry of subvolume `sub`, with its folder's owner, mode and compression."""
    path = os.path.join(root, sub["path"])
    owner: str | None
    group: str | None
    mode: str | None
    try:
        st = os.stat(path)
        owner, group = _owner(st, names)
        mode = f"{st.st_mode & 0o7777:04o}"
    except OSError:
        owner = group = mode = None
    usage, quota = _usage(qgroups, sub["id"])
    return {
        "id": sub["uuid"], "pool": pool_id, "name": sub["path"], "path": path,
        "subvolume_id": sub["id"], "quota": quota, "usage": usage,
        "compression": _compression(path), "owner": owner, "group": group, "mode": mode,
        "read_only": sub["read_only"], "received_uuid": sub["received_uuid"],
        "created": sub["created"], "replica": replica,
    }


def snapshot(pool_id: str, root: str, sub: dict[str, Any], qgroups: dict[str, Any] | None,
             share_id: str | None, share_name: str, name: str,
             visible: bool) -> resources.Snapshot:
    """The /snapshots entry of subvolume `sub` at `.snapshots/{share_name}/{name}`."""
    usage = _usage(qgroups, sub["id"])[0] if qgroups is not None else None
    return {
        "id": sub["uuid"], "pool": pool_id, "share": share_id, "share_name": share_name,
        "name": name, "path": f"{root}/{sub['path']}",
        "subvolume_id": sub["id"], "created": sub["created"],
        "read_only": sub["read_only"], "usage": usage, "visible": visible,
    }


def sort(pool_id: str, root: str, subvolumes: list[dict], qgroups: dict | None,
         visible: Mapping[str, dict], replica_of: ReplicaOf
         ) -> tuple[dict[str, resources.Share], dict[str, resources.Snapshot]]:
    """The pool's shares and snapshots by id. Anything else (a hidden subvolume, one nested
    deeper) is neither; a snapshot whose share is gone keeps its share's name."""
    shares: dict[str, resources.Share] = {}
    snapshots: dict[str, resources.Snapshot] = {}
    by_name: dict[str, str] = {}
    held: list[tuple[dict, list[str]]] = []
    names: dict[tuple[str, int], str] = {}
    for sub in subvolumes:
        path = sub["path"]
        if "/" not in path:
            if not path.startswith("."):
                shares[sub["uuid"]] = share(pool_id, root, sub, qgroups,
                                            replica_of(pool_id, path), names)
                by_name[path] = sub["uuid"]
        elif path.startswith(SNAPSHOTS + "/"):
            parts = path.split("/")
            if len(parts) == 3:
                held.append((sub, parts))
    for sub, (_, share_name, name) in held:
        intent = visible.get(sub["uuid"])
        shown = bool(intent and intent.get("visible"))
        snapshots[sub["uuid"]] = snapshot(pool_id, root, sub, qgroups, by_name.get(share_name),
                                          share_name, name, shown)
    return shares, snapshots
