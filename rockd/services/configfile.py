"""A configuration file that rockd owns (smb.conf, an exports file, an sshd_config): rendered
from a jinja2 template, checked before it goes live, replaced whole and atomically, and watched
with inotify so that a hand edit shows as drift; and `Published`, the one way an export kind
shows its file at /configs/{kind}.

Drift is "the file is not what rockd last made it": its content differs from what rockd wrote,
or it exists where rockd wants none. Until rockd has written (or decided not to write) the file
once, nothing is drift.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from inotify_simple import Event
from inotify_simple import flags as f

from rockd.core.tree import Subtree
from rockd.watchers.inotify import Inotify, Watch

log = logging.getLogger(__name__)

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("rockd", "templates"),
    autoescape=False,  # noqa: S701 -- configuration files, not HTML: every value is validated
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

WATCH_MASK = f.CLOSE_WRITE | f.MOVED_TO | f.MOVED_FROM | f.CREATE | f.DELETE

Check = Callable[[Path], Awaitable[None]]


def render(template: str, **values: Any) -> str:
    return TEMPLATES.get_template(template).render(**values)


@dataclass(frozen=True)
class Mark:
    """What a file held (None: no file) and what rockd expected of it, to go back to."""

    content: bytes | None
    known: bool
    expected: bytes | None


class ConfigFile:
    """One rockd-managed file at `path` (its folder is made when missing), its folder watched
    through `inotify` (the daemon's one reader) once someone `watch`es it."""

    def __init__(self, path: Path, inotify: Inotify | None = None, mode: int = 0o644):
        self.path = path
        self.inotify = inotify
        self.mode = mode
        self.known = False  # rockd has said what the file should be
        self.expected: bytes | None = None  # ... this (None: no file)
        self._watch: Watch | None = None
        self._changed: Callable[[], None] | None = None

    def read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    @property
    def drift(self) -> bool:
        return self.known and self.read() != self.expected

    def expect(self, data: bytes | None) -> None:
        """Say what the file should hold (None: that it should not exist) without writing."""
        self.known, self.expected = True, data

    def mark(self) -> Mark:
        """The file and rockd's expectation as they are now (see `restore`)."""
        return Mark(self.read(), self.known, self.expected)

    async def replace(self, data: bytes, check: Check | None = None) -> bool:
        """Make the file hold `data`: written to a temporary file beside it, synced, `check`ed
        (which raises to refuse it; the live file is then untouched), and renamed over the live
        one. Answers whether anything changed on disk."""
        if self.read() == data:
            self.expect(data)
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._arm()
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        temp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fchmod(out.fileno(), self.mode)
                os.fsync(out.fileno())
            if check is not None:
                await check(temp)
            self.expect(data)  # before the rename, so that its own inotify event is no drift
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        self._sync_folder()
        return True

    async def restore(self, mark: Mark) -> None:
        """Put back what the file held at `mark` (removing it if there was none), and what
        rockd then expected of it: a hand edit that was drift before stays drift."""
        if mark.content is None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self._sync_folder()
        else:
            await self.replace(mark.content)
        self.known, self.expected = mark.known, mark.expected

    def _sync_folder(self) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    # -- drift -------------------------------------------------------------------------------

    def watch(self, changed: Callable[[], None]) -> None:
        """Call `changed()` whenever the file is written, replaced or removed (by anyone). A
        folder that does not exist yet is watched from when rockd first writes the file (rockd
        makes no folder only to watch it)."""
        if self.inotify is None:
            raise RuntimeError(f"{self.path} has no inotify reader to be watched with")
        self.unwatch()
        self._changed = changed
        self._arm()

    def _arm(self) -> None:
        if self._changed is None or self.inotify is None:
            return
        if self._watch is not None and self._watch.active:
            return
        try:
            self._watch = self.inotify.watch(self.path.parent, WATCH_MASK | f.ONLYDIR,
                                             self._events)
        except OSError:
            self._watch = None

    def unwatch(self) -> None:
        self._changed = None
        if self._watch is not None:
            self._watch.remove()
            self._watch = None

    def _events(self, events: list[Event]) -> None:
        if any(e.name == self.path.name for e in events) and self._changed is not None:
            self._changed()


class Published:
    """An export kind's ConfigFile and its /configs/{kind} entry (`tree`, that entry's owner's
    handle): the file's path, whether it drifted, and what the kind adds (`fields`); with
    `managed`, also whether rockd has said what the file should be. Written while started;
    a hand edit that makes or ends drift is published as it happens."""

    def __init__(self, file: ConfigFile, tree: Subtree, kind: str, *, managed: bool = False,
                 **fields: Any):
        self.file = file
        self.tree = tree
        self.kind = kind
        self.managed = managed
        self.status: dict[str, Any] = {"path": str(file.path), "drift": False, **fields}
        self.running = False

    def start(self) -> None:
        self.running = True
        self.file.watch(self._changed)
        self.publish()

    def stop(self) -> None:
        self.running = False
        self.file.unwatch()

    def publish(self, **fields: Any) -> None:
        """Take `fields` into the entry, with the drift as it is now, and write it."""
        self.status = {**self.status, **fields, "drift": self.file.drift}
        if self.managed:
            self.status["managed"] = self.file.known
        if self.running:
            self.tree.set(("configs", self.kind), dict(self.status))

    def _changed(self) -> None:
        drift = self.file.drift
        if drift != self.status["drift"]:
            if drift:
                log.warning("%s was changed by hand: rockd replaces it at the next change of "
                            "an %s export", self.file.path, self.kind.upper())
            self.publish()
