"""The mount table: /proc/self/mountinfo wakes poll() (POLLPRI/POLLERR) on every mount change.

The watcher re-reads the table on that event and reports which mount points came or went or
changed their options, so a pool mounted or unmounted by hand is seen at once.
"""

from __future__ import annotations

import asyncio
import logging
import select
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger(__name__)

MOUNTINFO = "/proc/self/mountinfo"

Table = dict[str, str]  # mount point (as the kernel escapes it) -> the whole mountinfo line


def read_table(f) -> Table:
    f.seek(0)
    table: Table = {}
    for line in f.read().splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            table[fields[4]] = line
    return table


class MountWatcher:
    """Calls `changed(changed_lines)` with the mountinfo lines that appeared or disappeared."""

    def __init__(self, changed: Callable[[list[str]], None]):
        self.changed = changed
        self._file: TextIO | None = None
        self._epoll: select.epoll | None = None
        self._table: Table = {}

    def start(self) -> None:
        # kept open: poll() watches its fd; a name that is not UTF-8 is read as it is
        self._file = file = open(MOUNTINFO, encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
        self._table = read_table(file)
        # mountinfo is always readable (EPOLLIN), so the event loop cannot wait on it directly:
        # an epoll of its own waits for PRI/ERR alone, and that epoll's fd is what the loop
        # watches
        self._epoll = select.epoll()
        self._epoll.register(file.fileno(), select.EPOLLPRI | select.EPOLLERR)
        asyncio.get_running_loop().add_reader(self._epoll.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._file is not None and self._epoll is not None
        # the check that woke the loop may already have taken the event: poll to clear what
        # is left, and read the table whatever poll says (an unchanged table changes nothing)
        self._epoll.poll(0)
        table = read_table(self._file)
        lines = {line for point, line in table.items() if self._table.get(point) != line}
        lines |= {line for point, line in self._table.items() if table.get(point) != line}
        self._table = table
        if lines:
            log.debug("mount table changed: %d lines", len(lines))
            self.changed(sorted(lines))

    def stop(self) -> None:
        if self._epoll is not None:
            asyncio.get_running_loop().remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None
        if self._file is not None:
            self._file.close()
            self._file = None
