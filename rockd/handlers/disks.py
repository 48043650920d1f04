"""Disks: the inventory, SMART, and wiping a disk's signatures."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rockd.core.auth import Principal
from rockd.core.errors import Unprocessable
from rockd.core.models import Model
from rockd.core.resources import Disk, SmartReport
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes
from rockd.storage import smart

routes = Routes()


class WipeRequest(Model):
    confirm: str


def _disk(request: web.Request) -> Disk:
    disk: Disk = request.app[CONTEXT].tree.resource("disks", request.match_info["id"])
    return disk


@routes.get("/api/v1/disks", summary="Every disk, managed or not", response=list[Disk])
async def list_disks(request: web.Request, principal: Principal) -> list[Disk]:
    return list((request.app[CONTEXT].tree.get("/disks") or {}).values())


@routes.get("/api/v1/disks/{id}", summary="One disk", response=Disk)
async def get_disk(request: web.Request, principal: Principal) -> Disk:
    return _disk(request)


@routes.get("/api/v1/disks/{id}/smart", summary="SMART health, attributes and self-tests",
            response=SmartReport)
async def disk_smart(request: web.Request, principal: Principal) -> dict[str, Any]:
    disk = _disk(request)
    if disk["transport"] in ("loop", "virtio"):
        raise Unprocessable(f"{disk['path']} has no SMART", code="smart_unsupported")
    return await smart.read(disk["path"])


@routes.post("/api/v1/disks/{id}/wipe", summary="Erase the disk's filesystem signatures",
             body=WipeRequest, response=Disk)
async def wipe_disk(request: web.Request, principal: Principal,
                    body: WipeRequest) -> dict[str, Any]:
    return await request.app[CONTEXT].disks.wipe(_disk(request)["id"], body.confirm)
