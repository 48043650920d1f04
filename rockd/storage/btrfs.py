"""The observed side of btrfs: what the kernel and btrfs-progs say a filesystem is, as plain dicts.

Probes only read. Each one that needs btrfs-progs runs it through `commands.run` and hands its
output to a parser (`parse_*`, pure functions of the text, tested on output captured from
btrfs-progs 6.2); the rest read sysfs and /proc directly. Every answer is JSON-able: ints,
strings, bools, None, lists and dicts.

What comes from where (btrfs-progs 6.2, kernel 6.18):
- filesystems: `btrfs filesystem show --raw` (text; the only source for unmounted filesystems).
- device_stats: `btrfs --format json device stats`.
- subvolumes: three `btrfs subvolume list` runs (all, read-only, snapshots with their time):
  text, and names are not escaped, so a name with a newline spans lines.
- qgroups: `btrfs qgroup show -re --raw` as text, because `--format json qgroup show` aborts
  (SIGABRT, "unknown unit base") in 6.2 as soon as any qgroup has a limit. `qgroups_sysfs`
  reads the same numbers from /sys/fs/btrfs/UUID/qgroups without a process.
- usage, profiles: /sys/fs/btrfs/UUID/allocation. Sysfs has no btrfs device sizes (devinfo/N
  holds only error_stats, missing, writeable and the like), so `device_info` asks the kernel
  with the BTRFS_IOC_DEV_INFO ioctl, as `btrfs filesystem usage` does.
- mounts: /proc/self/mountinfo, mapped to filesystem UUIDs through /sys/fs/btrfs/*/devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import select
import struct
import uuid as uuidlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rockd.core import mountinfo
from rockd.core.process import CommandError, run
from rockd.storage import roottree

log = logging.getLogger(__name__)

BTRFS = "btrfs"
SYS_FS_BTRFS = Path("/sys/fs/btrfs")
TIMEOUT = 30.0

PROFILES = ("single", "dup", "raid0", "raid1", "raid10", "raid1c3", "raid1c4", "raid5", "raid6")
COPIES = {"single": 1, "dup": 2, "raid0": 1, "raid1": 2, "raid10": 2, "raid1c3": 3,
          "raid1c4": 4}
BLOCK_GROUP_TYPES = ("data", "metadata", "system")
DEVICE_STAT_KEYS = ("write_io_errs", "read_io_errs", "flush_io_errs", "corruption_errs",
                    "generation_errs")
MISSING_DISK = "<missing disk>"
FS_TREE = "<FS_TREE>/"


def _uuid_or_none(value: str) -> str | None:
    return None if value == "-" else value


# --- filesystem show -----------------------------------------------------------------------

# numbers in btrfs-progs' output are ASCII digits: \d must not take others (re.ASCII)
_LABEL = re.compile(r"^Label: (?:'(?P<label>[\s\S]*)'|none)  uuid: (?P<uuid>[0-9a-fA-F-]{36})\Z")
_TOTAL = re.compile(r"^\s+Total devices (?P<total>\d+) FS bytes used (?P<used>\d+)$", re.ASCII)
_DEVID = re.compile(r"^\s+devid\s+(?P<devid>\d+) size (?P<size>\d+) used (?P<used>\d+) "
                    r"path (?P<path>.*?)(?P<missing> MISSING)?$", re.ASCII)


def parse_filesystem_show(text: str) -> list[dict[str, Any]]:
    """Parse `btrfs filesystem show --raw`.

    Each filesystem: uuid, label (None when unset), total_devices, bytes_used (logical), devices
    (devid, size, used = allocated bytes, path or None, missing) and devices_missing: how many
    of total_devices are absent. A mounted degraded filesystem lists its missing device as
    `path <missing disk> MISSING` (or `path  MISSING` when the kernel never saw that device
    since boot or `device scan --forget`), always with size 0; an unmounted one only says
    `*** Some devices missing`, so its missing devices are counted but cannot be listed.
    """
    found: list[dict[str, Any]] = []
    fs: dict[str, Any] | None = None
    label_lines: list[str] = []  # a label holding newlines spans lines, like a subvolume name
    for line in text.split("\n"):
        if label_lines or line.startswith("Label: "):
            label_lines.append(line)
            m = _LABEL.match("\n".join(label_lines))
            if m is None:
                fs = None  # lines until the label is whole belong to no filesystem
                if len(label_lines) > 8:
                    log.warning("btrfs filesystem show: unexpected line %r", label_lines[0])
                    label_lines = []
                continue
            label_lines = []
            fs = {"uuid": m["uuid"].lower(), "label": m["label"], "total_devices": 0,
                  "bytes_used": 0, "devices": [], "devices_missing": 0}
            found.append(fs)
        elif fs is None or not line.strip():
            continue
        elif m := _TOTAL.match(line):
            fs["total_devices"], fs["bytes_used"] = int(m["total"]), int(m["used"])
        elif m := _DEVID.match(line):
            path = None if m["path"] in ("", MISSING_DISK) else m["path"]
            fs["devices"].append({"devid": int(m["devid"]), "size": int(m["size"]),
                                  "used": int(m["used"]), "path": path,
                                  "missing": bool(m["missing"]) or path is None})
        elif "Some devices missing" not in line and not line.startswith("warning"):
            log.warning("btrfs filesystem show: unexpected line %r", line)
    if label_lines:
        log.warning("btrfs filesystem show: unexpected line %r", label_lines[0])
    for fs in found:
        present = sum(1 for d in fs["devices"] if not d["missing"])
        fs["devices_missing"] = max(0, fs["total_devices"] - present)
    return found


async def filesystems() -> list[dict[str, Any]]:
    """Every btrfs filesystem the machine knows, mounted or not (see parse_filesystem_show)."""
    result = await run([BTRFS, "filesystem", "show", "--raw"], timeout=TIMEOUT)
    return parse_filesystem_show(result.stdout)


# --- device stats --------------------------------------------------------------------------

def parse_device_stats(text: str) -> dict[str, dict[str, int]]:
    """Parse `btrfs --format json device stats`: {device path: {counter: n, "devid": n}}.

    A missing device is keyed `devid:N` (btrfs-progs itself prints that as its path when the
    kernel never saw the device, and `<missing disk>` when it did), so two cannot collide.
    """
    stats: dict[str, dict[str, int]] = {}
    for entry in json.loads(text).get("device-stats", []):
        devid = int(entry["devid"])
        path = entry.get("device") or ""
        missing = path in ("", MISSING_DISK) or path.startswith("devid:")
        key = f"devid:{devid}" if missing or path in stats else path
        stats[key] = {k: int(entry[k]) for k in DEVICE_STAT_KEYS} | {"devid": devid}
    return stats


async def device_stats(mountpoint: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    """The error counters of each device of a mounted filesystem."""
    argv = [BTRFS, "--format", "json", "device", "stats", str(mountpoint)]
    result = await run(argv, timeout=TIMEOUT, check=False)
    # 64 means "some counter is not zero" (with -c); that is an answer, not a failure
    if result.returncode not in (0, 64):
        raise CommandError(argv, result.returncode, result.stderr)
    return parse_device_stats(result.stdout)


# --- subvolumes ----------------------------------------------------------------------------

_SUBVOL = re.compile(
    r"^ID (?P<id>\d+) gen (?P<gen>\d+)(?: cgen (?P<cgen>\d+))?(?: parent (?P<parent>\d+))?"
    r" top level (?P<top>\d+)(?: otime (?P<otime>-|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d))?"
    r"(?: parent_uuid (?P<puuid>\S+))?(?: +received_uuid (?P<ruuid>\S+))?"
    r"(?: +uuid (?P<uuid>\S+))? path (?P<path>.*)$", re.ASCII)


def _otime(value: str | None) -> str | None:
    """`2024-01-31 23:59:00` (the regex checked its shape; UTC) as RFC 3339."""
    if not value or value == "-":
        return None
    return value.replace(" ", "T") + "Z"


def parse_subvolume_list(text: str) -> list[dict[str, Any]]:
    """Parse `btrfs subvolume list -a` with any of -p -c -u -q -R -s -r.

    Each subvolume: id, parent_id, top_level, path (from the filesystem's root), uuid,
    parent_uuid, received_uuid, generation, ogeneration, read_only (always False here: the
    list has no such column) and created (from `otime`, printed only with -s, read as UTC: run
    the command with TZ=UTC). Fields the options did not ask for are None. The `<FS_TREE>/`
    that -a puts before paths outside the mounted subvolume is removed, so every path is
    from the top of the filesystem.

    Paths are not escaped by btrfs-progs: a line that is not a subvolume line continues the
    previous path (its name held a newline); it is joined back with a newline and logged.
    """
    lines = text.split("\n")  # not splitlines(): names may hold \r, \v, \x1c, \u2028 ...
    if lines and lines[-1] == "":
        lines.pop()
    found: list[dict[str, Any]] = []
    for line in lines:
        m = _SUBVOL.match(line)
        if m is None:
            if found:
                log.warning("subvolume %s: its name holds a newline", found[-1]["id"])
                found[-1]["path"] += "\n" + line
            else:
                log.warning("btrfs subvolume list: unexpected line %r", line)
            continue
        found.append({
            "id": int(m["id"]),
            "parent_id": int(m["parent"]) if m["parent"] else None,
            "top_level": int(m["top"]),
            "path": m["path"].removeprefix(FS_TREE),
            "uuid": _uuid_or_none(m["uuid"]) if m["uuid"] else None,
            "parent_uuid": _uuid_or_none(m["puuid"]) if m["puuid"] else None,
            "received_uuid": _uuid_or_none(m["ruuid"]) if m["ruuid"] else None,
            "read_only": False,
            "generation": int(m["gen"]),
            "ogeneration": int(m["cgen"]) if m["cgen"] else None,
            "created": _otime(m["otime"]),
        })
    return found


async def subvolumes(mountpoint: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every subvolume of the filesystem mounted at `mountpoint` (see parse_subvolume_list).

    Read from the root tree with ioctls (`roottree`, about 3x faster at 5,000 subvolumes,
    and it has every subvolume's creation time); where those are refused, from btrfs-progs.
    """
    try:
        return await asyncio.to_thread(roottree.subvolumes, str(mountpoint))
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


# --- quota groups --------------------------------------------------------------------------

_QGROUP = re.compile(r"^(?P<id>\d+/\d+)\s+(?P<rfer>\d+)\s+(?P<excl>\d+)\s+"
                     r"(?P<max_rfer>none|\d+)\s+(?P<max_excl>none|\d+)(?:\s|$)", re.ASCII)


def _limit(value: str) -> int | None:
    return None if value == "none" else int(value)


def parse_qgroup_show(text: str) -> dict[str, dict[str, int | None]]:
    """Parse `btrfs qgroup show -re --raw`: {"0/ID": {referenced, exclusive, max_referenced,
    max_exclusive}} with None for no limit. Header lines, and the tails of paths that hold a
    newline, are skipped."""
    groups: dict[str, dict[str, int | None]] = {}
    for line in text.split("\n"):
        if m := _QGROUP.match(line):
            groups[m["id"]] = {"referenced": int(m["rfer"]), "exclusive": int(m["excl"]),
                               "max_referenced": _limit(m["max_rfer"]),
                               "max_exclusive": _limit(m["max_excl"])}
    return groups


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


# --- usage and profiles (sysfs, and one ioctl) ---------------------------------------------

def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (0x94 << 8) | nr


BTRFS_IOC_DEV_INFO = _ioc(3, 30, 4096)  # _IOWR(0x94, 30, struct btrfs_ioctl_dev_info_args)
BTRFS_IOC_FS_INFO = _ioc(2, 31, 1024)  # _IOR(0x94, 31, struct btrfs_ioctl_fs_info_args)
BTRFS_IOC_SCRUB_PROGRESS = _ioc(3, 29, 1024)  # _IOWR(0x94, 29, struct btrfs_ioctl_scrub_args)
BTRFS_IOC_BALANCE_PROGRESS = _ioc(2, 34, 1024)  # _IOR(0x94, 34, struct btrfs_ioctl_balance_args)
SCRUB_FIELDS = ("data_extents_scrubbed", "tree_extents_scrubbed", "data_bytes_scrubbed",
                "tree_bytes_scrubbed", "read_errors", "csum_errors", "verify_errors", "no_csum",
                "csum_discards", "super_errors", "malloc_errors", "uncorrectable_errors",
                "corrected_errors", "last_physical", "unverified_errors")


def balance_progress(mountpoint: str | os.PathLike[str]) -> dict[str, int] | None:
    """The running (or paused) balance's chunk counts {expected, considered, completed, state},
    or None when there is none (BTRFS_IOC_BALANCE_PROGRESS answers ENOTCONN)."""
    fd = os.open(mountpoint, os.O_RDONLY | os.O_DIRECTORY)
    try:
        args = bytearray(1024)
        fcntl.ioctl(fd, BTRFS_IOC_BALANCE_PROGRESS, args)
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            return None
        raise
    finally:
        os.close(fd)
    _flags, state = struct.unpack_from("=QQ", args, 0)
    expected, considered, completed = struct.unpack_from("=QQQ", args, 424)
    return {"expected": expected, "considered": considered, "completed": completed,
            "state": state}


def scrub_progress(mountpoint: str | os.PathLike[str], devid: int) -> dict[str, int] | None:
    """One device's scrub counters while a scrub runs on it (BTRFS_IOC_SCRUB_PROGRESS), or
    None when none does."""
    fd = os.open(mountpoint, os.O_RDONLY | os.O_DIRECTORY)
    try:
        args = bytearray(1024)
        struct.pack_into("=Q", args, 0, devid)
        fcntl.ioctl(fd, BTRFS_IOC_SCRUB_PROGRESS, args)
    except OSError as exc:
        if exc.errno in (errno.ENOTCONN, errno.ENODEV):
            return None
        raise
    finally:
        os.close(fd)
    return dict(zip(SCRUB_FIELDS, struct.unpack_from("=15Q", args, 32), strict=True))


def device_info(mountpoint: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Each device of a mounted filesystem as the kernel knows it (BTRFS_IOC_DEV_INFO):
    {devid, uuid, size (btrfs' size of it), used (allocated), path or None when missing}.

    Unlike `filesystem show`, this gives a missing device's real size.
    """
    fd = os.open(mountpoint, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fs_info = bytearray(1024)
        fcntl.ioctl(fd, BTRFS_IOC_FS_INFO, fs_info)
        max_id = struct.unpack_from("<Q", fs_info)[0]
        devices = []
        for devid in range(1, max_id + 1):
            args = bytearray(4096)
            struct.pack_into("<Q", args, 0, devid)
            try:
                fcntl.ioctl(fd, BTRFS_IOC_DEV_INFO, args)
            except OSError as exc:
                if exc.errno == errno.ENODEV:  # a devid freed by device remove
                    continue
                raise
            _, dev_uuid, used, size = struct.unpack_from("<Q16sQQ", args)
            path = bytes(args[3072:]).split(b"\0", 1)[0].decode(errors="replace")
            devices.append({"devid": devid, "uuid": str(uuidlib.UUID(bytes=dev_uuid)),
                            "size": size, "used": used,
                            "path": None if path in ("", MISSING_DISK) else path})
        return devices
    finally:
        os.close(fd)


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

def parse_mountinfo(text: str) -> list[dict[str, Any]]:
    """The btrfs mounts in /proc/self/mountinfo text: {source, target, root (the folder of
    the filesystem mounted there), options (per mount), super_options (the filesystem's),
    subvol, subvolid, uuid (None here; mounts() fills it), major_minor}."""
    found = []
    for mount in mountinfo.parse(text):
        if mount.fstype != "btrfs":
            continue
        named = mount.named_options
        subvolid = named.get("subvolid")
        found.append({
            "source": mount.source, "target": mount.target, "root": mount.root,
            "options": mount.options, "super_options": mount.super_options,
            "subvol": named.get("subvol"),
            "subvolid": int(subvolid) if subvolid and subvolid.isascii() and subvolid.isdigit()
            else None,
            "uuid": None, "major_minor": mount.major_minor})
    return found


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
