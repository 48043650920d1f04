"""The host: /system (hostname, versions, uptime, latest metrics) and the metrics' history."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from rockd.core.auth import Principal
from rockd.core.models import Model
from rockd.core.resources import System
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes

routes = Routes()

HOUR = 3600


class HistoryQuery(Model):
    seconds: int = Field(default=HOUR, ge=1, le=HOUR, strict=False,
                         description="how far back, in seconds")


class MetricsHistory(Model):
    """The samples as columns, ascending by time: one list per field, all of one length."""

    time: list[float] = Field(description="unix seconds")
    cpu: list[float] = Field(description="busy fraction of all CPUs, 0..1")
    memory_used: list[int] = Field(description="bytes")
    memory_total: list[int] = Field(description="bytes")
    net_rx: list[int] = Field(description="bytes per second, all interfaces but lo")
    net_tx: list[int] = Field(description="bytes per second, all interfaces but lo")
    disk_read: list[int] = Field(description="bytes per second, all whole disks")
    disk_write: list[int] = Field(description="bytes per second, all whole disks")


@routes.get("/api/v1/system", summary="The host: hostname, kernel, versions, uptime, metrics",
            response=System)
async def get_system(request: web.Request, principal: Principal) -> System:
    system: System = request.app[CONTEXT].tree.get("/system")
    return system


@routes.get("/api/v1/system/metrics/history", summary="The last hour of system metrics, "
            "as columns for charts (the latest sample is /system/metrics)",
            query=HistoryQuery, response=MetricsHistory)
async def metrics_history(request: web.Request, principal: Principal,
                          query: HistoryQuery) -> dict[str, list[Any]]:
    return request.app[CONTEXT].history.columns(query.seconds)
