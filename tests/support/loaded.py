"""A real rockd daemon process with a load generator, for the stream and restart tests and benches.

    python -m tests.support.loaded --listen 127.0.0.1:PORT --state-dir DIR

It serves exactly as `rockd serve` does and reads commands on stdin, one per line:
  rate R      make R changes per second from now on (0 stops), each its own revision
  burst N     make N changes at once, then print "rev REV"
  rev         print "rev REV" (the tree's current revision)
  rss         print "rss BYTES" (this process's resident memory)
Every change sets /bench/k{i} (i cycling over --keys) to {"seq": n, "t": time.time_ns()}.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path

from rockd.app import Daemon
from rockd.config import Settings


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


def rss() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--keys", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    daemon = Daemon(Settings(listen=args.listen, state_dir=args.state_dir,
                             mount_root=args.state_dir / "mnt"))
    await daemon.start()
    load = Load(daemon, args.keys)
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
