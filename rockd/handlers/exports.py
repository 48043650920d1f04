"""Exports of shares over Samba, NFS and SFTP: /api/v1/exports/{kind}[/{id}], and the fix an
export that its users cannot write to offers: POST /api/v1/shares/{id}/writers.

Each kind brings its own request models and its resource type (rockd.core.resources), so its
routes are declared from them: the same declaration validates, authenticates and documents
(OpenAPI) as everywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import GenericAlias
from typing import Any, Literal

from aiohttp import web

from rockd.core.auth import Principal
from rockd.core.models import Model, Name
from rockd.core.resources import Share
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes
from rockd.services.exports import ExportKind, Exports, Record


def _exports(request: web.Request) -> Exports:
    return request.app[CONTEXT].exports


def _declare(routes: Routes, kind: type[ExportKind]) -> None:
    name = kind.kind
    base = f"/api/v1/exports/{name}"

    async def list_exports(request: web.Request, principal: Principal) -> list[Record]:
        return _exports(request).of_kind(name)

    async def get_export(request: web.Request, principal: Principal) -> Record:
        return _exports(request).get(name, request.match_info["id"])

    async def create_export(request: web.Request, principal: Principal, body: Model) -> Record:
        return await _exports(request).create(name, body.model_dump())

    async def update_export(request: web.Request, principal: Principal, body: Model) -> Record:
        # the fields given, each whole (with its own nested defaults, e.g. an NFS client's)
        changes = {k: v for k, v in body.model_dump().items() if k in body.model_fields_set}
        return await _exports(request).update(name, request.match_info["id"], changes)

    async def delete_export(request: web.Request, principal: Principal) -> None:
        await _exports(request).delete(name, request.match_info["id"])

    for handler in (list_exports, get_export, create_export, update_export, delete_export):
        handler.__name__ = f"{handler.__name__}_{name}"
    resource = kind.resource  # the kind's TypedDict, as the tree and the answers show it
    routes.get(base, summary=f"Every {name} export",
               response=GenericAlias(list, (resource,)))(list_exports)
    routes.get(f"{base}/{{id}}", summary=f"One {name} export", response=resource)(get_export)
    routes.post(base, summary=f"Export a share over {name}", body=kind.create_model,
                status=201, response=resource)(create_export)
    routes.patch(f"{base}/{{id}}", summary=f"Change a {name} export",
                 body=kind.update_model, response=resource)(update_export)
    routes.delete(f"{base}/{{id}}", summary=f"Stop exporting a share over {name}",
                  status=204)(delete_export)


class LetWrite(Model):
    user: Name
    how: Literal["owner", "group", "acl"]


async def let_write(request: web.Request, principal: Principal,
                    body: LetWrite) -> dict[str, Any]:
    return await request.app[CONTEXT].shares.let_write(request.match_info["id"], body.user,
                                                       body.how)


def routes_for(kinds: Iterable[type[ExportKind]]) -> Routes:
    routes = Routes()
    routes.post("/api/v1/shares/{id}/writers",
                summary="Let a user write to a share's root folder: as its owner, through "
                        "their group, or by an ACL entry", body=LetWrite,
                response=Share)(let_write)
    for kind in kinds:
        _declare(routes, kind)
    return routes
