"""inotify for all of rockd: one reader, one inotify instance, that parts register watches with.

`Inotify.watch(path, mask, changed)` calls `changed(events)` with each batch of the events
its mask asks for, read when the event loop says the instance is readable. Several watches
of one folder (by different parts, with different masks) share the kernel's watch, which
carries the union of their masks; each is handed only its own kinds of event. A watch ends
with `Watch.remove()`, or by itself when what it watches goes away or is unmounted: the
kernel's IN_IGNORED is handed on, as is IN_Q_OVERFLOW (events were lost) to every watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

from inotify_simple import Event, INotify
from inotify_simple import flags as f

log = logging.getLogger(__name__)

EVENT_KINDS = 0xFFF
"""The bits of a mask that name kinds of event (IN_ALL_EVENTS); the rest are flags."""
ALWAYS = f.IGNORED | f.Q_OVERFLOW | f.UNMOUNT
"""What the kernel reports whatever a watch's mask says."""

Changed = Callable[[list[Event]], None]


class Watch:
    """One part's watch of one path; `remove()` ends it (again: nothing happens)."""

    def __init__(self, reader: Inotify, wd: int, mask: int, changed: Changed):
        self.reader = reader
        self.wd: int | None = wd  # None once ended
        self.mask = mask
        self.changed = changed

    @property
    def active(self) -> bool:
        return self.wd is not None

    def wants(self, event: Event) -> bool:
        return bool(event.mask & EVENT_KINDS & self.mask or event.mask & ALWAYS)

    def remove(self) -> None:
        self.reader.remove(self)


class Inotify:
    """The reader: `watch` registers, `start` reads from the event loop, `close` ends all."""

    def __init__(self) -> None:
        self._fd: INotify | None = INotify(nonblocking=True)
        self._watches: dict[int, list[Watch]] = {}  # the kernel's watch -> the parts' ones
        self._reading = False

    def start(self) -> None:
        if self._fd is not None and not self._reading:
            asyncio.get_running_loop().add_reader(self._fd.fileno(), self._readable)
            self._reading = True

    def close(self) -> None:
        """Stop reading and end every watch (removing one later does nothing)."""
        if self._fd is None:
            return
        if self._reading:
            with contextlib.suppress(RuntimeError):  # the loop closed first
                asyncio.get_running_loop().remove_reader(self._fd.fileno())
        self._fd.close()
        self._fd = None
        for watches in self._watches.values():
            for watch in watches:
                watch.wd = None
        self._watches.clear()

    def watch(self, path: str | os.PathLike[str], mask: int, changed: Changed) -> Watch:
        """Watch `path` for the events of `mask` (with flags such as ONLYDIR); OSError when it
        cannot be watched (not there, not a folder with ONLYDIR, the reader closed)."""
        if self._fd is None:
            raise OSError(f"cannot watch {path}: the inotify reader is closed")
        # MASK_ADD: a kernel watch that another part holds keeps that part's kinds of event
        wd = self._fd.add_watch(path, mask | f.MASK_ADD)
        watch = Watch(self, wd, mask, changed)
        self._watches.setdefault(wd, []).append(watch)
        return watch

    def remove(self, watch: Watch) -> None:
        """End `watch`; the kernel's watch goes with the last part's (while others remain it
        keeps the union mask, and events no one asked for are dropped here)."""
        wd, watch.wd = watch.wd, None
        watches = self._watches.get(wd) if wd is not None else None
        if wd is None or not watches or watch not in watches:
            return
        watches.remove(watch)
        if not watches:
            del self._watches[wd]
            if self._fd is not None:
                with contextlib.suppress(OSError):  # gone meanwhile: IN_IGNORED is on its way
                    self._fd.rm_watch(wd)

    def _readable(self) -> None:
        if self._fd is None:
            return
        batches: dict[Watch, list[Event]] = {}
        for event in self._fd.read(timeout=0):
            if event.mask & f.Q_OVERFLOW:
                log.warning("inotify queue overflowed: events were lost")
                targets = [w for watches in self._watches.values() for w in watches]
            else:
                targets = [w for w in self._watches.get(event.wd, ()) if w.wants(event)]
            for watch in targets:
                batches.setdefault(watch, []).append(event)
            if event.mask & f.IGNORED:  # the kernel ended its watch: so do the parts' ones
                for watch in self._watches.pop(event.wd, []):
                    watch.wd = None
        for watch, events in batches.items():
            if watch.active or any(e.mask & f.IGNORED for e in events):
                try:
                    watch.changed(events)
                except Exception:
                    log.exception("an inotify watch's handler failed")
