"""The mount table: /proc/self/mountinfo wakes poll() (POLLPRI/POLLERR) on every mount change.

The watcher re-reads the table on that event and reports which mount points came or went or
changed their options, so a pool mounted or unmounted by hand is seen at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

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
        self._file = None
        self._table: Table = {}

    def start(self) -> None:
        self._file = open(MOUNTINFO)  # noqa: SIM115 - kept open: its fd is what poll() watches
        self._table = read_table(self._file)
        # epoll always reports the ERR/PRI condition mountinfo raises; asyncio calls us then
        asyncio.get_running_loop().add_reader(self._file.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._file is not None
        table = read_table(self._file)
        lines = {line for point, line in table.items() if self._table.get(point) != line}
        lines |= {line for point, line in self._table.items() if table.get(point) != line}
        self._table = table
        if lines:
            log.debug("mount table changed: %d lines", len(lines))
            self.changed(sorted(lines))

    def stop(self) -> None:
        if self._file is not None:
            asyncio.get_running_loop().remove_reader(self._file.fileno())
            self._file.close()
            self._file = None
