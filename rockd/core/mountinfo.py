"""The mount table, /proc/self/mountinfo, read in one place.

Each line is `ID PARENT MAJOR:MINOR ROOT TARGET OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER`
(proc(5)). The kernel escapes space, tab, newline and backslash in the path fields as octal
(`\\040`, `\\011`, `\\012`, `\\134`), so a field never holds a separator: split on spaces, then
unescape. Paths are kept as the bytes the kernel gave, decoded with surrogateescape, so a name
that is not UTF-8 round-trips to the same file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PROC_MOUNTINFO = Path("/proc/self/mountinfo")
_OCTAL = re.compile(r"\\([0-7]{3})")


def unescape(field: str) -> str:
    """A mountinfo field with the kernel's octal escapes undone."""
    return _OCTAL.sub(lambda m: chr(int(m[1], 8)), field)


def _options(field: str) -> list[str]:
    return [unescape(option) for option in field.split(",") if option]


@dataclass(frozen=True)
class Mount:
    """One line of the mount table, unescaped."""

    mount_id: int
    parent_id: int
    major_minor: str
    root: str  # the folder of the filesystem that is mounted here
    target: str  # the mount point
    options: list[str]  # the mount's own (rw, noatime...)
    fstype: str
    source: str
    super_options: list[str]  # the filesystem's (compress, subvol...)

    @property
    def named_options(self) -> dict[str, str]:
        """The super options that have a value (`subvol=/x` as {"subvol": "/x"})."""
        return dict(o.split("=", 1) for o in self.super_options if "=" in o)


def parse(text: str) -> list[Mount]:
    """Every mount in mountinfo `text`; a line that is not one is skipped."""
    found = []
    for line in text.split("\n"):
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)  # after the optional fields (shared:N, master:N...)
            tail = fields[sep + 1:]
            found.append(Mount(int(fields[0]), int(fields[1]), fields[2], unescape(fields[3]),
                               unescape(fields[4]), _options(fields[5]), tail[0],
                               unescape(tail[1]), _options(tail[2])))
        except (ValueError, IndexError):
            continue
    return found


def read(path: Path = PROC_MOUNTINFO) -> list[Mount]:
    """This process' mount table now."""
    return parse(path.read_bytes().decode(errors="surrogateescape"))


def targets_under(root: Path | str, mounts: list[Mount] | None = None) -> list[str]:
    """Mount points at or below `root`, once per mount, deepest (then last mounted) first: the
    order in which they can be unmounted."""
    prefix = str(root).rstrip("/") or "/"
    targets = [m.target for m in (read() if mounts is None else mounts)
               if m.target == prefix or m.target.startswith(prefix.rstrip("/") + "/")]
    return sorted(reversed(targets), key=lambda t: t.count("/"), reverse=True)
