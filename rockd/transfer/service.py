"""Replication, as the daemon holds it: this box's identity, and the parts put together.

Intent (SQLite): peers ("replication_peer", peers.py), tasks ("replication_task", tasks.py)
and replicas ("replica", replicas.py). Shown in the tree at /replication/{identity, peers,
tasks}, which only replication writes: the identity here (at load, and whether the receiver
listens), the peers on pairing and unpairing, a task on each change, each start and end of a
run and each run's outcome per target. Runs are "replicate" jobs (runs.py: `kind`, which
app.py registers); the receiver (receiver.py) takes what peers send. The handlers reach peers
and tasks through `peers` and `tasks`. A replica is promoted to a writable share here.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psutil
import zmq.asyncio

from rockd.config import Settings
from rockd.core import resources
from rockd.core.errors import Conflict, Unprocessable
from rockd.core.jobs import Jobs
from rockd.core.store import Store
from rockd.core.times import iso, utcnow
from rockd.core.tree import Subtree
from rockd.storage.shares import Shares
from rockd.transfer import keys, presence
from rockd.transfer.peers import Peers
from rockd.transfer.protocol import PeerError
from rockd.transfer.receiver import Receiver
from rockd.transfer.replicas import Replicas
from rockd.transfer.runs import ReplicateKind
from rockd.transfer.sender import Link
from rockd.transfer.tasks import Tasks

log = logging.getLogger(__name__)


class Replication:
    """Everything of replication that the daemon holds. `clock` is what every part reads the
    time from (a test may move it)."""

    def __init__(self, settings: Settings, tree: Subtree, store: Store, jobs: Jobs, shares: Shares,
                 clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.tree = tree
        self.store = store
        self.jobs = jobs
        self.shares = shares
        self.clock = clock
        self.public, self.secret = keys.load_or_create(settings.state_dir / "replication")
        self.context = zmq.asyncio.Context()
        now = lambda: self.clock()  # noqa: E731 (the clock as it is when asked)
        self.peers = Peers(tree, store, self.public.decode(), now)
        self.tasks = Tasks(tree, store, jobs, shares, self.peers, now)
        self.replicas = Replicas(store, shares, self.peers.name_of)
        self.receiver = Receiver(self.context, self.public, self.secret, settings.zmq_listen,
                                 self.replicas, self.peers.name_of, self._prune_replica,
                                 idle=settings.replication_idle, clock=now)
        self.presence = presence.Presence(self.context, self.public, self.secret, tree, now)
        self.receiver.admitted = self.presence.admitted
        self.kind = ReplicateKind(tree, jobs, shares, self.peers, self.tasks, self._link, now)

    # -- life --------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the intent and show it (before the tree is observed)."""
        await self.peers.load()
        await self.tasks.load()
        await self.replicas.load()
        old = self.tree.get("/replication/tasks") or {}
        seen = self.tree.get("/replication/peers") or {}
        with self.tree.transaction():
            self.tree.set("/replication", {
                "identity": {"public_key": self.public.decode(),
                             "listen": self.settings.zmq_listen,
                             "addresses": addresses(self.settings.zmq_listen)},
                "peers": self.peers.views(seen), "tasks": {}})
            for task in self.tasks.records.values():
                self.tasks.publish(task, (old.get(task["id"]) or {}).get("targets"))

    async def start(self) -> None:
        """Once pools and shares are observed: clean half-made receives, listen, schedule."""
        await self.receiver.clean()
        self.receiver.start()
        self.tree.set("/replication/identity/listening", self.receiver.listening)
        for peer in self.peers.records.values():
            await self.presence.watch(peer)
        self.tasks.start()

    async def stop(self) -> None:
        await self.tasks.stop()
        await self.presence.stop()
        await self.receiver.stop()
        self.context.destroy(linger=0)

    def _link(self, peer: dict[str, Any]) -> Link:
        return Link(self.context, peer, self.public, self.secret,
                    idle=self.settings.replication_idle)

    def _prune_replica(self, pool: dict[str, Any], paths: list[str]) -> resources.Job | None:
        return self.jobs.start("prune", pool["id"], {"paths": paths, "replica": True})

    # -- identity and peers ------------------------------------------------------------------

    def identity(self, host: str | None = None) -> dict[str, Any]:
        """What a peer needs to pair with this box: the public key, and where to connect (a
        wildcard listen address is given as the host that the asker reached this box by)."""
        listen = self.settings.zmq_listen
        bind_host, _, port = listen.rpartition(":")
        if bind_host in ("0.0.0.0", "*", "[::]", "::") and host:  # noqa: S104
            bind_host = f"[{host}]" if ":" in host else host
        return {"public_key": self.public.decode(), "address": f"{bind_host}:{port}",
                "addresses": addresses(listen)}

    async def add_peer(self, name: str, address: str, public_key: str) -> dict[str, Any]:
        """Pair with a peer once a test connection shows it answers with that key (422, and
        nothing saved, when it does not); it may not know this box yet."""
        self.peers.check(name, address, public_key)
        peer = {"name": name, "address": address, "public_key": public_key}
        try:
            admits = await presence.probe(self.context, peer, self.public, self.secret)
        except PeerError as exc:
            raise Unprocessable(f"{exc}. Nothing was saved.", code=exc.code,
                                detail={"field": "public_key" if exc.code == "wrong_key"
                                        else "address"}) from None
        state = {"online": admits, "last_seen": iso(self.clock()),
                 "last_error": None if admits else presence.refused_key(name)}
        peer = await self.peers.add(name, address, public_key, state)
        await self.presence.watch(self.peers.get(name))
        self._refresh_replicas()
        return peer

    async def delete_peer(self, name: str) -> None:
        self.peers.get(name)
        users = self.tasks.of_peer(name)
        if users:
            raise Conflict(f"tasks {', '.join(users)} replicate to peer {name}: change or "
                           "delete them first", code="in_use", detail={"tasks": users})
        await self.peers.remove(name)
        await self.presence.forget(name)
        self._refresh_replicas()

    def _refresh_replicas(self) -> None:
        """Replica markers name their peer: the shares' owner rescans the pools that hold
        replicas."""
        for pool_id in {r["pool"] for r in self.replicas.records.values()}:
            if self.tree.get(("pools", pool_id, "mounted")):
                self.shares.rescans.request(pool_id)

    # -- replicas ----------------------------------------------------------------------------

    async def promote(self, share_id: str) -> dict[str, Any]:
        share = self.shares.get(share_id)
        if any(incoming.busy(share["pool"], share["name"])
               for incoming in self.receiver.incoming.values()):
            raise Conflict(f"{share['name']} is receiving a transfer", code="busy")
        promoted = await self.replicas.promote(share)
        log.info("replication: promoted replica %s to a writable share", share["name"])
        return promoted


def addresses(listen: str) -> list[str]:
    """Where a peer can reach a box listening at `listen` (HOST:PORT): that address, or for a
    wildcard one the host's name and its interfaces' addresses (loopback only when there is
    nothing else; IPv6 link-local ones never, being of one link only)."""
    host, _, port = listen.rpartition(":")
    if host not in ("0.0.0.0", "*", "[::]", "::"):  # noqa: S104
        return [listen]
    found: list[str] = []
    loopback: list[str] = []
    for nics in psutil.net_if_addrs().values():
        for nic in nics:
            if nic.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            ip = ipaddress.ip_address(nic.address.split("%")[0])
            if ip.is_link_local or (ip.version == 6 and host in ("0.0.0.0", "*")):  # noqa: S104
                continue
            text = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
            (loopback if ip.is_loopback else found).append(text)
    name = socket.gethostname()
    return ([f"{name}:{port}"] if name else []) + (found or loopback)
