"""Many disks at once: a storm of udev events (loop devices attached together) ends with every
disk in /disks, a batch of disks is probed into one revision, and SMART is read for many disks
at once, a bounded number at a time (smartctl stood in for by a slow one)."""

import asyncio
import json
import os
from pathlib import Path

from rockd.storage import smart
from rockd.watchers.udev import UdevWatcher
from tests.support.loopset import LoopSet, until_all_in_disks

DATA = Path(__file__).resolve().parents[1] / "data" / "smartctl"


async def test_twenty_loop_disks_attached_at_once_all_appear_and_go(rockd, tmp_path, udevd):
    loops = LoopSet(tmp_path / "storm", 20, 64 << 20)
    try:
        devices = loops.create()
        box = await rockd(devices=devices, process=True)
        _, _, revisions = await until_all_in_disks(box.api, devices, loops.attach_all)
        disks = {d["path"]: d for d in (await box.api.state("/disks"))["value"].values()}
        assert all(disks[d]["size"] == 64 << 20 and disks[d]["managed"] for d in devices)
        assert 1 <= revisions <= len(devices)
    finally:
        loops.close()
    # detached (and the devices removed): every one leaves /disks
    for _ in range(100):
        left = {d["path"] for d in (await box.api.state("/disks"))["value"].values()}
        if not left & set(devices):
            break
        await asyncio.sleep(0.05)
    assert not left & set(devices)


async def test_a_batch_of_disks_is_one_revision(rockd, tmp_path):
    loops = LoopSet(tmp_path / "batch", 12, 64 << 20)
    try:
        devices = loops.create()
        box = await rockd(devices=devices)
        for watcher in box.daemon.watchers:  # so that only this test asks for the rescan
            if isinstance(watcher, UdevWatcher):
                watcher.stop()
        inventory = box.daemon.context.disks
        loops.attach_all()
        revisions = []
        box.daemon.tree.listen(lambda revision: revisions.append(
            {op.tokens[1] for op in revision.ops if op.tokens[:1] == ("disks",)}))
        await inventory.rescan_many([Path(d).name for d in devices])
        touched = [r for r in revisions if r]
        assert len(touched) == 1, touched
        paths = {d["path"] for d in box.daemon.tree.get("/disks").values()}
        assert set(devices) <= paths
    finally:
        loops.close()


async def test_smart_is_read_for_many_disks_at_once_a_bounded_number_at_a_time(
        tmp_path, monkeypatch):
    """The stand-in writes when each run starts and ends: at most `concurrency` overlap, and
    that many do (never one disk after another)."""
    report = DATA / "WDC_WD20EFRX-68EUZN0_18.json"
    runs = tmp_path / "runs.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "smartctl").write_text(
        f"#!/bin/sh\necho start >> '{runs}'\nsleep 0.3\ncat '{report}'\necho end >> '{runs}'\n")
    (bin_dir / "smartctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    paths = [f"/dev/stand-in{i}" for i in range(10)]
    found = await smart.summaries(paths, concurrency=4)
    expected = smart.parse(json.loads(report.read_text()))["summary"]
    assert found == {p: expected for p in paths}
    running = most = 0
    for line in runs.read_text().split():
        running += 1 if line == "start" else -1
        most = max(most, running)
    assert most == 4
