"""Journal benchmark: revisions per second committed to SQLite, and start-up replay time.

    python bench/journal.py [--revisions 200000] [--replay 1000000]

Prints one JSON object: sustained single-op revisions/s with group commit (each revision is its
own tree.set, released to the bus once committed) and the commit batches that took; how long a
revision waits to be committed at a steady 20,000 revisions/s; and the time to open a database
of --replay journalled revisions (with the periodic snapshots) and bring the tree back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rockd.core.store import open_state


async def write(path: Path, count: int, chunk: int = 500) -> dict:
    store, tree, bus = await open_state(path)
    commits = 0
    original = store.db.commit

    async def counting_commit():
        nonlocal commits
        commits += 1
        await original()

    store.db.commit = counting_commit
    start = time.perf_counter()
    for i in range(count):
        tree.set(f"/pools/p{i % 8}/usage/used", i)
        if i % chunk == chunk - 1:
            await asyncio.sleep(0)  # let the writer run, as a daemon's event loop would
            while tree.rev - store.committed_rev > 20 * chunk:  # back-pressure
                await asyncio.sleep(0.001)
    await store.flush()
    elapsed = time.perf_counter() - start
    assert bus.durable_rev == tree.rev
    await store.close()
    return {"revisions": count, "seconds": round(elapsed, 3),
            "revisions_per_second": round(count / elapsed), "commits": commits,
            "mean_batch": round(count / max(commits, 1), 1)}


async def paced(path: Path, rate: int, seconds: float) -> dict:
    """Revisions at a steady rate: how long each waits until it is committed (durable)."""
    store, tree, bus = await open_state(path)
    lags: list[float] = []
    waiters: list[asyncio.Task] = []

    async def lag(rev: int, made: float) -> None:
        await bus.durable(rev)
        lags.append((time.perf_counter() - made) * 1000)

    start, done = time.perf_counter(), 0
    while (now := time.perf_counter()) - start < seconds:
        due = int((now - start) * rate)
        while done < due:
            tree.set(f"/pools/p{done % 8}/usage/used", done)
            done += 1
            if done % 50 == 0:  # sample one revision in 50
                waiters.append(asyncio.create_task(lag(tree.rev, time.perf_counter())))
        await asyncio.sleep(0.001)
    await asyncio.gather(*waiters)
    await store.close()
    lags.sort()
    return {"rate": rate, "achieved_rate": round(done / seconds),
            "commit_lag_p50_ms": round(lags[len(lags) // 2], 2),
            "commit_lag_p99_ms": round(lags[int(len(lags) * 0.99)], 2)}


async def replay(path: Path) -> dict:
    start = time.perf_counter()
    store, tree, bus = await open_state(path)
    elapsed = time.perf_counter() - start
    result = {"revision": tree.rev, "startup_seconds": round(elapsed, 3),
              "window": len(bus.window)}
    await store.close()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--revisions", type=int, default=200_000)
    parser.add_argument("--replay", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rockd-bench-") as tmp:
        sustained = await write(Path(tmp) / "a.sqlite3", args.revisions)
        steady = await paced(Path(tmp) / "c.sqlite3", 20_000, 3.0)
        big = Path(tmp) / "b.sqlite3"
        filled = await write(big, args.replay)
        started = await replay(big)
    print(json.dumps({"bench": "journal", "sustained": sustained, "paced": steady,
                      "replay": {"journalled": filled["revisions"],
                                 "fill_revisions_per_second": filled["revisions_per_second"],
                                 **started}}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
