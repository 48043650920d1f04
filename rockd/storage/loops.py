"""Loop devices on sparse files: the virtual disks of demo mode (and of the tests)."""

from __future__ import annotations

from pathlib import Path

from rockd.core.process import run


def make_sparse(path: Path, size: int) -> None:
    """Create `path` as a sparse file of `size` bytes (kept as it is if it exists)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        with path.open("wb") as f:
            f.truncate(size)


async def attached_to(path: Path) -> str | None:
    """The loop device already backed by `path`, if any."""
    result = await run(["losetup", "--noheadings", "--output", "NAME", "--associated", str(path)])
    names = result.stdout.split()
    return names[0] if names else None


async def attach(path: Path) -> str:
    """Attach `path` to a free loop device (or find the one it is attached to) and name it."""
    existing = await attached_to(path)
    if existing:
        return existing
    result = await run(["losetup", "--find", "--show", str(path)])
    return result.stdout.strip()


async def detach(device: str) -> None:
    await run(["losetup", "--detach", device])
