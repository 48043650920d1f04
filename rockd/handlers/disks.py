"""Disks: the inventory, SMART (reports, self-tests, history), and wiping a disk's signatures."""

from __future__ import annotations

import time
from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from rockd.core.auth import Principal
from rockd.core.models import Model
from rockd.core.resources import Disk, JobStarted, SmartHistory, SmartReport
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes
from rockd.storage.smart_monitor import SmartMonitor

routes = Routes()
SMART = web.AppKey("smart", SmartMonitor)


class WipeRequest(Model):
    confirm: str


class SmartTestRequest(Model):
    type: Literal["short", "long", "conveyance"]


class SmartHistoryQuery(Model):
    days: float = Field(default=30.0, gt=0, le=400, strict=False,
                        description="the readings of this many days back")


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
    return await request.app[SMART].read(_disk(request)["id"])


@routes.post("/api/v1/disks/{id}/smart/tests", summary="Start a SMART self-test (a job)",
             body=SmartTestRequest, status=202, response=JobStarted)
async def start_smart_test(request: web.Request, principal: Principal,
                           body: SmartTestRequest) -> dict[str, Any]:
    return {"job": await request.app[SMART].start_test(_disk(request)["id"], body.type)}


@routes.get("/api/v1/disks/{id}/smart/history", summary="A disk's SMART readings over time "
            "and its newest self-test log", query=SmartHistoryQuery, response=SmartHistory)
async def smart_history(request: web.Request, principal: Principal,
                        query: SmartHistoryQuery) -> dict[str, Any]:
    disk_id = _disk(request)["id"]
    history = request.app[SMART].history
    tests, read = await history.self_tests(disk_id)
    return {"disk": disk_id,
            "readings": await history.readings(disk_id, time.time() - query.days * 86400),
            "self_tests": tests, "self_tests_read": read}


@routes.post("/api/v1/disks/{id}/wipe", summary="Erase the disk's filesystem signatures",
             body=WipeRequest, response=Disk)
async def wipe_disk(request: web.Request, principal: Principal,
                    body: WipeRequest) -> dict[str, Any]:
    return await request.app[CONTEXT].disks.wipe(_disk(request)["id"], body.confirm)
