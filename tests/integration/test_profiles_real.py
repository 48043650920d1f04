"""The profile table and capacity() against real btrfs on loop devices (root only).

mkfs.btrfs tells the minimum device counts. For capacity, each pool is filled with fallocate
until ENOSPC, so the kernel's own allocator decides what fits; then two comparisons:

- replay: allocate() started from the space mkfs left (per device, after its metadata and
  system chunks) must give the kernel's data chunks to the byte, and leave the same
  unallocated space on each device;
- estimate: capacity() of the bare disk sizes (a pool of data alone) must exceed the kernel's
  data by no more than the raw bytes the metadata and system chunks took. Each of those bytes
  would have held at most one byte of data; what the allocator strands at the end, with or
  without them, is measured to fit in that margin for these pools.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from rockd.storage.profiles import (
    PROFILES,
    RESERVED,
    GiB,
    MiB,
    allocate,
    capacity,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for loop devices"),
    pytest.mark.skipif(not all(shutil.which(c) for c in ("losetup", "mkfs.btrfs", "btrfs")),
                       reason="needs losetup and btrfs-progs"),
]

FILL_STEPS = (256 * MiB, 64 * MiB, 16 * MiB, 4 * MiB, MiB, 256 << 10, 64 << 10)


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@dataclass
class Usage:
    """One device's allocation, from `btrfs device usage -b`."""

    size: int
    data: int
    other: int          # metadata and system chunks
    unallocated: int    # includes the reserved first MiB


class Btrfs:
    """Loop devices and mounts made by one test, all undone by close()."""

    def __init__(self, root: Path):
        self.root = root
        self.devices: list[str] = []
        self.mounts: list[Path] = []

    def disks(self, *sizes: int) -> list[str]:
        made = []
        for size in sizes:
            image = self.root / f"disk{len(self.devices)}.img"
            with image.open("wb") as f:
                f.truncate(size)
            device = sh("losetup", "--find", "--show", str(image)).strip()
            self.devices.append(device)
            made.append(device)
        return made

    def mkfs(self, devices: list[str], data: str, metadata: str) -> subprocess.CompletedProcess:
        return subprocess.run(["mkfs.btrfs", "-f", "-d", data, "-m", metadata, *devices],
                              capture_output=True, text=True)

    def mount(self, devices: list[str]) -> Path:
        target = self.root / f"mnt{len(self.mounts)}"
        target.mkdir()
        options = ",".join(f"device={d}" for d in devices)
        sh("mount", "-t", "btrfs", "-o", options, devices[0], str(target))
        self.mounts.append(target)
        return target

    def close(self) -> None:
        for target in reversed(self.mounts):
            if subprocess.run(["umount", str(target)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(target)], capture_output=True)
        for device in self.devices:      # only the ones this test attached
            subprocess.run(["btrfs", "device", "scan", "--forget", device], capture_output=True)
            subprocess.run(["losetup", "--detach", device], capture_output=True)


@pytest.fixture
def btrfs(tmp_path):
    made = Btrfs(tmp_path)
    try:
        yield made
    finally:
        made.close()


def device_usage(mount: Path) -> list[Usage]:
    out = sh("btrfs", "device", "usage", "-b", str(mount))
    devices = []
    for block in out.strip().split("\n\n"):
        fields = [line.rsplit(":", 1) for line in block.splitlines()[1:]]
        values = {k.strip(): int(v) for k, v in fields}
        devices.append(Usage(
            size=values["Device size"],
            data=sum(v for k, v in values.items() if k.startswith("Data,")),
            other=sum(v for k, v in values.items() if k.startswith(("Metadata,", "System,"))),
            unallocated=values["Unallocated"]))
    return devices


def data_chunks(mount: Path) -> int:
    """The logical size of the data chunks (what they hold)."""
    out = json.loads(sh("btrfs", "--format", "json", "filesystem", "df", "-b", str(mount)))
    return sum(int(r["total"]) for r in out["filesystem-df"] if r["bg-type"] == "Data")


def fill(mount: Path) -> int:
    """Preallocate files until not even 64 KiB fits; return the bytes that did."""
    total = count = 0
    for step in FILL_STEPS:
        while True:
            count += 1
            fd = os.open(mount / f"fill{count}", os.O_CREAT | os.O_WRONLY)
            try:
                os.posix_fallocate(fd, 0, step)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
            finally:
                os.close(fd)
            total += step
    return total


# -- minimum devices -----------------------------------------------------------------------------

@pytest.mark.parametrize("profile", list(PROFILES))
def test_minimum_devices_match_mkfs(btrfs, profile):
    """mkfs.btrfs accepts the table's minimum, and refuses one fewer naming that minimum."""
    minimum = PROFILES[profile].min_devices
    devices = btrfs.disks(*[GiB] * minimum)       # 1 GiB: below it mkfs forces mixed groups
    for data, metadata in ((profile, "single"), ("single", profile)):
        done = btrfs.mkfs(devices, data, metadata)
        assert done.returncode == 0, done.stderr
        if minimum > 1:
            done = btrfs.mkfs(devices[:-1], data, metadata)
            assert done.returncode != 0
            found = re.search(r"have (\d+) devices but (\d+) devices are required", done.stderr)
            assert found, done.stderr
            assert (int(found[1]), int(found[2])) == (minimum - 1, minimum)


# -- capacity against the kernel -----------------------------------------------------------------

CASES = [
    ("single", [1, 2]),
    ("dup", [2]),
    ("raid0", [1, 2, 1.5]),
    ("raid0", [1.1, 3.3]),
    ("raid1", [1, 1, 2]),
    ("raid1", [1, 3]),
    ("raid1", [2, 2, 2]),
    ("raid1", [1.3, 1.7, 2.1, 1.1]),
    ("raid1c3", [1, 1, 2, 3]),
    ("raid1c4", [1, 1.5, 1, 2, 1.2]),
    ("raid10", [1, 1.5, 2]),
    ("raid10", [1.1, 1.2, 1.3, 1.4, 1.5]),
    ("raid5", [1, 2, 3]),
    ("raid5", [1.2, 1.2, 1.9, 2.6, 3]),
    ("raid6", [1, 1, 2, 3]),
]


@pytest.mark.parametrize(("profile", "gib"), CASES, ids=[f"{p}-{'+'.join(map(str, g))}"
                                                           for p, g in CASES])
def test_capacity_matches_the_kernel(btrfs, profile, gib):
    sizes = [int(g * GiB) // 4096 * 4096 for g in gib]
    devices = btrfs.disks(*sizes)
    done = btrfs.mkfs(devices, profile, profile)
    assert done.returncode == 0, done.stderr
    mount = btrfs.mount(devices)
    before, data_before = device_usage(mount), data_chunks(mount)
    fitted = fill(mount)
    after, data_after = device_usage(mount), data_chunks(mount)
    assert [d.size for d in after] == sizes

    # replay from what mkfs left; metadata the kernel added while filling is taken out first
    free = [b.unallocated - RESERVED - (a.other - b.other) for b, a in zip(before, after,
                                                                            strict=True)]
    replay = allocate(free, profile, sum(sizes))
    assert data_before + replay.usable == data_after
    assert list(replay.left) == sorted((a.unallocated - RESERVED for a in after), reverse=True)

    # the estimate for a pool of data alone
    if PROFILES[profile].for_data:
        estimate = capacity(sizes, profile, "raid1" if profile in ("raid5", "raid6") else profile)
    else:                          # dup: not offered for data, the allocator models it all the same
        estimate = {"usable": allocate([s - RESERVED for s in sizes], profile, sum(sizes)).usable}
    other = sum(a.other for a in after)
    assert 0 <= estimate["usable"] - data_after <= other

    # and the files really got that much: the chunks fill to the last 64 KiB stripe or so
    assert 0 <= data_after - fitted <= MiB
