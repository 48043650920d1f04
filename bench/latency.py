"""Event latency benchmark: a change made by hand, to its patch at a websocket client.

    python bench/latency.py [--tries 100]

Starts `rockd serve` on loop devices of its own (detached at the end) and prints one JSON
object with p50/p99 over --tries for two paths: a snapshot taken by hand with
`btrfs subvolume snapshot` (inotify -> rescan -> patch), and a loop device attached by hand
that --devices allows (udev -> rescan -> patch). Each time runs from the moment the command
that made the change returned to the moment the patch arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from tests.support.client import Api, free_port  # noqa: E402
from tests.support.host import release, serve, sh, stop, unmount_under  # noqa: E402


def figures(samples: list[float]) -> dict:
    samples = sorted(samples)
    return {"tries": len(samples), "p50_ms": round(statistics.median(samples), 1),
            "p99_ms": round(samples[max(0, int(len(samples) * 0.99) - 1)], 1),
            "max_ms": round(samples[-1], 1)}


async def until(ws, needle: bytes, timeout: float = 5.0) -> float:
    """Wait for a patch whose ops mention `needle`; answer when it arrived."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        if needle in msg.data.encode() if isinstance(msg.data, str) else False:
            return time.perf_counter()


async def run(tries: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="rockd-bench-latency-"))
    images = [work / "pool.img", work / "extra.img"]
    for image in images:
        with image.open("wb") as f:
            f.truncate(1 << 30)
    pool_dev = sh("losetup", "--find", "--show", str(images[0])).strip()
    extra_dev = sh("losetup", "--find").strip()
    attached = [pool_dev]
    proc = None
    try:
        port = free_port()
        proc, _ = serve(work / "state", port, [pool_dev, extra_dev])
        api = Api(f"http://127.0.0.1:{port}")
        await api.login()
        disk = next(d["id"] for d in (await api.state("/disks"))["value"].values()
                    if d["path"] == pool_dev)
        _, pool = await api.call("POST", "/api/v1/pools",
                                 {"name": "lat", "disks": [disk], "data": "single"})
        _, share = await api.call("POST", "/api/v1/shares", {"pool": pool["id"], "name": "s"})
        folder = Path(pool["mount_point"]) / ".snapshots" / "s"
        folder.mkdir(parents=True)
        ws = await api.stream()
        await ws.send_str('{"id": 1, "type": "subscribe", "path": ""}')
        await ws.receive()
        await ws.receive()

        snapshots = []
        for i in range(tries):
            name = f"hand{i:04d}"
            sh("btrfs", "-q", "subvolume", "snapshot", "-r", share["path"], str(folder / name))
            made = time.perf_counter()
            snapshots.append((await until(ws, orjson.dumps(name)) - made) * 1000)

        disks = []
        for _ in range(tries):
            sh("losetup", extra_dev, str(images[1]))
            attached.append(extra_dev)
            made = time.perf_counter()
            disks.append((await until(ws, f'"path":"{extra_dev}"'.encode()) - made) * 1000)
            sh("losetup", "--detach", extra_dev)
            attached.remove(extra_dev)
            await until(ws, b'"op":"remove","path":"/disks/')
        await ws.close()
        await api.close()
        return {"bench": "latency", "snapshot_by_hand": figures(snapshots),
                "loop_attached_by_hand": figures(disks)}
    finally:
        stop(proc)
        unmount_under(work)
        for device in attached:
            release(device)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tries", type=int, default=100)
    print(json.dumps(asyncio.run(run(parser.parse_args().tries)), indent=2))


if __name__ == "__main__":
    main()
