"""About the daemon itself: health and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from rockd import __version__
from rockd.core.models import Model
from rockd.handlers.routes import ROUTE_TABLE, Routes, openapi

routes = Routes()


class Health(Model):
    status: str
    version: str


@routes.get("/api/v1/health", summary="Liveness; needs no authentication",
            response=Health, public=True)
async def health(request: web.Request) -> dict:
    return {"status": "ok", "version": __version__}


@routes.get("/api/v1/openapi.json", summary="This API as an OpenAPI 3.1 document")
async def openapi_document(request: web.Request, principal) -> dict:
    return openapi(request.app[ROUTE_TABLE])
