"""Stream benchmark: tree.set to websocket client latency, for many subscribers and rates.

    python bench/stream.py [--subscribers 1,100,1000] [--rates 100,1000,5000] [--seconds 5]

The daemon is a real rockd process (tests/support/loaded.py) making changes at the asked rate;
the subscribers are real websocket clients spread over client processes of their own (2, or
BENCH_CLIENT_PROCS). Each
change carries the time it was made; a client's latency is its arrival time minus that. Prints
one JSON object: p50/p99 latency per (subscribers, rate), resyncs, the daemon's RSS, and the
highest rate (of a ladder) each subscriber count sustains with p99 under 50 ms and no resync.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import orjson  # noqa: E402

from tests.support.client import PASSWORD, Api, free_port  # noqa: E402

TARGET_P99_MS = 50.0
LADDER = [100, 1000, 2000, 5000, 10000, 20000]


async def _client_main(url: str, token: str, count: int, seconds: float, ready, go, out) -> None:
    latencies: list[float] = []
    resyncs = 0
    errors = 0
    frames = 0
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    headers = {"Authorization": f"Bearer {token}"}

    async def one() -> None:
        nonlocal resyncs, errors, frames
        ws = await session.ws_connect(url + "/api/v1/stream", headers=headers,
                                      max_msg_size=0, autoping=True)
        await ws.send_str('{"id": 1, "type": "subscribe", "path": "/bench"}')
        snapshots = 0
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.time_ns()
            message = orjson.loads(msg.data)
            kind = message["type"]
            if kind == "patch":
                if go.is_set():
                    frames += 1
                    for op in message["ops"]:  # /bench/kN/t, or /bench/kN when new
                        value = op.get("value")
                        if isinstance(value, dict):
                            value = value.get("t")
                        elif not op["path"].endswith("/t"):
                            continue
                        if isinstance(value, int):
                            latencies.append((now - value) / 1e6)
            elif kind == "snapshot":
                snapshots += 1
                if snapshots > 1:
                    resyncs += 1
            elif kind == "error":
                errors += 1
        errors += 0 if ws.close_code in (1000, 1001, None) else 1

    tasks = []
    for _ in range(count):
        tasks.append(asyncio.create_task(one()))
        await asyncio.sleep(0)
    await asyncio.sleep(1.0)
    ready.set()
    while not go.is_set():
        await asyncio.sleep(0.01)
    await asyncio.sleep(seconds)
    out.put({"latencies": latencies, "resyncs": resyncs, "errors": errors, "frames": frames})
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await session.close()


def client_process(url, token, count, seconds, ready, go, out) -> None:
    asyncio.run(_client_main(url, token, count, seconds, ready, go, out))


class Daemon:
    def __init__(self, state: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "ROCKD_ADMIN_PASSWORD": PASSWORD}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.loaded", "--listen", f"127.0.0.1:{self.port}",
             "--state-dir", str(state)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            cwd=ROOT, env=env)
        assert self.readline() == "ready"

    def readline(self) -> str:
        return self.proc.stdout.readline().decode().strip()

    def command(self, line: str) -> str:
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self.readline() if line.split()[0] in ("rev", "rss") else ""

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


async def token_for(url: str) -> str:
    api = Api(url)
    await api.login()
    token = await api.make_token(["read"], "bench")
    await api.close()
    return token


class Measured:
    """What one run of a case gave: every delivery's latency and the server's costs."""

    def __init__(self, subscribers: int, rate: int, seconds: float, results: list[dict],
                 made: int, cpu_seconds: float, rss: int):
        self.subscribers = subscribers
        self.rate = rate
        self.seconds = seconds
        self.latencies = sorted(x for r in results for x in r["latencies"])
        self.frames = sum(r["frames"] for r in results)
        self.resyncs = sum(r["resyncs"] for r in results)
        self.errors = sum(r["errors"] for r in results)
        self.made = made
        self.cpu_seconds = cpu_seconds
        self.rss = rss

    def quantile_ms(self, q: float) -> float | None:
        if not self.latencies:
            return None
        if q == 0.5:
            return round(statistics.median(self.latencies), 2)
        return round(self.latencies[int(len(self.latencies) * q) - 1], 2)


def measure(daemon: Daemon, token: str, subscribers: int, rate: int,
            seconds: float) -> Measured:
    """Run `subscribers` clients against `daemon` making `rate` changes a second."""
    ctx = mp.get_context("spawn")
    procs = min(int(os.environ.get("BENCH_CLIENT_PROCS", "2")), subscribers)
    out = ctx.Queue()
    go = ctx.Event()
    readies, workers = [], []
    for i in range(procs):
        share = subscribers // procs + (1 if i < subscribers % procs else 0)
        ready = ctx.Event()
        readies.append(ready)
        worker = ctx.Process(target=client_process,
                             args=(daemon.url, token, share, seconds, ready, go, out))
        worker.start()
        workers.append(worker)
    for ready in readies:
        ready.wait(60)
    rev_before = int(daemon.command("rev").split()[1])
    daemon.command(f"rate {rate}")
    go.set()
    cpu_before = daemon.cpu_seconds()
    time.sleep(seconds * 0.6)
    rss = int(daemon.command("rss").split()[1])
    results = [out.get(timeout=seconds + 60) for _ in workers]
    cpu = daemon.cpu_seconds() - cpu_before
    daemon.command("rate 0")
    rev_after = int(daemon.command("rev").split()[1])
    for worker in workers:
        worker.join(30)
    return Measured(subscribers, rate, seconds, results, rev_after - rev_before, cpu, rss)


def run_case(daemon: Daemon, token: str, subscribers: int, rate: int, seconds: float) -> dict:
    m = measure(daemon, token, subscribers, rate, seconds)
    latencies = m.latencies
    expected = subscribers * m.made
    case = {
        "subscribers": subscribers,
        "rate": rate,
        "achieved_rate": round(m.made / seconds),
        "deliveries": len(latencies),
        "frames": m.frames,
        "p50_ms": m.quantile_ms(0.5),
        "p99_ms": m.quantile_ms(0.99),
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "resyncs": m.resyncs,
        "errors": m.errors,
        "daemon_rss_mb": round(m.rss / 2**20, 1),
        "daemon_cpu": round(m.cpu_seconds / seconds, 2),
    }
    case["ok"] = bool(
        latencies and case["p99_ms"] < TARGET_P99_MS and case["resyncs"] == 0
        and case["errors"] == 0 and case["achieved_rate"] >= 0.9 * rate
        and len(latencies) >= 0.9 * expected * 0.9)
    time.sleep(0.5)
    return case


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", default="1,100,1000")
    parser.add_argument("--rates", default="100,1000,5000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--ladder", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    counts = [int(x) for x in args.subscribers.split(",")]
    rates = [int(x) for x in args.rates.split(",")]
    state = Path(tempfile.mkdtemp(prefix="rockd-bench-stream-"))
    cases, sustained = [], {}
    try:
        for count in counts:
            daemon = Daemon(state / f"s{count}")
            try:
                token = asyncio.run(token_for(daemon.url))
                done: dict[int, dict] = {}
                for rate in rates:
                    done[rate] = run_case(daemon, token, count, rate, args.seconds)
                    cases.append(done[rate])
                    print(json.dumps(done[rate]), file=sys.stderr)
                if args.ladder:
                    best = None
                    for rate in LADDER:
                        case = done.get(rate) or run_case(daemon, token, count, rate,
                                                          args.seconds)
                        if rate not in done:
                            print(json.dumps(case), file=sys.stderr)
                        if not case["ok"]:
                            break
                        best = rate
                    sustained[str(count)] = best
            finally:
                daemon.stop()
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print(json.dumps({"bench": "stream", "target_p99_ms": TARGET_P99_MS, "cases": cases,
                      "highest_sustained_rate": sustained}, indent=2))


if __name__ == "__main__":
    main()
