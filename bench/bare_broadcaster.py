"""The bare broadcaster: the least a websocket server can do to carry bench/stream.py's load.

    python bench/bare_broadcaster.py --listen 127.0.0.1:PORT

A plain aiohttp server with rockd's stream handshake and frames and nothing else: no tree, no
journal, no bus, no authentication check. A client sends `subscribe`, is answered `subscribed`
and a snapshot of /bench, then gets patches. The load is tests/support/loaded.py's: every
millisecond the changes due at the asked rate are made, each setting /bench/k{i} to
{"seq": n, "t": time.time_ns()} as the same two `replace` ops rockd's tree emits; the changes of
one tick are encoded once, as one patch frame, and that frame is written to every subscriber.
It reads the same commands on stdin as tests/support/loaded.py (rate R, rev, rss), so the
stream benchmark drives either in the same way (bench/stream.py --against-bare).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time

import orjson
from aiohttp import WSMsgType, web

KEYS = 10


class Broadcaster:
    """The subscribers, the state they are sent a snapshot of, and the load that changes it."""

    def __init__(self) -> None:
        self.subscribers: set[web.WebSocketResponse] = set()
        self.bench: dict[str, dict[str, int]] = {}
        self.rev = 0
        self.seq = 0
        self.task: asyncio.Task[None] | None = None

    def change(self) -> bytes:
        """Make one change; answer its ops, comma-joined."""
        self.seq += 1
        self.rev += 1
        key, now = f"k{self.seq % KEYS}", time.time_ns()
        self.bench[key] = {"seq": self.seq, "t": now}
        return b'{"op":"replace","path":"/bench/%s/seq","value":%d},' \
               b'{"op":"replace","path":"/bench/%s/t","value":%d}' % (
                   key.encode(), self.seq, key.encode(), now)

    async def send(self, ops: list[bytes]) -> None:
        frame = b'{"type":"patch","sub":1,"rev":%d,"ops":[%s]}' % (self.rev, b",".join(ops))
        for ws in list(self.subscribers):
            try:
                await ws.send_frame(frame, WSMsgType.TEXT)
            except ConnectionError:
                self.subscribers.discard(ws)

    def set_rate(self, rate: float) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None
        if rate > 0:
            self.task = asyncio.create_task(self._run(rate))

    async def _run(self, rate: float) -> None:
        start, done = time.perf_counter(), 0
        while True:
            due = int((time.perf_counter() - start) * rate)
            ops = []
            while done < due:
                ops.append(self.change())
                done += 1
            if ops:
                await self.send(ops)
            await asyncio.sleep(0.001)

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                message = orjson.loads(msg.data)
                if message.get("type") == "ping":
                    pong = {"type": "pong", "id": message.get("id")}
                    await ws.send_str(orjson.dumps(pong).decode())
                elif message.get("type") == "subscribe" and ws not in self.subscribers:
                    await ws.send_str(orjson.dumps(
                        {"type": "subscribed", "id": message.get("id"), "sub": 1}).decode())
                    await ws.send_str(orjson.dumps(
                        {"type": "snapshot", "sub": 1, "rev": self.rev, "epoch": "bare",
                         "value": self.bench}).decode())
                    self.subscribers.add(ws)
        finally:
            self.subscribers.discard(ws)
        return ws


def rss() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    broadcaster = Broadcaster()
    app = web.Application()
    app.router.add_get("/api/v1/stream", broadcaster.stream)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, int(port)).start()
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
                broadcaster.set_rate(float(line[1]))
            elif line[0] == "rev":
                say(f"rev {broadcaster.rev}")
            elif line[0] == "rss":
                say(f"rss {rss()}")
        stopping.set()

    task = asyncio.create_task(commands())
    say("ready")
    await stopping.wait()
    task.cancel()
    broadcaster.set_rate(0)
    for ws in list(broadcaster.subscribers):
        await ws.close()
    await runner.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
