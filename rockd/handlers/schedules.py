"""Schedules: snapshots, scrubs, balances, settings backups, trims, dedups and SMART
self-tests on cron, and what retention would do."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field, field_validator

from rockd.core.auth import Principal
from rockd.core.models import Model
from rockd.core.resources import Schedule
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes
from rockd.jobs.schedules import Scheduler

routes = Routes()


class Retention(Model):
    hourly: int = Field(default=0, ge=0, le=10_000)
    daily: int = Field(default=0, ge=0, le=10_000)
    weekly: int = Field(default=0, ge=0, le=10_000)
    monthly: int = Field(default=0, ge=0, le=10_000)
    last: int = Field(default=0, ge=0, le=10_000,
                      description="keep the newest N scheduled snapshots, whatever their times")
    min_age: str = Field(default="0m", max_length=16)


class KindOptions(Model):
    """What some kinds take beside their target."""

    type: Literal["short", "long", "conveyance"] | None = Field(
        default=None, description="smart_test (required there): the self-test to run")
    shares: list[str] | None = Field(
        default=None, min_length=1, max_length=1000,
        description="dedup: share ids of its pool (left out: the whole pool)")


class ScheduleCreate(Model):
    kind: Literal["snapshot", "scrub", "balance", "config_backup", "trim", "dedup",
                  "smart_test"]
    target: str = Field(max_length=64, description="a share (snapshot, config_backup), a "
                        "disk (smart_test) or a pool (the other kinds)")
    cron: str = Field(max_length=128)
    retention: Retention | None = None
    enabled: bool = True
    options: KindOptions | None = None


class ScheduleUpdate(Model):
    """The fields given change; a null retention keeps every snapshot."""

    cron: str | None = Field(default=None, max_length=128)
    retention: Retention | None = None
    enabled: bool | None = None

    @field_validator("cron", "enabled", mode="before")
    @classmethod
    def given(cls, value: object) -> object:
        """Left out is unchanged; a null cron or enabled is no value (None is the default
        only, never validated)."""
        if value is None:
            raise ValueError("must not be null")
        return value


class RetentionDecision(Model):
    """What a schedule's retention does with one snapshot now, and why."""

    snapshot: str
    created: str
    keep: bool
    reasons: list[str]


def _scheduler(request: web.Request) -> Scheduler:
    return request.app[CONTEXT].scheduler


@routes.get("/api/v1/schedules", summary="Every schedule, with its next run",
            response=list[Schedule])
async def list_schedules(request: web.Request, principal: Principal) -> list[Any]:
    return list((request.app[CONTEXT].tree.get("/schedules") or {}).values())


@routes.post("/api/v1/schedules", summary="Schedule snapshots (with retention), scrubs, "
             "balances, settings backups into a share, trims, dedups or SMART self-tests",
             body=ScheduleCreate, status=201, response=Schedule)
async def create_schedule(request: web.Request, principal: Principal,
                          body: ScheduleCreate) -> dict[str, Any]:
    policy = body.retention.model_dump() if body.retention else None
    options = body.options.model_dump(exclude_none=True) if body.options else None
    return await _scheduler(request).create(body.kind, body.target, body.cron, policy,
                                            body.enabled, options)


@routes.patch("/api/v1/schedules/{id}", summary="Change a schedule", body=ScheduleUpdate,
              response=Schedule)
async def update_schedule(request: web.Request, principal: Principal,
                          body: ScheduleUpdate) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    return await _scheduler(request).update(request.match_info["id"], changes)


@routes.delete("/api/v1/schedules/{id}", summary="Delete a schedule (its snapshots stay)",
               status=204)
async def delete_schedule(request: web.Request, principal: Principal) -> None:
    await _scheduler(request).delete(request.match_info["id"])


@routes.get("/api/v1/schedules/{id}/retention",
            summary="What the schedule's retention would keep and delete now, and why",
            response=list[RetentionDecision])
async def retention_preview(request: web.Request, principal: Principal) -> list[Any]:
    scheduler = _scheduler(request)
    schedule = scheduler.get(request.match_info["id"])
    return [{"snapshot": d.id, "created": d.created.isoformat().replace("+00:00", "Z"),
             "keep": d.keep, "reasons": list(d.reasons)}
            for d in scheduler.decisions(schedule, scheduler.clock())]
