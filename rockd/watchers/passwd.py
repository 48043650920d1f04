"""inotify on /etc for the account databases: a user or group added, changed or removed by
hand (useradd, vipw, an edit) asks for a rescan of /users and /groups.

The shadow tools write `passwd+` (or `passwd.lock`) and rename it over `passwd`, so a watch
on the file itself would lose it: the folder is watched (through the daemon's one inotify
reader), and only these names count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from inotify_simple import Event
from inotify_simple import flags as f

from rockd.watchers.inotify import Inotify, Watch

log = logging.getLogger(__name__)

ACCOUNT_FILES = frozenset({"passwd", "group", "shadow", "gshadow"})
MASK = f.CLOSE_WRITE | f.MOVED_TO | f.DELETE | f.MOVED_FROM | f.ONLYDIR


class AccountsWatcher:
    """Calls `changed()` once per batch of events that touch an account database."""

    def __init__(self, inotify: Inotify, changed: Callable[[], None],
                 folder: Path = Path("/etc"), names: frozenset[str] = ACCOUNT_FILES):
        self.inotify = inotify
        self.changed = changed
        self.folder = folder
        self.names = names
        self.watch: Watch | None = None

    def start(self) -> None:
        try:
            self.watch = self.inotify.watch(self.folder, MASK, self._events)
        except OSError as exc:
            log.warning("cannot watch %s: %s", self.folder, exc)

    def stop(self) -> None:
        if self.watch is not None:
            self.watch.remove()
            self.watch = None

    def _events(self, events: list[Event]) -> None:
        if any(e.name in self.names for e in events):
            self.changed()
