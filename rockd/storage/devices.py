"""Which block devices rockd may touch: the --devices allowlist, never the disk holding /."""

from __future__ import annotations

import fnmatch
import os
from functools import cache
from pathlib import Path

SYS_BLOCK = Path("/sys/block")


@cache
def root_disk() -> str | None:
    """The kernel name of the disk that holds / (e.g. 'vda'), or None if it is not a disk."""
    dev = os.stat("/").st_dev
    link = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if not link.exists():
        return None
    real = link.resolve()
    # a partition's sysfs folder sits inside its disk's folder
    if (real / "partition").exists():
        real = real.parent
    return real.name


class Allowlist:
    """Paths and globs from --devices; a device matches by its /dev path."""

    def __init__(self, patterns: list[str]):
        self.patterns = [p.strip() for p in patterns if p.strip()]

    def allows(self, name: str) -> bool:
        """Whether rockd may write to the disk with kernel name `name`."""
        if name == root_disk():
            return False
        path = f"/dev/{name}"
        return any(fnmatch.fnmatchcase(path, p) or _same_device(path, p) for p in self.patterns)


def _same_device(path: str, pattern: str) -> bool:
    """A pattern without wildcards may be a symlink such as /dev/disk/by-id/..."""
    if any(c in pattern for c in "*?["):
        return False
    try:
        return os.path.realpath(pattern) == path
    except OSError:
        return False
