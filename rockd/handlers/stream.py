"""GET /api/v1/stream: the websocket over which clients follow the state tree.

Each connection has one reader (client messages) and one writer, which sends, for every
subscription, what the bus has queued for it as a single frame: a snapshot, or one patch
carrying every queued revision. A subscription that has caught up is live: the bus writes its
patches straight to the connection (its outlet: `Connection.idle` and `Connection.write`),
one frame per flush encoded once for all subscribers of the path (rockd/core/fanout.py), and
hands it back to the writer whenever the connection is not idle.

Client messages are validated with the same models as REST bodies: one that is not a JSON
object with a string `type` closes the connection with code 4400; one of a known type with a
wrong field is answered with an `error`.

Nothing a client does costs the daemon more than a bounded amount of memory. Its control
replies (pong, subscribed, error...) queue up to CONTROL_BUDGET bytes; past that the reader
stops reading, so the client's own socket fills and it is held back. A subscription's queue
overflows into a pending snapshot (the bus). And a client that takes none of the bytes it is
owed for STALL_SECONDS, one that does not read, is reset: no one else waits for it, and the
heartbeat, which whatever a client sends keeps quiet, is not what ends it.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import socket
import struct
import termios
from collections import deque
from contextlib import suppress
from typing import Annotated, Any, Literal

import orjson
from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import AfterValidator, Field, RootModel
from pydantic_core import PydanticCustomError
from yarl import URL

from rockd.core import pointer
from rockd.core.auth import Principal
from rockd.core.bus import Bus, Subscription
from rockd.core.errors import BadRequest, Forbidden
from rockd.core.fanout import FRAME_BUDGET, MAX_INTERVAL
from rockd.core.models import Model, validate
from rockd.core.tasks import cancel_and_wait
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes

log = logging.getLogger(__name__)
routes = Routes()

CLOSE_BAD_MESSAGE = 4400
MAX_MESSAGE = 64 * 1024
MAX_SUBSCRIPTIONS = 256
HEARTBEAT = 20.0
LIVE_BUFFER = 64 << 10
"""Bytes in the transport's buffer past which the bus no longer writes to the connection: its
subscriptions queue (and overflow into a snapshot) while the writer waits for the client."""
SHARED_BODY = 16 << 10
"""A body of this many bytes or more is written as it is rather than joined to its header."""
CONTROL_BUDGET = 64 << 10
"""Bytes of control replies a connection may have queued; the reader waits while it is spent."""
REPLY_OVERHEAD = 64
"""What a queued reply costs beyond its bytes (the object and its slot), for the budget."""
STALL_SECONDS = 30.0
"""A client owed bytes that takes (acknowledges) none of them for this long is reset."""
WATCH_INTERVAL = 5.0


def _check_path(value: str) -> str:
    try:
        pointer.parse(value)
    except pointer.PointerError as exc:
        raise PydanticCustomError("invalid_path", "{reason}", {"reason": str(exc)}) from None
    return value


class Subscribe(Model):
    """Follow the subtree at `path`, from revision `since` of `epoch` if given."""

    type: Literal["subscribe"]
    id: Any = None
    path: Annotated[str, AfterValidator(_check_path)] = ""
    since: Annotated[int, Field(ge=0)] | None = None
    epoch: str | None = None


class Unsubscribe(Model):
    """Stop a subscription."""

    type: Literal["unsubscribe"]
    id: Any = None
    sub: int


class Ping(Model):
    """Answered with a pong."""

    type: Literal["ping"]
    id: Any = None


class Message(RootModel[Annotated[Subscribe | Unsubscribe | Ping, Field(discriminator="type")]]):
    """A client message, told apart by its `type`."""


class BadMessage(Exception):
    """A client message that breaks the protocol: the connection is closed."""


class Refused(Exception):
    """A well-formed message that is answered with an error: (id, code, message)."""


def parse(raw: str) -> Subscribe | Unsubscribe | Ping:
    """A client message as its model; BadMessage for no object with a string `type`, Refused
    (with the code the protocol gives it) for anything else wrong."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadMessage("message is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise BadMessage("message must be an object with a 'type'")
    try:
        return validate(Message, data).root
    except BadRequest as exc:
        errors = exc.detail.get("errors", [])
        msg_id, kind = data.get("id"), data["type"]
        if any(e["type"] == "union_tag_invalid" for e in errors):
            raise Refused(msg_id, "unknown_type", f"unknown message type {kind!r}") from None
        path = any(e["field"] == f"{kind}.path" for e in errors)
        code = "invalid_path" if path else "invalid_field"
        raise Refused(msg_id, code, exc.message.removeprefix(f"{kind}.")) from None


class Watchdog:
    """Resets a connection whose client takes none of the bytes it is owed (in the transport,
    or unacknowledged in the kernel) for STALL_SECONDS.

    While the client takes nothing, closing the socket resets it, whoever closes it (the
    heartbeat too): the kernel then frees what it holds for the client at once instead of
    keeping it for one that does not read. The watch lasts as long as the socket, since a
    close that waits to flush to such a client would wait forever.
    """

    def __init__(self, transport: asyncio.Transport):
        self.transport = transport
        self.sock = transport.get_extra_info("socket")
        self.written = 0  # bytes the writer has handed to the transport
        self.taken = 0  # of which the client had acknowledged at the last look
        self.stalled = 0.0
        self.resets = False  # whether closing the socket resets it (SO_LINGER 0)
        if self.sock is not None:
            asyncio.get_running_loop().call_later(WATCH_INTERVAL, self._look)

    def wrote(self, size: int) -> None:
        self.written += size

    def _look(self) -> None:
        if self.sock.fileno() < 0:
            return  # closed
        owed = self.transport.get_write_buffer_size() + _unacknowledged(self.sock)
        taken = self.written - owed  # grows only as the client acknowledges bytes
        stalled = owed > 0 and taken <= self.taken
        self.taken = taken
        self.stalled = self.stalled + WATCH_INTERVAL if stalled else 0.0
        self._reset_on_close(stalled)
        if self.stalled >= STALL_SECONDS:
            log.info("reset a stream client that took nothing for %.0f s", self.stalled)
            self.transport.abort()
        else:
            asyncio.get_running_loop().call_later(WATCH_INTERVAL, self._look)

    def _reset_on_close(self, reset: bool) -> None:
        if reset != self.resets:
            self.resets = reset
            with suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", reset, 0))


def _unacknowledged(sock: socket.socket) -> int:
    """Bytes the kernel holds for the peer of `sock`: unsent or not yet acknowledged."""
    try:
        queued: int = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ,
                                                     bytes(4)))[0]
        return queued
    except OSError:
        return 0


class Connection:
    """One websocket: its subscriptions, queued control replies, its writer and its watchdog."""

    def __init__(self, ws: web.WebSocketResponse, bus: Bus, transport: asyncio.Transport):
        self.ws = ws
        self.bus = bus
        self.subs: dict[int, Subscription] = {}
        self.control: deque[bytes] = deque()
        self.control_cost = 0
        self.room = asyncio.Event()
        self.wakeup = asyncio.Event()
        self.busy = False  # the writer is between taking a frame and handing it over
        self.transport = transport
        self.watchdog = Watchdog(transport)
        self.writer = asyncio.create_task(self._write_loop(), name="stream-writer")

    def wake(self) -> None:
        self.wakeup.set()

    def idle(self) -> bool:
        """Whether a frame written now goes out after all the connection has sent: no control
        reply queued, no frame of the writer's in flight, room in the transport's buffer."""
        return not (self.busy or self.control or self.ws.closed
                    or self.transport.is_closing()
                    or self.transport.get_write_buffer_size() > LIVE_BUFFER)

    def write(self, head: bytes, body: bytes) -> None:
        """Send one text frame, `head` then `body`, now: the bus's outlet (only when `idle`).
        A large body, shared by every subscriber of its path, goes out without a copy."""
        size = len(head) + len(body)
        self.watchdog.wrote(size)
        if len(body) < SHARED_BODY:
            self.transport.write(b"".join((_text_header(size), head, body)))
        else:
            self.transport.write(_text_header(size) + head)
            self.transport.write(body)

    def reply(self, message: dict[str, Any]) -> None:
        # an exact copy: orjson's result carries ~4 KiB of spare capacity (see Op.freeze)
        frame = memoryview(orjson.dumps(message)).tobytes()
        self.control.append(frame)
        self.control_cost += len(frame) + REPLY_OVERHEAD
        self.wakeup.set()

    def error(self, msg_id: Any, code: str, message: str) -> None:
        self.reply({"type": "error", "id": msg_id,
                    "error": {"code": code, "message": message}})

    async def has_room(self) -> None:
        """Return once the control replies are within budget (or the writer has ended)."""
        while self.control_cost >= CONTROL_BUDGET and not self.writer.done():
            self.room.clear()
            await self.room.wait()

    def handle(self, raw: str) -> None:
        try:
            message = parse(raw)
        except Refused as refused:
            return self.error(*refused.args)
        if isinstance(message, Ping):
            self.reply({"type": "pong", "id": message.id})
        elif isinstance(message, Subscribe):
            self._subscribe(message)
        else:
            sub = self.subs.pop(message.sub, None)
            if sub is None:
                self.error(message.id, "not_found", f"no subscription {message.sub}")
            else:
                self.bus.unsubscribe(sub)
                self.reply({"type": "unsubscribed", "id": message.id, "sub": sub.id})

    def _subscribe(self, message: Subscribe) -> None:
        if len(self.subs) >= MAX_SUBSCRIPTIONS:
            return self.error(message.id, "too_many_subscriptions",
                              f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
        sub = self.bus.subscribe(message.path, self.wake, since=message.since,
                                 epoch=message.epoch, outlet=self)
        self.subs[sub.id] = sub
        # control replies go out before any subscription's frames: "subscribed" comes first
        self.reply({"type": "subscribed", "id": message.id, "sub": sub.id})

    async def _write_loop(self) -> None:
        bus = self.bus
        try:
            while True:
                self.busy = False
                await self.wakeup.wait()
                self.wakeup.clear()
                self.busy = True
                while self.control:
                    frame = self.control.popleft()
                    self.control_cost -= len(frame) + REPLY_OVERHEAD
                    await self._send(frame)
                    self.room.set()
                sent = False
                for sub in list(self.subs.values()):
                    while sub.ready and sub.id in self.subs:
                        taken, rev = bus.take(sub)
                        if taken is None:
                            break
                        await bus.durable(rev)
                        await self._send(taken)
                        sent = True
                if sent:
                    self.busy = False
                    await asyncio.sleep(min(MAX_INTERVAL, bus.subscriber_count / FRAME_BUDGET))
        except (ConnectionError, RuntimeError):
            pass  # the client went away; the reader notices and cleans up
        finally:
            self.busy = True  # nothing more is written to a connection whose writer ended
            self.room.set()

    async def _send(self, frame: bytes) -> None:
        self.watchdog.wrote(len(frame))  # in the transport before send_frame waits
        await self.ws.send_frame(frame, WSMsgType.TEXT)

    async def close(self) -> None:
        for sub in self.subs.values():
            self.bus.unsubscribe(sub)
        self.subs.clear()
        await cancel_and_wait(self.writer)


def _text_header(size: int) -> bytes:
    """The header of a server's (unmasked) final text frame of `size` bytes (RFC 6455 5.2)."""
    if size < 126:
        return struct.pack("!BB", 0x81, size)
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size)
    return struct.pack("!BBQ", 0x81, 127, size)


def _check_origin(request: web.Request, via: str) -> None:
    """A browser's cookie must not open a stream for a page of another origin: its Origin
    must be this request's own scheme, host and port."""
    origin = request.headers.get("Origin")
    if via != "session" or not origin:
        return
    own = _origin_of(f"{'https' if request.secure else 'http'}://{request.host}")
    if own is None or _origin_of(origin) != own:
        raise Forbidden("cross-origin stream refused", code="bad_origin")


def _origin_of(text: str) -> tuple[str, str, int | None] | None:
    """Scheme, host and port (the scheme's default when not given) of a URL; None if it is
    not a URL of a host."""
    try:
        url = URL(text)
    except ValueError:
        return None
    if not url.absolute or url.host is None:
        return None
    return url.scheme.lower(), url.host.lower().rstrip("."), url.port


@routes.get("/api/v1/stream", summary="The state stream (websocket): snapshots and patches",
            websocket=True)
async def stream(request: web.Request, principal: Principal) -> web.WebSocketResponse:
    _check_origin(request, principal.via)
    ctx = request.app[CONTEXT]
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_MESSAGE, compress=False)
    await ws.prepare(request)
    transport = request.transport
    if transport is None:  # gone during the handshake
        return ws
    ctx.websockets.add(ws)
    conn = Connection(ws, ctx.bus, transport)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break  # the connection failed; aiohttp has closed it
            if msg.type != WSMsgType.TEXT:
                raise BadMessage("only text frames are accepted")
            conn.handle(msg.data)
            await conn.has_room()  # back-pressure: a client that does not read is held back
    except BadMessage as exc:
        await ws.close(code=CLOSE_BAD_MESSAGE, message=str(exc).encode())
    except ConnectionError:
        pass  # gone while aiohttp answered its ping
    finally:
        ctx.websockets.discard(ws)
        await conn.close()
    if ws.close_code == WSCloseCode.MESSAGE_TOO_BIG:
        log.info("closed a stream client that sent a message over %d bytes", MAX_MESSAGE)
    return ws
