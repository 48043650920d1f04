"""Real rockd processes and loop devices for the benchmarks (the tests' fixtures use these too)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from rockd.core import mountinfo
from tests.support.client import PASSWORD

ROCKD = Path(sys.executable).parent / "rockd"


def serve(state: Path, port: int, devices: list[str]) -> tuple[subprocess.Popen, Path]:
    """Start `rockd serve` managing `devices`; return once it has reconciled and serves."""
    state.mkdir(parents=True, exist_ok=True)
    log = state / f"rockd-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(ROCKD), "serve", "--listen", f"127.0.0.1:{port}", "--state-dir", str(state),
             "--mount-root", str(state / "mnt"), "--devices", ",".join(devices)],
            stdout=subprocess.DEVNULL, stderr=out,
            env={**os.environ, "ROCKD_ADMIN_PASSWORD": PASSWORD})
    deadline = time.monotonic() + 120
    while "rockd serving on" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(log.read_text())
        time.sleep(0.05)
    return proc, log


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


def disk_ids(daemon, devices: list[str]) -> list[str]:
    """The ids an in-process daemon's tree gives these device paths, in their order."""
    by_path = {d["path"]: d["id"] for d in daemon.tree.get("/disks").values()}
    return [by_path[device] for device in devices]


async def disk_ids_of(api, devices: list[str]) -> list[str]:
    """The same, asked of a daemon process through its API."""
    disks = (await api.state("/disks"))["value"]
    by_path = {d["path"]: d["id"] for d in disks.values()}
    return [by_path[device] for device in devices]


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
