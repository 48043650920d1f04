"""Subvolumes and snapshots made by hand, fast: the btrfs ioctls that `btrfs subvolume create`
and `btrfs subvolume snapshot -r` use, without a process each (for the benchmarks' thousands
of snapshots, and tests that make a few hundred)."""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

VOL_ARGS_V2 = struct.Struct("=qQQ32s4040s")  # struct btrfs_ioctl_vol_args_v2: 4096 bytes
SNAP_CREATE_V2 = (1 << 30) | (VOL_ARGS_V2.size << 16) | (0x94 << 8) | 23
SUBVOL_CREATE_V2 = (1 << 30) | (VOL_ARGS_V2.size << 16) | (0x94 << 8) | 24
SUBVOL_RDONLY = 1 << 1


def _in(folder: Path, request: int, source_fd: int, flags: int, name: str) -> None:
    args = bytearray(VOL_ARGS_V2.pack(source_fd, 0, flags, b"", name.encode()))
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, request, args)
    finally:
        os.close(fd)


def create(path: Path) -> None:
    """A new empty subvolume at `path`."""
    _in(path.parent, SUBVOL_CREATE_V2, 0, 0, path.name)


def snapshot(source: Path, path: Path, read_only: bool = True) -> None:
    """A snapshot of subvolume `source` at `path` (read-only unless asked otherwise)."""
    fd = os.open(source, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _in(path.parent, SNAP_CREATE_V2, fd, SUBVOL_RDONLY if read_only else 0, path.name)
    finally:
        os.close(fd)
