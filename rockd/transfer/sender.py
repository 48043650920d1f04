"""The sending side: a link to one peer (REQ for metadata, DEALER for data) and the sending of
one snapshot through it, under the receiver's credit. Whatever fails is a PeerError (protocol.py),
with the peer's own words where it refused."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from rockd.transfer import protocol
from rockd.transfer.pipes import Chunks
from rockd.transfer.presence import curve_socket, link_socket
from rockd.transfer.protocol import CREDIT, DATA, END, ERROR, OPEN, PeerError, checksum

log = logging.getLogger(__name__)

CALL_SECONDS = 15.0
COMMIT_SECONDS = 900.0
CREDIT_SECONDS = 60.0
HEARTBEAT_TIMEOUT_MS = 10000
ASKED = {"held": "which snapshots it holds", "begin": "to take a transfer",
         "commit": "to keep what it received", "abort": "to drop a transfer",
         "prune": "to apply its retention"}
"""What each request asks a peer, in words for an error."""


class Link:
    """One connection to a peer's receiver. Close it when done (`async with`)."""

    def __init__(self, context: zmq.asyncio.Context, peer: dict[str, Any], public: bytes,
                 secret: bytes, idle: float = CREDIT_SECONDS):
        self.context = context
        self.peer = peer
        self.public, self.secret = public, secret
        self.idle = idle  # how long a stream waits for the peer's credit, or to take a chunk
        self.endpoint = protocol.endpoint(peer["address"])
        self.req: zmq.asyncio.Socket | None = None
        self.dealer: zmq.asyncio.Socket | None = None
        self.broken = asyncio.Event()
        self.reason = ""
        self._monitors: list[asyncio.Task] = []

    async def __aenter__(self) -> Link:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _socket(self, kind: int, tid: str = "", ticket: str = "") -> zmq.asyncio.Socket:
        """The REQ of the metadata channel (CURVE), or the DEALER of transfer `tid`'s data
        channel (PLAIN, with its ticket)."""
        if kind == zmq.DEALER:
            sock = link_socket(self.context, kind, self.peer, HEARTBEAT_TIMEOUT_MS)
            sock.plain_username = tid.encode()
            sock.plain_password = ticket.encode()
            sock.setsockopt(zmq.SNDHWM, protocol.WINDOW + 4)
            endpoint = protocol.endpoint(protocol.data_address(self.peer["address"]))
        else:
            sock = curve_socket(self.context, kind, self.peer, self.public, self.secret,
                                HEARTBEAT_TIMEOUT_MS)
            endpoint = self.endpoint
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH
                                          | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                          | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                          | zmq.EVENT_HANDSHAKE_SUCCEEDED
                                          | zmq.EVENT_DISCONNECTED)
        self._monitors.append(asyncio.create_task(self._watch(monitor, kind)))
        sock.connect(endpoint)
        return sock

    async def _watch(self, monitor: zmq.asyncio.Socket, kind: int) -> None:
        name, address = self.peer["name"], self.peer["address"]
        connected = False
        try:
            while True:
                event = parse_monitor_message(await monitor.recv_multipart())["event"]
                if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                    connected = True
                elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH and kind == zmq.DEALER:
                    self._break(f"peer {name} ({address}) refused the transfer on its data "
                                "port (did it restart?)", "refused")
                elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                    self._break(f"peer {name} ({address}) refused this box's key: pair this "
                                "box there too (POST /api/v1/replication/peers)", "not_paired")
                elif event in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                               zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
                    self._break(f"the encrypted handshake with peer {name} ({address}) failed: "
                                "is the public key paired here that box's?", "handshake_failed")
                elif event == zmq.EVENT_DISCONNECTED and connected and kind == zmq.DEALER:
                    self._break(f"the connection to peer {name} ({address}) was lost",
                                "disconnected")
        except (asyncio.CancelledError, zmq.ZMQError):
            pass
        finally:
            monitor.close(0)

    def _break(self, reason: str, code: str) -> None:
        if not self.broken.is_set():
            self.reason, self.code = reason, code
            self.broken.set()

    def _raise_if_broken(self) -> None:
        if self.broken.is_set():
            raise PeerError(self.reason, self.code)

    async def _first(self, awaitable, timeout: float, what: str):  # noqa: ASYNC109
        """`awaitable`'s result, unless the link breaks or `timeout` passes first (`awaitable`
        is then cancelled: a send is not made)."""
        work = asyncio.ensure_future(awaitable)
        if self.broken.is_set():
            work.cancel()
            self._raise_if_broken()
        broken = asyncio.ensure_future(self.broken.wait())
        try:
            done, _ = await asyncio.wait({work, broken}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            broken.cancel()
        if work in done:
            return work.result()
        work.cancel()
        self._raise_if_broken()
        raise PeerError(f"peer {self.peer['name']} ({self.peer['address']}) {what} "
                        f"(waited {timeout:.0f} s)", "timeout")

    async def call(self, op: str, timeout: float = CALL_SECONDS,  # noqa: ASYNC109
                   **fields: Any) -> dict:
        """One metadata request; its answer, or PeerError (the refusal's words and code)."""
        if self.req is None:
            self.req = self._socket(zmq.REQ)
        try:
            await self.req.send(protocol.encode({"op": op, **fields}))
            raw = await self._first(self.req.recv(), timeout,
                                    f"did not answer when asked {ASKED.get(op, op)}")
        except BaseException:
            self.req.close(0)  # a REQ that lost its reply cannot be used again
            self.req = None
            raise
        answer = protocol.decode(raw)
        if not answer.get("ok"):
            raise PeerError(f"peer {self.peer['name']}: {answer.get('error')}",
                            answer.get("code", "failed"))
        return answer

    async def send_stream(self, tid: str, key: bytes, ticket: str, stream: Chunks,
                          sent: Callable[[int], None], check: Callable[[], None]
                          ) -> tuple[int, bytes]:
        """Send everything `stream` gives as transfer `tid` (sealed with `key`, through the
        data port with `ticket`), chunk by chunk under credit; answers (bytes, checksum).
        `sent(n)` is told of each chunk; `check()` may raise to stop (a cancel) while it
        waits for credit."""
        if self.dealer is not None:
            self.dealer.close(0)
        self.dealer = dealer = self._socket(zmq.DEALER, tid, ticket)
        channel, name = protocol.Channel(key, sender=True), tid.encode()
        outbox = Outbox()
        await self._put(channel.seal(OPEN, name, b""))
        credit, total = 0, 0
        digest = checksum()
        while True:
            check()
            chunk = await stream.read()
            if not chunk:
                break
            while True:
                while cast(int, dealer.getsockopt(zmq.EVENTS)) & zmq.POLLIN:  # credit in
                    credit += self._credit(channel, tid, await dealer.recv_multipart())
                if credit > 0:
                    break
                check()
                credit += self._credit(channel, tid, await self._first(
                    dealer.recv_multipart(), self.idle,
                    "stopped asking for more data"))
            digest.update(chunk)
            sealed = outbox.take()
            frames = channel.seal(DATA, name, chunk, sealed)
            outbox.hold(sealed, await self._put(frames, copy=False))
            credit -= 1
            total += len(chunk)
            sent(len(chunk))
            if len(chunk) < protocol.CHUNK:
                break
        await self._put(channel.seal(END, name, protocol.u64(total) + digest.digest()))
        return total, digest.digest()

    async def _put(self, frames: list, copy: bool = True) -> zmq.MessageTracker | None:
        """Send on the data channel, or PeerError once the link is broken or `idle` passed;
        answers ZeroMQ's tracker of a message sent without a copy.

        Credit bounds what is in flight, but not the wait for room in the socket: with the
        network cut, the DEALER's queue fills (zmq's count of it lags by up to half the high
        water mark, so that can be before the window is) and a send would wait, watching
        neither the link nor the time, until the network came back."""
        assert self.dealer is not None
        sending = cast("asyncio.Future[zmq.MessageTracker | None]",
                       self.dealer.send_multipart(frames, copy=copy, track=not copy))
        if sending.done():  # the usual case: room in the queue
            return sending.result()
        return await self._first(sending, self.idle, "took no more data")

    def _credit(self, channel: protocol.Channel, tid: str, frames: list[bytes]) -> int:
        if len(frames) < 3 or frames[1].decode(errors="replace") != tid:
            return 0
        if frames[0] == ERROR:
            raise PeerError(f"peer {self.peer['name']}: {frames[2].decode(errors='replace')}",
                            "discarded")
        if frames[0] == CREDIT and len(frames) == 4:
            try:
                return protocol.from_u64(channel.open(CREDIT, frames[1], frames[2], frames[3]))
            except (protocol.Tampered, struct.error) as exc:
                raise PeerError(f"peer {self.peer['name']}: {exc}", "tampered") from None
        return 0

    async def close(self) -> None:
        # monitors stop before their readers close (see presence.Watch.close)
        for sock in (self.req, self.dealer):
            if sock is not None:
                with contextlib.suppress(zmq.ZMQError):
                    sock.disable_monitor()
        for task in self._monitors:
            task.cancel()
        await asyncio.gather(*self._monitors, return_exceptions=True)
        for sock in (self.req, self.dealer):
            if sock is not None:
                sock.close(0)
        self.req = self.dealer = None


class Outbox:
    """Buffers for sealed chunks, which ZeroMQ sends without a copy: a buffer is used again
    once ZeroMQ's tracker says it has let go of it, and a new one is made only while every
    buffer is still held (at most the window's worth)."""

    def __init__(self) -> None:
        self._held: deque[tuple[bytearray, zmq.MessageTracker | None]] = deque()
        self._free: list[bytearray] = []

    def take(self) -> bytearray:
        while self._held and (self._held[0][1] is None or self._held[0][1].done):
            self._free.append(self._held.popleft()[0])
        return self._free.pop() if self._free else bytearray(protocol.CHUNK + protocol.TAG)

    def hold(self, buffer: bytearray, tracker: zmq.MessageTracker | None) -> None:
        self._held.append((buffer, tracker))
