"""The services behind sharing: their live state, and start, stop, restart, enable, disable."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rockd.core.auth import Principal
from rockd.core.resources import Service
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes
from rockd.services.units import Services

routes = Routes()


def _services(request: web.Request) -> Services:
    return request.app[CONTEXT].services


@routes.get("/api/v1/services", summary="Every managed service with its live state",
            response=list[Service])
async def list_services(request: web.Request, principal: Principal) -> list[Any]:
    return _services(request).states()


@routes.get("/api/v1/services/{name}", summary="One service", response=Service)
async def get_service(request: web.Request, principal: Principal) -> dict[str, Any]:
    return _services(request).state(request.match_info["name"])


def _verb(verb: str, summary: str) -> None:
    async def act(request: web.Request, principal: Principal) -> dict[str, Any]:
        answer: dict[str, Any] = await getattr(_services(request), verb)(
            request.match_info["name"])
        return answer

    act.__name__ = f"{verb}_service"
    routes.post(f"/api/v1/services/{{name}}/{verb}", summary=summary, response=Service)(act)


for _name, _summary in (
        ("start", "Start a service"),
        ("stop", "Stop a service"),
        ("restart", "Restart a service"),
        ("enable", "Start a service with the machine (with rockd, where rockd runs it)"),
        ("disable", "Do not start a service with the machine")):
    _verb(_name, _summary)
