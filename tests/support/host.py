"""Loop devices, mounts and processes of the host, for the tests' rig and the benchmarks (which
start `rockd serve` with `serve`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from rockd.config import Settings
from rockd.core import mountinfo
from tests.support.process import Process, serve_argv

ROCKD = Path(sys.executable).parent / "rockd"


def serve(state: Path, port: int, devices: list[str]) -> tuple[subprocess.Popen, Path]:
    """Start `rockd serve` managing `devices` (for the benchmarks; tests use the rig); return
    once it has reconciled and serves."""
    settings = Settings(listen=f"127.0.0.1:{port}", state_dir=state, mount_root=state / "mnt",
                        devices=devices)
    proc = Process(serve_argv(settings), state / f"rockd-{port}.log", f"http://{settings.listen}")
    proc.start(timeout=120)
    return proc.proc, proc.log


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        proc.wait(30)


def release(device: str, timeout: float = 5.0) -> None:
    """Make the kernel forget a loop device's btrfs, then detach it (ours only), and wait
    until it is gone: one still open (a probe of it) is detached at its last close."""
    for mount in mountinfo.read():  # a pool a test left mounted (its rockd still runs, or died)
        if mount.source == device:
            subprocess.run(["umount", "-l", mount.target], check=False)
    subprocess.run(["btrfs", "device", "scan", "--forget", device], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["losetup", "--detach", device], check=False)
    backing = Path("/sys/block") / Path(device).name / "loop" / "backing_file"
    deadline = time.monotonic() + timeout
    while backing.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def unmount_under(root: Path) -> None:
    """Unmount everything mounted at or below `root`, deepest first."""
    for target in mountinfo.targets_under(root):
        subprocess.run(["umount", "-l", target], check=False)


def disk_ids(disks: dict, devices: list[str]) -> list[str]:
    """The ids that /disks (`disks`, as the tree holds it) gives those of these device paths
    it has, in their order."""
    by_path = {d["path"]: d["id"] for d in disks.values()}
    return [by_path[device] for device in devices if device in by_path]


async def disk_ids_of(api, devices: list[str]) -> list[str]:
    """The same, asked of a rockd through its API."""
    return disk_ids((await api.state("/disks"))["value"] or {}, devices)


def umount_by_hand(point: str | Path, tries: int = 20) -> None:
    """`umount` as a person would, trying again while rockd's own probe holds the mount."""
    for attempt in range(tries):
        result = subprocess.run(["umount", str(point)], capture_output=True, text=True)
        if result.returncode == 0:
            return
        if "busy" not in result.stderr or attempt == tries - 1:
            raise AssertionError(f"umount {point}: {result.stderr}")
        time.sleep(0.1)


def attach_loop(image: Path, size: int) -> str:
    """A new sparse file of `size` bytes attached as a loop device; answers the device."""
    with image.open("wb") as f:
        f.truncate(size)
    return subprocess.run(["losetup", "--find", "--show", str(image)], check=True,
                          capture_output=True, text=True).stdout.strip()


def write_pattern(path: Path, megabytes: int) -> bytes:
    """Fill a file with a repeated random MiB, synced to disk; answers the block."""
    block = os.urandom(1 << 20)
    with path.open("wb") as f:
        for _ in range(megabytes):
            f.write(block)
    subprocess.run(["sync"], check=True)
    return block


def throttle_scrub(pool_id: str, bytes_per_second: int) -> None:
    """Cap a pool's scrub speed per device, so that progress has time to show."""
    for devinfo in Path(f"/sys/fs/btrfs/{pool_id}/devinfo").iterdir():
        (devinfo / "scrub_speed_max").write_text(str(bytes_per_second))


def sh(*argv: str) -> str:
    """A command's output; it must succeed."""
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def rss(pid: int) -> int:
    """A process's resident memory in bytes."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
