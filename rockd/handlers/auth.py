"""Authentication endpoints: first-run setup, login, logout, the session, API tokens."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from rockd.core.auth import SESSION_SECONDS, Principal
from rockd.core.errors import BadRequest
from rockd.core.models import Model, Name
from rockd.handlers.context import CONTEXT
from rockd.handlers.middleware import SESSION_COOKIE
from rockd.handlers.routes import Routes, json_response

routes = Routes()

Password = Field(min_length=8, max_length=1024)


class Credentials(Model):
    username: Name
    password: str = Password


class LoginFields(Model):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(Model):
    name: str


class SessionOut(Model):
    user: UserOut
    csrf: str


class TokenCreate(Model):
    name: Name
    scopes: list[Literal["read", "write"]] = Field(min_length=1)


class TokenCreated(Model):
    id: str
    name: str
    scopes: list[str]
    token: str


class TokenInfo(Model):
    id: str
    name: str
    scopes: list[str]
    created: str


class TokenList(Model):
    tokens: list[TokenInfo]


def _session_response(request: web.Request, user: str, secret: str, csrf: str,
                      status: int) -> web.Response:
    response = json_response({"user": {"name": user}, "csrf": csrf}, status=status)
    response.set_cookie(SESSION_COOKIE, secret, max_age=SESSION_SECONDS, path="/",
                        httponly=True, samesite="Strict", secure=request.secure)
    return response


@routes.post("/api/v1/setup", summary="Create the first user (only while there is none)",
             body=Credentials, response=SessionOut, status=201, public=True)
async def setup(request: web.Request, body: Credentials) -> web.Response:
    auth = request.app[CONTEXT].auth
    secret, csrf = await auth.setup(body.username, body.password)
    return _session_response(request, body.username, secret, csrf, 201)


@routes.post("/api/v1/auth/login", summary="Log in; sets the session cookie",
             body=LoginFields, response=SessionOut, public=True)
async def login(request: web.Request, body: LoginFields) -> web.Response:
    auth = request.app[CONTEXT].auth
    secret, csrf = await auth.login(body.username, body.password, request.remote or "")
    return _session_response(request, body.username, secret, csrf, 200)


@routes.post("/api/v1/auth/logout", summary="End this session", status=204)
async def logout(request: web.Request, principal: Principal) -> web.Response:
    await request.app[CONTEXT].auth.logout(principal)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/api/v1/auth/session", summary="Who this session is, and its CSRF token",
            response=SessionOut)
async def session(request: web.Request, principal: Principal) -> SessionOut:
    return SessionOut(user=UserOut(name=principal.user), csrf=principal.csrf)


@routes.post("/api/v1/tokens", summary="Create an API token (shown once)",
             body=TokenCreate, response=TokenCreated, status=201)
async def create_token(request: web.Request, principal: Principal,
                       body: TokenCreate) -> dict[str, Any]:
    if "write" in body.scopes and "read" not in body.scopes:
        raise BadRequest("a write token needs the read scope too", code="invalid_field")
    return await request.app[CONTEXT].auth.create_token(principal.user, body.name, body.scopes)


@routes.get("/api/v1/tokens", summary="The API tokens of this user (never their secrets)",
            response=TokenList)
async def list_tokens(request: web.Request, principal: Principal) -> dict[str, Any]:
    return {"tokens": await request.app[CONTEXT].auth.list_tokens(principal.user)}


@routes.delete("/api/v1/tokens/{id}", summary="Revoke an API token", status=204)
async def delete_token(request: web.Request, principal: Principal) -> None:
    await request.app[CONTEXT].auth.delete_token(principal.user, request.match_info["id"])
