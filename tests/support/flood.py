"""A hostile stream client: a websocket opened over a raw socket that sends and never reads.

aiohttp's own client reads its socket into a buffer of its own; this one leaves every byte
the daemon sends in the kernel, as a client that does not read at all would.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from dataclasses import dataclass

OP_TEXT, OP_BINARY, OP_PING, OP_PONG = 0x1, 0x2, 0x9, 0xA
MASK = b"\x01\x02\x03\x04"


def frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One masked client frame."""
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, 0x80 | size])
    elif size < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + MASK + masked


async def open_stream(port: int, headers: dict[str, str],
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A websocket handshake on 127.0.0.1:`port`; the socket then reads as little as it can."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, limit=1 << 16)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
             *(f"{name}: {value}" for name, value in headers.items())]
    writer.write(("GET /api/v1/stream HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.decode(errors="replace"))
    # what the daemon sends from now on stays in the kernel: this side reads no more
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.transport.pause_reading()
    return reader, writer


@dataclass
class Flood:
    """What a flood achieved: frames written, when the daemon stopped taking them (its
    back-pressure) and when it let the connection go (seconds from the start, or None)."""

    written: int = 0
    held_back_after: float | None = None
    cut_after: float | None = None


def daemon_holds(writer: asyncio.StreamWriter) -> bool:
    """Whether the daemon's end of this connection still exists, in any TCP state (the
    client's kernel may hear of a reset late: it is not reading either)."""
    mine, theirs = writer.get_extra_info("sockname")[1], writer.get_extra_info("peername")[1]
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            local, remote = line.split()[1:3]
            if int(local.rsplit(":", 1)[1], 16) == theirs and \
                    int(remote.rsplit(":", 1)[1], 16) == mine:
                return True
    return False


async def flood(writer: asyncio.StreamWriter, one: bytes, count: int, seconds: float,
                batch: int = 1000) -> Flood:
    """Write `one` frame `count` times as fast as the daemon takes them, then keep knocking
    slowly, reading nothing, until the daemon lets the connection go or `seconds` have
    passed. The daemon holds the client back when what it wrote has not left for a second."""
    result, start = Flood(), time.monotonic()
    chunk, waiting_since, check = one * batch, None, start
    transport = writer.transport
    try:
        while (now := time.monotonic()) - start < seconds:
            if now >= check:
                check = now + 0.2
                if transport.is_closing() or not daemon_holds(writer):
                    result.cut_after = round(now - start, 1)
                    break
            if transport.get_write_buffer_size():  # the daemon has not taken it all yet
                waiting_since = waiting_since or now
                if now - waiting_since >= 1.0 and result.held_back_after is None:
                    result.held_back_after = round(waiting_since - start, 1)
                await asyncio.sleep(0.01)
                continue
            waiting_since = None
            if result.written < count:
                writer.write(chunk)
                result.written += batch
                await asyncio.sleep(0)
            else:
                writer.write(one)
                await asyncio.sleep(0.2)
    finally:
        transport.abort()
    return result
