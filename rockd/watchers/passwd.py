"""inotify on /etc for the account databases: a user or group added, changed or removed by
hand (useradd, vipw, an edit) asks for a rescan of /users and /groups.

The shadow tools write `passwd+` (or `passwd.lock`) and rename it over `passwd`, so a watch
on the file itself would lose it: the folder is watched, and only these names count.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from inotify_simple import INotify
from inotify_simple import flags as f

log = logging.getLogger(__name__)

ACCOUNT_FILES = frozenset({"passwd", "group", "shadow", "gshadow"})
MASK = f.CLOSE_WRITE | f.MOVED_TO | f.DELETE | f.MOVED_FROM | f.ONLYDIR


class AccountsWatcher:
    """Calls `changed()` once per batch of events that touch an account database."""

    def __init__(self, changed: Callable[[], None], folder: Path = Path("/etc"),
                 names: frozenset[str] = ACCOUNT_FILES):
        self.changed = changed
        self.folder = folder
        self.names = names
        self.inotify: INotify | None = None

    def start(self) -> None:
        self.inotify = INotify(nonblocking=True)
        try:
            self.inotify.add_watch(str(self.folder), MASK)
        except OSError as exc:
            log.warning("cannot watch %s: %s", self.folder, exc)
        asyncio.get_running_loop().add_reader(self.inotify.fileno(), self._readable)

    def stop(self) -> None:
        if self.inotify is None:
            return
        asyncio.get_running_loop().remove_reader(self.inotify.fileno())
        self.inotify.close()
        self.inotify = None

    def _readable(self) -> None:
        assert self.inotify is not None
        if any(e.name in self.names for e in self.inotify.read(timeout=0)):
            self.changed()
