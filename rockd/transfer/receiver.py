"""The receiving side: a CurveZMQ ROUTER for metadata that only paired peers can reach, and a
ROUTER for data that only a live transfer's ticket gets into (see protocol.py; who gets in is
gate.py's), and the requests that come on them (held, begin, commit, abort, prune).

Each transfer pipes its chunks into `btrfs receive`, checks the stream's length and checksum,
checks that btrfs made a read-only subvolume with a received UUID, and only then makes it the
replica's head (incoming.py, replicas.py). Anything else (an abort, a bad checksum, a
truncated stream, a sender whose connection closed or that went silent, a restart) ends in
the deletion of what the receive made: no half-made subvolume is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from rockd.core import resources
from rockd.core.errors import Conflict, RockdError
from rockd.core.names import valid_name
from rockd.core.tasks import cancel_and_wait
from rockd.jobs import retention
from rockd.transfer import protocol
from rockd.transfer.gate import Gate
from rockd.transfer.incoming import Incoming
from rockd.transfer.protocol import CREDIT, DATA, DATA_DOMAIN, END, ERROR, OPEN, PeerError
from rockd.transfer.replicas import Replicas

log = logging.getLogger(__name__)

IDLE_SECONDS = 60.0
"""A transfer that hears nothing from its sender for this long is discarded."""


def _source_fd(frame: zmq.Frame) -> int | None:
    """The descriptor of the connection a message came on (libzmq's ZMQ_SRCFD: deprecated, and
    its replacement ZMQ_ROUTER_NOTIFY is still a draft); None where libzmq no longer says, and
    a closed connection then ends its transfer only through the idle timeout."""
    try:
        return frame.get(zmq.SRCFD)
    except (zmq.ZMQError, AttributeError):
        return None


class Receiver:
    """Listens for peers, and receives their streams into replicas."""

    def __init__(self, context: zmq.asyncio.Context, public: bytes, secret: bytes,
                 listen: str, replicas: Replicas, peer_name: Callable[[str], str | None],
                 prune: Callable[[dict[str, Any], list[str]], resources.Job | None],
                 idle: float = IDLE_SECONDS,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.context = context
        self.public, self.secret = public, secret
        self.listen = listen
        self.replicas = replicas
        self.peer_name = peer_name
        self.admitted: Callable[[str], None] | None = None  # told of each peer let in
        self.prune = prune
        self.idle = idle
        self.clock = clock
        self.gate: Gate | None = None
        self.socket: zmq.asyncio.Socket | None = None  # metadata
        self.data: zmq.asyncio.Socket | None = None
        self.incoming: dict[str, Incoming] = {}
        self._loops: list[asyncio.Task] = []
        self._tasks: set[asyncio.Task] = set()
        self.listening = False
        self.received = 0  # transfers completed since start (for tests and metrics)

    def start(self) -> None:
        self.gate = Gate(self.context, self._admit)
        self.gate.start()
        self.gate.configure_curve_callback(protocol.DOMAIN.decode(), self.gate)
        metadata = self._bind(self.listen, protocol.DOMAIN, curve=True)
        data = metadata and self._bind(protocol.data_address(self.listen), DATA_DOMAIN,
                                       curve=False)
        if not data:
            if metadata:
                metadata.close(0)
            return
        self.socket, self.data = metadata, data
        self.listening = True
        closed = data.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._loops = [asyncio.create_task(self._serve(), name="replication-receiver"),
                       asyncio.create_task(self._serve_data(), name="replication-data"),
                       asyncio.create_task(self._watch_data(closed), name="replication-closed")]
        log.info("replication: receiving from paired peers on %s (data on the next port)",
                 self.listen)

    def _bind(self, address: str, domain: bytes, curve: bool) -> zmq.asyncio.Socket | None:
        sock = self.context.socket(zmq.ROUTER)
        if curve:
            sock.curve_server = True
            sock.curve_secretkey = self.secret
            sock.curve_publickey = self.public
        else:
            sock.plain_server = True
            sock.setsockopt(zmq.MAXMSGSIZE, protocol.CHUNK + 1024)
            sock.setsockopt(zmq.RCVHWM, protocol.WINDOW + 4)
        sock.zap_domain = domain
        sock.linger = 0
        sock.setsockopt(zmq.HEARTBEAT_IVL, 2000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 10000)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        if protocol.is_ipv6(address):
            sock.ipv6 = True
        try:
            sock.bind(protocol.endpoint(address))
        except (zmq.ZMQError, ValueError) as exc:
            log.error("replication: cannot listen on %s (%s): this box receives nothing",
                      address, exc)
            sock.close(0)
            return None
        return sock

    async def stop(self) -> None:
        for loop in self._loops:
            await cancel_and_wait(loop)
        for incoming in list(self.incoming.values()):
            if incoming.task is not None:
                incoming.task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*[i.task for i in self.incoming.values() if i.task],
                             *self._tasks, return_exceptions=True)
        if self.data is not None:
            with contextlib.suppress(zmq.ZMQError):
                self.data.disable_monitor()
        for sock in (self.socket, self.data):
            if sock is not None:
                sock.close(0)
        self.socket = self.data = None
        if self.gate is not None:
            self.gate.stop()
            self.gate = None

    async def clean(self) -> None:
        """At start-up: delete what receives left half-made when rockd last stopped."""
        try:
            changed = await self.replicas.clean()
        except Exception:
            log.exception("replication: could not clean up unfinished receives")
            return
        for pool_id in changed:
            await self.replicas.shares.settled(pool_id)

    # -- the socket --------------------------------------------------------------------------

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, frames: list, sock: zmq.asyncio.Socket | None = None) -> None:
        sock = sock or self.socket
        if sock is None:
            return
        try:
            await sock.send_multipart(frames, copy=True)
        except zmq.ZMQError as exc:  # the peer went away (ROUTER_MANDATORY): nothing to tell
            log.debug("replication: reply not delivered: %s", exc)

    async def _send_data(self, incoming: Incoming, kind: bytes, payload: bytes) -> None:
        """A sealed message to the sender of `incoming`, on its data connection."""
        if incoming.route is not None:
            await self._send([incoming.route, *incoming.channel.seal(
                kind, incoming.id.encode(), payload)], self.data)

    async def _serve(self) -> None:
        """The metadata port: one request at a time per REQ (route, empty, JSON)."""
        assert self.socket is not None
        while True:
            frames = await self.socket.recv_multipart(copy=False)
            if len(frames) == 3 and len(frames[1]) == 0:
                self._spawn(self._request(frames[0].bytes, str(frames[-1].get("User-Id")),
                                          frames[2].bytes))

    async def _serve_data(self) -> None:
        """The data port: every message is `kind tid N sealed`, from a connection that ZAP
        admitted with that transfer's ticket (its User-Id is the transfer id)."""
        assert self.data is not None
        while True:
            frames = await self.data.recv_multipart(copy=False)
            if len(frames) != 5:
                continue
            try:
                self._data(frames[0].bytes, str(frames[-1].get("User-Id")),
                           _source_fd(frames[0]), frames[1:])
            except Exception:
                log.exception("replication: bad data message")

    async def _watch_data(self, monitor: zmq.asyncio.Socket) -> None:
        """A data connection that closes while its stream is still coming (the sender's rockd
        died, or the sender gave up) ends its transfer at once: nothing more can come on it."""
        try:
            while True:
                fd = parse_monitor_message(await monitor.recv_multipart())["value"]
                for incoming in list(self.incoming.values()):
                    if incoming.fd == fd and incoming.end is None:
                        self._fail(incoming, "the sender's connection closed")
        finally:
            monitor.close(0)

    def _admit(self, key: str) -> bool:
        """The gate's test of a key: a paired peer's, whose connection is told of."""
        name = self.peer_name(key)
        if name is not None and self.admitted is not None:
            self.admitted(name)
        return name is not None

    async def _request(self, route: bytes, peer_key: str, raw: bytes) -> None:
        try:
            peer = self.peer_name(peer_key)
            if peer is None:
                raise PeerError("this box does not know your key (any more)", "not_paired")
            request = protocol.decode(raw)
            handler = getattr(self, f"_op_{request.get('op')}", None)
            if handler is None:
                raise PeerError(f"unknown request {request.get('op')!r}", "bad_request")
            answer = {"ok": True, **(await handler(peer, peer_key, request))}
        except PeerError as exc:
            answer = {"ok": False, "code": exc.code, "error": str(exc)}
        except RockdError as exc:
            answer = {"ok": False, "code": exc.code, "error": exc.message}
        except (ValueError, KeyError, TypeError) as exc:
            answer = {"ok": False, "code": "bad_request", "error": f"malformed request: {exc}"}
        except Exception as exc:
            log.exception("replication: request failed")
            answer = {"ok": False, "code": "failed", "error": str(exc)}
        await self._send([route, b"", protocol.encode(answer)])

    def _data(self, route: bytes, user: str, fd: int | None, frames: list) -> None:
        kind, tid, number, sealed = (frames[0].bytes, frames[1].bytes, frames[2].bytes,
                                     frames[3].buffer)
        incoming = self.incoming.get(user)
        if incoming is None or tid != user.encode() or incoming.result.done():
            self._spawn(self._send([route, ERROR, tid, b"no such transfer here"], self.data))
            return
        if kind == OPEN and incoming.route is None:
            try:
                incoming.channel.open(kind, tid, number, sealed)
            except protocol.Tampered as exc:
                self._fail(incoming, str(exc))
                return
            incoming.route, incoming.fd = route, fd
            self._spawn(self._send_data(incoming, CREDIT, protocol.u64(incoming.credit.window)))
        elif route != incoming.route:  # another connection, or the sender's after a cut:
            self._fail(incoming, "data came from another connection")  # (some may be lost)
        elif kind == DATA and not incoming.credit.received():
            self._fail(incoming, "a chunk came without credit")
        elif kind in (DATA, END):
            incoming.queue.put_nowait((kind, tid, number, sealed))  # opened as it is written
        else:
            self._fail(incoming, f"unexpected {kind.decode(errors='replace')} message")

    def _fail(self, incoming: Incoming, reason: str) -> None:
        """End a transfer that is still receiving (one being discarded is let finish)."""
        if incoming.receiving and incoming.task is not None and not incoming.task.done():
            incoming.task.cancel(reason)

    # -- requests ----------------------------------------------------------------------------

    async def _op_hello(self, peer: str, peer_key: str, request: dict) -> dict:
        return {"peer": peer}

    def _target(self, request: dict) -> tuple[dict[str, Any], str]:
        name = request["name"]
        if not isinstance(name, str) or not valid_name(name):
            raise PeerError(f"{name!r} is not a valid share name", "invalid_name")
        return self.replicas.pool_by_name(request["pool"]), name

    async def _op_held(self, peer: str, peer_key: str, request: dict) -> dict:
        """Which snapshots of the source share the replica holds, by received UUID."""
        pool, name = self._target(request)
        record = self.replicas.check_target(pool, name, peer_key, request["share"])
        if record is None:
            return {"held": []}
        held = await self.replicas.held(pool, name)
        return {"held": [h["received_uuid"] for h in held]}

    async def _op_begin(self, peer: str, peer_key: str, request: dict) -> dict:
        pool, name = self._target(request)
        tid, sent_name = request["transfer"], request["snapshot"]
        if not protocol.TRANSFER_ID.fullmatch(tid) or tid in self.incoming:
            raise PeerError("bad transfer id", "bad_request")
        if not isinstance(sent_name, str) or not valid_name(sent_name):
            raise PeerError(f"{sent_name!r} is not a valid snapshot name", "invalid_name")
        self.replicas.pools.writable(pool["id"])
        record = self.replicas.check_target(pool, name, peer_key, request["share"])
        if any(other.busy(pool["id"], name) for other in self.incoming.values()):
            raise Conflict(f"{name} is receiving another transfer", code="busy")
        parent = request.get("parent")
        if parent is not None:
            held = await self.replicas.held(pool, name) if record is not None else []
            if parent not in {h["received_uuid"] for h in held}:
                raise PeerError("the parent snapshot is not here: send in full", "no_parent")
        record = {"pool": pool["id"], "name": name, "peer_key": peer_key,
                  "source_share": request["share"], "source_name": request["share_name"],
                  "task": request.get("task"), "head": (record or {}).get("head"),
                  "promoted": None}
        incoming = Incoming(tid, peer_key, pool, name, sent_name, record)
        self.incoming[tid] = incoming
        try:
            incoming.folder = await self.replicas.begin(tid, pool, name, sent_name)
        except BaseException:
            self.incoming.pop(tid, None)
            raise
        assert self.gate is not None
        self.gate.tickets[tid] = incoming.ticket
        incoming.task = asyncio.create_task(self._receive(incoming), name=f"receive-{tid}")
        log.info("replication: receiving %s of %s:%s into %s/%s (%s)", sent_name, peer,
                 request["share_name"], pool["name"], name,
                 "incremental" if parent else "full")
        return {"window": incoming.credit.window, "chunk": protocol.CHUNK,
                "key": incoming.key.hex(), "ticket": incoming.ticket}

    async def _op_commit(self, peer: str, peer_key: str, request: dict) -> dict:
        incoming = self.incoming.get(request["transfer"])
        if incoming is None or incoming.peer_key != peer_key:
            raise PeerError("no such transfer here (did this box restart?)", "unknown_transfer")
        try:
            return await asyncio.shield(incoming.result)
        finally:
            self.incoming.pop(incoming.id, None)

    async def _op_abort(self, peer: str, peer_key: str, request: dict) -> dict:
        incoming = self.incoming.get(request["transfer"])
        if incoming is not None and incoming.peer_key == peer_key:
            self._fail(incoming, "the sender aborted")
            with contextlib.suppress(BaseException):
                await asyncio.shield(incoming.result)
            self.incoming.pop(incoming.id, None)
        return {}

    async def _op_prune(self, peer: str, peer_key: str, request: dict) -> dict:
        """Target-side retention of a replica, after a successful transfer."""
        pool, name = self._target(request)
        record = self.replicas.check_target(pool, name, peer_key, request["share"])
        if record is None:
            return {"deleting": 0}
        policy = request["policy"]
        retention.Policy.parse(policy)
        paths = await self.replicas.prune_plan(pool, name, policy, set(request["source_holds"]),
                                               self.clock())
        if paths:
            self.prune(pool, paths)
        return {"deleting": len(paths)}

    # -- one transfer ------------------------------------------------------------------------

    async def _receive(self, incoming: Incoming) -> None:
        reason: str | None = None
        try:
            await incoming.stream(self.idle, lambda n: self._send_data(
                incoming, CREDIT, protocol.u64(n)))
            answer = await incoming.place(self.replicas)
        except asyncio.CancelledError as exc:  # aborted, or rockd is stopping
            reason = str(exc.args[0]) if exc.args else "rockd is stopping"
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
        finally:
            incoming.receiving = False
        if reason is None:
            self._close_data(incoming)
            incoming.result.set_result(answer)
            self.received += 1
            return
        log.warning("replication: discarding transfer %s into %s/%s: %s", incoming.id,
                    incoming.pool["name"], incoming.name, reason)
        await self._discard(incoming)
        incoming.result.set_exception(PeerError(reason, "discarded"))
        incoming.result.exception()  # marked as seen: a commit may never come to ask
        if incoming.route is not None:
            await self._send([incoming.route, ERROR, incoming.id.encode(), reason.encode()],
                             self.data)
        self._close_data(incoming)
        asyncio.get_running_loop().call_later(self.idle, self.incoming.pop, incoming.id, None)

    def _close_data(self, incoming: Incoming) -> None:
        """The transfer's data is all in: its ticket admits no one any more."""
        if self.gate is not None:
            self.gate.tickets.pop(incoming.id, None)

    async def _discard(self, incoming: Incoming) -> None:
        try:
            await self.replicas.discard(incoming.id)
            await self.replicas.shares.settled(incoming.pool["id"])
        except Exception:
            log.exception("replication: could not discard transfer %s", incoming.id)
