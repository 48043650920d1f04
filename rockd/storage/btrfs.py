"""What btrfs-progs says a filesystem is: the probes that run it, as plain dicts.

Probes only read. Each one runs btrfs-progs through `rockd.core.process.run` and hands its
output to a parser (rockd.storage.btrfs_parsers); what the kernel tells without a process is
read in rockd.storage.btrfs_sysfs (sysfs, the mount table) and btrfs_ioctl.

What comes from where (btrfs-progs 6.2, kernel 6.18):
- filesystems: `btrfs filesystem show --raw` (text; the only source for unmounted filesystems).
- device_stats: `btrfs --format json device stats`.
- subvolumes: the root tree through ioctls (rockd.storage.roottree), or, where those are
  refused, three `btrfs subvolume list` runs (all, read-only, snapshots with their time).
- qgroups: `btrfs qgroup show -re --raw` as text, because `--format json qgroup show` aborts
  (SIGABRT, "unknown unit base") in 6.2 as soon as any qgroup has a limit.
  `btrfs_sysfs.qgroups_sysfs` reads the same numbers from sysfs without a process.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from rockd.core.process import CommandError, run
from rockd.storage import roottree
from rockd.storage.btrfs_parsers import (
    parse_device_stats,
    parse_filesystem_show,
    parse_qgroup_show,
    parse_subvolume_list,
)

log = logging.getLogger(__name__)

BTRFS = "btrfs"
TIMEOUT = 30.0


async def filesystems() -> list[dict[str, Any]]:
    """Every btrfs filesystem the machine knows, mounted or not (see parse_filesystem_show)."""
    result = await run([BTRFS, "filesystem", "show", "--raw"], timeout=TIMEOUT)
    return parse_filesystem_show(result.stdout)


async def device_stats(mountpoint: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    """The error counters of each device of a mounted filesystem."""
    argv = [BTRFS, "--format", "json", "device", "stats", str(mountpoint)]
    result = await run(argv, timeout=TIMEOUT, check=False)
    # 64 means "some counter is not zero" (with -c); that is an answer, not a failure
    if result.returncode not in (0, 64):
        raise CommandError(argv, result.returncode, result.stderr)
    return parse_device_stats(result.stdout)


async def subvolumes(mountpoint: str | os.PathLike[str],
                     cache: roottree.ItemCache | None = None) -> list[dict[str, Any]]:
    """Every subvolume of the filesystem mounted at `mountpoint` (see parse_subvolume_list).

    Read from the root tree with ioctls (`roottree`, about 3x faster at 5,000 subvolumes,
    and it has every subvolume's creation time; with `cache`, what did not change since the
    last read is not parsed again); where those are refused, from btrfs-progs.
    """
    try:
        return await asyncio.to_thread(roottree.subvolumes, str(mountpoint), cache)
    except OSError as exc:
        log.info("subvolumes of %s through btrfs-progs (ioctl refused: %s)", mountpoint, exc)
        return await subvolumes_listed(mountpoint)


async def subvolumes_listed(mountpoint: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """`subvolumes` from `btrfs subvolume list` (see parse_subvolume_list).

    Three listings run side by side: all subvolumes, the read-only ones (-r) and the snapshots
    with their creation time (-s; btrfs-progs prints otime only there). All with -a: without
    it, when a subvolume (not the top) is mounted, the subvolumes below it are listed relative
    to it and the others from the top, with nothing to tell which is which. So `created` is set
    for snapshots and None for subvolumes made with `subvolume create` (or by a full receive).
    The listings are not atomic together: a subvolume made between them can lack its
    read_only or created until the next probe.
    """
    m = str(mountpoint)
    listed, readonly, snapshots = await asyncio.gather(
        run([BTRFS, "subvolume", "list", "-a", "-puqRc", m], timeout=TIMEOUT),
        run([BTRFS, "subvolume", "list", "-a", "-r", m], timeout=TIMEOUT),
        # otime is printed in local time without a zone: make the local zone UTC
        run(["env", "TZ=UTC", BTRFS, "subvolume", "list", "-a", "-s", m], timeout=TIMEOUT))
    read_only = {s["id"] for s in parse_subvolume_list(readonly.stdout)}
    created = {s["id"]: s["created"] for s in parse_subvolume_list(snapshots.stdout)}
    found = parse_subvolume_list(listed.stdout)
    for sub in found:
        sub["read_only"] = sub["id"] in read_only
        sub["created"] = created.get(sub["id"])
    return found


async def qgroups(mountpoint: str | os.PathLike[str]) -> dict[str, dict[str, int | None]] | None:
    """Quota group usage and limits of a mounted filesystem, or None when quotas are off.

    Text output, not `--format json`: btrfs-progs 6.2 aborts on JSON when a limit is set.
    """
    argv = [BTRFS, "qgroup", "show", "-re", "--raw", str(mountpoint)]
    result = await run(argv, timeout=TIMEOUT, check=False)
    if result.returncode != 0:
        if "quotas not enabled" in result.stderr:
            return None
        raise CommandError(argv, result.returncode, result.stderr)
    if result.stderr.strip():
        log.info("btrfs qgroup show %s: %s", mountpoint, result.stderr.strip())
    return parse_qgroup_show(result.stdout)
