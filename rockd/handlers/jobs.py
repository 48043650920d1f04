"""Jobs: long work and how it goes."""

from __future__ import annotations

from aiohttp import web

from rockd.core.errors import NotFound
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes

routes = Routes()


@routes.get("/api/v1/jobs", summary="Every job, running or ended")
async def list_jobs(request: web.Request, principal) -> list:
    return list((request.app[CONTEXT].tree.get("/jobs") or {}).values())


@routes.get("/api/v1/jobs/{id}", summary="One job")
async def get_job(request: web.Request, principal) -> dict:
    job = request.app[CONTEXT].tree.get(("jobs", request.match_info["id"]))
    if job is None:
        raise NotFound(f"no job {request.match_info['id']}")
    return job
