"""The event log over HTTP: GET /api/v1/events (pages), /api/v1/events/export (JSON lines),
and the audit: one middleware records every write request under /api/ (POST, PUT, PATCH,
DELETE; refused and failed ones too) with who made it, from where, the route, the id it was
about and how it ended. The entry is committed before the answer leaves, so an acknowledged
write is in the log even if rockd is killed right after. Bodies are never recorded: of a
sign-in only the name given is kept.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import Field

from rockd.core.auth import Principal
from rockd.core.errors import RockdError
from rockd.core.models import Model
from rockd.core.resources.events import EventPage
from rockd.events.log import EventLog, Filter
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import PRINCIPAL, UNSAFE, Routes

log = logging.getLogger(__name__)
routes = Routes()

EVENTS = web.AppKey("event_log", EventLog)
MAX_ID = (1 << 63) - 1  # SQLite's largest integer
SIGN_IN = {"/api/v1/auth/login", "/api/v1/setup"}  # their principal is the name given
MAX_ACTION = 200  # characters of a path kept where no route matched it


class EventsFilter(Model):
    since: int = Field(default=0, ge=0, le=MAX_ID, strict=False,
                       description="entries after this id")
    before: int | None = Field(default=None, ge=1, le=MAX_ID, strict=False, description=(
        "entries before this id; with it, the newest `limit` of them (still oldest first)"))
    kind: str | None = Field(default=None, max_length=64, description="audit, disk_gone...")
    resource: str | None = Field(default=None, max_length=256, description="exactly this id")
    principal: str | None = Field(default=None, max_length=256, description="exactly this")
    text: str | None = Field(default=None, max_length=256,
                             description="in the message, principal, address, action or id")

    def filter(self) -> Filter:
        return Filter(self.since, self.before, self.kind, self.resource, self.principal,
                      self.text)


class EventsQuery(EventsFilter):
    limit: int = Field(default=100, ge=1, le=1000, strict=False)


@routes.get("/api/v1/events", summary="The event log, oldest first: writes (kind audit) and "
            "system events; page with `since` = the answer's `next`",
            query=EventsQuery, response=EventPage)
async def list_events(request: web.Request, principal: Principal,
                      query: EventsQuery) -> EventPage:
    items, after = await request.app[EVENTS].query(query.filter(), query.limit)
    return {"items": items, "next": after}


@routes.get("/api/v1/events/export", summary="Every entry the filter selects, oldest first, "
            "as JSON lines (one event object per line), to download",
            query=EventsFilter, content_type="application/x-ndjson")
async def export_events(request: web.Request, principal: Principal,
                        query: EventsFilter) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "application/x-ndjson",
        "Content-Disposition": 'attachment; filename="rockd-events.ndjson"'})
    await response.prepare(request)
    lines: list[bytes] = []
    async for event in request.app[EVENTS].export(query.filter()):
        lines.append(orjson.dumps(event) + b"\n")
        if len(lines) >= 500:
            await response.write(b"".join(lines))
            lines.clear()
    await response.write(b"".join(lines))
    await response.write_eof()
    return response


# -- the audit -----------------------------------------------------------------------------------

def audit() -> Any:
    """The middleware recording each write request (place it outside the error middleware, so
    that it sees every answer as the client gets it)."""
    token_names: dict[str, str] = {}  # token id -> its name: a token is never renamed

    @web.middleware
    async def audited(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in UNSAFE or not request.path.startswith("/api/"):
            return await handler(request)
        name = _name_before(request)  # what a delete removes is gone after it
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # what the error middleware lets through (< 400)
            await _record(request, exc.status, None, token_names, name)
            raise
        await _record(request, response.status,
                      response if isinstance(response, web.Response) else None, token_names,
                      name)
        return response

    return audited


def _name_before(request: web.Request) -> str | None:
    """The name of the thing the path's id is of, from the tree (/shares/{id} -> its name)."""
    info = request.match_info
    if "id" not in info:
        return None
    parts = request.path.split("/")
    try:
        collection = parts[parts.index(info["id"]) - 1]
    except ValueError:
        return None
    name = request.app[CONTEXT].tree.get((collection, info["id"], "name"))
    return name if isinstance(name, str) else None


async def _record(request: web.Request, status: int, response: web.Response | None,
                  token_names: dict[str, str], name: str | None) -> None:
    route = request.match_info.route.resource
    action = f"{request.method} {route.canonical if route else request.path[:MAX_ACTION]}"
    answer = _json(response)
    problem = answer.get("error") if status >= 400 else None
    error = problem.get("code") if isinstance(problem, dict) else None
    who = await _principal(request, token_names)
    resource = "/".join(request.match_info.values()) or (
        _made(answer) if status < 300 else None)
    if name is None and status < 300 and isinstance(answer.get("name"), str):
        name = answer["name"]
    entry = {"principal": who, "address": request.remote, "action": action,
             "resource": resource, "result": {"status": status, "error": error}}
    try:
        await request.app[EVENTS].append("audit", _message(request, who, status, error, name),
                                         **entry)
    except Exception:
        log.exception("the audit of %s could not be recorded", action)


def _json(response: web.Response | None) -> dict[str, Any]:
    """The answer's JSON object (an error's, a made thing's), or {}; never kept whole."""
    if response is None or response.content_type != "application/json":
        return {}
    body = response.body
    if not isinstance(body, bytes | bytearray) or not body:
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _made(answer: dict[str, Any]) -> str | None:
    """The id of what a request made: the answer's id or name, or its job's id."""
    for value in (answer.get("id"), answer.get("name"), (answer.get("job") or {}).get("id")):
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
    return None


async def _principal(request: web.Request, token_names: dict[str, str]) -> str | None:
    """Who made the request: a user, 'USER (token NAME)', or for a sign-in the name given."""
    if request.path in SIGN_IN:
        try:
            name = orjson.loads(await request.read()).get("username")
        except Exception:
            return None
        return name[:64] if isinstance(name, str) else None
    try:
        principal = request.app[PRINCIPAL](request)
    except RockdError:
        return None
    if principal is None:
        return None
    if principal.via != "token":
        return principal.user
    return f"{principal.user} (token {await _token_name(request, principal, token_names)})"


async def _token_name(request: web.Request, principal: Principal,
                      token_names: dict[str, str]) -> str:
    token_id = principal.credential
    if token_id not in token_names:
        for token in await request.app[CONTEXT].auth.list_tokens(principal.user):
            token_names[token["id"]] = token["name"]
    return token_names.get(token_id, token_id)


def _message(request: web.Request, who: str | None, status: int, error: str | None,
             name: str | None) -> str:
    """The entry in words."""
    if request.path in SIGN_IN:
        name = who or "an unnamed user"
        if status < 300:
            return f"{name} signed in from {request.remote}."
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            return f"Sign-in as {name} from {request.remote} refused: too many attempts."
        return f"Sign-in as {name} from {request.remote} failed ({error or status})."
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    outcome = f"{status} {phrase}".strip() + (f" ({error})" if error else "")
    about = f" ({name})" if name else ""
    return (f"{who or 'An unauthenticated client'}: {request.method} {request.path}{about}: "
            f"{outcome}.")
