"""Mounting pools: by the disk each was made on, with the options asked for, and telling from
the mount table whether a mount drifted from them.

`mount` makes the kernel know every device, then mounts by one disk, never by UUID (a copy of
a disk holds that too); a refusal answers 422 with what the kernel logged meanwhile. The
kernel shows mount options in its own words and leaves defaults out: `in_force` reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from rockd.core.errors import Conflict, Unprocessable
from rockd.core.process import CommandError, run
from rockd.core.tree import Subtree
from rockd.storage import btrfs_sysfs, kernel_log
from rockd.storage.pool_input import kept_options

log = logging.getLogger(__name__)

NEGATIONS = {"noautodefrag": "autodefrag", "noflushoncommit": "flushoncommit",
             "datacow": "nodatacow", "datasum": "nodatasum", "barrier": "nobarrier"}
"""Options the kernel never shows: each is in force while the option it undoes is not shown."""


# -- the mount table, read back ------------------------------------------------------------

def in_force(option: str, shown: set[str]) -> bool:
    """Whether a mount showing `shown` (mountinfo's options) has `option` in force: the
    kernel shows some options in other words and leaves defaults out (kernel 6.18)."""
    name = option.partition("=")[0]
    if option in shown:
        return True
    if option in NEGATIONS:
        return NEGATIONS[option] not in shown
    if option == "nodiscard":
        return not shown & {"discard", "discard=async"}
    if option == "discard=sync":
        return "discard" in shown
    if name in ("commit", "thread_pool", "max_inline"):  # a default value is not shown
        return not any(o.startswith(f"{name}=") for o in shown)
    return False


def filesystem_options(mount: dict[str, Any]) -> list[str]:
    """The mount's options (noatime...) then the filesystem's (compress...), without the
    subvolume it shows and without repeats."""
    options: list[str] = []
    for option in mount["options"] + mount["super_options"]:
        if option not in options and not option.startswith(("subvol=", "subvolid=")):
            options.append(option)
    return options


def compression_of(options: list[str]) -> str | None:
    for option in options:
        if option.startswith(("compress=", "compress-force=")):
            return option.split("=", 1)[1]
    return None


def _wanted_compression(intent: dict[str, Any]) -> str | None:
    compression = intent.get("compression")
    return None if compression in (None, "no") else compression


def same_compression(have: str | None, intent: dict[str, Any]) -> bool:
    """Whether the mount compresses as asked ("zstd" asks for any zstd level)."""
    want = _wanted_compression(intent)
    if have is None or want is None:
        return have == want
    return have == want or (":" not in want and have.split(":")[0] == want)


def drifted(mount: dict[str, Any], intent: dict[str, Any], options: str) -> bool:
    """Whether `mount` (a btrfs mount of the pool) lacks an option of `options` (the -o string
    of its intent) or compresses otherwise than asked."""
    have = set(filesystem_options(mount))
    wanted = {o for o in options.split(",") if o != "defaults" and not o.startswith("compress=")}
    return not all(in_force(o, have) for o in wanted) or \
        not same_compression(compression_of(mount["super_options"]), intent)


# -- which disks, which mount point ----------------------------------------------------------

def members(tree: Subtree, uuid: str, chosen: str | None) -> list[str]:
    """The paths of the present disks (in /disks) to mount a pool from, the disk `chosen` (the
    one it was created on or imported from) first. Of two disks holding copies of one device
    (see `duplicate_of` in /disks), only `chosen` counts: 409 duplicate_filesystem when neither
    is it, since which one is the pool's cannot be told."""
    disks = sorted((d for d in (tree.get("/disks") or {}).values()
                    if d.get("pool") == uuid), key=lambda d: d["id"] != chosen)
    paths = []
    for disk in disks:
        twins = (disk.get("filesystem") or {}).get("duplicate_of") or []
        if twins and chosen not in (disk["id"], *twins):
            raise Conflict(f"disks {', '.join([disk['id'], *twins])} hold copies of one "
                           "device of that filesystem (the same UUIDs): which one to "
                           "mount cannot be told", code="duplicate_filesystem",
                           detail={"disk": disk["id"], "duplicate_of": twins})
        if not twins or disk["id"] == chosen:
            paths.append(disk["path"])
    return paths


def point_free(point: Path, uuid: str | None = None) -> None:
    """409 when the mount point is in use: anything there but an empty folder, or the
    filesystem `uuid` itself mounted there."""
    if not os.path.lexists(point):
        return
    if point.is_mount():
        if uuid and any(m["target"] == str(point) and m["uuid"] == uuid
                        for m in btrfs_sysfs.mounts()):
            return
    elif point.is_dir() and not point.is_symlink() and not any(point.iterdir()):
        return
    raise Conflict(f"{point} is in use", code="exists")


# -- mount, remount, unmount -----------------------------------------------------------------

def _make_point(point: Path) -> bool:
    """Make the mount point's folder; answers whether it was not there before."""
    made = not (point.exists() or point.is_symlink())
    point.mkdir(parents=True, exist_ok=True)
    return made


def _remove_point(point: Path) -> None:
    with contextlib.suppress(OSError):
        point.rmdir()


async def mount(point: Path, devices: list[str], name: str, options: str) -> None:
    """Mount pool `name` at `point` by the device `devices[0]`, after making the kernel know
    each of `devices`. 422 mount_failed with what the kernel logged about these devices
    meanwhile (mount(8) says only "can't read superblock"); a mount point made for it is
    removed again."""
    made = _make_point(point)
    for device in devices:  # a disk that went away is not a reason to stop
        result = await run(["btrfs", "device", "scan", device], check=False)
        if result.returncode:
            log.info("btrfs device scan %s: %s", device, result.stderr.strip())
    with kernel_log.Following() as kernel:
        try:
            await run(["mount", "-t", "btrfs", "-o", options, devices[0], str(point)])
        except CommandError as exc:
            said = kernel_log.about(kernel.read(), devices)
            if made:
                _remove_point(point)
            why = kernel_log.reason(said) or exc.stderr
            raise Unprocessable(f"pool {name} did not mount: {why}", code="mount_failed",
                                detail={"kernel": [r.text for r in said],
                                        "mount": exc.stderr}) from None


async def remount(point: str, intent: dict[str, Any], compression: str | None) -> None:
    """Remount with the intended options; compression switched off needs saying so."""
    options = kept_options(intent)
    if _wanted_compression(intent) is None and compression is not None:
        options += ",compress=no"
    await run(["mount", "-o", f"remount,{options}", point])


async def unmount(point: str, tries: int = 10) -> None:
    """Unmount, waiting a little while it is busy: rockd's own probes (a rescan that an
    inotify event started) hold the mount for milliseconds at a time."""
    for attempt in range(tries):
        try:
            await run(["umount", point])
            return
        except CommandError as exc:
            if "busy" not in exc.stderr or attempt == tries - 1:
                raise
            await asyncio.sleep(0.1)


async def release(point: str, name: str) -> None:
    """Unmount pool `name` at `point`; 409 busy when it stays in use."""
    try:
        await unmount(point)
    except CommandError as exc:
        raise Conflict(f"pool {name} is busy: {exc.stderr}", code="busy") from None
