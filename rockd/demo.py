"""Demo mode: sparse files attached as loop devices, served with --devices set to exactly them."""

from __future__ import annotations

import logging
from pathlib import Path

from rockd.app import serve
from rockd.config import Settings
from rockd.core.process import CommandError, run
from rockd.storage import loops

log = logging.getLogger(__name__)


def _mounted_from(devices: list[str]) -> list[str]:
    mounts = [line.split()[:2] for line in Path("/proc/self/mounts").read_text().splitlines()]
    return [target for source, target in mounts if source in devices]


async def _unmount_all_on(devices: list[str]) -> None:
    """Unmount whatever is mounted from the demo's devices, deepest first."""
    targets = _mounted_from(devices)
    for target in sorted(targets, key=len, reverse=True):
        try:
            await run(["umount", target.encode().decode("unicode_escape")])
        except CommandError as exc:
            log.warning("could not unmount %s: %s", target, exc)


async def demo(settings: Settings, disks: int, disk_size: int) -> int:
    """Attach the demo's disks, serve until a signal, then unmount and detach them."""
    images = [settings.state_dir / "disks" / f"disk{i}.img" for i in range(disks)]
    attached: list[str] = []
    try:
        for image in images:
            loops.make_sparse(image, disk_size)
            attached.append(await loops.attach(image))
        log.info("demo disks: %s", ", ".join(attached))
        settings.devices = attached
        settings.demo = True
        return await serve(settings)
    finally:
        await _unmount_all_on(attached)
        for device in attached:
            try:
                await loops.detach(device)
            except CommandError as exc:
                log.warning("could not detach %s: %s", device, exc)


def default_state_dir() -> Path:
    return Path("/var/lib/rockd/demo")
