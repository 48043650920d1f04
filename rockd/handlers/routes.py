"""The route table: each endpoint declared once with the pydantic models that validate its input
and the type of its answer (a model, or a resource of rockd.core.resources).

The same declarations authenticate and validate every request and generate the OpenAPI 3.1
document, so the document cannot drift from what the server accepts. Answers are not checked
at run time: tests check real answers against the document.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, JsonSchemaValue

from rockd import __version__
from rockd.core.auth import READ, WRITE, Auth, Principal
from rockd.core.errors import BadRequest, Forbidden, PayloadTooLarge, Unauthorized
from rockd.core.models import validate

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


Handler = Callable[..., Awaitable[Any]]
H = TypeVar("H", bound=Handler)


@dataclass
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    """The success answer's type, for the document: a model, a resource of
    rockd.core.resources (a TypedDict), or a list or dict of one. Not checked at run time."""
    status: int = 200
    also: dict[int, Any] = field(default_factory=dict)
    """Other success statuses the route answers with, and their answers' types (a pool's
    disks: 200 the pool when added, 202 a job when removed)."""
    public: bool = False
    websocket: bool = False
    content_type: str = "application/json"  # of the success answer
    upload: str | None = None
    """The media type of a body the handler streams itself (an image file), for the
    document."""


PrincipalLookup = Callable[[web.Request], Principal | None]
PRINCIPAL: web.AppKey[PrincipalLookup] = web.AppKey("principal_lookup")
"""How `authorise` finds who a request comes from (set by the app)."""
ROUTE_TABLE = web.AppKey("route_table", list[Route])
"""Every route installed, for the OpenAPI document."""


class Routes:
    """A collection of routes; `install` adds them to an aiohttp app."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, path: str, *, summary: str,
              **options: Any) -> Callable[[H], H]:
        def register(handler: H) -> H:
            self.routes.append(Route(method, path, handler, summary, **options))
            return handler
        return register

    def get(self, path: str, **options: Any) -> Callable[[H], H]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[H], H]:
        return self.route("POST", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[H], H]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[H], H]:
        return self.route("DELETE", path, **options)

    def extend(self, other: Routes) -> None:
        self.routes.extend(other.routes)

    def install(self, app: web.Application) -> None:
        app[ROUTE_TABLE] = self.routes
        for route in self.routes:
            app.router.add_route(route.method, route.path, _wrap(route))


def _wrap(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, Any] = {}
        if not route.public:
            kwargs["principal"] = authorise(request, route.method)
        if route.query is not None:
            kwargs["query"] = validate(route.query, dict(request.query))
        if route.body is not None:
            kwargs["body"] = validate(route.body, await read_json(request))
        result = await route.handler(request, **kwargs)
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204 if route.status == 200 else route.status)
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        return json_response(result, status=route.status)

    endpoint.__name__ = route.handler.__name__
    return endpoint


def authorise(request: web.Request, method: str) -> Principal:
    """The request's principal, checked for scope and (for cookie writes) the CSRF header."""
    principal = request.app[PRINCIPAL](request)
    if principal is None:
        raise Unauthorized("authentication required")
    needed = WRITE if method in UNSAFE else READ
    if needed not in principal.scopes:
        raise Forbidden(f"this token lacks the {needed!r} scope", code="insufficient_scope")
    if (principal.via == "session" and method in UNSAFE
            and not Auth.csrf_ok(principal, request.headers.get("X-CSRF-Token"))):
        raise Forbidden("missing or wrong X-CSRF-Token header", code="csrf_failed")
    return principal


async def read_json(request: web.Request) -> Any:
    """The body as JSON: 400 where it is not JSON or not what its Content-Encoding says, 413
    where it is, or inflates to, more than the limit."""
    try:
        raw = await request.read()
    except web.RequestPayloadError:
        raise BadRequest("the body is malformed", code="malformed_body") from None
    raw = inflate(raw, request.headers.get("Content-Encoding"), request.client_max_size)
    if not raw:
        raise BadRequest("a JSON body is required", code="malformed_json")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="malformed_json") from None


ZLIB_WINDOWS = {"gzip": (31,), "x-gzip": (31,), "deflate": (15, -15)}
"""The Content-Encodings a body may have, as zlib's window bits ("deflate" is meant to be
zlib's format, and some clients send it raw)."""


def inflate(raw: bytes, encoding: str | None, limit: int) -> bytes:
    """`raw` decoded as its Content-Encoding says, inflated no further than `limit` bytes."""
    name = (encoding or "identity").strip().lower()
    if name == "identity":
        return raw
    if name not in ZLIB_WINDOWS:
        raise BadRequest(f"rockd decodes no body of Content-Encoding {encoding!r}",
                         code="malformed_body", detail={"accepted": sorted(ZLIB_WINDOWS)})
    for wbits in ZLIB_WINDOWS[name]:
        decoder = zlib.decompressobj(wbits)
        try:
            out = decoder.decompress(raw, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit:
            raise PayloadTooLarge(f"the body inflates to more than {limit} bytes",
                                  detail={"max_size": limit})
        if decoder.eof and not decoder.unused_data:
            return out
    raise BadRequest("the body is not what its Content-Encoding says", code="malformed_body")


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, content_type="application/json")


# -- OpenAPI -------------------------------------------------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "detail": {"type": "object"},
            },
        }
    },
}


Schemas = dict[tuple[Any, JsonSchemaMode], JsonSchemaValue]
"""Each model's (or response type's) schema, by (type, mode): a $ref where it is named."""


def _schemas(routes: list[Route]) -> tuple[Schemas, dict[str, JsonSchemaValue]]:
    """The schema of every body and response type of `routes`, and the named ones."""
    types = {t for r in routes for t in (r.body, r.response, *r.also.values()) if t is not None}
    mapping, defs = TypeAdapter.json_schemas(
        [(t, "validation", TypeAdapter(t)) for t in sorted(types, key=repr)],
        ref_template="#/components/schemas/{model}",
    )
    return mapping, dict(defs.get("$defs", {}))


def openapi(routes: list[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `routes`, schemas generated from their models."""
    mapping, schemas = _schemas(routes)
    schemas["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        op: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.handler.__name__,
            "tags": [route.path.split("/")[3] if route.path.count("/") >= 3 else "web"],
            "responses": _responses(route, mapping),
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", route.path)
        ]
        if route.query is not None:
            props = route.query.model_json_schema()["properties"]
            required = set(route.query.model_json_schema().get("required", []))
            params += [{"name": n, "in": "query", "required": n in required, "schema": s}
                       for n, s in props.items()]
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": mapping[route.body, "validation"]}},
            }
        elif route.upload is not None:
            op["requestBody"] = {"required": True, "content": {
                route.upload: {"schema": {"type": "string", "format": "binary"}}}}
        if route.public:
            op["security"] = []
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "rockd", "version": __version__,
                 "description": "The rockd NAS manager's REST API and state stream."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "rockd_session"},
                "token": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"session": []}, {"token": []}],
    }


def _responses(route: Route, mapping: Schemas) -> dict[str, Any]:
    error = {"description": "error", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if route.websocket:
        ok: dict[str, Any] = {"101": {"description": "switching to the websocket protocol"}}
    elif route.response is not None:
        ok = {str(status): {"description": "success", "content": {route.content_type: {
            "schema": mapping[answer, "validation"]}}}
            for status, answer in {route.status: route.response, **route.also}.items()}
    elif route.status in (200, 201):
        schema = {} if route.content_type == "application/json" else {"type": "string"}
        ok = {str(route.status): {"description": "success", "content": {route.content_type: {
            "schema": schema}}}}
    else:
        ok = {str(route.status): {"description": "success"}}
    codes = ["400"] if route.body or route.query or route.upload else []
    if route.body or route.upload:
        codes.append("413")
    if not route.public:
        codes += ["401", "403"]
    return {**ok, **{code: error for code in codes}, "default": error}
