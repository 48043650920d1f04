"""A pool's free space in the tree against what can really be written: for every profile, on
equal and on unequal loop disks, rockd's free_estimate (after a first write, so that a data
chunk is part full) must be within 3 % of the bytes then written until ENOSPC.

The disks are sparse files in /dev/shm (a fill on tmpfs takes a second or two; each case holds
at most 7 GiB at a time). Pools are made through the API; dup data and mixed block groups,
which rockd does not offer, are made by mkfs.btrfs and imported.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.host import attach_loop, release
from tests.support.rig import wait_for

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for loop devices"),
    pytest.mark.skipif(not shutil.which("mkfs.btrfs"), reason="needs btrfs-progs"),
]

MiB = 1 << 20
FIRST_WRITE = 64 * MiB
TOLERANCE = 0.03
BLOCK = os.urandom(4 * MiB)  # incompressible, so compression changes nothing
WRITE_SIZES = (4 * MiB, 64 << 10, 4096)  # each until ENOSPC, the smaller ones fill the ends
FILE_SIZE = 256 * MiB

# (data profile, disk sizes in MiB, how the pool is made)
CASES = [
    ("single", [1024], "create"), ("single", [1024, 512], "create"),
    ("dup", [1024], "mkfs"), ("dup", [1024, 512], "mkfs"),
    ("raid0", [1024, 1024], "create"), ("raid0", [1024, 512, 768], "create"),
    ("raid1", [1024, 1024], "create"), ("raid1", [1024, 512, 768], "create"),
    ("raid1c3", [1024, 1024, 1024], "create"), ("raid1c3", [1024, 512, 512, 768], "create"),
    ("raid1c4", [768] * 4, "create"), ("raid1c4", [1024, 512, 512, 768, 768], "create"),
    ("raid10", [1024] * 4, "create"), ("raid10", [1024, 512, 512, 768], "create"),
    ("raid5", [1024] * 3, "create"), ("raid5", [1024, 512, 768], "create"),
    ("raid6", [1024] * 4, "create"), ("raid6", [1024, 512, 512, 768], "create"),
    ("raid1", [512, 768], "mixed"),
    # where both btrfs tools were wrong: `btrfs fi usage` +6 %, df -25 %
    ("raid1", [2048, 3072, 3072], "create"),
]


@pytest.fixture
def shm_disks(request) -> Iterator:
    """Attach sparse files in /dev/shm as loop devices (`shm_disks([MiB, ...])`); every one
    detached and its file removed at the end (after the rockd, which is torn down first)."""
    folder = Path("/dev/shm") / f"rockd-capacity-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    attached: list[str] = []

    def attach(sizes: list[int]) -> list[str]:
        request.getfixturevalue("udevd")
        for size in sizes:
            attached.append(attach_loop(folder / f"disk{len(attached)}.img", size * MiB))
        return attached[-len(sizes):]

    try:
        yield attach
    finally:
        for device in attached:
            release(device)
        shutil.rmtree(folder, ignore_errors=True)


def fill(folder: Path) -> int:
    """Write incompressible files into `folder` until ENOSPC, in ever smaller writes; the bytes
    written, all of them synced."""
    written = count = 0
    for size in WRITE_SIZES:
        full = False
        while not full:
            try:
                fd = os.open(folder / f"fill{count}", os.O_WRONLY | os.O_CREAT, 0o600)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
            count += 1
            done = 0
            try:
                while done < FILE_SIZE:
                    done += os.write(fd, BLOCK[:size])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                full = True
            try:
                os.fsync(fd)  # btrfs reserved the space at write(): this must not fail
            finally:
                os.close(fd)
            written += done
    os.sync()
    return written


async def make_pool(box, devices: list[str], profile: str, how: str) -> dict:
    """The pool "cap" of `devices` with `profile` data, created or made by mkfs and imported."""
    disks = box.disks
    if how == "create":
        status, pool = await box.api.call("POST", "/api/v1/pools",
                                          {"name": "cap", "disks": disks, "data": profile})
        assert status == 201, pool
        return pool
    metadata = profile if how == "mixed" else "dup" if len(devices) == 1 else "raid1"
    extra = ["--mixed"] if how == "mixed" else []
    subprocess.run(["mkfs.btrfs", "--quiet", "-L", "cap", *extra, "-d", profile, "-m", metadata,
                    *devices], check=True, capture_output=True)
    for device in devices:  # rockd sees the new filesystem on its disks (udev)
        await wait_for(lambda d=device: _filesystem_seen(box, d), timeout=10)
    status, pool = await box.api.call("POST", "/api/v1/pools/import", {"disk": disks[0]})
    assert status in (200, 201), pool
    return pool


def _filesystem_seen(box, device: str) -> bool:
    disk = next(d for d in (box.daemon.tree.get("/disks") or {}).values()
                if d["path"] == device)
    return (disk.get("filesystem") or {}).get("type") == "btrfs"


@pytest.mark.parametrize(("profile", "sizes", "how"), CASES,
                         ids=[f"{p}-{'+'.join(map(str, s))}-{h}" for p, s, h in CASES])
async def test_free_space_is_what_can_be_written(shm_disks, rockd, profile, sizes, how):
    devices = shm_disks(sizes)
    box = await rockd(devices=devices)
    pool = await make_pool(box, devices, profile, how)
    point = Path(pool["mount_point"])
    with (point / "first").open("wb") as f:
        for _ in range(FIRST_WRITE // len(BLOCK)):
            f.write(BLOCK)
    os.sync()
    # usage is sampled while somebody follows /pools on the stream
    ws = await box.api.stream()
    await ws.send_str('{"id": 1, "type": "subscribe", "path": "/pools"}')

    async def usage() -> dict | None:
        status, body = await box.api.call("GET", f"/api/v1/pools/{pool['id']}")
        assert status == 200, body
        found = body["usage"]
        return found if found["allocation"]["data"]["used"] >= FIRST_WRITE else None

    shown = await wait_for(usage, timeout=10)
    await ws.close()
    written = fill(point)
    error = (shown["free_estimate"] - written) / written
    print(f"\n{profile:8} {'+'.join(map(str, sizes)):>22} MiB {how:6} rockd free "
          f"{shown['free_estimate'] / MiB:8.1f} MiB, written {written / MiB:8.1f} MiB, "
          f"error {error:+.2%}")
    assert abs(error) <= TOLERANCE, (shown, written)
    assert shown["capacity"] == shown["stored"] + shown["free_estimate"]
