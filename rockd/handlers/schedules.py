"""Schedules: snapshots, scrubs and balances on cron, and what retention would do."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from rockd.core.models import Model
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes

routes = Routes()


class Retention(Model):
    hourly: int = Field(default=0, ge=0, le=10_000)
    daily: int = Field(default=0, ge=0, le=10_000)
    weekly: int = Field(default=0, ge=0, le=10_000)
    monthly: int = Field(default=0, ge=0, le=10_000)
    min_age: str = Field(default="0m", max_length=16)


class ScheduleCreate(Model):
    kind: Literal["snapshot", "scrub", "balance"]
    target: str = Field(max_length=64)
    cron: str = Field(max_length=128)
    retention: Retention | None = None
    enabled: bool = True


class ScheduleUpdate(Model):
    cron: str | None = Field(default=None, max_length=128)
    retention: Retention | None = None
    enabled: bool | None = None


def _scheduler(request: web.Request):
    return request.app[CONTEXT].scheduler


@routes.get("/api/v1/schedules", summary="Every schedule, with its next run")
async def list_schedules(request: web.Request, principal) -> list:
    return list((request.app[CONTEXT].tree.get("/schedules") or {}).values())


@routes.post("/api/v1/schedules", summary="Schedule snapshots (with retention), scrubs or "
             "balances", body=ScheduleCreate, status=201)
async def create_schedule(request: web.Request, principal, body: ScheduleCreate) -> dict:
    policy = body.retention.model_dump() if body.retention else None
    return await _scheduler(request).create(body.kind, body.target, body.cron, policy,
                                            body.enabled)


@routes.patch("/api/v1/schedules/{id}", summary="Change a schedule", body=ScheduleUpdate)
async def update_schedule(request: web.Request, principal, body: ScheduleUpdate) -> dict:
    changes = body.model_dump(exclude_unset=True)
    return await _scheduler(request).update(request.match_info["id"], changes)


@routes.delete("/api/v1/schedules/{id}", summary="Delete a schedule (its snapshots stay)",
               status=204)
async def delete_schedule(request: web.Request, principal) -> None:
    await _scheduler(request).delete(request.match_info["id"])


@routes.get("/api/v1/schedules/{id}/retention",
            summary="What the schedule's retention would keep and delete now, and why")
async def retention_preview(request: web.Request, principal) -> list:
    scheduler = _scheduler(request)
    schedule = scheduler.get(request.match_info["id"])
    return [{"snapshot": d.id, "created": d.created.isoformat().replace("+00:00", "Z"),
             "keep": d.keep, "reasons": list(d.reasons)}
            for d in scheduler.decisions(schedule, scheduler.clock())]
