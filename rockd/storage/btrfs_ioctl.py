"""What the kernel tells of a mounted btrfs through ioctls on its mount point: the progress of
a running balance or scrub, and each device's size (sysfs has no btrfs device sizes).
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import uuid as uuidlib
from typing import Any

from rockd.storage.btrfs_parsers import MISSING_DISK


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
