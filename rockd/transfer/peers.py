"""Paired peers: the other rockd boxes this one sends to and receives from, each a name, an
address (HOST:PORT of its --zmq-listen) and a CurveZMQ public key. Kept as intent
("replication_peer", by name) and shown at /replication/peers/{name}; only their keys get past
the receiver's gate."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rockd.core.errors import BadRequest, Conflict, NotFound
from rockd.core.store import Store
from rockd.core.times import iso
from rockd.core.tree import Subtree
from rockd.transfer import keys, protocol

log = logging.getLogger(__name__)

INTENT = "replication_peer"


def view(peer: dict[str, Any], state: dict[str, Any] | None = None) -> dict[str, Any]:
    """What /replication/peers/{name} shows of a peer: its intent, and its `state` (online,
    last_seen, last_error: presence.py), offline and never seen by default."""
    return {**{k: peer[k] for k in ("name", "address", "public_key", "created")},
            "online": False, "last_seen": None, "last_error": None, **(state or {})}


class Peers:
    """The paired peers: their intent, and /replication/peers in the tree."""

    def __init__(self, tree: Subtree, store: Store, own_key: str, clock: Callable[[], datetime]):
        self.tree = tree
        self.store = store
        self.own_key = own_key
        self.clock = clock
        self.records: dict[str, dict[str, Any]] = {}

    async def load(self) -> None:
        self.records = await self.store.intents(INTENT)

    def views(self, seen: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Every peer's view, with when it was last seen as `seen` shows it ({name: view})."""
        return {name: view(p, {"last_seen": ((seen or {}).get(name) or {}).get("last_seen")})
                for name, p in self.records.items()}

    def listed(self) -> list[dict[str, Any]]:
        return list((self.tree.get("/replication/peers") or {}).values())

    def name_of(self, public_key: str) -> str | None:
        """The name of the peer with this key; None: not a paired one."""
        for peer in self.records.values():
            if peer["public_key"] == public_key:
                return peer["name"]
        return None

    def get(self, name: str) -> dict[str, Any]:
        peer = self.records.get(name)
        if peer is None:
            raise NotFound(f"no peer {name}")
        return peer

    def check(self, name: str, address: str, public_key: str) -> None:
        """400 for a malformed address or key (or this box's own), 409 for a name or key
        paired already."""
        try:
            protocol.endpoint(address)
            protocol.endpoint(protocol.data_address(address))  # (its port + 1 takes data)
        except ValueError as exc:
            raise BadRequest(str(exc), code="invalid_field",
                             detail={"field": "address"}) from None
        try:
            keys.check_public_key(public_key)
        except ValueError as exc:
            raise BadRequest(str(exc), code="invalid_field",
                             detail={"field": "public_key"}) from None
        if name in self.records:
            raise Conflict(f"peer {name} exists", code="exists", detail={"field": "name"})
        if public_key == self.own_key:
            raise BadRequest("that is this box's own key", code="invalid_field",
                             detail={"field": "public_key"})
        if self.name_of(public_key) is not None:
            raise Conflict(f"peer {self.name_of(public_key)} has that key", code="exists",
                           detail={"field": "public_key"})

    async def add(self, name: str, address: str, public_key: str,
                  state: dict[str, Any]) -> dict[str, Any]:
        """Pair with a peer (`check`ed, and answering as `state` says)."""
        self.check(name, address, public_key)
        peer = {"name": name, "address": address, "public_key": public_key,
                "created": iso(self.clock())}
        await self.store.set_intent(INTENT, name, peer)
        self.records[name] = peer
        self.tree.set(("replication", "peers", name), view(peer, state))
        log.info("replication: paired with peer %s at %s", name, address)
        return view(peer, state)

    async def remove(self, name: str) -> None:
        self.get(name)
        await self.store.delete_intent(INTENT, name)
        del self.records[name]
        self.tree.delete(("replication", "peers", name))
        log.info("replication: unpaired peer %s", name)
