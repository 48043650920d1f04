"""About the daemon itself: health and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rockd import __version__
from rockd.core.auth import Principal
from rockd.core.models import Model
from rockd.handlers.routes import ROUTE_TABLE, Routes, openapi

routes = Routes()


class Health(Model):
    status: str
    version: str


@routes.get("/api/v1/health", summary="Liveness; needs no authentication",
            response=Health, public=True)
async def health(request: web.Request) -> Health:
    return Health(status="ok", version=__version__)


@routes.get("/api/v1/openapi.json", summary="This API as an OpenAPI 3.1 document",
            response=dict[str, Any])
async def openapi_document(request: web.Request, principal: Principal) -> dict[str, Any]:
    return openapi(request.app[ROUTE_TABLE])
