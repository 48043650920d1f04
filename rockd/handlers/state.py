"""GET /api/v1/state: any subtree of the state tree with its revision."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from rockd.core import pointer
from rockd.core.auth import Principal
from rockd.core.errors import BadRequest, NotFound
from rockd.core.models import Model
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes, json_response

routes = Routes()


class StateQuery(Model):
    path: str = Field(default="", max_length=4096, description="a JSON Pointer, e.g. /pools")


class StateAnswer(Model):
    """A subtree (of the shape rockd.core.resources gives each part of it) and its revision."""

    rev: int
    value: Any


@routes.get("/api/v1/state", summary="A subtree of the state tree and its revision",
            query=StateQuery, response=StateAnswer)
async def state(request: web.Request, principal: Principal, query: StateQuery) -> web.Response:
    ctx = request.app[CONTEXT]
    try:
        tokens = pointer.parse(query.path)
    except pointer.PointerError as exc:
        raise BadRequest(str(exc), code="invalid_path") from None
    if not ctx.tree.exists(tokens):
        raise NotFound(f"nothing at {query.path}", code="not_found")
    rev = ctx.tree.rev
    body = {"rev": rev, "value": ctx.tree.get(tokens)}
    response = json_response(body)  # serialised now, before any other change
    await ctx.bus.durable(rev)
    return response
