"""Whether each paired peer answers: `online`, `last_seen` and `last_error` at
/replication/peers/{name}, and the test connection that pairing makes first.

Each peer gets one standing CurveZMQ connection to its receiver that carries no messages; its
state changes only on ZeroMQ's socket monitor events (the handshake done or refused, the
connection lost), and ZeroMQ's own heartbeat finds a peer that went silent. ZeroMQ reconnects
by itself; after the peer refused this box's key it does not, so a connection from that peer
(`admitted`: it has paired this box meanwhile) makes the link try again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from rockd.core.times import iso
from rockd.core.tree import Subtree
from rockd.transfer import protocol

log = logging.getLogger(__name__)

PROBE_SECONDS = 5.0
HEARTBEAT_MS, HEARTBEAT_TIMEOUT_MS = 2000, 6000
RECONNECT_MS, RECONNECT_MAX_MS = 500, 5000
EVENTS = (zmq.EVENT_CONNECTED | zmq.EVENT_CONNECT_RETRIED | zmq.EVENT_DISCONNECTED
          | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
          | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
FAILED_HANDSHAKE = (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


def link_socket(context: zmq.asyncio.Context, kind: int, peer: dict[str, Any],
                heartbeat_timeout: int = HEARTBEAT_TIMEOUT_MS) -> zmq.asyncio.Socket:
    """A socket of `kind` to `peer`, with ZeroMQ's heartbeat (not yet connected)."""
    sock = context.socket(kind)
    sock.linger = 0
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, heartbeat_timeout)
    if protocol.is_ipv6(peer["address"]):
        sock.ipv6 = True
    return sock


def curve_socket(context: zmq.asyncio.Context, kind: int, peer: dict[str, Any],
                 public: bytes, secret: bytes, heartbeat_timeout: int = HEARTBEAT_TIMEOUT_MS
                 ) -> zmq.asyncio.Socket:
    """A socket of `kind` that talks CurveZMQ to `peer`'s receiver (not yet connected)."""
    sock = link_socket(context, kind, peer, heartbeat_timeout)
    sock.curve_serverkey = peer["public_key"].encode()
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    return sock


def refused_key(name: str) -> str:
    return f"{name} does not know this box's key: pair this box on {name} too"


def wrong_key(address: str) -> str:
    return (f"{address} answered, but not with that public key (or it is not a rockd "
            "replication port): copy the key from that box's Replication page")


def unreachable(address: str, seconds: float) -> str:
    port = address.rpartition(":")[2]
    data = protocol.data_address(address).rpartition(":")[2]
    return (f"nothing answered at {address} within {seconds:.0f} s: check the address, that "
            f"rockd runs there and that ports {port} and {data} are open")


async def probe(context: zmq.asyncio.Context, peer: dict[str, Any], public: bytes,
                secret: bytes, timeout: float = PROBE_SECONDS) -> bool:  # noqa: ASYNC109
    """A test connection to a peer about to be paired: True when it admits this box, False
    when it answers with that key but does not know this box yet; PeerError when nothing
    answers ("unreachable") or not with that key ("wrong_key")."""
    sock = curve_socket(context, zmq.DEALER, peer, public, secret)
    monitor = sock.get_monitor_socket(EVENTS)
    connected = False
    try:
        sock.connect(protocol.endpoint(peer["address"]))
        async with asyncio.timeout(timeout):
            while True:
                event = parse_monitor_message(await monitor.recv_multipart())["event"]
                if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                    return True
                if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                    return False
                if event in FAILED_HANDSHAKE:
                    raise protocol.PeerError(wrong_key(peer["address"]), "wrong_key")
                connected = connected or event == zmq.EVENT_CONNECTED
    except TimeoutError:
        if connected:
            raise protocol.PeerError(wrong_key(peer["address"]), "wrong_key") from None
        raise protocol.PeerError(unreachable(peer["address"], timeout), "unreachable") from None
    finally:
        with contextlib.suppress(zmq.ZMQError):
            sock.disable_monitor()
        monitor.close(0)
        sock.close(0)


class Watch:
    """One peer's standing connection, and its state from the monitor's events."""

    def __init__(self, presence: Presence, peer: dict[str, Any]):
        self.presence = presence
        self.peer = peer
        self.online = False
        self.sock = curve_socket(presence.context, zmq.DEALER, peer, presence.public,
                                 presence.secret)
        self.sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
        self.sock.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_MAX_MS)
        monitor = self.sock.get_monitor_socket(EVENTS)
        self.task = asyncio.create_task(self._watch(monitor),
                                        name=f"replication-peer-{peer['name']}")
        self.sock.connect(protocol.endpoint(peer["address"]))

    async def _watch(self, monitor: zmq.asyncio.Socket) -> None:
        try:
            while True:
                self._event(parse_monitor_message(await monitor.recv_multipart())["event"])
        except (asyncio.CancelledError, zmq.ZMQError):
            pass
        finally:
            monitor.close(0)

    def _event(self, event: int) -> None:
        name, address = self.peer["name"], self.peer["address"]
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self._set(True, None)
        elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            self._set(False, refused_key(name))
        elif event in FAILED_HANDSHAKE:
            self._set(False, wrong_key(address))
        elif event == zmq.EVENT_DISCONNECTED and self.online:
            self._set(False, f"the connection to {name} was lost")
        elif event == zmq.EVENT_CONNECT_RETRIED and not self.online:
            self._set(False, f"nothing answers at {address} (is rockd running there?)",
                      seen=False)

    def _set(self, online: bool, error: str | None, seen: bool = True) -> None:
        """Show the peer's state; `last_seen` moves while it answers and when it is lost."""
        was = self.online
        self.online = online
        current = self.presence.state(self.peer["name"])
        state = {"online": online, "last_error": error,
                 "last_seen": iso(self.presence.clock()) if seen and (online or was)
                 else current.get("last_seen")}
        if state != current:
            self.presence.show(self.peer["name"], state)
            if online != was:
                log.info("replication: peer %s is %s%s", self.peer["name"],
                         "online" if online else "offline", f" ({error})" if error else "")

    async def close(self) -> None:
        # the monitor stops before its reader closes: ZeroMQ's I/O thread would otherwise wait
        # forever to send the next event, holding what disable_monitor() waits for
        with contextlib.suppress(zmq.ZMQError):
            self.sock.disable_monitor()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.sock.close(0)


class Presence:
    """Every paired peer's standing connection; their state in /replication/peers."""

    def __init__(self, context: zmq.asyncio.Context, public: bytes, secret: bytes,
                 tree: Subtree, clock: Callable[[], datetime]):
        self.context = context
        self.public, self.secret = public, secret
        self.tree = tree
        self.clock = clock
        self.watches: dict[str, Watch] = {}
        self._retries: dict[str, asyncio.Task] = {}  # peer name -> its reconnection

    def state(self, name: str) -> dict[str, Any]:
        peer = self.tree.get(("replication", "peers", name)) or {}
        return {k: peer.get(k) for k in ("online", "last_seen", "last_error")}

    def show(self, name: str, state: dict[str, Any]) -> None:
        if self.tree.get(("replication", "peers", name)) is not None:
            with self.tree.transaction():
                for key, value in state.items():
                    self.tree.set(("replication", "peers", name, key), value)

    async def watch(self, peer: dict[str, Any]) -> None:
        """(Re)connect to `peer`: its state follows the new connection's events."""
        await self.forget(peer["name"])
        self.watches[peer["name"]] = Watch(self, peer)

    async def forget(self, name: str) -> None:
        retry = self._retries.get(name)
        if retry is not None and retry is not asyncio.current_task():
            retry.cancel()  # unpaired meanwhile: no reconnection
        watch = self.watches.pop(name, None)
        if watch is not None:
            await watch.close()

    def admitted(self, name: str) -> None:
        """Peer `name` connected to this box: if this box's link to it is down, try again."""
        watch = self.watches.get(name)
        if watch is not None and not watch.online and name not in self._retries:
            retry = asyncio.get_running_loop().create_task(self.watch(watch.peer))
            self._retries[name] = retry
            retry.add_done_callback(lambda _: self._retries.pop(name, None))

    async def stop(self) -> None:
        retries = list(self._retries.values())
        for retry in retries:
            retry.cancel()
        await asyncio.gather(*retries, return_exceptions=True)
        for name in list(self.watches):
            await self.forget(name)
