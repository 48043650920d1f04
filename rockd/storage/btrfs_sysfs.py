"""What the kernel tells of btrfs without a process: /sys/fs/btrfs/UUID and the mount table.

- usage, profiles: /sys/fs/btrfs/UUID/allocation. Sysfs has no btrfs device sizes (devinfo/N
  holds only error_stats, missing, writeable and the like), so `usage` asks the kernel with
  the BTRFS_IOC_DEV_INFO ioctl (btrfs_ioctl.device_info), as `btrfs filesystem usage` does.
- quotas, exclusive operations, present and missing devices: their sysfs files.
- mounts: /proc/self/mountinfo, mapped to filesystem UUIDs through /sys/fs/btrfs/*/devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rockd.core import mountinfo
from rockd.storage.btrfs_ioctl import device_info
from rockd.storage.btrfs_parsers import parse_mountinfo

log = logging.getLogger(__name__)

SYS_FS_BTRFS = Path("/sys/fs/btrfs")
PROFILES = ("single", "dup", "raid0", "raid1", "raid10", "raid1c3", "raid1c4", "raid5", "raid6")
COPIES = {"single": 1, "dup": 2, "raid0": 1, "raid1": 2, "raid10": 2, "raid1c3": 3,
          "raid1c4": 4}
BLOCK_GROUP_TYPES = ("data", "metadata", "system")


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


# --- state of a mounted filesystem ---------------------------------------------------------

def exclusive_operation(uuid: str, *, root: Path = SYS_FS_BTRFS) -> str | None:
    """The exclusive operation running on a mounted filesystem ("balance", "device remove",
    "balance paused"...), or None (sysfs; kernels from 5.10)."""
    try:
        value = (root / uuid / "exclusive_operation").read_text().strip()
    except OSError:
        return None
    return None if value == "none" else value


def device_names(uuid: str, *, root: Path = SYS_FS_BTRFS) -> list[str]:
    """The kernel names of a mounted filesystem's present devices (sysfs; no process)."""
    try:
        return sorted(entry.name for entry in (root / uuid / "devices").iterdir())
    except OSError:
        return []


def missing_devices(uuid: str, *, root: Path = SYS_FS_BTRFS) -> list[int]:
    """The devids of a mounted filesystem's missing devices (sysfs devinfo/N/missing)."""
    try:
        folders = list((root / uuid / "devinfo").iterdir())
    except OSError:
        return []
    return sorted(int(f.name) for f in folders
                  if f.name.isascii() and f.name.isdigit() and _read_int(f / "missing") == 1)


async def exclusive_operation_over(uuid: str, *, root: Path = SYS_FS_BTRFS,
                                   recheck: float = 30.0) -> None:
    """Until a mounted filesystem runs no exclusive operation: sysfs wakes poll() (PRI/ERR)
    on `exclusive_operation` when one ends. The file is read again every `recheck` seconds
    too, in case the filesystem went away meanwhile."""
    fd = os.open(root / uuid / "exclusive_operation", os.O_RDONLY | os.O_CLOEXEC)
    epoll = select.epoll()
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()
    try:
        epoll.register(fd, select.EPOLLPRI | select.EPOLLERR)
        loop.add_reader(epoll.fileno(), woken.set)
        # read, then wait: a read arms the poll, so an end after it is never missed
        while os.pread(fd, 64, 0).strip() not in (b"none", b""):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), recheck)
            epoll.poll(0)
            woken.clear()
    finally:
        loop.remove_reader(epoll.fileno())
        epoll.close()
        os.close(fd)


def quotas_enabled(uuid: str, *, root: Path = SYS_FS_BTRFS) -> bool:
    """Whether quotas are on for a mounted filesystem (sysfs; no process)."""
    return _read_int(root / uuid / "qgroups" / "enabled") == 1


def qgroups_sysfs(uuid: str, *, root: Path = SYS_FS_BTRFS
                  ) -> dict[str, dict[str, int | None]] | None:
    """The same as `qgroups`, read from /sys/fs/btrfs/UUID/qgroups (no process; mounted only).

    limit_flags bit 0 marks a referenced limit, bit 1 an exclusive one.
    """
    base = root / uuid / "qgroups"
    if _read_int(base / "enabled") != 1:
        return None
    groups: dict[str, dict[str, int | None]] = {}
    for entry in sorted(base.iterdir()):
        level, _, qid = entry.name.partition("_")
        if not (entry.is_dir() and level.isdigit() and qid.isdigit()):
            continue
        flags = _read_int(entry / "limit_flags") or 0
        groups[f"{level}/{qid}"] = {
            "referenced": _read_int(entry / "referenced") or 0,
            "exclusive": _read_int(entry / "exclusive") or 0,
            "max_referenced": _read_int(entry / "max_referenced") if flags & 1 else None,
            "max_exclusive": _read_int(entry / "max_exclusive") if flags & 2 else None,
        }
    return groups


# --- usage and profiles --------------------------------------------------------------------

def _space_info(folder: Path) -> dict[str, Any]:
    """One allocation/<type> folder: logical and raw totals and its profile subfolders."""
    profiles = {}
    for name in PROFILES:
        if (folder / name).is_dir():
            profiles[name] = _read_int(folder / name / "total_bytes") or 0
    # several profiles at once only while a converting balance runs: name the biggest
    profile = max(profiles, key=lambda p: profiles[p]) if profiles else None
    return {"profile": profile, "profiles": sorted(profiles),
            "total": _read_int(folder / "total_bytes") or 0,
            "used": _read_int(folder / "bytes_used") or 0,
            "disk_total": _read_int(folder / "disk_total") or 0,
            "disk_used": _read_int(folder / "disk_used") or 0}


def read_allocation(uuid: str, *, root: Path = SYS_FS_BTRFS) -> dict[str, dict[str, Any]]:
    """/sys/fs/btrfs/UUID/allocation as {"data"|"metadata"|"system": {profile, profiles,
    total, used, disk_total, disk_used}} (total/used logical, disk_* raw). A filesystem made
    with mixed block groups has one "mixed" folder: it stands for both data and metadata, and
    the result then carries "mixed": True."""
    base = root / uuid / "allocation"
    if not base.is_dir():
        raise FileNotFoundError(f"{base}: not a mounted btrfs filesystem")
    allocation: dict[str, Any] = {kind: _space_info(base / kind) for kind in BLOCK_GROUP_TYPES}
    if (base / "mixed").is_dir():
        mixed = _space_info(base / "mixed")
        allocation |= {"data": mixed, "metadata": mixed, "mixed": True}
    return allocation


def profiles(uuid: str, *, root: Path = SYS_FS_BTRFS) -> dict[str, str | None]:
    """The block group profile of data, metadata and system, e.g. {"data": "raid1", ...}."""
    allocation = read_allocation(uuid, root=root)
    return {kind: allocation[kind]["profile"] for kind in BLOCK_GROUP_TYPES}


def _ratio(space: dict[str, Any], devices: int) -> float:
    """Raw bytes per logical byte of one block group type (what btrfs-progs calls the ratio)."""
    if space["total"]:
        return space["disk_total"] / space["total"]
    profile = space["profile"] or "single"
    if profile in ("raid5", "raid6"):
        parity = 1 if profile == "raid5" else 2
        return devices / (devices - parity) if devices > parity else 1.0
    return float(COPIES.get(profile, 1))


def summarize_usage(allocation: dict[str, Any], device_sizes: Iterable[int]
                    ) -> dict[str, Any]:
    """Size, use and free estimate from an allocation (read_allocation) and device sizes.

    size, used, allocated and unallocated are raw bytes (all copies), as `btrfs filesystem
    usage` prints Device size / Used / Device allocated / Device unallocated; free_estimate is
    logical bytes, its "Free (estimated)": free space in data chunks plus unallocated space
    divided by the data ratio (the same integer arithmetic as btrfs-progs 6.2).
    """
    sizes = list(device_sizes)
    size = sum(sizes)
    mixed = bool(allocation.get("mixed"))
    kinds = ("data", "system") if mixed else BLOCK_GROUP_TYPES
    allocated = sum(allocation[k]["disk_total"] for k in kinds)
    used = sum(allocation[k]["disk_used"] for k in kinds)
    unallocated = max(0, size - allocated)
    data = allocation["data"]
    data_ratio = _ratio(data, len(sizes))
    free = int((data["disk_total"] - data["disk_used"]) / data_ratio)
    if not mixed:  # btrfs-progs counts unallocated space only for separate data chunks
        free = int(free + unallocated / data_ratio)
    return {"size": size, "used": used, "free_estimate": free, "allocated": allocated,
            "unallocated": unallocated, "data_ratio": round(data_ratio, 4),
            "metadata_ratio": round(_ratio(allocation["metadata"], len(sizes)), 4),
            "allocation": {k: allocation[k] for k in BLOCK_GROUP_TYPES}}


def _sysfs_device_sizes(uuid: str, root: Path) -> list[int]:
    """Sizes of the block devices behind a filesystem: present devices only, and their whole
    size even where btrfs was resized to less. The fallback when the ioctl cannot be used."""
    sizes = []
    for dev in sorted((root / uuid / "devices").iterdir()):
        sectors = _read_int(dev / "size")
        if sectors is not None:
            sizes.append(sectors * 512)
    return sizes


def usage(uuid: str, *, mountpoint: str | os.PathLike[str] | None = None,
          device_sizes: Iterable[int] | None = None, root: Path = SYS_FS_BTRFS
          ) -> dict[str, Any]:
    """How full a mounted filesystem is: {size, used, free_estimate, allocated, unallocated,
    data_ratio, metadata_ratio, allocation: {data|metadata|system: {profile, profiles, total,
    used, disk_total, disk_used}}} (see summarize_usage).

    Allocation comes from sysfs. Device sizes do not (sysfs has none per btrfs device): they
    are `device_sizes` if given, else asked of the kernel with BTRFS_IOC_DEV_INFO on
    `mountpoint` (found in /proc/self/mountinfo when not given), which counts a missing device
    at its real size as btrfs-progs does; only if that fails, the sysfs block device sizes.
    """
    allocation = read_allocation(uuid, root=root)
    if device_sizes is None:
        target = mountpoint or next((m["target"] for m in mounts(root=root)
                                     if m["uuid"] == uuid), None)
        try:
            if target is None:
                raise FileNotFoundError(f"{uuid} is not mounted")
            device_sizes = [d["size"] for d in device_info(target)]
        except OSError as exc:
            log.warning("device sizes of %s from sysfs (ioctl failed: %s)", uuid, exc)
            device_sizes = _sysfs_device_sizes(uuid, root)
    return summarize_usage(allocation, device_sizes)


# --- mounts --------------------------------------------------------------------------------

def _btrfs_devices(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Map each block device of a mounted btrfs to its filesystem UUID, by "major:minor" and by
    kernel name, from /sys/fs/btrfs/UUID/devices/NAME."""
    by_number: dict[str, str] = {}
    by_name: dict[str, str] = {}
    try:
        folders = [f for f in root.iterdir() if f.is_dir() and (f / "devices").is_dir()]
    except OSError:
        return by_number, by_name
    for fs in folders:
        for dev in (fs / "devices").iterdir():
            by_name[dev.name] = fs.name
            with contextlib.suppress(OSError):
                by_number[(dev / "dev").read_text().strip()] = fs.name
    return by_number, by_name


def _source_uuid(source: str, by_number: dict[str, str], by_name: dict[str, str]) -> str | None:
    try:
        rdev = os.stat(source).st_rdev
        found = by_number.get(f"{os.major(rdev)}:{os.minor(rdev)}")
        if found:
            return found
    except OSError:
        pass
    return by_name.get(os.path.basename(os.path.realpath(source)))


def mounts(*, table: Path = mountinfo.PROC_MOUNTINFO, root: Path = SYS_FS_BTRFS
           ) -> list[dict[str, Any]]:
    """Every btrfs mount of this process' namespace, with its filesystem UUID.

    The UUID comes from the mounted block device (mountinfo's major:minor is btrfs' anonymous
    device, which says nothing), looked up in /sys/fs/btrfs/*/devices.
    """
    found = parse_mountinfo(table.read_bytes().decode(errors="surrogateescape"))
    by_number, by_name = _btrfs_devices(root)
    for mount in found:
        mount["uuid"] = _source_uuid(mount["source"], by_number, by_name)
    return found
