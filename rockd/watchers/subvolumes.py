"""Subvolumes made or deleted by hand: inotify on each mounted pool's root and .snapshots tree.

`btrfs subvolume create/snapshot/delete` adds or removes a directory entry in the parent, so
a watch on the pool root, on `.snapshots/` and on each `.snapshots/{share}/` sees every share
and snapshot come and go, and asks for a rescan of that pool's subvolumes. Which pools are
mounted where it learns after each pool rescan (it is a storage PoolFollower).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import partial

from inotify_simple import Event
from inotify_simple import flags as f

from rockd.watchers.inotify import Inotify, Watch

MASK = f.CREATE | f.DELETE | f.MOVED_FROM | f.MOVED_TO | f.DELETE_SELF | f.ONLYDIR
SNAPSHOTS = ".snapshots"


class SubvolumeWatcher:
    """Calls `changed(pool_id)` when an entry comes or goes where subvolumes live."""

    def __init__(self, inotify: Inotify, changed: Callable[[str], None]):
        self.inotify = inotify
        self.changed = changed
        self._watches: dict[str, dict[str, Watch]] = {}  # pool id -> folder -> its watch
        self._roots: dict[str, str] = {}  # pool id -> mount point

    def start(self) -> None:
        """Nothing to start: the inotify reader reads for every part."""

    def stop(self) -> None:
        for folders in self._watches.values():
            for watch in folders.values():
                watch.remove()
        self._watches.clear()
        self._roots = {}

    def pool_rescanned(self, pool_id: str, mount_points: Mapping[str, str]) -> None:
        """A pool was read again (a PoolFollower): watch the pools mounted now."""
        self.set_pools(mount_points)

    def set_pools(self, roots: Mapping[str, str]) -> None:
        """Watch exactly these pools (id -> mount point); unmounted pools are left out."""
        if roots == self._roots:
            return
        for pool_id in list(self._watches):
            if roots.get(pool_id) != self._roots.get(pool_id):
                for watch in self._watches.pop(pool_id).values():
                    watch.remove()
        self._roots = dict(roots)
        for pool_id, root in roots.items():
            if pool_id not in self._watches:
                self._watch(pool_id, root)
                self._watch_snapshots(pool_id, os.path.join(root, SNAPSHOTS))

    def _watch(self, pool_id: str, folder: str) -> None:
        folders = self._watches.setdefault(pool_id, {})
        if folder in folders and folders[folder].active:
            return
        try:
            folders[folder] = self.inotify.watch(folder, MASK,
                                                 partial(self._events, pool_id, folder))
        except OSError:
            return  # not there (yet): the parent's watch reports when it appears

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

    def _events(self, pool_id: str, folder: str, events: list[Event]) -> None:
        root = self._roots.get(pool_id)
        for event in events:
            if event.mask & f.CREATE and event.mask & f.ISDIR and root is not None:
                path = os.path.join(folder, event.name)
                if folder == root and event.name == SNAPSHOTS:
                    self._watch_snapshots(pool_id, path)
                elif folder == os.path.join(root, SNAPSHOTS):
                    self._watch(pool_id, path)
        if any(not e.mask & f.IGNORED for e in events):  # the watch's own end is no change
            self.changed(pool_id)
