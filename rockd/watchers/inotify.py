"""inotify on each pool's root and its .snapshots tree: subvolumes made or deleted by hand.

`btrfs subvolume create/snapshot/delete` adds or removes a directory entry in the parent, so
a watch on the pool root, on `.snapshots/` and on each `.snapshots/{share}/` sees every share
and snapshot come and go, and asks for a rescan of that pool's subvolumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

from inotify_simple import INotify
from inotify_simple import flags as f

log = logging.getLogger(__name__)

MASK = f.CREATE | f.DELETE | f.MOVED_FROM | f.MOVED_TO | f.DELETE_SELF | f.ONLYDIR
SNAPSHOTS = ".snapshots"


class SubvolumeWatcher:
    """Calls `changed(pool_id)` when an entry comes or goes where subvolumes live."""

    def __init__(self, changed: Callable[[str], None]):
        self.changed = changed
        self.inotify = INotify(nonblocking=True)
        self._watches: dict[int, tuple[str, str]] = {}  # wd -> (pool id, folder)
        self._roots: dict[str, str] = {}  # pool id -> mount point

    def start(self) -> None:
        asyncio.get_running_loop().add_reader(self.inotify.fileno(), self._readable)

    def stop(self) -> None:
        asyncio.get_running_loop().remove_reader(self.inotify.fileno())
        self.inotify.close()

    def _watch(self, pool_id: str, folder: str) -> None:
        try:
            wd = self.inotify.add_watch(folder, MASK)
        except OSError:
            return  # not there (yet): the parent's watch reports when it appears
        self._watches[wd] = (pool_id, folder)

    def set_pools(self, roots: dict[str, str]) -> None:
        """Watch exactly these pools (id -> mount point); unmounted pools are left out."""
        if roots == self._roots:
            return
        for wd, (pool_id, _) in list(self._watches.items()):
            if roots.get(pool_id) != self._roots.get(pool_id):
                with contextlib.suppress(OSError):
                    self.inotify.rm_watch(wd)
                del self._watches[wd]
        for pool_id, root in roots.items():
            if self._roots.get(pool_id) == root:
                continue
            self._watch(pool_id, root)
            self._watch_snapshots(pool_id, os.path.join(root, SNAPSHOTS))
        self._roots = dict(roots)

    def _watch_snapshots(self, pool_id: str, snapshots: str) -> None:
        """Watch .snapshots/ and each share's folder in it, including any made before the
        watch was in place (mkdir -p makes both at once)."""
        self._watch(pool_id, snapshots)
        try:
            entries = list(os.scandir(snapshots))
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                self._watch(pool_id, entry.path)

    def _readable(self) -> None:
        pools = set()
        for event in self.inotify.read(timeout=0):
            where = self._watches.get(event.wd)
            if where is None:
                continue
            pool_id, folder = where
            if event.mask & f.IGNORED:
                del self._watches[event.wd]
                continue
            pools.add(pool_id)
            root = self._roots.get(pool_id)
            if event.mask & f.CREATE and event.mask & f.ISDIR and root is not None:
                path = os.path.join(folder, event.name)
                if folder == root and event.name == SNAPSHOTS:
                    self._watch_snapshots(pool_id, path)
                elif folder == os.path.join(root, SNAPSHOTS):
                    self._watch(pool_id, path)
        for pool_id in pools:
            self.changed(pool_id)
