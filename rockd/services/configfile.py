"""A configuration file that rockd owns (an exports file, an sshd_config): rendered from a jinja2
template, checked before it goes live, replaced whole and atomically, and watched with inotify so
that a hand edit shows as drift.

Drift is "the file is not what rockd last made it": its content differs from what rockd wrote,
or it exists where rockd wants none. Until rockd has written (or decided not to write) the file
once, nothing is drift.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from inotify_simple import INotify
from inotify_simple import flags as f

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


class ConfigFile:
    """One rockd-managed file at `path` (its folder is made when missing)."""

    def __init__(self, path: Path, mode: int = 0o644):
        self.path = path
        self.mode = mode
        self.known = False  # rockd has said what the file should be
        self.expected: bytes | None = None  # ... this (None: no file)
        self._inotify: INotify | None = None
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

    async def restore(self, previous: bytes | None) -> None:
        """Put back what the file held before (`previous`, None: remove it)."""
        if previous is None:
            self.expect(None)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self._sync_folder()
        else:
            await self.replace(previous)

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
        self.unwatch()
        self._changed = changed
        self._arm()

    def _arm(self) -> None:
        if self._changed is None or self._inotify is not None:
            return
        inotify = INotify(nonblocking=True)
        try:
            inotify.add_watch(self.path.parent, WATCH_MASK | f.ONLYDIR)
        except OSError:
            inotify.close()
            return
        self._inotify = inotify
        asyncio.get_running_loop().add_reader(inotify.fileno(), self._readable)

    def unwatch(self) -> None:
        self._changed = None
        if self._inotify is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._inotify.fileno())
            self._inotify.close()
            self._inotify = None

    def _readable(self) -> None:
        assert self._inotify is not None
        events = self._inotify.read(timeout=0)
        if any(e.name == self.path.name for e in events) and self._changed is not None:
            self._changed()
