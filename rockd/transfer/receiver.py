"""The receiving side: a CurveZMQ ROUTER for metadata that only paired peers can reach, and a
ROUTER for data that only a live transfer's ticket gets into (see protocol.py).

Each transfer pipes its chunks into `btrfs receive`, checks the stream's length and checksum,
checks that btrfs made a read-only subvolume with a received UUID, and only then makes it the
replica's head (see replicas.py). Anything else (an abort, a bad checksum, a truncated stream,
a sender whose connection closed or that went silent, a restart) ends in the deletion of what
the receive made: no half-made subvolume is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from cachetools import TTLCache
from zmq.auth.asyncio import AsyncioAuthenticator
from zmq.utils.monitor import parse_monitor_message

from rockd.core.errors import Conflict, RockdError
from rockd.core.loglimit import LimitedLog
from rockd.core.names import valid_name
from rockd.jobs import retention
from rockd.storage import btrfs
from rockd.storage.shares import SNAPSHOTS
from rockd.transfer import protocol
from rockd.transfer.pipes import btrfs_receive
from rockd.transfer.protocol import CREDIT, DATA, DATA_DOMAIN, END, ERROR, OPEN
from rockd.transfer.replicas import Replicas

log = logging.getLogger(__name__)

IDLE_SECONDS = 60.0
"""A transfer that hears nothing from its sender for this long is discarded."""
FINISH_SECONDS = 600.0
REFUSAL_LOG_EVERY = 60.0
REFUSALS_REMEMBERED = 256
"""How many (key, address) pairs refused in the last minute the gate remembers."""


class Refused(Exception):
    """A request this box will not do; the words go back to the sender."""

    def __init__(self, message: str, code: str = "refused"):
        super().__init__(message)
        self.code = code


class Gate(AsyncioAuthenticator):
    """ZAP: admits on the metadata port only the CURVE keys of paired peers, and on the data
    port only the PLAIN credentials (transfer id, ticket) of a transfer being received. Each
    refusal is logged once a minute per key and address (a refused peer keeps trying), and
    in a few lines a minute in all, however many keys strangers try; a ticket never is."""

    def __init__(self, context: zmq.asyncio.Context, paired: Callable[[str], bool]):
        super().__init__(context, log=logging.getLogger("rockd.transfer.zap"))
        self.paired = paired
        self.tickets: dict[str, str] = {}  # transfer id -> its ticket, while it is received
        self.address = ""
        # (key or transfer id, address) refused in the last minute: each is logged once
        self.refused: TTLCache = TTLCache(maxsize=REFUSALS_REMEMBERED, ttl=REFUSAL_LOG_EVERY,
                                          timer=time.monotonic)
        self.refusals = 0
        self._log = LimitedLog(log, logging.WARNING, "replication: refused connections",
                               every=REFUSAL_LOG_EVERY)

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        self.address = msg[3].decode(errors="replace") if len(msg) > 3 else "?"
        await super().handle_zap_message(msg)

    def callback(self, domain: str, key: bytes) -> bool:
        text = key.decode("ascii", errors="replace")
        if self.paired(text):
            return True
        self._refused(text, "its key %s is not a paired peer's")
        return False

    def _authenticate_plain(self, domain: str, username: str, password: str
                            ) -> tuple[bool, bytes]:
        """(pyzmq's own logs the password it checks.)"""
        expected = self.tickets.get(username) if domain == DATA_DOMAIN.decode() else None
        if expected is not None and hmac.compare_digest(expected.encode(), password.encode()):
            return True, b"OK"
        who = username[:64] if username[:64].isprintable() else ascii(username[:64])
        self._refused(who, "no transfer %s is being received with that ticket")
        return False, b"no such transfer"

    def _refused(self, who: str, why: str) -> None:
        self.refusals += 1
        seen = (who, self.address)
        if seen not in self.refused:
            self.refused[seen] = True
            self._log("replication: refused a connection from %s: " + why, self.address, who)


def _source_fd(frame: zmq.Frame) -> int | None:
    """The descriptor of the connection a message came on (libzmq's ZMQ_SRCFD: deprecated, and
    its replacement ZMQ_ROUTER_NOTIFY is still a draft); None where libzmq no longer says, and
    a closed connection then ends its transfer only through the idle timeout."""
    try:
        return frame.get(zmq.SRCFD)
    except (zmq.ZMQError, AttributeError):
        return None


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


class Receiver:
    """Listens for peers, and receives their streams into replicas."""

    def __init__(self, context: zmq.asyncio.Context, public: bytes, secret: bytes,
                 listen: str, replicas: Replicas, peer_name: Callable[[str], str | None],
                 prune: Callable[[dict[str, Any], list[str]], dict | None],
                 idle: float = IDLE_SECONDS):
        self.context = context
        self.public, self.secret = public, secret
        self.listen = listen
        self.replicas = replicas
        self.peer_name = peer_name
        self.prune = prune
        self.idle = idle
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.gate: Gate | None = None
        self.socket: zmq.asyncio.Socket | None = None  # metadata
        self.data: zmq.asyncio.Socket | None = None
        self.incoming: dict[str, Incoming] = {}
        self._loops: list[asyncio.Task] = []
        self._tasks: set[asyncio.Task] = set()
        self.listening = False
        self.received = 0  # transfers completed since start (for tests and metrics)

    def start(self) -> None:
        self.gate = Gate(self.context, lambda k: self.peer_name(k) is not None)
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
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
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
                self._spawn(self._request(frames[0].bytes, frames[-1].get("User-Id"),
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
                self._data(frames[0].bytes, frames[-1].get("User-Id"), _source_fd(frames[0]),
                           frames[1:])
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

    async def _request(self, route: bytes, peer_key: str, raw: bytes) -> None:
        try:
            peer = self.peer_name(peer_key)
            if peer is None:
                raise Refused("this box does not know your key (any more)", "not_paired")
            request = protocol.decode(raw)
            handler = getattr(self, f"_op_{request.get('op')}", None)
            if handler is None:
                raise Refused(f"unknown request {request.get('op')!r}", "bad_request")
            answer = {"ok": True, **(await handler(peer, peer_key, request))}
        except Refused as exc:
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
            raise Refused(f"{name!r} is not a valid share name", "invalid_name")
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
            raise Refused("bad transfer id", "bad_request")
        if not isinstance(sent_name, str) or not valid_name(sent_name):
            raise Refused(f"{sent_name!r} is not a valid snapshot name", "invalid_name")
        self.replicas.pools.writable(pool["id"])
        record = self.replicas.check_target(pool, name, peer_key, request["share"])
        for other in self.incoming.values():  # (a discarded one is kept a while: not busy)
            if (other.pool["id"] == pool["id"] and other.name == name
                    and not other.result.done()):
                raise Conflict(f"{name} is receiving another transfer", code="busy")
        parent = request.get("parent")
        if parent is not None:
            held = await self.replicas.held(pool, name) if record is not None else []
            if parent not in {h["received_uuid"] for h in held}:
                raise Refused("the parent snapshot is not here: send in full", "no_parent")
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
            raise Refused("no such transfer here (did this box restart?)", "unknown_transfer")
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
            answer = await self._pipe(incoming)
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
        incoming.result.set_exception(Refused(reason, "discarded"))
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

    async def _pipe(self, incoming: Incoming) -> dict:
        assert incoming.folder is not None
        proc, feed = await btrfs_receive(incoming.folder)
        incoming.proc = proc
        assert proc.stderr is not None
        errors = asyncio.ensure_future(proc.stderr.read())
        plain = bytearray(protocol.CHUNK)  # every chunk is opened into this one buffer
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle):
                        kind, tid, number, sealed = await incoming.queue.get()
                except TimeoutError:
                    raise RuntimeError(f"the sender sent nothing for {self.idle:.0f} s") from None
                if kind == END:
                    payload = incoming.channel.open(kind, tid, number, sealed)
                    if len(payload) != 24:
                        raise protocol.Tampered("a malformed end message")
                    incoming.end = (protocol.from_u64(payload[:8]), bytes(payload[8:]))
                    break
                chunk = incoming.channel.open(kind, tid, number, sealed, into=plain)
                del sealed  # (ZeroMQ's buffer goes back now, not at the next chunk)
                await feed.write(chunk)
                incoming.hash.update(chunk)
                incoming.bytes += len(chunk)
                grant = incoming.credit.written()
                if grant:
                    await self._send_data(incoming, CREDIT, protocol.u64(grant))
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
        assert incoming.end is not None
        total, digest = incoming.end
        if status != 0:
            raise RuntimeError(f"btrfs receive exited {status}: {stderr or 'no message'}")
        if total != incoming.bytes or digest != incoming.hash.digest():
            raise RuntimeError(f"the stream's checksum does not match ({incoming.bytes} bytes "
                               f"received, {total} sent): discarded")
        return await self._verify_and_place(incoming)

    async def _verify_and_place(self, incoming: Incoming) -> dict:
        assert incoming.folder is not None
        relative = f"{SNAPSHOTS}/{incoming.name}/{incoming.sent_name}"
        subs = {s["path"]: s for s in await btrfs.subvolumes(incoming.pool["mount_point"])}
        sub = subs.get(relative)
        if sub is None or not sub["read_only"] or not sub["received_uuid"]:
            raise RuntimeError("btrfs receive did not finish the subvolume (not read-only "
                               "with a received UUID)")
        await self.replicas.place(incoming.pool, incoming.name, incoming.sent_name,
                                  incoming.record)
        await self.replicas.finished(incoming.id)
        await self.replicas.shares.settled(incoming.pool["id"])
        log.info("replication: received %s into %s/%s (%d bytes)", incoming.sent_name,
                 incoming.pool["name"], incoming.name, incoming.bytes)
        return {"uuid": sub["uuid"], "received_uuid": sub["received_uuid"],
                "bytes": incoming.bytes}

    async def _discard(self, incoming: Incoming) -> None:
        try:
            await self.replicas.discard(incoming.id)
            await self.replicas.shares.settled(incoming.pool["id"])
        except Exception:
            log.exception("replication: could not discard transfer %s", incoming.id)
