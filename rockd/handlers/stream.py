"""GET /api/v1/stream: the websocket over which clients follow the state tree.

Each connection has one reader (client messages) and one writer, which sends, for every
subscription, what the bus has queued for it as a single frame: a snapshot, or one patch
carrying every queued revision. A client that sends something that is not a JSON object with
a known shape is closed with code 4400. A client that stops reading fills its socket; its
writer then waits, its queue overflows into a pending snapshot, and the websocket heartbeat
drops the connection once it answers no ping: no one else waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from contextlib import suppress
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from rockd.core import pointer
from rockd.core.auth import Principal
from rockd.core.bus import Bus, Subscription
from rockd.core.errors import Forbidden
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes

log = logging.getLogger(__name__)
routes = Routes()

CLOSE_BAD_MESSAGE = 4400
MAX_MESSAGE = 64 * 1024
MAX_SUBSCRIPTIONS = 256
HEARTBEAT = 20.0
FRAME_BUDGET = 50_000
"""Frames per second for all subscribers together. With many subscribers each connection waits
subscribers / FRAME_BUDGET seconds between frames, and what queues up meanwhile goes out in
the next frame: the cost stays bounded however many clients follow the stream."""
MAX_INTERVAL = 0.02


class BadMessage(Exception):
    """A client message that breaks the protocol: the connection is closed."""


class Connection:
    """One websocket: its subscriptions, queued control replies, and its writer task."""

    def __init__(self, ws: web.WebSocketResponse, bus: Bus):
        self.ws = ws
        self.bus = bus
        self.subs: dict[int, Subscription] = {}
        self.control: deque[bytes] = deque()
        self.wakeup = asyncio.Event()
        self.writer = asyncio.create_task(self._write_loop(), name="stream-writer")

    def wake(self) -> None:
        self.wakeup.set()

    def reply(self, message: dict[str, Any]) -> None:
        self.control.append(orjson.dumps(message))
        self.wakeup.set()

    def error(self, msg_id: Any, code: str, message: str) -> None:
        self.reply({"type": "error", "id": msg_id,
                    "error": {"code": code, "message": message}})

    def handle(self, raw: str) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadMessage("message is not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise BadMessage("message must be an object with a 'type'")
        msg_id, kind = message.get("id"), message["type"]
        if kind == "ping":
            self.reply({"type": "pong", "id": msg_id})
        elif kind == "subscribe":
            self._subscribe(msg_id, message)
        elif kind == "unsubscribe":
            sub = self.subs.pop(message.get("sub"), None)  # type: ignore[arg-type]
            if sub is None:
                self.error(msg_id, "not_found", f"no subscription {message.get('sub')!r}")
            else:
                self.bus.unsubscribe(sub)
                self.reply({"type": "unsubscribed", "id": msg_id, "sub": sub.id})
        else:
            self.error(msg_id, "unknown_type", f"unknown message type {kind!r}")

    def _subscribe(self, msg_id: Any, message: dict) -> None:
        path, since, epoch = message.get("path", ""), message.get("since"), message.get("epoch")
        if not isinstance(path, str):
            return self.error(msg_id, "invalid_path", "path must be a string")
        try:
            pointer.parse(path)
        except pointer.PointerError as exc:
            return self.error(msg_id, "invalid_path", str(exc))
        if since is not None and (type(since) is not int or since < 0):
            return self.error(msg_id, "invalid_field", "since must be a revision number")
        if epoch is not None and not isinstance(epoch, str):
            return self.error(msg_id, "invalid_field", "epoch must be a string")
        if len(self.subs) >= MAX_SUBSCRIPTIONS:
            return self.error(msg_id, "too_many_subscriptions",
                              f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
        sub = self.bus.subscribe(path, self.wake, since=since, epoch=epoch)
        self.subs[sub.id] = sub
        # control replies go out before any subscription's frames: "subscribed" comes first
        self.reply({"type": "subscribed", "id": msg_id, "sub": sub.id})

    async def _write_loop(self) -> None:
        bus = self.bus
        try:
            while True:
                await self.wakeup.wait()
                self.wakeup.clear()
                while self.control:
                    await self._send(self.control.popleft())
                sent = False
                for sub in list(self.subs.values()):
                    while sub.ready and sub.id in self.subs:
                        frame, rev = bus.take(sub)
                        if frame is None:
                            break
                        await bus.durable(rev)
                        await self._send(frame)
                        sent = True
                if sent:
                    await asyncio.sleep(min(MAX_INTERVAL, bus.subscriber_count / FRAME_BUDGET))
        except (ConnectionError, RuntimeError):
            pass  # the client went away; the reader notices and cleans up

    async def _send(self, frame: bytes) -> None:
        await self.ws.send_frame(frame, WSMsgType.TEXT)

    async def close(self) -> None:
        for sub in self.subs.values():
            self.bus.unsubscribe(sub)
        self.subs.clear()
        self.writer.cancel()
        with suppress(asyncio.CancelledError):
            await self.writer


def _check_origin(request: web.Request, via: str) -> None:
    """A browser's cookie must not open a stream for a page of another origin."""
    origin = request.headers.get("Origin")
    if via == "session" and origin:
        host = origin.split("://", 1)[-1]
        if host != request.host:
            raise Forbidden("cross-origin stream refused", code="bad_origin")


@routes.get("/api/v1/stream", summary="The state stream (websocket): snapshots and patches",
            websocket=True)
async def stream(request: web.Request, principal: Principal) -> web.WebSocketResponse:
    _check_origin(request, principal.via)
    ctx = request.app[CONTEXT]
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_MESSAGE, compress=False)
    await ws.prepare(request)
    ctx.websockets.add(ws)
    conn = Connection(ws, ctx.bus)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                raise BadMessage("only text frames are accepted")
            conn.handle(msg.data)
    except BadMessage as exc:
        await ws.close(code=CLOSE_BAD_MESSAGE, message=str(exc).encode())
    finally:
        ctx.websockets.discard(ws)
        await conn.close()
    if ws.close_code == WSCloseCode.MESSAGE_TOO_BIG:
        log.info("closed a stream client that sent a message over %d bytes", MAX_MESSAGE)
    return ws
