"""Replication: this box's identity, paired peers, replication tasks and their runs, and the
promotion of a replica to a writable share."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from rockd.core.auth import Principal
from rockd.core.models import Model, Name
from rockd.core.resources import JobStarted, Peer, ReplicationTask, Share
from rockd.core.times import iso
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes
from rockd.handlers.schedules import Retention, RetentionDecision
from rockd.transfer.keep import KEEP_LAST
from rockd.transfer.service import Replication

routes = Routes()
KEEP_LAST_WORDS = ("how many of the task's newest snapshots that reached a target the source "
                   "keeps (besides what a source policy keeps)")


class PeerCreate(Model):
    name: Name
    address: str = Field(max_length=300, description="host:port of the peer's --zmq-listen")
    public_key: str = Field(min_length=40, max_length=40,
                            description="the peer's CurveZMQ public key, Z85")


class Target(Model):
    peer: Name
    pool: Name = Field(description="the name of a pool on the peer")
    name: Name | None = Field(default=None,
                              description="the replica's name there (default: the share's)")


class TaskRetention(Model):
    source: Retention | None = None
    target: Retention | None = None


class TaskCreate(Model):
    share: str = Field(max_length=64)
    targets: list[Target] = Field(min_length=1, max_length=16)
    cron: str | None = Field(default=None, max_length=128)
    retention: TaskRetention | None = None
    keep_last: int = Field(default=KEEP_LAST, ge=1, le=1000, description=KEEP_LAST_WORDS)
    enabled: bool = True


class TaskUpdate(Model):
    targets: list[Target] | None = Field(default=None, min_length=1, max_length=16)
    cron: str | None = Field(default=None, max_length=128)
    retention: TaskRetention | None = None
    keep_last: int | None = Field(default=None, ge=1, le=1000, description=KEEP_LAST_WORDS)
    enabled: bool | None = None


class Identity(Model):
    """What a peer needs to pair with this box."""

    public_key: str
    address: str = Field(description="host:port to connect to, by the name this box was "
                         "reached by")
    addresses: list[str] = Field(description="every host:port a peer can reach this box at")


def _replication(request: web.Request) -> Replication:
    return request.app[CONTEXT].replication


@routes.get("/api/v1/replication/identity",
            summary="This box's public key and address: what a peer needs to pair with it",
            response=Identity)
async def identity(request: web.Request, principal: Principal) -> dict[str, Any]:
    return _replication(request).identity(request.url.host)


@routes.get("/api/v1/replication/peers", summary="Paired peers", response=list[Peer])
async def list_peers(request: web.Request, principal: Principal) -> list[Any]:
    return _replication(request).peers.listed()


@routes.post("/api/v1/replication/peers", summary="Pair with a peer (both boxes must pair)",
             body=PeerCreate, status=201, response=Peer)
async def add_peer(request: web.Request, principal: Principal, body: PeerCreate) -> dict[str, Any]:
    return await _replication(request).add_peer(body.name, body.address, body.public_key)


@routes.delete("/api/v1/replication/peers/{name}", summary="Unpair a peer", status=204)
async def delete_peer(request: web.Request, principal: Principal) -> None:
    await _replication(request).delete_peer(request.match_info["name"])


@routes.get("/api/v1/replication/tasks", summary="Replication tasks, with each target's last run",
            response=list[ReplicationTask])
async def list_tasks(request: web.Request, principal: Principal) -> list[Any]:
    return _replication(request).tasks.listed()


@routes.get("/api/v1/replication/tasks/{id}", summary="One replication task",
            response=ReplicationTask)
async def get_task(request: web.Request, principal: Principal) -> dict[str, Any]:
    return _replication(request).tasks.view(request.match_info["id"])


def _retention(body: TaskCreate | TaskUpdate) -> dict[str, Any] | None:
    if body.retention is None:
        return None
    return {side: (policy.model_dump() if policy is not None else None)
            for side, policy in (("source", body.retention.source),
                                 ("target", body.retention.target))}


@routes.post("/api/v1/replication/tasks", summary="Replicate a share to peers, on cron",
             body=TaskCreate, status=201, response=ReplicationTask)
async def create_task(request: web.Request, principal: Principal,
                      body: TaskCreate) -> dict[str, Any]:
    targets = [t.model_dump(exclude_none=True) for t in body.targets]
    return await _replication(request).tasks.create(body.share, targets, body.cron,
                                                    _retention(body), body.enabled,
                                                    body.keep_last)


@routes.patch("/api/v1/replication/tasks/{id}", summary="Change a replication task",
              body=TaskUpdate, response=ReplicationTask)
async def update_task(request: web.Request, principal: Principal,
                      body: TaskUpdate) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if "targets" in changes:
        changes["targets"] = [t.model_dump(exclude_none=True) for t in body.targets or []]
    if "retention" in changes:
        changes["retention"] = _retention(body)
    return await _replication(request).tasks.update(request.match_info["id"], changes)


@routes.delete("/api/v1/replication/tasks/{id}",
               summary="Delete a replication task (snapshots and replicas stay)", status=204)
async def delete_task(request: web.Request, principal: Principal) -> None:
    await _replication(request).tasks.delete(request.match_info["id"])


@routes.get("/api/v1/replication/tasks/{id}/retention",
            summary="What the task's retention would keep and delete of its share's snapshots "
            "now, and why", response=list[RetentionDecision])
async def task_retention(request: web.Request, principal: Principal) -> list[Any]:
    replication = _replication(request)
    return [{"snapshot": d.id, "created": iso(d.created), "keep": d.keep,
             "reasons": list(d.reasons)}
            for d in replication.tasks.retention(request.match_info["id"], replication.clock())]


@routes.post("/api/v1/replication/tasks/{id}/run", summary="Run a replication task now",
             status=202, response=JobStarted)
async def run_task(request: web.Request, principal: Principal) -> dict[str, Any]:
    return {"job": _replication(request).tasks.run(request.match_info["id"])}


@routes.post("/api/v1/shares/{id}/promote",
             summary="Make a replica a normal writable share (ends its replication chain)",
             response=Share)
async def promote(request: web.Request, principal: Principal) -> dict[str, Any]:
    return await _replication(request).promote(request.match_info["id"])
