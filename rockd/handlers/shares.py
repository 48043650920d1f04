"""Shares and their snapshots: create, change, clone, roll back, delete."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from rockd.core.auth import Principal
from rockd.core.models import Model, Name, SizeRange
from rockd.core.resources import Share, Snapshot
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes
from rockd.storage.shares import Shares

routes = Routes()

QuotaSize = Annotated[int, SizeRange(1 << 20, 1 << 60)]


class ShareUpdate(Model):
    quota: QuotaSize | None = None
    compression: str | None = Field(default=None, max_length=16)
    owner: Name | None = None
    group: Name | None = None
    mode: str | None = Field(default=None, max_length=5)


class ShareCreate(ShareUpdate):
    pool: str
    name: Name


class CloneRequest(Model):
    name: Name


class RollbackRequest(Model):
    snapshot: str


class SnapshotCreate(Model):
    name: Name
    writable: bool = False
    visible: bool = False


class SnapshotUpdate(Model):
    visible: bool


def _shares(request: web.Request) -> Shares:
    return request.app[CONTEXT].shares


@routes.get("/api/v1/shares", summary="Every share", response=list[Share])
async def list_shares(request: web.Request, principal: Principal) -> list[Any]:
    return list((request.app[CONTEXT].tree.get("/shares") or {}).values())


@routes.get("/api/v1/shares/{id}", summary="One share", response=Share)
async def get_share(request: web.Request, principal: Principal) -> dict[str, Any]:
    return _shares(request).get(request.match_info["id"])


@routes.post("/api/v1/shares", summary="Create a share (a subvolume) in a pool",
             body=ShareCreate, status=201, response=Share)
async def create_share(request: web.Request, principal: Principal,
                       body: ShareCreate) -> dict[str, Any]:
    return await _shares(request).create(body.pool, body.name, body.quota, body.compression,
                                         body.owner, body.group, body.mode)


@routes.patch("/api/v1/shares/{id}", summary="Change quota, compression, owner, group, mode",
              body=ShareUpdate, response=Share)
async def update_share(request: web.Request, principal: Principal,
                       body: ShareUpdate) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    return await _shares(request).update(request.match_info["id"], changes)


@routes.delete("/api/v1/shares/{id}", summary="Delete a share (force: with its snapshots)",
               status=204)
async def delete_share(request: web.Request, principal: Principal) -> None:
    await _shares(request).delete(request.match_info["id"], request.query.get("force") == "true")


@routes.post("/api/v1/shares/{id}/clone", summary="A writable copy of the share as a new share",
             body=CloneRequest, status=201, response=Share)
async def clone_share(request: web.Request, principal: Principal,
                      body: CloneRequest) -> dict[str, Any]:
    shares = _shares(request)
    return await shares.clone(shares.get(request.match_info["id"]), body.name)


@routes.post("/api/v1/shares/{id}/rollback", summary="Make the share's content a snapshot's",
             body=RollbackRequest, response=Share)
async def rollback_share(request: web.Request, principal: Principal,
                         body: RollbackRequest) -> dict[str, Any]:
    return await _shares(request).rollback(request.match_info["id"], body.snapshot)


@routes.get("/api/v1/snapshots", summary="Snapshots, of every share or of one (?share=id)",
            response=list[Snapshot])
async def list_snapshots(request: web.Request, principal: Principal) -> list[Any]:
    share = request.query.get("share")
    snapshots = (request.app[CONTEXT].tree.get("/snapshots") or {}).values()
    return [s for s in snapshots if share is None or s["share"] == share]


@routes.get("/api/v1/snapshots/{id}", summary="One snapshot", response=Snapshot)
async def get_snapshot(request: web.Request, principal: Principal) -> dict[str, Any]:
    return _shares(request).get_snapshot(request.match_info["id"])


@routes.post("/api/v1/shares/{id}/snapshots", summary="Snapshot a share",
             body=SnapshotCreate, status=201, response=Snapshot)
async def create_snapshot(request: web.Request, principal: Principal,
                          body: SnapshotCreate) -> dict[str, Any]:
    return await _shares(request).snapshot(request.match_info["id"], body.name, body.writable,
                                           body.visible)


@routes.patch("/api/v1/snapshots/{id}", summary="Show or hide a snapshot", body=SnapshotUpdate,
              response=Snapshot)
async def update_snapshot(request: web.Request, principal: Principal,
                          body: SnapshotUpdate) -> dict[str, Any]:
    shares = _shares(request)
    await shares.set_visible(request.match_info["id"], body.visible)
    return shares.get_snapshot(request.match_info["id"])


@routes.delete("/api/v1/snapshots/{id}", summary="Delete a snapshot", status=204)
async def delete_snapshot(request: web.Request, principal: Principal) -> None:
    await _shares(request).delete_snapshot(request.match_info["id"])


@routes.post("/api/v1/snapshots/{id}/clone", summary="A writable copy of a snapshot as a share",
             body=CloneRequest, status=201, response=Share)
async def clone_snapshot(request: web.Request, principal: Principal,
                         body: CloneRequest) -> dict[str, Any]:
    shares = _shares(request)
    return await shares.clone(shares.get_snapshot(request.match_info["id"]), body.name)
