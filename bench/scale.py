"""Scale benchmark: a pool of 50 shares and 5,000 snapshots, read by a real rockd.

    python bench/scale.py [--shares 50] [--snapshots 5000] [--requests 200]

Makes the pool on a sparse loop device (detached at the end), then starts `rockd serve` on it
and prints one JSON object: the start-up scan of the pool (from rockd's log) against
`btrfs subvolume list` alone on the same pool, the latency of GET /api/v1/snapshots, and the
daemon's resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.client import Api, free_port  # noqa: E402
from tests.support.host import release, rss, serve, sh, stop, unmount_under  # noqa: E402


async def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="rockd-bench-scale-"))
    image = work / "disk.img"
    with image.open("wb") as f:
        f.truncate(8 << 30)
    device = sh("losetup", "--find", "--show", str(image)).strip()
    proc = None
    try:
        port = free_port()
        proc, log = serve(work / "state", port, [device])
        api = Api(f"http://127.0.0.1:{port}")
        await api.login()
        disk = next(d["id"] for d in (await api.state("/disks"))["value"].values()
                    if d["path"] == device)
        status, pool = await api.call("POST", "/api/v1/pools",
                                      {"name": "scale", "disks": [disk], "data": "single"})
        assert status == 201, pool
        await api.close()
        root = Path(pool["mount_point"])
        made = time.perf_counter()
        per_share = args.snapshots // args.shares
        for i in range(args.shares):
            share = root / f"share{i:02d}"
            sh("btrfs", "-q", "subvolume", "create", str(share))
            (root / ".snapshots" / share.name).mkdir(parents=True)
            for j in range(per_share):
                sh("btrfs", "-q", "subvolume", "snapshot", "-r", str(share),
                   str(root / ".snapshots" / share.name / f"s{j:04d}"))
        made = time.perf_counter() - made
        stop(proc)

        lists = []
        for _ in range(10):
            t = time.perf_counter()
            sh("btrfs", "subvolume", "list", "-a", str(root))
            lists.append((time.perf_counter() - t) * 1000)

        port = free_port()
        t = time.perf_counter()
        proc, log = serve(work / "state", port, [device])
        cold_start = time.perf_counter() - t
        match = re.search(r"start-up scan of pool scale: (\d+) subvolumes in ([\d.]+) ms",
                          log.read_text())
        assert match, log.read_text()
        api = Api(f"http://127.0.0.1:{port}")
        await api.login()
        latencies = []
        for _ in range(args.requests):
            t = time.perf_counter()
            status, body = await api.call("GET", "/api/v1/snapshots")
            latencies.append((time.perf_counter() - t) * 1000)
            assert status == 200 and len(body) == per_share * args.shares
        await api.close()
        latencies.sort()
        list_ms = statistics.median(lists)
        scan_ms = float(match.group(2))
        return {
            "bench": "scale", "shares": args.shares, "snapshots": per_share * args.shares,
            "made_in_seconds": round(made, 1),
            "subvolumes_scanned": int(match.group(1)),
            "startup_scan_ms": scan_ms,
            "btrfs_subvolume_list_ms": round(list_ms, 1),
            "scan_over_list": round(scan_ms / list_ms, 2),
            "cold_start_seconds": round(cold_start, 2),
            "get_snapshots_p50_ms": round(statistics.median(latencies), 1),
            "get_snapshots_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
            "daemon_rss_mb": round(rss(proc.pid) / 2**20, 1),
        }
    finally:
        stop(proc)
        unmount_under(work)
        release(device)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shares", type=int, default=50)
    parser.add_argument("--snapshots", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=200)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
