"""The services behind sharing: their live state, and start, stop, restart, enable, disable."""

from __future__ import annotations

from aiohttp import web

from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes

routes = Routes()


def _services(request: web.Request):
    return request.app[CONTEXT].services


@routes.get("/api/v1/services", summary="Every managed service with its live state")
async def list_services(request: web.Request, principal) -> list:
    return list((request.app[CONTEXT].tree.get("/services") or {}).values())


@routes.get("/api/v1/services/{name}", summary="One service")
async def get_service(request: web.Request, principal) -> dict:
    return _services(request).state(request.match_info["name"])


def _verb(verb: str, summary: str) -> None:
    async def act(request: web.Request, principal) -> dict:
        return await getattr(_services(request), verb)(request.match_info["name"])

    act.__name__ = f"{verb}_service"
    routes.post(f"/api/v1/services/{{name}}/{verb}", summary=summary)(act)


for _name, _summary in (
        ("start", "Start a service"),
        ("stop", "Stop a service"),
        ("restart", "Restart a service"),
        ("enable", "Start a service with the machine (with rockd, where rockd runs it)"),
        ("disable", "Do not start a service with the machine")):
    _verb(_name, _summary)
