"""Disks: the inventory, SMART, and wiping a disk's signatures."""

from __future__ import annotations

from aiohttp import web

from rockd.core.errors import Unprocessable
from rockd.core.models import Model
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes
from rockd.storage import smart

routes = Routes()


class WipeRequest(Model):
    confirm: str


def _disk(request: web.Request) -> dict:
    return request.app[CONTEXT].tree.resource("disks", request.match_info["id"])


@routes.get("/api/v1/disks", summary="Every disk, managed or not")
async def list_disks(request: web.Request, principal) -> list:
    return list((request.app[CONTEXT].tree.get("/disks") or {}).values())


@routes.get("/api/v1/disks/{id}", summary="One disk")
async def get_disk(request: web.Request, principal) -> dict:
    return _disk(request)


@routes.get("/api/v1/disks/{id}/smart", summary="SMART health, attributes and self-tests")
async def disk_smart(request: web.Request, principal) -> dict:
    disk = _disk(request)
    if disk["transport"] in ("loop", "virtio"):
        raise Unprocessable(f"{disk['path']} has no SMART", code="smart_unsupported")
    return await smart.read(disk["path"])


@routes.post("/api/v1/disks/{id}/wipe", summary="Erase the disk's filesystem signatures",
             body=WipeRequest)
async def wipe_disk(request: web.Request, principal, body: WipeRequest) -> dict:
    return await request.app[CONTEXT].disks.wipe(_disk(request)["id"], body.confirm)
