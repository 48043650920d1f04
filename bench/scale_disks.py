"""Disk storm benchmark: many loop devices attached at once to a real rockd, and SMART read for
many disks at start-up.

    python bench/scale_disks.py [--disks 60] [--smart-delay 0.5] [--smart-concurrency 8]

Storm: makes `--disks` loop devices of its own (removed at the end), starts `rockd serve`
managing them while none is attached, then attaches all of them at once (a `losetup` each,
started together) and reads /disks on the stream until every one is there: the time from the
last `losetup` to the last disk in the tree, against the 2 s limit, and how many revisions of
/disks that took. SMART: loop devices have none, so smartctl is stood in for by a script that
answers a real drive's report (tests/data/smartctl) after `--smart-delay` seconds, and
`smart.summaries` (what start-up runs for the box's disks) reads `--disks` of them: the time
against ceil(disks / concurrency) x delay, and what one disk after another would take.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rockd.storage import smart  # noqa: E402
from tests.support.client import Api, free_port  # noqa: E402
from tests.support.host import rss, serve, stop, unmount_under  # noqa: E402
from tests.support.loopset import LoopSet, until_all_in_disks  # noqa: E402

STORM_LIMIT_SECONDS = 2.0
REPORT = ROOT / "tests" / "data" / "smartctl" / "WDC_WD20EFRX-68EUZN0_18.json"


async def storm(work: Path, count: int) -> dict:
    loops = LoopSet(work / "disks", count, 64 << 20)
    proc = None
    try:
        devices = loops.create()
        port = free_port()
        proc, _log = serve(work / "state", port, devices)
        api = Api(f"http://127.0.0.1:{port}")
        await api.login()
        last, all_in, revisions = await until_all_in_disks(api, devices, loops.attach_all)
        await api.close()
        seconds = all_in - last
        return {
            "storm_disks": count,
            "storm_all_in_tree_after_last_attach_seconds": round(seconds, 3),
            "storm_limit_seconds": STORM_LIMIT_SECONDS,
            "storm_within_limit": seconds <= STORM_LIMIT_SECONDS,
            "storm_disk_revisions": revisions,
            "daemon_rss_mb": round(rss(proc.pid) / 2**20, 1),
        }
    finally:
        stop(proc)
        unmount_under(work)
        loops.close()


async def smart_probe(work: Path, count: int, delay: float, concurrency: int) -> dict:
    bin_dir = work / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "smartctl"
    stand_in.write_text(f"#!/bin/sh\nsleep {delay}\nexec cat '{REPORT}'\n")
    stand_in.chmod(0o755)
    os.environ["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
    started = time.perf_counter()
    found = await smart.summaries([f"/dev/stand-in{i}" for i in range(count)], concurrency)
    seconds = time.perf_counter() - started
    assert all(s is not None for s in found.values()), found
    limit = math.ceil(count / concurrency) * delay
    return {
        "smart_disks": count,
        "smart_concurrency": concurrency,
        "smart_seconds_per_disk": delay,
        "smart_all_read_seconds": round(seconds, 2),
        "smart_bounded_limit_seconds": round(limit, 2),
        "smart_over_bounded_limit": round(seconds / limit, 2),
        "smart_one_after_another_seconds": round(count * delay, 2),
    }


async def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="rockd-bench-disks-"))
    try:
        figures = {"bench": "scale_disks"}
        figures.update(await storm(work, args.disks))
        figures.update(await smart_probe(work, args.disks, args.smart_delay,
                                         args.smart_concurrency))
        return figures
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--disks", type=int, default=60)
    parser.add_argument("--smart-delay", type=float, default=0.5)
    parser.add_argument("--smart-concurrency", type=int, default=smart.CONCURRENCY)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
