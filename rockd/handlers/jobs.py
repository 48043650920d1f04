"""Jobs: long work and how it goes."""

from __future__ import annotations

from aiohttp import web

from rockd.core.auth import Principal
from rockd.core.resources import Job
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes

routes = Routes()


@routes.get("/api/v1/jobs", summary="Every job, running or ended", response=list[Job])
async def list_jobs(request: web.Request, principal: Principal) -> list[Job]:
    return list((request.app[CONTEXT].tree.get("/jobs") or {}).values())


@routes.get("/api/v1/jobs/{id}", summary="One job", response=Job)
async def get_job(request: web.Request, principal: Principal) -> Job:
    job: Job = request.app[CONTEXT].tree.resource("jobs", request.match_info["id"])
    return job


@routes.post("/api/v1/jobs/{id}/cancel", summary="Cancel a job (409 where btrfs cannot)",
             response=Job)
async def cancel_job(request: web.Request, principal: Principal) -> Job:
    return await request.app[CONTEXT].jobs.cancel(request.match_info["id"])


@routes.post("/api/v1/jobs/{id}/pause", summary="Pause a job (balance)", response=Job)
async def pause_job(request: web.Request, principal: Principal) -> Job:
    return await request.app[CONTEXT].jobs.pause(request.match_info["id"])


@routes.post("/api/v1/jobs/{id}/resume", summary="Resume a paused job", response=Job)
async def resume_job(request: web.Request, principal: Principal) -> Job:
    return await request.app[CONTEXT].jobs.resume(request.match_info["id"])
