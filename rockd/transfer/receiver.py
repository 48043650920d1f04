"""The receiving side: one CurveZMQ ROUTER socket that only paired peers can reach.

Each transfer pipes its chunks into `btrfs receive`, checks the stream's length and checksum,
checks that btrfs made a read-only subvolume with a received UUID, and only then makes it the
replica's head (see replicas.py). Anything else (an abort, a bad checksum, a truncated stream,
a sender that went silent, a restart) ends in the deletion of what the receive made: no
half-made subvolume is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from zmq.auth.asyncio import AsyncioAuthenticator

from rockd.core.errors import Conflict, RockdError
from rockd.core.names import valid_name
from rockd.jobs import retention
from rockd.storage import btrfs
from rockd.storage.shares import SNAPSHOTS
from rockd.transfer import protocol
from rockd.transfer.protocol import CREDIT, DATA, END, ERROR, OPEN
from rockd.transfer.replicas import Replicas

log = logging.getLogger(__name__)

IDLE_SECONDS = 60.0
"""A transfer that hears nothing from its sender for this long is discarded."""
FINISH_SECONDS = 600.0
REFUSAL_LOG_EVERY = 60.0
F_SETPIPE_SZ = 1031


class Refused(Exception):
    """A request this box will not do; the words go back to the sender."""

    def __init__(self, message: str, code: str = "refused"):
        super().__init__(message)
        self.code = code


class Gate(AsyncioAuthenticator):
    """ZAP: admits only the CURVE keys of paired peers; each refusal is logged (once a minute
    per key and address, since a refused peer keeps trying)."""

    def __init__(self, context: zmq.asyncio.Context, paired: Callable[[str], bool]):
        super().__init__(context, log=logging.getLogger("rockd.transfer.zap"))
        self.paired = paired
        self.address = ""
        self.refused: dict[tuple[str, str], float] = {}
        self.refusals = 0

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        self.address = msg[3].decode(errors="replace") if len(msg) > 3 else "?"
        await super().handle_zap_message(msg)

    def callback(self, domain: str, key: bytes) -> bool:
        text = key.decode("ascii", errors="replace")
        if self.paired(text):
            return True
        self.refusals += 1
        moment = time.monotonic()
        seen = (text, self.address)
        if moment - self.refused.get(seen, -REFUSAL_LOG_EVERY) >= REFUSAL_LOG_EVERY:
            self.refused[seen] = moment
            log.warning("replication: refused a connection from %s: its key %s is not a "
                        "paired peer's", self.address, text)
        return False


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
        self.folder: Path | None = None
        self.route: bytes | None = None
        self.queue: asyncio.Queue = asyncio.Queue()
        self.credit = protocol.Credit()
        self.seq = 0
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
        self.socket: zmq.asyncio.Socket | None = None
        self.incoming: dict[str, Incoming] = {}
        self._loop: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.listening = False
        self.received = 0  # transfers completed since start (for tests and metrics)

    def start(self) -> None:
        self.gate = Gate(self.context, lambda k: self.peer_name(k) is not None)
        self.gate.start()
        self.gate.configure_curve_callback(protocol.DOMAIN.decode(), self.gate)
        sock = self.context.socket(zmq.ROUTER)
        sock.curve_server = True
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.zap_domain = protocol.DOMAIN
        sock.linger = 0
        sock.setsockopt(zmq.HEARTBEAT_IVL, 2000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 10000)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        if protocol.is_ipv6(self.listen):
            sock.ipv6 = True
        try:
            sock.bind(protocol.endpoint(self.listen))
        except (zmq.ZMQError, ValueError) as exc:
            log.error("replication: cannot listen on %s (%s): this box receives nothing",
                      self.listen, exc)
            sock.close(0)
            return
        self.socket = sock
        self.listening = True
        self._loop = asyncio.create_task(self._serve(), name="replication-receiver")
        log.info("replication: receiving from paired peers on %s", self.listen)

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        for incoming in list(self.incoming.values()):
            if incoming.task is not None:
                incoming.task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*[i.task for i in self.incoming.values() if i.task],
                             *self._tasks, return_exceptions=True)
        if self.socket is not None:
            self.socket.close(0)
            self.socket = None
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

    async def _send(self, frames: list) -> None:
        assert self.socket is not None
        try:
            await self.socket.send_multipart(frames, copy=True)
        except zmq.ZMQError as exc:  # the peer went away (ROUTER_MANDATORY): nothing to tell
            log.debug("replication: reply not delivered: %s", exc)

    async def _serve(self) -> None:
        assert self.socket is not None
        while True:
            frames = await self.socket.recv_multipart(copy=False)
            if len(frames) < 2:
                continue
            route = frames[0].bytes
            user = frames[-1].get("User-Id")
            if len(frames[1]) == 0:
                if len(frames) == 3:
                    self._spawn(self._request(route, user, frames[2].bytes))
                continue
            try:
                self._data(route, user, frames[1:])
            except Exception:
                log.exception("replication: bad data message")

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

    def _data(self, route: bytes, peer_key: str, frames: list) -> None:
        kind = frames[0].bytes
        if len(frames) < 2:
            return
        tid = frames[1].bytes.decode(errors="replace")
        incoming = self.incoming.get(tid)
        if incoming is None or incoming.peer_key != peer_key or incoming.result.done():
            self._spawn(self._send([route, ERROR, frames[1].bytes, b"no such transfer here"]))
            return
        if kind == OPEN:
            incoming.route = route
            self._spawn(self._send([route, CREDIT, frames[1].bytes,
                                    protocol.u64(incoming.credit.window)]))
        elif kind == DATA and len(frames) == 4:
            seq = protocol.from_u64(frames[2].bytes)
            if seq != incoming.seq or not incoming.credit.received():
                self._fail(incoming, f"chunk {seq} out of order or sent without credit")
                return
            incoming.seq += 1
            incoming.queue.put_nowait(frames[3])
        elif kind == END and len(frames) == 4:
            incoming.end = (protocol.from_u64(frames[2].bytes), frames[3].bytes)
            incoming.queue.put_nowait(None)

    def _fail(self, incoming: Incoming, reason: str) -> None:
        if incoming.task is not None and not incoming.task.done():
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
        if not protocol.TRANSFER_ID.match(tid) or tid in self.incoming:
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
        incoming.task = asyncio.create_task(self._receive(incoming), name=f"receive-{tid}")
        log.info("replication: receiving %s of %s:%s into %s/%s (%s)", sent_name, peer,
                 request["share_name"], pool["name"], name,
                 "incremental" if parent else "full")
        return {"window": incoming.credit.window, "chunk": protocol.CHUNK}

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
        try:
            answer = await self._pipe(incoming)
        except asyncio.CancelledError as exc:  # aborted, or rockd is stopping
            reason = str(exc.args[0]) if exc.args else "rockd is stopping"
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
        else:
            incoming.result.set_result(answer)
            self.received += 1
            return
        log.warning("replication: discarding transfer %s into %s/%s: %s", incoming.id,
                    incoming.pool["name"], incoming.name, reason)
        await self._discard(incoming)
        incoming.result.set_exception(Refused(reason, "discarded"))
        incoming.result.exception()  # marked as seen: a commit may never come to ask
        if incoming.route is not None and self.socket is not None:
            await self._send([incoming.route, ERROR, incoming.id.encode(), reason.encode()])
        asyncio.get_running_loop().call_later(self.idle, self.incoming.pop, incoming.id, None)

    async def _pipe(self, incoming: Incoming) -> dict:
        assert incoming.folder is not None
        argv = ["btrfs", "receive", str(incoming.folder)]
        proc = incoming.proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        assert proc.stdin is not None and proc.stderr is not None
        pipe = proc.stdin.get_extra_info("pipe")
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(pipe.fileno(), F_SETPIPE_SZ, protocol.CHUNK)  # a chunk, one write
        errors = asyncio.ensure_future(proc.stderr.read())
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle):
                        chunk = await incoming.queue.get()
                except TimeoutError:
                    raise RuntimeError(f"the sender sent nothing for {self.idle:.0f} s") from None
                if chunk is None:
                    break
                view = chunk.buffer
                proc.stdin.write(view)
                incoming.hash.update(view)
                await proc.stdin.drain()
                incoming.bytes += len(view)
                grant = incoming.credit.written()
                if grant and incoming.route is not None:
                    await self._send([incoming.route, CREDIT, incoming.id.encode(),
                                      protocol.u64(grant)])
            proc.stdin.close()
            async with asyncio.timeout(FINISH_SECONDS):
                status = await proc.wait()
                stderr = (await errors).decode(errors="replace").strip()
        except BaseException:
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
