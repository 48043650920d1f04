"""The one inotify reader, on real folders: parts sharing a folder each get their own kinds of
event, a watch ends by itself or when removed, and the subvolume watcher follows pools' folders
through it."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from inotify_simple import flags as f

from rockd.watchers.inotify import Inotify
from rockd.watchers.subvolumes import SubvolumeWatcher

WAIT = 2.0


class Heard:
    """What one watch was told, batch by batch."""

    def __init__(self):
        self.batches: list[list] = []
        self.told = asyncio.Event()

    def __call__(self, events) -> None:
        self.batches.append(events)
        self.told.set()

    @property
    def events(self) -> list:
        return [e for batch in self.batches for e in batch]

    async def next(self) -> None:
        await asyncio.wait_for(self.told.wait(), WAIT)
        self.told.clear()


async def settled() -> None:
    """Long enough for the loop to read what the kernel queued."""
    await asyncio.sleep(0.1)


async def test_a_watch_hears_the_kinds_its_mask_asks_for(reader, tmp_path: Path):
    heard = Heard()
    reader.watch(tmp_path, f.CREATE | f.ONLYDIR, heard)
    (tmp_path / "a").touch()
    (tmp_path / "b").mkdir()
    await heard.next()
    await settled()
    os.unlink(tmp_path / "a")  # DELETE: not asked for
    await settled()
    assert [(e.name, bool(e.mask & f.ISDIR)) for e in heard.events] == [("a", False),
                                                                         ("b", True)]


async def test_parts_sharing_a_folder_each_get_their_own(reader, tmp_path: Path):
    creates, deletes = Heard(), Heard()
    first = reader.watch(tmp_path, f.CREATE, creates)
    second = reader.watch(tmp_path, f.DELETE, deletes)
    assert first.wd == second.wd  # one kernel watch, with both masks
    (tmp_path / "x").touch()
    await creates.next()
    os.unlink(tmp_path / "x")
    await deletes.next()
    assert [e.name for e in creates.events] == ["x"] and [e.name for e in deletes.events] == ["x"]
    assert all(e.mask & f.CREATE for e in creates.events)
    assert all(e.mask & f.DELETE for e in deletes.events)

    first.remove()
    first.remove()  # again: nothing happens
    (tmp_path / "y").touch()
    os.unlink(tmp_path / "y")
    await deletes.next()
    await settled()
    assert [e.name for e in creates.events] == ["x"]  # the removed watch hears no more
    assert [e.name for e in deletes.events] == ["x", "y"]

    second.remove()  # the last: the kernel's watch goes, and a new one can be made
    third = Heard()
    reader.watch(tmp_path, f.CREATE, third)
    (tmp_path / "z").touch()
    await third.next()
    await settled()
    assert [e.name for e in third.events] == ["z"] and len(deletes.events) == 2


async def test_a_watch_ends_with_its_folder(reader, tmp_path: Path):
    folder = tmp_path / "gone"
    folder.mkdir()
    heard = Heard()
    watch = reader.watch(folder, f.CREATE | f.DELETE_SELF, heard)
    folder.rmdir()
    await heard.next()
    await settled()
    assert any(e.mask & f.DELETE_SELF for e in heard.events)
    assert any(e.mask & f.IGNORED for e in heard.events)  # handed on: the watch is over
    assert not watch.active
    watch.remove()  # nothing left to remove
    folder.mkdir()
    (folder / "new").touch()
    await settled()
    assert not any(e.name == "new" for e in heard.events)


async def test_what_cannot_be_watched_is_an_oserror(tmp_path: Path):
    inotify = Inotify()
    with pytest.raises(OSError):
        inotify.watch(tmp_path / "absent", f.CREATE, Heard())
    (tmp_path / "file").touch()
    with pytest.raises(OSError):
        inotify.watch(tmp_path / "file", f.CREATE | f.ONLYDIR, Heard())
    watch = inotify.watch(tmp_path, f.CREATE, Heard())
    inotify.close()
    assert not watch.active
    watch.remove()  # after close: nothing happens
    with pytest.raises(OSError):
        inotify.watch(tmp_path, f.CREATE, Heard())


async def test_the_subvolume_watcher_follows_each_mounted_pools_folders(reader, tmp_path: Path):
    root = tmp_path / "tank"
    root.mkdir()
    changed: list[str] = []
    told = asyncio.Event()

    def pool_changed(pool_id: str) -> None:
        changed.append(pool_id)
        told.set()

    async def hears(make) -> bool:
        changed.clear()
        told.clear()
        make()
        try:
            await asyncio.wait_for(told.wait(), 0.5)
        except TimeoutError:
            return False
        await settled()
        return set(changed) == {"p1"}

    watcher = SubvolumeWatcher(reader, pool_changed)
    watcher.pool_rescanned("p1", {"p1": str(root)})
    assert await hears(lambda: (root / "share").mkdir())
    # .snapshots and a share's folder in it made at once (mkdir -p): both watched
    assert await hears(lambda: (root / ".snapshots" / "share").mkdir(parents=True))
    await settled()
    assert await hears(lambda: (root / ".snapshots" / "share" / "monday").mkdir())
    assert await hears(lambda: (root / ".snapshots" / "share" / "monday").rmdir())
    assert await hears(lambda: shutil.rmtree(root / ".snapshots"))
    assert await hears(lambda: (root / ".snapshots").mkdir())
    assert await hears(lambda: (root / ".snapshots" / "other").mkdir())
    await settled()
    assert await hears(lambda: (root / ".snapshots" / "other" / "s").mkdir())

    watcher.pool_rescanned("p1", {})  # unmounted: no longer watched
    assert not await hears(lambda: (root / "later").mkdir())
    watcher.pool_rescanned("p1", {"p1": str(root)})
    assert await hears(lambda: (root / "again").mkdir())
    watcher.stop()
    assert not await hears(lambda: (root / "stopped").mkdir())
