"""Previous versions for SMB exports: each share's snapshots offered to Windows through a folder
of @GMT links that vfs_shadow_copy2 reads, kept in step with /snapshots.

shadow_copy2 finds a share's snapshots by a name it can parse as a time, and rockd's snapshot
names are free-form (`auto-{schedule}-{stamp}` for scheduled ones, anything for the others). So
each exported share with previous versions gets a folder of symbolic links named as
shadow_copy2 expects by default, one per snapshot, at the snapshot's creation time (UTC):

    {pool}/.snapshots/.previous-versions/{share}/@GMT-2024.01.31-23.59.00
        -> ../../{share}/{snapshot name}

and its smb.conf section points `shadow:snapdir` there (`previous_dir`). Scheduled, manual and
hand-made snapshots all appear, named by when they were taken, and nothing about snapshot
naming changes. The links follow /snapshots: every change of shares or snapshots (by rockd or
by hand) makes one coalesced sync. Where two snapshots were taken in the same second, the first
(by name) is offered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Callable, Hashable
from datetime import datetime
from pathlib import Path
from typing import Any

from rockd.core.rescan import Rescanner
from rockd.core.tree import Subtree

log = logging.getLogger(__name__)

GMT_FORMAT = "@GMT-%Y.%m.%d-%H.%M.%S"  # shadow_copy2's default shadow:format
PREVIOUS = ".previous-versions"  # in a pool's .snapshots folder
SNAPSHOTS = ".snapshots"


def gmt_token(created: str | None) -> str | None:
    """A snapshot's creation time (RFC 3339, UTC) as shadow_copy2's @GMT name."""
    if not created:
        return None
    try:
        when = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return when.strftime(GMT_FORMAT)


def previous_dir(share_path: str | Path, share_name: str) -> Path:
    """Where the @GMT links of a share are: beside its snapshots, in its pool."""
    return Path(share_path).parent / SNAPSHOTS / PREVIOUS / share_name


def link_targets(snapshots: list[dict[str, Any]], share_name: str) -> dict[str, str]:
    """@GMT name -> relative link target, for one share's snapshots (the first of a second)."""
    links: dict[str, str] = {}
    for snap in sorted(snapshots, key=lambda s: (s.get("created") or "", s["name"])):
        token = gmt_token(snap.get("created"))
        if token is not None and token not in links and "/" not in snap["name"]:
            links[token] = f"../../{share_name}/{snap['name']}"
    return links


def sync_links(folder: Path, targets: dict[str, str]) -> None:
    """Make `folder` hold exactly these symbolic links (anything else in it is left alone)."""
    folder.mkdir(parents=True, exist_ok=True)
    present: dict[str, str] = {}
    for entry in os.scandir(folder):
        if entry.is_symlink():
            present[entry.name] = os.readlink(entry.path)
    for name, target in present.items():
        if targets.get(name) != target:
            os.unlink(folder / name)
    for name, target in targets.items():
        if present.get(name) != target:
            temp = folder / f".{name}.{secrets.token_hex(4)}"
            os.symlink(target, temp)
            os.replace(temp, folder / name)


def remove_links(folder: Path) -> None:
    """Remove a folder of links (only links: anything else keeps it)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.is_symlink():
                os.unlink(entry.path)
        folder.rmdir()


def sync_previous(exports: list[dict[str, Any]], snapshots: list[dict[str, Any]],
                  pool_roots: list[str],
                  mounted: Callable[[Path], bool] = os.path.ismount) -> None:
    """The @GMT link folders of exactly the exports with previous versions (in a thread).

    Only mounted pools are touched: the folder of a pool that is not mounted is the mount point
    on the system's own disk, and nothing is written there."""
    roots = {root for root in (Path(os.path.realpath(r)) for r in pool_roots) if mounted(root)}
    wanted: dict[Path, dict[str, str]] = {}
    for export in exports:
        if not export["previous_versions"]:
            continue
        folder = previous_dir(os.path.realpath(export["path"]), export["share_name"])
        if folder.parent.parent.parent not in roots:
            continue
        mine = [s for s in snapshots if s.get("share") == export["share"]]
        wanted[folder] = link_targets(mine, export["share_name"])
    for root in roots:
        base = root / SNAPSHOTS / PREVIOUS
        with contextlib.suppress(OSError):
            for entry in os.scandir(base):
                if Path(entry.path) not in wanted and entry.is_dir(follow_symlinks=False):
                    remove_links(Path(entry.path))
    for folder, targets in wanted.items():
        try:
            sync_links(folder, targets)
        except OSError as exc:
            log.warning("previous versions in %s: %s", folder, exc)
    for root in roots:
        with contextlib.suppress(OSError):
            (root / SNAPSHOTS / PREVIOUS).rmdir()  # only where nothing is left in it


class PreviousVersions:
    """The link folders of the SMB exports `served()` answers, synced on request (`sync`) and
    again after every change of shares or snapshots (`shares_changed`), one sync at a time.
    Snapshots and pools are read from the tree (`tree`: a read handle)."""

    def __init__(self, tree: Subtree, served: Callable[[], list[dict[str, Any]]]):
        self.tree = tree
        self.served = served
        self.rescans = Rescanner("previous-versions", self._again)
        self.lock = asyncio.Lock()
        self.running = False

    def start(self) -> None:
        self.running = True
        self.rescans.start()

    async def stop(self) -> None:
        self.running = False
        await self.rescans.stop()

    def shares_changed(self) -> None:
        if self.running and any(e["previous_versions"] for e in self.served()):
            self.rescans.request("all")

    async def sync(self, exports: list[dict[str, Any]]) -> None:
        """The link folders of exactly `exports` (each with every field set)."""
        snapshots = list((self.tree.get("/snapshots") or {}).values())
        roots = [p["mount_point"] for p in (self.tree.get("/pools") or {}).values()
                 if p.get("mounted") and p.get("mount_point")]
        async with self.lock:
            await asyncio.to_thread(sync_previous, exports, snapshots, roots)

    async def _again(self, _key: Hashable) -> None:
        await self.sync(self.served())
