"""The box itself: PATCH /system (hostname, time zone, NTP servers), reboot and shutdown, and a
disk's spin-down and APM."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from rockd.core.auth import Principal
from rockd.core.models import Model
from rockd.core.resources import Disk, System
from rockd.core.resources.host import PowerState
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes
from rockd.host.box import Host

routes = Routes()

HOST = web.AppKey("host", Host)


class SystemUpdate(Model):
    hostname: str | None = Field(default=None, max_length=64,
                                 description="RFC 1123: labels of letters, digits and hyphens")
    timezone: str | None = Field(default=None, max_length=64,
                                 description="a zone of the zoneinfo database, e.g. Europe/Paris")
    ntp_servers: list[str] | None = Field(default=None, max_length=16,
                                          description="hostnames or addresses, for chrony")


class PowerRequest(Model):
    confirm: str = Field(max_length=64, description="the hostname, typed")
    force: bool = Field(default=False, description="even while a job that cannot resume runs")


class DiskPowerUpdate(Model):
    spindown: int | None = Field(description="minutes idle before the disk spins down (0: "
                                 "never; up to 330); null: left as it is")
    apm: int | None = Field(description="APM level 1..255 (255: off); null: left as it is")


@routes.patch("/api/v1/system", summary="Set the hostname, time zone or NTP servers",
              body=SystemUpdate, response=System)
async def patch_system(request: web.Request, principal: Principal,
                       body: SystemUpdate) -> System:
    await request.app[HOST].change(body.hostname, body.timezone, body.ntp_servers)
    system: System = request.app[CONTEXT].tree.get("/system")
    return system


@routes.post("/api/v1/system/reboot", summary="Reboot the host (confirm: its hostname)",
             body=PowerRequest, status=202, response=PowerState)
async def reboot(request: web.Request, principal: Principal, body: PowerRequest) -> PowerState:
    return request.app[HOST].power.request("reboot", body.confirm, body.force,
                                           f"reboot requested by {principal.user}")


@routes.post("/api/v1/system/shutdown", summary="Shut the host down (confirm: its hostname)",
             body=PowerRequest, status=202, response=PowerState)
async def shutdown(request: web.Request, principal: Principal,
                   body: PowerRequest) -> PowerState:
    return request.app[HOST].power.request("shutdown", body.confirm, body.force,
                                           f"shutdown requested by {principal.user}")


@routes.route("PUT", "/api/v1/disks/{id}/power", summary="Set a rotational disk's spin-down "
              "and APM (hdparm), kept and applied again whenever the disk comes back",
              body=DiskPowerUpdate, response=Disk)
async def put_disk_power(request: web.Request, principal: Principal,
                         body: DiskPowerUpdate) -> dict[str, Any]:
    return await request.app[HOST].spindown.set(request.match_info["id"], body.spindown,
                                                body.apm)
