"""Many loop devices at once, for the udev storm of the disk tests and bench/scale_disks.py.

`LoopSet` creates its own loop devices through /dev/loop-control (LOOP_CTL_ADD, numbers far
above those `losetup --find` hands out), so their /dev paths are known before they are
attached and can be given to rockd's --devices; `attach_all` then attaches every one at once
(one `losetup` process each, all started together). `close` detaches them and removes the
devices it created, and only those, even after a failure half-way. `until_all_in_disks` reads
a rockd's stream of /disks until every one of them is there.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

from tests.support.client import Api, receive

LOOP_CONTROL = "/dev/loop-control"
LOOP_CTL_ADD = 0x4C80
LOOP_CTL_REMOVE = 0x4C81
FIRST = 600  # well above the numbers `losetup --find` gives on a box of a few dozen loops


class LoopSet:
    """`count` sparse files of `size` bytes under `folder`, and loop devices made for them."""

    def __init__(self, folder: Path, count: int, size: int = 64 << 20):
        self.folder, self.count, self.size = folder, count, size
        self.numbers: list[int] = []

    @property
    def devices(self) -> list[str]:
        return [f"/dev/loop{n}" for n in self.numbers]

    def create(self) -> list[str]:
        """Make the devices (unattached) and the files; answer the devices' paths."""
        fd = os.open(LOOP_CONTROL, os.O_RDWR)
        try:
            number = FIRST
            while len(self.numbers) < self.count:
                try:
                    fcntl.ioctl(fd, LOOP_CTL_ADD, number)
                    self.numbers.append(number)
                except FileExistsError:
                    pass  # someone else's: left alone
                number += 1
        finally:
            os.close(fd)
        deadline = time.monotonic() + 10
        while not all(os.path.exists(d) for d in self.devices):
            if time.monotonic() > deadline:
                raise TimeoutError("the loop devices' nodes did not appear in /dev")
            time.sleep(0.01)
        self.folder.mkdir(parents=True, exist_ok=True)
        for n in self.numbers:
            with (self.folder / f"disk{n}.img").open("wb") as f:
                f.truncate(self.size)
        return self.devices

    def attach_all(self) -> float:
        """Attach every device to its file, all at once; answer the time.monotonic() at which
        the last `losetup` returned."""
        procs = [subprocess.Popen(["losetup", device, str(self.folder / f"disk{n}.img")],
                                  stderr=subprocess.PIPE, text=True)
                 for n, device in zip(self.numbers, self.devices, strict=True)]
        failed = [p.stderr.read() for p in procs if p.wait() != 0 and p.stderr is not None]
        last = time.monotonic()
        if failed:
            raise RuntimeError(f"losetup failed: {failed[0]}")
        return last

    def close(self) -> None:
        """Detach and remove every device this set made."""
        for device in self.devices:
            subprocess.run(["losetup", "--detach", device], check=False,
                           stderr=subprocess.DEVNULL)
        fd = os.open(LOOP_CONTROL, os.O_RDWR)
        try:
            for n in self.numbers:
                for _ in range(100):  # busy while a probe still holds it open
                    try:
                        fcntl.ioctl(fd, LOOP_CTL_REMOVE, n)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.05)
        finally:
            os.close(fd)
        self.numbers = []


async def until_all_in_disks(api: Api, devices: list[str], attach, timeout: float = 30.0
                             ) -> tuple[float, float, int]:
    """Subscribe to /disks, call `attach()` (which answers the monotonic time of its last
    attach), and read the stream until every device of `devices` is a disk there. Answers
    (that time, the time all were there, how many revisions of /disks it took)."""
    ws = await api.stream()
    try:
        await ws.send_str('{"id": 1, "type": "subscribe", "path": "/disks"}')
        assert (await receive(ws))["type"] == "subscribed"
        first = await receive(ws)
        paths = {i: d["path"] for i, d in (first["value"] or {}).items()}
        wanted = set(devices)
        last = attach()
        revisions = 0
        deadline = time.monotonic() + timeout
        while not wanted <= set(paths.values()):
            message = await receive(ws, timeout=max(0.01, deadline - time.monotonic()))
            if message["type"] != "patch":
                continue
            revisions += 1
            for op in message["ops"]:
                parts = op["path"].split("/")
                if len(parts) != 3:
                    continue  # a field of a disk: its path does not change
                if op["op"] == "remove":
                    paths.pop(parts[2], None)
                else:
                    paths[parts[2]] = op["value"]["path"]
        return last, time.monotonic(), revisions
    finally:
        await ws.close()
