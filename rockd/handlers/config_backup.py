"""Settings backup and restore: GET /api/v1/config/backup (one JSON document of all intent),
POST /api/v1/config/restore (that document: each item applied or skipped with the reason).

Both need the write scope (the document names users, shares and addresses); a backup with
secrets (`?secrets=true`: password hashes, secret app values, this box's key pair) needs a
signed-in session, never a token.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import Field

from rockd.backup.document import Document, Outcome
from rockd.backup.files import Backups, file_name
from rockd.core.auth import WRITE, Principal
from rockd.core.errors import Forbidden
from rockd.core.models import Model
from rockd.core.times import utcnow
from rockd.handlers.routes import Routes

routes = Routes()

BACKUPS = web.AppKey("backups", Backups)


class BackupQuery(Model):
    secrets: Literal["true", "false"] = Field(
        default="false", description="true: with password hashes, secret app values and this "
        "box's replication key pair (a signed-in session only)")


def _writer(principal: Principal) -> None:
    if WRITE not in principal.scopes:
        raise Forbidden(f"this token lacks the {WRITE!r} scope", code="insufficient_scope")


@routes.get("/api/v1/config/backup", summary="The settings backup: one JSON document of all "
            "intent", query=BackupQuery, response=Document)
async def get_backup(request: web.Request, principal: Principal,
                     query: BackupQuery) -> web.Response:
    _writer(principal)
    secrets = query.secrets == "true"
    if secrets and principal.via != "session":
        raise Forbidden("a backup with secrets is for a signed-in session, not a token",
                        code="session_required")
    document = await request.app[BACKUPS].document(secrets)
    return web.Response(body=orjson.dumps(document, option=orjson.OPT_INDENT_2),
                        content_type="application/json", headers={
                            "Content-Disposition":
                                f'attachment; filename="{file_name(utcnow())}"',
                            "Cache-Control": "no-store"})


@routes.post("/api/v1/config/restore", summary="Restore a settings backup: each item made "
             "again, or skipped with the reason", body=Document, response=Outcome)
async def restore(request: web.Request, principal: Principal,
                  body: Document) -> dict[str, Any]:
    return await request.app[BACKUPS].restore(body)
