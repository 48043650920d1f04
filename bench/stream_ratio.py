"""Stream benchmark against its limit: rockd's stream beside a bare broadcaster, in one run.

    python bench/stream_ratio.py [--cases 1000x100,100x1000] [--seconds 10] [--rounds 1]
                                 [--stages]

The same client processes as bench/stream.py (2, or BENCH_CLIENT_PROCS), subscribing to
/bench, follow a real rockd process (tests/support/loaded.py) and then the bare broadcaster
(bench/bare_broadcaster.py: the same handshake and frames, the same load, each tick's frame
encoded once and written to every subscriber, nothing else). Since the clients share the
machine with the server, their cost is in both figures alike, and the ratio is what rockd's
stream costs beyond the least that carries the load. Cases are SUBSCRIBERSxRATE (changes a
second); with --rounds N each case runs N times, rockd and bare in turn, and the figures are
of all deliveries together. Prints one JSON object: per case p50/p99 of both, the p99 ratio
(target: within 1.5), the server's CPU seconds per delivery for both and their ratio, rockd's
RSS (target under 150 MB), resyncs and errors. With --stages, rockd runs under
bench/stream_stages.py and each case also says how long changes took to be released by the
journal and to be written to the sockets, which tells the journal's share of the latency from
the stream's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

from bench.stream import Daemon, Measured, measure, token_for  # noqa: E402
from tests.support.client import PASSWORD, free_port  # noqa: E402

TARGET_P99_RATIO = 1.5
TARGET_RSS_MB = 150.0


class Bare(Daemon):
    """bench/bare_broadcaster.py as a process, driven like the loaded rockd."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "bare_broadcaster.py"),
             "--listen", f"127.0.0.1:{self.port}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
        assert self.readline() == "ready"


class Staged(Daemon):
    """The loaded rockd under bench/stream_stages.py: the same daemon, its stages timed."""

    def __init__(self, state: Path, out: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "stream_stages.py"), "--stages-out", str(out),
             "--listen", f"127.0.0.1:{self.port}", "--state-dir", str(state)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT,
            env={**os.environ, "ROCKD_ADMIN_PASSWORD": PASSWORD})
        assert self.readline() == "ready"


def _merge(runs: list[Measured]) -> Measured:
    first = runs[0]
    merged = Measured(first.subscribers, first.rate, sum(r.seconds for r in runs), [],
                      sum(r.made for r in runs), sum(r.cpu_seconds for r in runs),
                      max(r.rss for r in runs))
    merged.latencies = sorted(x for r in runs for x in r.latencies)
    merged.frames = sum(r.frames for r in runs)
    merged.resyncs = sum(r.resyncs for r in runs)
    merged.errors = sum(r.errors for r in runs)
    return merged


def _figures(m: Measured) -> dict:
    deliveries = len(m.latencies)
    return {
        "achieved_rate": round(m.made / m.seconds),
        "deliveries": deliveries,
        "frames": m.frames,
        "p50_ms": m.quantile_ms(0.5),
        "p99_ms": m.quantile_ms(0.99),
        "cpu_seconds": round(m.cpu_seconds, 2),
        "cpu_us_per_delivery": round(m.cpu_seconds / deliveries * 1e6, 2) if deliveries else None,
        "rss_mb": round(m.rss / 2**20, 1),
        "resyncs": m.resyncs,
        "errors": m.errors,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def run(subscribers: int, rate: int, seconds: float, rounds: int, state: Path,
        stages: bool = False) -> dict:
    rockd_runs, bare_runs, staged = [], [], []
    for n in range(rounds):
        where = state / f"s{subscribers}x{rate}-{n}"
        out = state / f"stages-{subscribers}x{rate}-{n}.json"
        daemon = Staged(where, out) if stages else Daemon(where)
        try:
            token = asyncio.run(token_for(daemon.url))
            rockd_runs.append(measure(daemon, token, subscribers, rate, seconds))
        finally:
            daemon.stop()
        with contextlib.suppress(FileNotFoundError):
            staged.append(json.loads(out.read_text()))
        time.sleep(0.5)
        bare = Bare()
        try:
            bare_runs.append(measure(bare, "bare", subscribers, rate, seconds))
        finally:
            bare.stop()
        time.sleep(0.5)
    rockd, bare_m = _figures(_merge(rockd_runs)), _figures(_merge(bare_runs))
    case = {
        "subscribers": subscribers,
        "rate": rate,
        "rockd": rockd,
        "bare": bare_m,
        "p99_ratio": _ratio(rockd["p99_ms"], bare_m["p99_ms"]),
        "p50_ratio": _ratio(rockd["p50_ms"], bare_m["p50_ms"]),
        "cpu_per_delivery_ratio": _ratio(rockd["cpu_us_per_delivery"],
                                         bare_m["cpu_us_per_delivery"]),
    }
    if staged:
        rockd["stages"] = staged if len(staged) > 1 else staged[0]
    expected = subscribers * rate * seconds * rounds
    case["ok"] = bool(
        case["p99_ratio"] is not None and case["p99_ratio"] <= TARGET_P99_RATIO
        and rockd["rss_mb"] < TARGET_RSS_MB and rockd["resyncs"] == 0 and rockd["errors"] == 0
        and rockd["achieved_rate"] >= 0.9 * rate and rockd["deliveries"] >= 0.8 * expected)
    return case


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default="1000x100,100x1000",
                        help="SUBSCRIBERSxRATE, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--stages", action="store_true",
                        help="time rockd's stages too (bench/stream_stages.py)")
    args = parser.parse_args()
    cases = []
    state = Path(tempfile.mkdtemp(prefix="rockd-bench-ratio-"))
    try:
        for spec in args.cases.split(","):
            subscribers, rate = (int(x) for x in spec.split("x"))
            case = run(subscribers, rate, args.seconds, args.rounds, state, args.stages)
            print(json.dumps(case), file=sys.stderr)
            cases.append(case)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print(json.dumps({"bench": "stream_ratio", "target_p99_ratio": TARGET_P99_RATIO,
                      "target_rss_mb": TARGET_RSS_MB,
                      "client_procs": int(os.environ.get("BENCH_CLIENT_PROCS", "2")),
                      "cases": cases}, indent=2))


if __name__ == "__main__":
    main()
