"""One transfer being received: its keys and state, its stream piped into `btrfs receive`
(each chunk opened, counted and hashed, credit granted back as chunks are written), and the
checks before what btrfs made becomes the replica's head: the stream's length and checksum,
and a read-only subvolume with a received UUID. Any failure raises; the receiver then
discards what was made."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rockd.storage import btrfs
from rockd.storage.share_probe import SNAPSHOTS
from rockd.transfer import protocol
from rockd.transfer.pipes import btrfs_receive
from rockd.transfer.protocol import END
from rockd.transfer.replicas import Replicas

log = logging.getLogger(__name__)

FINISH_SECONDS = 600.0
"""How long `btrfs receive` may take to finish once the whole stream is in."""


class Incoming:
    """One transfer being received."""

    def __init__(self, tid: str, peer_key: str, pool: dict[str, Any], name: str,
                 sent_name: str, record: dict[str, Any]):
        self.id = tid
        self.peer_key = peer_key
        self.pool = pool
        self.name = name
        self.sent_name = sent_name
        self.record = record
        self.key = protocol.Channel.new_key()
        self.ticket = protocol.ticket()
        self.channel = protocol.Channel(self.key, sender=False)
        self.folder: Path | None = None
        self.route: bytes | None = None
        self.fd: int | None = None  # ZeroMQ's socket for the data connection, once open
        self.receiving = True  # False once the stream is placed or being discarded
        self.queue: asyncio.Queue = asyncio.Queue()
        self.credit = protocol.Credit()
        self.bytes = 0
        self.hash = protocol.checksum()
        self.end: tuple[int, bytes] | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.result: asyncio.Future = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task | None = None

    def busy(self, pool_id: str, name: str) -> bool:
        """Whether this transfer is still coming into replica `name` of pool `pool_id` (one
        discarded is kept a while, and is not)."""
        return self.pool["id"] == pool_id and self.name == name and not self.result.done()

    async def stream(self, idle: float, grant: Callable[[int], Awaitable[None]]) -> None:
        """Pipe the queued chunks into `btrfs receive` until the end message; `grant(n)` gives
        the sender n chunks of credit. Raises when the sender is silent for `idle` seconds, a
        message is not authentic, btrfs fails, or the stream's length or checksum is wrong."""
        assert self.folder is not None
        proc, feed = await btrfs_receive(self.folder)
        self.proc = proc
        assert proc.stderr is not None
        errors = asyncio.ensure_future(proc.stderr.read())
        plain = bytearray(protocol.CHUNK)  # every chunk is opened into this one buffer
        try:
            while True:
                try:
                    async with asyncio.timeout(idle):
                        kind, tid, number, sealed = await self.queue.get()
                except TimeoutError:
                    raise RuntimeError(f"the sender sent nothing for {idle:.0f} s") from None
                if kind == END:
                    payload = self.channel.open(kind, tid, number, sealed)
                    if len(payload) != 24:
                        raise protocol.Tampered("a malformed end message")
                    self.end = (protocol.from_u64(payload[:8]), bytes(payload[8:]))
                    break
                chunk = self.channel.open(kind, tid, number, sealed, into=plain)
                del sealed  # (ZeroMQ's buffer goes back now, not at the next chunk)
                await feed.write(chunk)
                self.hash.update(chunk)
                self.bytes += len(chunk)
                granted = self.credit.written()
                if granted:
                    await grant(granted)
            feed.close()
            async with asyncio.timeout(FINISH_SECONDS):
                status = await proc.wait()
                stderr = (await errors).decode(errors="replace").strip()
        except BaseException:
            feed.close()
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            errors.cancel()
            raise
        assert self.end is not None
        total, digest = self.end
        if status != 0:
            raise RuntimeError(f"btrfs receive exited {status}: {stderr or 'no message'}")
        if total != self.bytes or digest != self.hash.digest():
            raise RuntimeError(f"the stream's checksum does not match ({self.bytes} bytes "
                               f"received, {total} sent): discarded")

    async def place(self, replicas: Replicas) -> dict[str, Any]:
        """Check what btrfs made and make it the replica's head; answers what the sender is
        told on commit."""
        relative = f"{SNAPSHOTS}/{self.name}/{self.sent_name}"
        subs = {s["path"]: s for s in await btrfs.subvolumes(self.pool["mount_point"])}
        sub = subs.get(relative)
        if sub is None or not sub["read_only"] or not sub["received_uuid"]:
            raise RuntimeError("btrfs receive did not finish the subvolume (not read-only "
                               "with a received UUID)")
        await replicas.place(self.pool, self.name, self.sent_name, self.record)
        await replicas.finished(self.id)
        await replicas.shares.settled(self.pool["id"])
        log.info("replication: received %s into %s/%s (%d bytes)", self.sent_name,
                 self.pool["name"], self.name, self.bytes)
        return {"uuid": sub["uuid"], "received_uuid": sub["received_uuid"], "bytes": self.bytes}
