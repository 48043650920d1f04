"""The mount watcher reports a mount at a path whose name is not UTF-8, as any other."""

import asyncio
import os
import subprocess

import pytest

from rockd.watchers.mounts import MountWatcher


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount")
async def test_a_mount_whose_name_is_not_utf8_is_reported(tmp_path):
    target = tmp_path / os.fsdecode(b"not-utf8-\xff")
    target.mkdir()
    seen: list[list[str]] = []
    changed = asyncio.Event()
    watcher = MountWatcher(lambda lines: (seen.append(lines), changed.set()))
    watcher.start()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "x", os.fsencode(target)],
                       check=True)
        try:
            await asyncio.wait_for(changed.wait(), 5)
        finally:
            subprocess.run(["umount", os.fsencode(target)], check=True)
    finally:
        watcher.stop()
    assert any("not-utf8-" in line for lines in seen for line in lines)
