"""Stream flood benchmark: what a client that sends pings and never reads costs the daemon.

    python bench/stream_flood.py [--pings 1000000] [--connections 4]

Starts `rockd serve` (state in a temporary folder, no devices, its own service files and
ports), opens --connections streams with an API token over raw sockets and sends --pings
`{"type":"ping","id":1234567890}` text frames over them, as fast as the daemon takes them,
never reading a byte. Prints one JSON object: the daemon's resident memory before, at its
peak and a few seconds after the clients have gone, how many pings were written, and for
each connection when the daemon stopped taking its pings and when it cut it off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import private_service_args  # noqa: E402
from tests.support.client import PASSWORD, Api, free_port  # noqa: E402
from tests.support.flood import flood, frame, open_stream  # noqa: E402
from tests.support.host import ROCKD, rss  # noqa: E402

PING = b'{"type":"ping","id":1234567890}'


def start(work: Path) -> tuple[subprocess.Popen, int]:
    """`rockd serve` on a free port, with nothing of the machine's own to manage."""
    port = free_port()
    state = work / "state"
    state.mkdir(parents=True)
    with (work / "rockd.log").open("w") as log:
        proc = subprocess.Popen(
            [str(ROCKD), "serve", "--listen", f"127.0.0.1:{port}", "--state-dir", str(state),
             "--mount-root", str(work / "mnt"), "--devices", "", *private_service_args(work)],
            stdout=subprocess.DEVNULL, stderr=log,
            env={**os.environ, "ROCKD_ADMIN_PASSWORD": PASSWORD})
    deadline = time.monotonic() + 60
    while "rockd serving on" not in (work / "rockd.log").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError((work / "rockd.log").read_text())
        time.sleep(0.05)
    return proc, port


async def token_for(port: int) -> str:
    api = Api(f"http://127.0.0.1:{port}")
    try:
        await api.login()
        return await api.make_token(["read"], "flood")
    finally:
        await api.close()


async def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="rockd-bench-flood-"))
    proc = None
    try:
        proc, port = start(work)
        token = await token_for(port)
        await asyncio.sleep(1.0)
        before = rss(proc.pid)
        headers = {"Authorization": f"Bearer {token}"}
        writers = [(await open_stream(port, headers))[1] for _ in range(args.connections)]
        share = args.pings // args.connections
        task = asyncio.gather(*(flood(w, frame(PING), share, args.limit) for w in writers))
        peak = before
        while not task.done():
            peak = max(peak, rss(proc.pid))
            await asyncio.sleep(0.1)
        results = task.result()
        end = rss(proc.pid)
        await asyncio.sleep(3.0)
        after = rss(proc.pid)
        return {
            "bench": "stream_flood",
            "pings": args.pings,
            "connections": args.connections,
            "pings_written": sum(r.written for r in results),
            "daemon_stopped_reading_after_s": [r.held_back_after for r in results],
            "disconnected_after_s": [r.cut_after for r in results],
            "daemon_rss_mb": {"before": round(before / 2**20, 1),
                              "peak": round(max(peak, end) / 2**20, 1),
                              "after_client_left": round(after / 2**20, 1)},
            "growth_mb": round((max(peak, end) - before) / 2**20, 1),
            "target": {"growth_mb_max": 16, "disconnected": True},
        }
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pings", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=4,
                        help="streams the pings are spread over, all at once")
    parser.add_argument("--limit", type=float, default=120.0,
                        help="seconds the flood may last at most")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
