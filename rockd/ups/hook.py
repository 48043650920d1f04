"""upsmon's hook: the script NUT runs as NOTIFYCMD and SHUTDOWNCMD, and rockd's reader of what
it wrote.

The script appends one JSON line per notification to a file in NUT's folder (the type of
event from NOTIFYTYPE, or its first argument for SHUTDOWNCMD; the UPS from UPSNAME; NUT's
message); rockd watches that folder through its inotify reader and reads the lines it has not
read yet. Nothing polls, and a notification made while rockd is down stays in the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

EVENTS = "events"
"""The file the hook appends to, in NUT's folder."""
ROTATE = 64 << 10
"""The file is emptied once rockd has read it and it is this large."""

SCRIPT = '''#!{python} -I
"""upsmon's NOTIFYCMD and SHUTDOWNCMD, written by rockd: one line to the file rockd
watches, for each notification."""
import json, os, sys, time
kind = os.environ.get("NOTIFYTYPE") or (sys.argv[1] if len(sys.argv) > 1 else "")
line = json.dumps({{"at": time.time(), "type": kind, "ups": os.environ.get("UPSNAME", ""),
                   "message": " ".join(sys.argv[1:])}}) + "\\n"
fd = os.open({events!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
os.write(fd, line.encode())
os.close(fd)
'''


def script(folder: Path) -> str:
    """The hook's text, for NUT's folder `folder`."""
    return SCRIPT.format(python=sys.executable, events=str(folder / EVENTS))


class Reader:
    """Reads the lines the hook appended since the last read."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def skip(self) -> None:
        """Start after what is there now (told already, or by a rockd before)."""
        try:
            self.offset = self.path.stat().st_size
        except OSError:
            self.offset = 0

    def read(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as f:
                size = f.seek(0, 2)
                if size < self.offset:  # emptied
                    self.offset = 0
                f.seek(self.offset)
                raw = f.read()
        except OSError:
            return []
        complete = raw[:raw.rfind(b"\n") + 1]
        self.offset += len(complete)
        found = []
        for line in complete.splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                found.append(value)
        if self.offset >= ROTATE:
            self._rotate()
        return found

    def _rotate(self) -> None:
        """Empty the file when nothing was appended since the read (a line appended in
        between is read first, next time)."""
        try:
            with self.path.open("r+b") as f:
                if f.seek(0, 2) == self.offset:
                    f.truncate(0)
                    self.offset = 0
        except OSError:
            pass
