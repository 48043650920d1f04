"""Scale benchmark: pools of shares and thousands of snapshots, read and pruned by a real rockd.

    python bench/scale.py [--pools 20] [--shares 500] [--snapshots 10000] [--prune 1000]
                          [--requests 20]

Makes `--pools` pools (one sparse loop device each, removed at the end) through a `rockd serve`,
then, with rockd stopped, `--shares` shares spread over them and `--snapshots` read-only
snapshots spread over the shares (made with the btrfs ioctls, no process each). One share of
the first pool holds `--prune` of those snapshots, named as a schedule's. Then it prints one
JSON object:

- the start-up scan of every pool (the sum of rockd's logged per-pool scans: the CPU time of
  reading the root tree, sorting shares from snapshots and setting the tree; and, apart, the
  wall time from each scan's start to its end, which holds the waits for the event loop,
  busy with the rest of start-up), the first time rockd sees the snapshots and after a
  restart that finds them all known, each against `btrfs subvolume list -a` on the same
  pools (the sum of each pool's median wall time, a process each), with the ratio of the CPU
  figure to it and its 1.5x limit;
- the latency of GET /api/v1/snapshots (every snapshot in one answer);
- the retention prune: the schedule is enabled, runs once, and its prune job deletes the
  `--prune` snapshots: the job's duration, how many distinct progress values its
  /jobs/{id} showed, whether the snapshots are gone on disk, and the p50/p99 latency of
  GET /api/v1/jobs/{id} asked again and again while it ran;
- the daemon's resident memory.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rockd.jobs.schedules import snapshot_name  # noqa: E402
from tests.support import subvolumes  # noqa: E402
from tests.support.client import Api, free_port  # noqa: E402
from tests.support.host import rss, serve, sh, stop, unmount_under  # noqa: E402
from tests.support.loopset import LoopSet  # noqa: E402

SCAN_LIMIT = 1.5  # rockd's start-up scan over `btrfs subvolume list`
SCAN_LINE = re.compile(r"start-up scan of pool (\S+): (\d+) subvolumes in ([\d.]+) ms of CPU "
                       r"\(([\d.]+) ms from its start to its end\)")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * fraction))], 1)


def scans(log: Path) -> tuple[int, float, float]:
    """The subvolumes, CPU milliseconds and wall milliseconds of the logged start-up scans."""
    found = SCAN_LINE.findall(log.read_text())
    assert found, log.read_text()[-2000:]
    return (sum(int(n) for _, n, _, _ in found), sum(float(cpu) for _, _, cpu, _ in found),
            sum(float(wall) for _, _, _, wall in found))


def make_subvolumes(roots: list[Path], shares: int, snapshots: int, prune: Path,
                    prune_names: list[str]) -> None:
    """`shares` shares round the pools (the first is `prune`, with `prune_names`), and the
    other snapshots spread over the rest."""
    (prune.parent / ".snapshots" / prune.name).mkdir(parents=True, exist_ok=True)
    for name in prune_names:
        subvolumes.snapshot(prune, prune.parent / ".snapshots" / prune.name / name)
    others = [roots[i % len(roots)] / f"share{i:03d}" for i in range(1, shares)]
    for share in others:
        subvolumes.create(share)
        (share.parent / ".snapshots" / share.name).mkdir(parents=True)
    for j in range(snapshots - len(prune_names)):
        share = others[j % len(others)]
        subvolumes.snapshot(share, share.parent / ".snapshots" / share.name / f"s{j:05d}")


def list_ms(roots: list[Path], runs: int = 7) -> float:
    """`btrfs subvolume list -a` of every pool: the sum of each pool's median."""
    total = 0.0
    for root in roots:
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            sh("btrfs", "subvolume", "list", "-a", str(root))
            times.append((time.perf_counter() - t) * 1000)
        total += statistics.median(times)
    return total


async def prune(api: Api, schedule: dict, root: Path, count: int) -> dict:
    """Enable the schedule (its slot of every minute missed since it was made: it runs at
    the next minute at the latest); follow its prune job, asking for it as fast as answers
    come."""
    status, body = await api.call("PATCH", f"/api/v1/schedules/{schedule['id']}",
                                  {"enabled": True})
    assert status == 200, body
    job_id = None
    deadline = time.monotonic() + 120
    while job_id is None:
        assert time.monotonic() < deadline, "no prune job started"
        _, jobs = await api.call("GET", "/api/v1/jobs")
        job_id = next((j["id"] for j in jobs if j["kind"] == "prune"), None)
        await asyncio.sleep(0.02)
    latencies: list[float] = []
    progress: list[float] = []
    while True:
        t = time.perf_counter()
        status, job = await api.call("GET", f"/api/v1/jobs/{job_id}")
        latencies.append((time.perf_counter() - t) * 1000)
        assert status == 200, job
        if job["progress"] is not None and (not progress or progress[-1] != job["progress"]):
            progress.append(job["progress"])
        if job["state"] not in ("queued", "running", "paused"):
            break
        await asyncio.sleep(0.01)
    left = sorted(p.name for p in (root / ".snapshots" / "share000").iterdir())
    return {
        "prune_snapshots": count,
        "prune_job_state": job["state"],
        "prune_job_detail": job.get("detail"),
        "prune_job_seconds": round(_seconds(job), 1),
        "prune_progress_values_seen": len(progress),
        "prune_progress_rose": progress == sorted(progress),
        "prune_snapshots_left_on_disk": len(left),
        "prune_get_job_requests": len(latencies),
        "prune_get_job_p50_ms": percentile(latencies, 0.5),
        "prune_get_job_p99_ms": percentile(latencies, 0.99),
        "prune_get_job_max_ms": round(max(latencies), 1),
    }


def _seconds(job: dict) -> float:
    started, ended = job.get("started"), job.get("ended")
    if not started or not ended:
        return float("nan")
    return (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()


async def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="rockd-bench-scale-"))
    loops = LoopSet(work / "disks", args.pools, 4 << 30)
    proc = None
    try:
        devices = loops.create()
        loops.attach_all()
        port = free_port()
        proc, log = serve(work / "state", port, devices)
        api = Api(f"http://127.0.0.1:{port}")
        await api.login()
        by_path = {d["path"]: d["id"] for d in (await api.state("/disks"))["value"].values()}
        roots, pool_ids = [], []
        for i, device in enumerate(devices):
            status, pool = await api.call("POST", "/api/v1/pools", {
                "name": f"scale{i:02d}", "disks": [by_path[device]], "data": "single"})
            assert status == 201, pool
            roots.append(Path(pool["mount_point"]))
            pool_ids.append(pool["id"])
        status, share = await api.call("POST", "/api/v1/shares",
                                       {"pool": pool_ids[0], "name": "share000"})
        assert status == 201, share
        status, schedule = await api.call("POST", "/api/v1/schedules", {
            "kind": "snapshot", "target": share["id"], "cron": "* * * * *",
            "retention": {"last": 1}, "enabled": False})
        assert status == 201, schedule
        await api.close()
        stop(proc)

        now = datetime.now(UTC)
        names = [snapshot_name(schedule["id"], now - timedelta(minutes=args.prune + 1 - i))
                 for i in range(args.prune)]
        made = time.perf_counter()
        make_subvolumes(roots, args.shares, args.snapshots, roots[0] / "share000", names)
        made = time.perf_counter() - made
        listed = list_ms(roots)

        figures: dict = {"bench": "scale", "pools": args.pools, "shares": args.shares,
                         "snapshots": args.snapshots, "made_in_seconds": round(made, 1),
                         "btrfs_subvolume_list_ms": round(listed, 1)}
        for label in ("first", "restart"):
            t = time.perf_counter()
            proc, log = serve(work / "state", port, devices)
            start = time.perf_counter() - t
            count, scan_ms, wall_ms = scans(log)
            figures.update({
                f"{label}_start_subvolumes_scanned": count,
                f"{label}_start_scan_cpu_ms": round(scan_ms, 1),
                f"{label}_start_scan_over_list": round(scan_ms / listed, 2),
                f"{label}_start_scan_wall_ms": round(wall_ms, 1),
                f"{label}_start_seconds": round(start, 2),
            })
            if label == "first":
                stop(proc)
                log.unlink()
        figures["scan_over_list_limit"] = SCAN_LIMIT

        api = Api(f"http://127.0.0.1:{port}")
        await api.login()
        latencies = []
        for _ in range(args.requests):
            t = time.perf_counter()
            status, body = await api.call("GET", "/api/v1/snapshots")
            latencies.append((time.perf_counter() - t) * 1000)
            assert status == 200 and len(body) == args.snapshots, (status, len(body))
        figures["get_snapshots_p50_ms"] = percentile(latencies, 0.5)
        figures["get_snapshots_p99_ms"] = percentile(latencies, 0.99)
        figures.update(await prune(api, schedule, roots[0], args.prune))
        await api.close()
        figures["daemon_rss_mb"] = round(rss(proc.pid) / 2**20, 1)
        return figures
    finally:
        stop(proc)
        unmount_under(work)
        loops.close()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pools", type=int, default=20)
    parser.add_argument("--shares", type=int, default=500)
    parser.add_argument("--snapshots", type=int, default=10000)
    parser.add_argument("--prune", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
