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
from rockd.storage import profiles as profile_table
from rockd.storage.btrfs_ioctl import device_info
from rockd.storage.btrfs_parsers import parse_mountinfo

log = logging.getLogger(__name__)

SYS_FS_BTRFS = Path("/sys/fs/btrfs")
PROFILES = ("single", "dup", "raid0", "raid1", "raid10", "raid1c3", "raid1c4", "raid5", "raid6")
COPIES = {"single": 1, "dup": 2, "raid0": 1, "raid1": 2, "raid10": 2, "raid1c3": 3,
          "raid1c4": 4}
BLOCK_GROUP_TYPES = ("data", "metadata", "system")
RAID56 = ("raid5", "raid6")
METADATA_THRESHOLD = 4 << 20  # statfs' margin of free metadata space over the global reserve


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
    allocation["global_reserve"] = _read_int(base / "global_rsv_size") or 0
    return allocation


def profiles(uuid: str, *, root: Path = SYS_FS_BTRFS) -> dict[str, str | None]:
    """The block group profile of data, metadata and system, e.g. {"data": "raid1", ...}."""
    allocation = read_allocation(uuid, root=root)
    return {kind: allocation[kind]["profile"] for kind in BLOCK_GROUP_TYPES}


def _ratio(space: dict[str, Any], devices: int) -> float:
    """Raw bytes per logical byte of one block group type (what btrfs-progs calls the ratio).
    sysfs counts no parity for raid5/raid6 (its disk_total equals total): theirs comes from
    the number of devices a stripe spans (summarize_usage corrects it from what the devices
    really have allocated, when that is known)."""
    profile = space["profile"] or "single"
    if profile in RAID56:
        parity = 1 if profile == "raid5" else 2
        return devices / (devices - parity) if devices > parity else 1.0
    if space["total"]:
        return space["disk_total"] / space["total"]
    return float(COPIES.get(profile, 1))


def _raw(space: dict[str, Any], ratio: float) -> tuple[int, int]:
    """(disk_total, disk_used) of one block group type: sysfs' own, but with the parity of
    raid5/raid6 counted."""
    if space["profile"] in RAID56:
        return int(space["total"] * ratio), int(space["used"] * ratio)
    return space["disk_total"], space["disk_used"]


def _metadata_exhausted(metadata: dict[str, Any], reserve: int, left: list[int],
                        size: int) -> bool:
    """Whether the kernel counts a filesystem as full for data whatever the data chunks hold
    (as statfs does): no new metadata chunk fits and the free metadata space, less 4 MiB,
    cannot hold the global reserve."""
    if metadata["total"] - metadata["used"] - METADATA_THRESHOLD >= reserve:
        return False
    return not profile_table.writable(left, metadata["profile"] or "single", size)


def summarize_usage(allocation: dict[str, Any], device_sizes: Iterable[int],
                    device_used: Iterable[int] | None = None) -> dict[str, Any]:
    """Size, use and free space from an allocation (read_allocation), each device's size and
    (when known, from BTRFS_IOC_DEV_INFO) the raw bytes allocated on it.

    size, used, allocated and unallocated are raw bytes (all copies and parity), as `btrfs
    filesystem usage` prints Device size / Used / Device allocated / Device unallocated.
    free_estimate is the logical bytes that can still be written: the free space inside the
    data chunks (mixed ones, on a filesystem made with mixed block groups, less the kernel's
    global metadata reserve that lives in them) plus what new chunks of the data profile can
    hold in each device's unallocated space, placed as the kernel's allocator places them
    (profiles.writable); none when metadata has run out as statfs sees it. stored is the
    logical bytes in use, capacity stored + free_estimate.
    """
    sizes = list(device_sizes)
    size = sum(sizes)
    mixed = bool(allocation.get("mixed"))
    kinds = ("data", "system") if mixed else BLOCK_GROUP_TYPES
    data = allocation["data"]
    ratios = {k: _ratio(allocation[k], len(sizes)) for k in BLOCK_GROUP_TYPES}
    if device_used is not None:
        device_used = list(device_used)
        if data["profile"] in RAID56 and data["total"]:
            rest = sum(_raw(allocation[k], ratios[k])[0] for k in kinds if k != "data")
            ratios["data"] = max(1.0, (sum(device_used) - rest) / data["total"])
    raw = {k: _raw(allocation[k], ratios[k]) for k in kinds}
    allocated = sum(total for total, _ in raw.values())
    if device_used is None:  # not known: each device taken as allocated in its proportion
        device_used = [allocated * s // size if size else 0 for s in sizes]
    left = [s - u for s, u in zip(sizes, device_used, strict=True)]
    reserve = allocation.get("global_reserve", 0)
    free = max(0, data["total"] - data["used"] - (reserve if mixed else 0))
    free += profile_table.writable(left, data["profile"] or "single", size)
    if not mixed and _metadata_exhausted(allocation["metadata"], reserve, left, size):
        free = 0
    stored = sum(allocation[k]["used"] for k in kinds)
    return {"size": size, "used": sum(used for _, used in raw.values()),
            "free_estimate": free, "allocated": allocated,
            "unallocated": max(0, size - allocated), "data_ratio": round(ratios["data"], 4),
            "metadata_ratio": round(ratios["metadata"], 4), "stored": stored,
            "capacity": stored + free,
            "allocation": {k: _with_parity(allocation[k], ratios[k])
                           for k in BLOCK_GROUP_TYPES}}


def _with_parity(space: dict[str, Any], ratio: float) -> dict[str, Any]:
    """One block group type as the tree shows it: raw figures with raid5/raid6 parity."""
    disk_total, disk_used = _raw(space, ratio)
    return {**space, "disk_total": disk_total, "disk_used": disk_used}


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
          device_sizes: Iterable[int] | None = None, device_used: Iterable[int] | None = None,
          root: Path = SYS_FS_BTRFS) -> dict[str, Any]:
    """How full a mounted filesystem is: {size, used, free_estimate, allocated, unallocated,
    data_ratio, metadata_ratio, stored, capacity, allocation: {data|metadata|system: {profile,
    profiles, total, used, disk_total, disk_used}}} (see summarize_usage).

    Allocation comes from sysfs. Device sizes and what is allocated on each do not (sysfs has
    none per btrfs device): they are `device_sizes` and `device_used` if given, else asked of
    the kernel with BTRFS_IOC_DEV_INFO on `mountpoint` (found in /proc/self/mountinfo when not
    given), which counts a missing device at its real size as btrfs-progs does; only if that
    fails, the sysfs block device sizes.
    """
    allocation = read_allocation(uuid, root=root)
    if device_sizes is None:
        target = mountpoint or next((m["target"] for m in mounts(root=root)
                                     if m["uuid"] == uuid), None)
        try:
            if target is None:
                raise FileNotFoundError(f"{uuid} is not mounted")
            devices = device_info(target)
            device_sizes = [d["size"] for d in devices]
            device_used = [d["used"] for d in devices]
        except OSError as exc:
            log.warning("device sizes of %s from sysfs (ioctl failed: %s)", uuid, exc)
            device_sizes = _sysfs_device_sizes(uuid, root)
    return summarize_usage(allocation, device_sizes, device_used)


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
