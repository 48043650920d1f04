"""A real rockd daemon process with a load generator, for the stream and restart tests and benches.

    python -m tests.support.loaded --listen 127.0.0.1:PORT --state-dir DIR
        [--devices /dev/loopN,...] [--private DIR]

It serves exactly as `rockd serve` does (managing `--devices`; with `--private`, Samba, NFS,
SFTP and replication kept to files under DIR and free ports, as the rig's daemons are) and
reads commands on stdin, one per line:
  rate R      make R changes per second from now on (0 stops), each its own revision
  burst N     make N changes at once, then print "rev REV"
  rev         print "rev REV" (the tree's current revision)
  rss         print "rss BYTES" (this process's resident memory)
  allocations mark | N   with PYTHONTRACEMALLOC set: `mark` takes tracemalloc's snapshot, N
              prints "allocations JSON", the N source lines whose memory grew most since the
              mark (or that hold most, without one); "allocations []" when not tracing
Every change sets /bench/k{i} (i cycling over --keys) to {"seq": n, "t": time.time_ns()}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
import tracemalloc
from pathlib import Path

from rockd.app import Daemon
from rockd.config import Settings
from tests.support.client import free_port
from tests.support.process import private_services


class Load:
    def __init__(self, daemon: Daemon, keys: int):
        self.daemon = daemon
        self.keys = keys
        self.seq = 0
        self.rate = 0.0
        self.task: asyncio.Task | None = None

    def change(self) -> None:
        self.seq += 1
        self.daemon.tree.set(f"/bench/k{self.seq % self.keys}",
                             {"seq": self.seq, "t": time.time_ns()})

    def set_rate(self, rate: float) -> None:
        self.rate = rate
        if self.task is not None:
            self.task.cancel()
            self.task = None
        if rate > 0:
            self.task = asyncio.create_task(self._run(rate))

    async def _run(self, rate: float) -> None:
        start, done = time.perf_counter(), 0
        while True:
            due = int((time.perf_counter() - start) * rate)
            while done < due:
                self.change()
                done += 1
            await asyncio.sleep(0.001)


class Allocations:
    """What tracemalloc saw, for finding what grows in a long run."""

    def __init__(self) -> None:
        self.mark: tracemalloc.Snapshot | None = None

    def answer(self, word: str) -> str:
        if not tracemalloc.is_tracing():
            return "[]"
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        if word == "mark":
            self.mark = snapshot
            return "[]"
        top = (snapshot.compare_to(self.mark, "lineno") if self.mark is not None
               else snapshot.statistics("lineno"))
        return json.dumps([{"where": str(s.traceback[0]), "kb": round(s.size / 1024, 1),
                            "grew_kb": round(getattr(s, "size_diff", 0) / 1024, 1),
                            "count": s.count} for s in top[:int(word)]])


def rss() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--devices", default="")
    parser.add_argument("--private", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    private = {} if args.private is None else {
        **private_services(args.private), "zmq_listen": f"127.0.0.1:{free_port(span=2)}"}
    daemon = Daemon(Settings(listen=args.listen, state_dir=args.state_dir,
                             mount_root=args.state_dir / "mnt",
                             devices=[d for d in args.devices.split(",") if d], **private))
    await daemon.start()
    load = Load(daemon, args.keys)
    allocations = Allocations()
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def say(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    async def commands() -> None:
        while line := (await reader.readline()).decode().split():
            if line[0] == "rate":
                load.set_rate(float(line[1]))
            elif line[0] == "burst":
                for _ in range(int(line[1])):
                    load.change()
                say(f"rev {daemon.tree.rev}")
            elif line[0] == "rev":
                say(f"rev {daemon.tree.rev}")
            elif line[0] == "rss":
                say(f"rss {rss()}")
            elif line[0] == "allocations":
                say(f"allocations {allocations.answer(line[1])}")
        stopping.set()

    task = asyncio.create_task(commands())
    say("ready")
    await stopping.wait()
    task.cancel()
    load.set_rate(0)
    await daemon.stop()
    say(f"stopped {daemon.tree.rev} {load.seq}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
