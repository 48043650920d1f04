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

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import zmq.asyncio

from rockd.config import Settings
from rockd.core import resources
from rockd.core.errors import Conflict
from rockd.core.jobs import Jobs
from rockd.core.store import Store
from rockd.core.times import utcnow
from rockd.core.tree import Subtree
from rockd.storage.shares import Shares
from rockd.transfer import keys
from rockd.transfer.peers import Peers
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
        self.kind = ReplicateKind(tree, jobs, shares, self.peers, self.tasks, self._link, now)

    # -- life --------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the intent and show it (before the tree is observed)."""
        await self.peers.load()
        await self.tasks.load()
        await self.replicas.load()
        old = self.tree.get("/replication/tasks") or {}
        with self.tree.transaction():
            self.tree.set("/replication", {
                "identity": {"public_key": self.public.decode(),
                             "listen": self.settings.zmq_listen},
                "peers": self.peers.views(), "tasks": {}})
            for task in self.tasks.records.values():
                self.tasks.publish(task, (old.get(task["id"]) or {}).get("targets"))

    async def start(self) -> None:
        """Once pools and shares are observed: clean half-made receives, listen, schedule."""
        await self.receiver.clean()
        self.receiver.start()
        self.tree.set("/replication/identity/listening", self.receiver.listening)
        self.tasks.start()

    async def stop(self) -> None:
        await self.tasks.stop()
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
        return {"public_key": self.public.decode(), "address": f"{bind_host}:{port}"}

    async def add_peer(self, name: str, address: str, public_key: str) -> dict[str, Any]:
        peer = await self.peers.add(name, address, public_key)
        self._refresh_replicas()
        return peer

    async def delete_peer(self, name: str) -> None:
        self.peers.get(name)
        users = self.tasks.of_peer(name)
        if users:
            raise Conflict(f"tasks {', '.join(users)} replicate to peer {name}: change or "
                           "delete them first", code="in_use", detail={"tasks": users})
        await self.peers.remove(name)
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
