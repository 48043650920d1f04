"""Middleware: who is asking, the API's error shape for every failure, security headers."""

from __future__ import annotations

import errno
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from rockd.core.auth import Principal
from rockd.core.errors import (
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RockdError,
    Unauthorized,
    Unprocessable,
)
from rockd.core.process import CommandError
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import json_response

log = logging.getLogger(__name__)

SESSION_COOKIE = "rockd_session"


def principal_of(request: web.Request) -> Principal | None:
    """The user behind a request: a bearer token, else the session cookie."""
    auth = request.app[CONTEXT].auth
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret:
            raise Unauthorized("the Authorization header must be 'Bearer TOKEN'",
                               code="bad_token")
        principal = auth.by_token(secret.strip())
        if principal is None:
            raise Unauthorized("unknown or revoked token", code="bad_token")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    return auth.by_session(cookie) if cookie else None


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into `{"error": {...}}` with the API's status codes."""
    try:
        response = await handler(request)
    except RockdError as exc:
        return _error(exc)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[CONTEXT].settings.max_body
        return _error(PayloadTooLarge(f"the body exceeds {limit} bytes",
                                      detail={"max_size": limit}))
    except web.HTTPMethodNotAllowed as exc:
        response = _error(MethodNotAllowed(f"{request.method} is not allowed here",
                                           detail={"allowed": sorted(exc.allowed_methods)}))
        response.headers["Allow"] = ",".join(sorted(exc.allowed_methods))
        return response
    except web.HTTPNotFound:
        return _error(NotFound(f"no such resource: {request.path}"))
    except CommandError as exc:
        return _error(_command_error(exc))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return _error(Unprocessable("the pool is full", code="no_space"))
        log.exception("unhandled error in %s %s", request.method, request.path)
        return _error(RockdError("internal error; see the daemon's log"))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = RockdError(exc.reason, code=exc.reason.lower().replace(" ", "_"))
        error.status = exc.status
        return _error(error)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return _error(RockdError("internal error; see the daemon's log"))
    return response


def _command_error(exc: CommandError) -> RockdError:
    """A system command that failed: 422 when the pool is full, else 500 with its words."""
    if "No space left" in exc.stderr:
        return Unprocessable("the pool is full", code="no_space", detail={"command": exc.argv[0]})
    log.error("%s failed: %s", exc.argv[:3], exc.stderr)
    return RockdError(f"{exc.argv[0]} failed: {exc.stderr or 'no message'}",
                      code="command_failed")


def _error(exc: RockdError) -> web.Response:
    return json_response(exc.body(), status=exc.status)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    secure(response, api=request.path.startswith("/api/"))
    return response


def secure(response: web.StreamResponse, api: bool) -> None:
    """The headers every answer carries (those it does not set itself)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if api:
        response.headers.setdefault("Cache-Control", "no-store")
