"""Jobs: long work and how it goes."""

from __future__ import annotations

from aiohttp import web

from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes

routes = Routes()


@routes.get("/api/v1/jobs", summary="Every job, running or ended")
async def list_jobs(request: web.Request, principal) -> list:
    return list((request.app[CONTEXT].tree.get("/jobs") or {}).values())


@routes.get("/api/v1/jobs/{id}", summary="One job")
async def get_job(request: web.Request, principal) -> dict:
    return request.app[CONTEXT].tree.resource("jobs", request.match_info["id"])


@routes.post("/api/v1/jobs/{id}/cancel", summary="Cancel a job (409 where btrfs cannot)")
async def cancel_job(request: web.Request, principal) -> dict:
    return await request.app[CONTEXT].jobs.cancel(request.match_info["id"])


@routes.post("/api/v1/jobs/{id}/pause", summary="Pause a job (balance)")
async def pause_job(request: web.Request, principal) -> dict:
    return await request.app[CONTEXT].jobs.pause(request.match_info["id"])


@routes.post("/api/v1/jobs/{id}/resume", summary="Resume a paused job")
async def resume_job(request: web.Request, principal) -> dict:
    return await request.app[CONTEXT].jobs.resume(request.match_info["id"])
