"""The sending side: a link to one peer (REQ for metadata, DEALER for data) and the sending of
one snapshot through it, under the receiver's credit."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from rockd.transfer import protocol
from rockd.transfer.protocol import CREDIT, DATA, END, ERROR, OPEN, checksum

log = logging.getLogger(__name__)

CALL_SECONDS = 15.0
COMMIT_SECONDS = 900.0
CREDIT_SECONDS = 60.0
PIPE_SIZE = 1 << 20
F_SETPIPE_SZ = 1031


class PeerError(Exception):
    """The peer could not be reached, refused, or failed: words for the job's error."""

    def __init__(self, message: str, code: str = "failed"):
        super().__init__(message)
        self.code = code


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

    def _socket(self, kind: int) -> zmq.asyncio.Socket:
        sock = self.context.socket(kind)
        sock.curve_serverkey = self.peer["public_key"].encode()
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
        sock.linger = 0
        sock.setsockopt(zmq.HEARTBEAT_IVL, 2000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 10000)
        if kind == zmq.DEALER:
            sock.setsockopt(zmq.SNDHWM, protocol.WINDOW + 4)
        if protocol.is_ipv6(self.peer["address"]):
            sock.ipv6 = True
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH
                                          | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                          | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                          | zmq.EVENT_HANDSHAKE_SUCCEEDED
                                          | zmq.EVENT_DISCONNECTED)
        self._monitors.append(asyncio.create_task(self._watch(monitor, kind)))
        sock.connect(self.endpoint)
        return sock

    async def _watch(self, monitor: zmq.asyncio.Socket, kind: int) -> None:
        name, address = self.peer["name"], self.peer["address"]
        connected = False
        try:
            while True:
                event = parse_monitor_message(await monitor.recv_multipart())["event"]
                if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                    connected = True
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
        raise PeerError(f"peer {self.peer['name']} ({self.peer['address']}) {what} within "
                        f"{timeout:.0f} s", "timeout")

    async def call(self, op: str, timeout: float = CALL_SECONDS,  # noqa: ASYNC109
                   **fields: Any) -> dict:
        """One metadata request; its answer, or PeerError (the refusal's words and code)."""
        if self.req is None:
            self.req = self._socket(zmq.REQ)
        try:
            await self.req.send(protocol.encode({"op": op, **fields}))
            raw = await self._first(self.req.recv(), timeout, f"did not answer {op}")
        except BaseException:
            self.req.close(0)  # a REQ that lost its reply cannot be used again
            self.req = None
            raise
        answer = protocol.decode(raw)
        if not answer.get("ok"):
            raise PeerError(f"peer {self.peer['name']}: {answer.get('error')}",
                            answer.get("code", "failed"))
        return answer

    async def send_stream(self, tid: str, stream: Chunks,
                          sent: Callable[[int], None], check: Callable[[], None]
                          ) -> tuple[int, bytes]:
        """Send everything `stream` gives as transfer `tid`, chunk by chunk under credit;
        answers (bytes, checksum). `sent(n)` is told of each chunk; `check()` may raise to
        stop (a cancel) while it waits for credit."""
        if self.dealer is None:
            self.dealer = self._socket(zmq.DEALER)
        dealer, key = self.dealer, tid.encode()
        await dealer.send_multipart([OPEN, key])
        credit, seq, total = 0, 0, 0
        digest = checksum()
        while True:
            check()
            chunk = await stream.read()
            if not chunk:
                break
            while True:
                while dealer.getsockopt(zmq.EVENTS) & zmq.POLLIN:  # credit (or an error) in
                    credit += self._credit(tid, await dealer.recv_multipart())
                if credit > 0:
                    break
                check()
                credit += self._credit(tid, await self._first(
                    dealer.recv_multipart(), self.idle,
                    "did not answer with credit for more data"))
            digest.update(chunk)
            await self._put([DATA, key, protocol.u64(seq), chunk])
            credit -= 1
            seq += 1
            total += len(chunk)
            sent(len(chunk))
            if len(chunk) < protocol.CHUNK:
                break
        await self._put([END, key, protocol.u64(total), digest.digest()])
        return total, digest.digest()

    async def _put(self, frames: list) -> None:
        """Send on the data channel, or PeerError once the link is broken or `idle` passed.

        Credit bounds what is in flight, but not the wait for room in the socket: with the
        network cut, the DEALER's queue fills (zmq's count of it lags by up to half the high
        water mark, so that can be before the window is) and a send would wait, watching
        neither the link nor the time, until the network came back."""
        assert self.dealer is not None
        sending = self.dealer.send_multipart(frames)
        if sending.done():  # the usual case: room in the queue
            sending.result()
            return
        await self._first(sending, self.idle, "took no more data")

    def _credit(self, tid: str, frames: list[bytes]) -> int:
        if len(frames) >= 3 and frames[1].decode(errors="replace") == tid:
            if frames[0] == CREDIT:
                return protocol.from_u64(frames[2])
            if frames[0] == ERROR:
                raise PeerError(f"peer {self.peer['name']}: {frames[2].decode(errors='replace')}",
                                "discarded")
        return 0

    async def close(self) -> None:
        for task in self._monitors:
            task.cancel()
        await asyncio.gather(*self._monitors, return_exceptions=True)
        for sock in (self.req, self.dealer):
            if sock is not None:
                with contextlib.suppress(zmq.ZMQError):
                    sock.disable_monitor()
                sock.close(0)
        self.req = self.dealer = None


class Chunks:
    """A pipe read in whole chunks, each straight into its own buffer (no copies in between)."""

    def __init__(self, fd: int, size: int = protocol.CHUNK):
        self.fd, self.size = fd, size
        os.set_blocking(fd, False)

    async def read(self) -> bytearray:
        """The next chunk: `size` bytes, fewer at the end, empty after it."""
        buf = bytearray(self.size)
        view = memoryview(buf)
        filled = 0
        while filled < self.size:
            try:
                n = os.readv(self.fd, [view[filled:]])
            except BlockingIOError:
                await self._readable()
                continue
            if n == 0:
                break
            filled += n
        view.release()
        if filled < self.size:
            del buf[filled:]
        return buf

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        loop.add_reader(self.fd, lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            loop.remove_reader(self.fd)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


async def btrfs_send(snapshot: str, parent: str | None
                     ) -> tuple[asyncio.subprocess.Process, Chunks]:
    """`btrfs send [-p parent] snapshot` and its stream in chunks (through a 1 MiB pipe, so
    that a chunk is one or two reads, not sixteen)."""
    argv = ["btrfs", "send", "-q", *(["-p", parent] if parent else []), snapshot]
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(write_end, F_SETPIPE_SZ, PIPE_SIZE)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=write_end,
            stderr=asyncio.subprocess.PIPE)
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return proc, Chunks(read_end)
