"""Endurance benchmark: a real rockd under steady load for half an hour, watched for growth.

    python bench/endurance.py [--minutes 30] [--subscribers 1000] [--rate 100] [--sample 30]
                              [--shares 2] [--keep 5] [--path /] [--client-procs 2]
                              [--trace-memory]

The daemon is a real rockd process (tests/support/loaded.py) managing one sparse loop device
with a pool of `--shares` shares, each with a snapshot schedule every minute (cron's shortest
period) keeping the last `--keep`, so snapshots are made and pruned throughout; it makes
`--rate` changes a second, and `--subscribers` websocket clients (in client processes of their
own, each reconnecting after a drop) are subscribed to `--path`. Every `--sample` seconds it
records the daemon's RSS, open files (/proc/PID/fd), threads and CPU, the sizes of the SQLite
files of its state dir (rockd.sqlite3, events.sqlite3 and their WALs), the tree's revision and
size, the snapshots and jobs in the tree, and the subscribers connected, dropped and resynced.

Prints one JSON object: the series, and a verdict per checked series. The rule: the first third
of the run is warm-up; a series is flat when the mean of the last third exceeds the mean of
the second third by no more than 10 % of it or by its allowance (ALLOWANCE: 4 MB for memory
and each SQLite file, 4 open files, 2 threads, 64 KiB of tree), whichever is larger. Limits,
checked over the whole run: RSS under 150 MB, open files under the daemon's RLIMIT_NOFILE, no
resync and no dropped subscriber, every interval at 90 % of the asked rate or more, and the
schedules' snapshots made and pruned with no failed job. `ok` is all of it.

With --trace-memory the daemon runs under tracemalloc (slower, and its RSS includes
tracemalloc's own, so the RSS limit is not judged): the answer adds `allocation_growth`, the
source lines whose memory grew most from the end of warm-up to the end of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import orjson  # noqa: E402
import psutil  # noqa: E402

from tests.support.client import Api, free_port  # noqa: E402
from tests.support.host import attach_loop, disk_ids_of, release, unmount_under  # noqa: E402
from tests.support.process import Process  # noqa: E402

RSS_LIMIT_MB = 150.0
RATE_FLOOR = 0.9  # of the asked rate, in every interval
GROWTH = 0.10  # of the second third's mean
ALLOWANCE = {"rss_mb": 4.0, "fds": 4, "threads": 2, "tree_kb": 64.0, "db_mb": 4.0,
             "db_wal_mb": 4.0, "events_mb": 4.0, "events_wal_mb": 4.0}
SQLITE = {"db_mb": "rockd.sqlite3", "db_wal_mb": "rockd.sqlite3-wal",
          "events_mb": "events.sqlite3", "events_wal_mb": "events.sqlite3-wal"}

# what each client process keeps on its board (shared memory the bench reads at each sample)
CONNECTED, DROPS, RESYNCS, ERRORS, FRAMES, OLDEST_REV = range(6)


# -- the subscribers, in client processes -------------------------------------------------------

async def _subscribers(url: str, token: str, path: str, count: int, board: Any,
                       stop: Any) -> None:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    headers = {"Authorization": f"Bearer {token}"}
    subscribe = orjson.dumps({"id": 1, "type": "subscribe", "path": path}).decode()
    last_rev: dict[int, int] = {}

    async def one(i: int) -> None:
        while True:
            try:
                async with session.ws_connect(url + "/api/v1/stream", headers=headers,
                                              max_msg_size=0) as ws:
                    board[CONNECTED] += 1
                    try:
                        await ws.send_str(subscribe)
                        snapshots = 0
                        async for msg in ws:
                            if msg.type != aiohttp.WSMsgType.TEXT:
                                break
                            message = orjson.loads(msg.data)
                            kind = message["type"]
                            if kind == "patch":
                                board[FRAMES] += 1
                                last_rev[i] = message["rev"]
                            elif kind == "snapshot":
                                snapshots += 1
                                board[RESYNCS] += snapshots > 1
                                last_rev[i] = message["rev"]
                            elif kind == "error":
                                board[ERRORS] += 1
                    finally:
                        board[CONNECTED] -= 1
                        last_rev.pop(i, None)
            except (aiohttp.ClientError, OSError):
                board[ERRORS] += 1
            board[DROPS] += 1
            await asyncio.sleep(1.0)

    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(one(i)))
        await asyncio.sleep(0)
    while not stop.is_set():
        board[OLDEST_REV] = min(last_rev.values(), default=0)
        await asyncio.sleep(0.5)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await session.close()


def client_process(url: str, token: str, path: str, count: int, board: Any, stop: Any) -> None:
    asyncio.run(_subscribers(url, token, path, count, board, stop))


class Subscribers:
    """`count` stream clients of `path` spread over `procs` processes."""

    def __init__(self, url: str, token: str, path: str, count: int, procs: int):
        ctx = mp.get_context("spawn")
        self.count = count
        self.stop = ctx.Event()
        self.boards: list[Any] = []
        self.workers: list[Any] = []
        procs = max(1, min(procs, count))
        for i in range(procs):
            share = count // procs + (1 if i < count % procs else 0)
            board = ctx.RawArray("q", 6)
            worker = ctx.Process(target=client_process,
                                 args=(url, token, path, share, board, self.stop), daemon=True)
            worker.start()
            self.boards.append(board)
            self.workers.append(worker)

    def total(self, what: int) -> int:
        return sum(board[what] for board in self.boards)

    def oldest_rev(self) -> int:
        return min(board[OLDEST_REV] for board in self.boards)

    async def all_connected(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.total(CONNECTED) < self.count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.total(CONNECTED)} of {self.count} "
                                   "subscribers connected")
            await asyncio.sleep(0.2)
        while self.oldest_rev() == 0 and time.monotonic() < deadline:  # each has its snapshot
            await asyncio.sleep(0.2)

    def close(self) -> None:
        self.stop.set()
        for worker in self.workers:
            worker.join(30)
            if worker.is_alive():
                worker.terminate()
                worker.join(5)


# -- the daemon and what it is made to do -------------------------------------------------------

async def set_up(api: Api, device: str, shares: int, keep: int) -> list[dict]:
    """A pool on `device`, `shares` shares, and a snapshot schedule every minute on each,
    keeping the last `keep`; answers the schedules."""
    disks = await disk_ids_of(api, [device])
    status, pool = await api.call("POST", "/api/v1/pools",
                                  {"name": "endure", "disks": disks, "data": "single"})
    assert status == 201, pool
    schedules = []
    for i in range(shares):
        status, share = await api.call("POST", "/api/v1/shares",
                                        {"pool": pool["id"], "name": f"share{i}"})
        assert status == 201, share
        status, schedule = await api.call("POST", "/api/v1/schedules", {
            "kind": "snapshot", "target": share["id"], "cron": "* * * * *",
            "retention": {"last": keep}, "enabled": True})
        assert status == 201, schedule
        schedules.append(schedule)
    return schedules


def file_mb(path: Path) -> float:
    try:
        return round(path.stat().st_size / 2**20, 3)
    except FileNotFoundError:
        return 0.0


class Sampler:
    """One row of figures at a time, from /proc, the state dir, the tree and the boards."""

    def __init__(self, pid: int, state: Path, reader: Api, subscribers: Subscribers):
        self.proc = psutil.Process(pid)
        self.state, self.reader, self.subscribers = state, reader, subscribers
        self.started = time.monotonic()
        self.cpu = sum(self.proc.cpu_times()[:2])
        self.at = self.started
        self.scheduled: set[str] = set()  # every scheduled snapshot seen
        self.pruned: set[str] = set()

    async def row(self) -> dict[str, Any]:
        now, cpu = time.monotonic(), sum(self.proc.cpu_times()[:2])
        status, tree = await self.reader.call("GET", "/api/v1/state?path=/")
        assert status == 200, tree
        snapshots = tree["value"].get("snapshots") or {}
        names = {s["name"] for s in snapshots.values() if s["name"].startswith("auto-")}
        self.pruned |= self.scheduled - names
        self.scheduled |= names
        jobs = (tree["value"].get("jobs") or {}).values()
        row = {
            "t": round(now - self.started, 1),
            "rss_mb": round(self.proc.memory_info().rss / 2**20, 2),
            "fds": self.proc.num_fds(),
            "threads": self.proc.num_threads(),
            "cpu": round((cpu - self.cpu) / max(now - self.at, 1e-3), 3),
            **{name: file_mb(self.state / file) for name, file in SQLITE.items()},
            "rev": tree["rev"],
            "tree_kb": round(len(orjson.dumps(tree["value"])) / 1024, 1),
            "snapshots": len(snapshots),
            "jobs": len(jobs),
            "prune_jobs": sum(j["kind"] == "prune" for j in jobs),
            "failed_jobs": sum(j["state"] == "failed" for j in jobs),
            "connected": self.subscribers.total(CONNECTED),
            "drops": self.subscribers.total(DROPS),
            "resyncs": self.subscribers.total(RESYNCS),
            "errors": self.subscribers.total(ERRORS),
            "frames": self.subscribers.total(FRAMES),
            "behind_revs": max(tree["rev"] - self.subscribers.oldest_rev(), 0),
        }
        self.cpu, self.at = cpu, now
        return row


def allocations(daemon: Process, word: str) -> list[dict]:
    """tests.support.loaded's `allocations` command: see its docstring."""
    daemon.command(f"allocations {word}")
    reply = daemon.readline()
    assert reply.startswith("allocations "), reply
    return json.loads(reply.split(" ", 1)[1])


# -- verdicts -----------------------------------------------------------------------------------

def flatness(series: dict[str, list], seconds: float) -> dict[str, dict]:
    """Per checked series: the second and last thirds' means and whether it stayed flat."""
    t = series["t"]
    verdicts = {}
    for name, allowance in ALLOWANCE.items():
        middle = [v for at, v in zip(t, series[name], strict=True)
                  if seconds / 3 <= at < 2 * seconds / 3]
        last = [v for at, v in zip(t, series[name], strict=True) if at >= 2 * seconds / 3]
        if not middle or not last:
            verdicts[name] = {"flat": None, "why": "too few samples"}
            continue
        mid, end = statistics.fmean(middle), statistics.fmean(last)
        allowed = max(GROWTH * mid, allowance)
        verdicts[name] = {"second_third_mean": round(mid, 3), "last_third_mean": round(end, 3),
                          "growth": round(end - mid, 3), "allowed": round(allowed, 3),
                          "flat": end - mid <= allowed}
    return verdicts


def limits(series: dict[str, list], rate: float, subscribers: int, fd_limit: int,
           minutes: float, keep: int, shares: int, made: int, pruned: int,
           traced: bool) -> dict[str, dict]:
    t, revs = series["t"], series["rev"]
    rates = [(revs[i] - revs[i - 1]) / (t[i] - t[i - 1]) for i in range(1, len(t))]
    want_pruned = shares * max(int(minutes) - 1 - keep, 0)  # the first minute may be missed
    return {
        "rss_mb": {"max": max(series["rss_mb"]), "limit": RSS_LIMIT_MB,
                   "ok": None if traced else max(series["rss_mb"]) < RSS_LIMIT_MB},
        "fds": {"max": max(series["fds"]), "limit": fd_limit,
                "ok": max(series["fds"]) < fd_limit},
        "rate": {"lowest": round(min(rates, default=0.0), 1), "floor": RATE_FLOOR * rate,
                 "ok": bool(rates) and min(rates) >= RATE_FLOOR * rate},
        "subscribers": {"connected_at_end": series["connected"][-1], "want": subscribers,
                        "drops": series["drops"][-1], "resyncs": series["resyncs"][-1],
                        "errors": series["errors"][-1],
                        "ok": series["connected"][-1] == subscribers and series["drops"][-1]
                        == 0 and series["resyncs"][-1] == 0 and series["errors"][-1] == 0},
        "schedules": {"snapshots_made": made, "snapshots_pruned": pruned,
                      "want_made": shares * (int(minutes) - 1), "want_pruned": want_pruned,
                      "failed_jobs": max(series["failed_jobs"]),
                      "ok": made >= shares * (int(minutes) - 1) and pruned >= want_pruned
                      and max(series["failed_jobs"]) == 0},
    }


# -- the run ------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="rockd-bench-endurance-"))
    device = attach_loop(work / "disk.img", 4 << 30)
    daemon: Process | None = None
    subscribers: Subscribers | None = None
    reader: Api | None = None
    try:
        port = free_port()
        state = work / "state"
        daemon = Process([sys.executable, "-m", "tests.support.loaded",
                          "--listen", f"127.0.0.1:{port}", "--state-dir", str(state),
                          "--devices", device, "--private", str(work / "private")],
                         work / "rockd.log", f"http://127.0.0.1:{port}", stdin=True,
                         env={"PYTHONTRACEMALLOC": "1"} if args.trace_memory else None)
        daemon.start()
        admin = Api(daemon.url)
        try:
            await admin.login()
            await set_up(admin, device, args.shares, args.keep)
            token = await admin.make_token(["read"], "endurance")
        finally:
            await admin.close()
        reader = Api(daemon.url, token=token)
        subscribers = Subscribers(daemon.url, token, args.path, args.subscribers,
                                  args.client_procs)
        await subscribers.all_connected()
        daemon.command(f"rate {args.rate}")
        sampler = Sampler(daemon.proc.pid, state, reader, subscribers)
        fd_limit = sampler.proc.rlimit(psutil.RLIMIT_NOFILE)[0]
        seconds = args.minutes * 60
        rows: list[dict[str, Any]] = []
        marked = False
        for k in range(int(seconds // args.sample) + 1):
            await asyncio.sleep(max(sampler.started + k * args.sample - time.monotonic(), 0))
            if not daemon.alive:
                raise RuntimeError(f"rockd exited:\n{daemon.output()[-4000:]}")
            rows.append(await sampler.row())
            print(json.dumps(rows[-1]), file=sys.stderr)
            if args.trace_memory and not marked and rows[-1]["t"] >= seconds / 3:
                allocations(daemon, "mark")
                marked = True
        growth = allocations(daemon, "15") if args.trace_memory else None
        daemon.command("rate 0")
        series = {name: [row[name] for row in rows] for name in rows[0]}
        checks = limits(series, args.rate, args.subscribers, fd_limit, args.minutes, args.keep,
                        args.shares, len(sampler.scheduled), len(sampler.pruned),
                        args.trace_memory)
        verdicts = flatness(series, seconds)
        ok = all(c["ok"] is not False for c in checks.values()) and all(
            v["flat"] is not False for v in verdicts.values())
        return {"bench": "endurance", "minutes": args.minutes, "subscribers": args.subscribers,
                "rate": args.rate, "path": args.path, "sample_seconds": args.sample,
                "shares": args.shares, "keep": args.keep,
                "rule": f"flat: last third's mean - second third's <= max({GROWTH:.0%} of the "
                        "second third's, allowance)", "allowance": ALLOWANCE,
                "flat": verdicts, "limits": checks, "ok": ok,
                **({"allocation_growth": growth} if growth is not None else {}),
                "series": series}
    finally:
        if reader is not None:
            await reader.close()
        if subscribers is not None:
            subscribers.close()
        if daemon is not None:
            daemon.stop()
        unmount_under(work)
        release(device)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--shares", type=int, default=2, help="each with a snapshot schedule")
    parser.add_argument("--keep", type=int, default=5, help="the schedules keep the last N")
    parser.add_argument("--path", default="/", help="what the subscribers subscribe to")
    parser.add_argument("--client-procs", type=int,
                        default=int(os.environ.get("BENCH_CLIENT_PROCS", "2")))
    parser.add_argument("--trace-memory", action="store_true",
                        help="run the daemon under tracemalloc and report what grew")
    # a stop asked by a signal unwinds like an error, so the loop device and mounts go too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
