"""Users and groups of the box (Unix accounts, with their Samba password and SFTP keys).

System accounts (uid < 1000) are listed but read-only: changing or deleting one is 403. So is
putting a user in a group that grants privilege (a system group, gid < 1000 or nogroup, or one
such as sudo, wheel or docker, or named by sudoers or polkit): 403 `system_group`. A deleted
user's home goes with it when rockd made it, and rockd gives its uid to no later user that
asks for no uid. A password is write-only: no answer, log or tree entry ever holds it or its
hash.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field, SecretStr

from rockd.accounts.rules import FIRST_ID, LAST_ID, MAX_PASSWORD
from rockd.accounts.users import Users
from rockd.core.auth import Principal
from rockd.core.models import Model, Name
from rockd.core.resources import Group, User
from rockd.handlers.context import CONTEXT
from rockd.handlers.routes import Routes

routes = Routes()

Password = Field(default=None, min_length=1, max_length=MAX_PASSWORD)
Keys = Field(default=None, max_length=256)
Groups = Field(default=None, max_length=256)


class UserUpdate(Model):
    password: SecretStr | None = Password
    group: Name | None = None
    groups: list[Name] | None = Groups
    shell: str | None = Field(default=None, max_length=256)
    ssh_keys: list[str] | None = Keys


class UserCreate(UserUpdate):
    name: Name
    uid: int | None = Field(default=None, ge=FIRST_ID, le=LAST_ID)


class GroupCreate(Model):
    name: Name
    gid: int | None = Field(default=None, ge=FIRST_ID, le=LAST_ID)


def _users(request: web.Request) -> Users:
    return request.app[CONTEXT].users


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@routes.get("/api/v1/users", summary="Every user (system accounts read-only)",
            response=list[User])
async def list_users(request: web.Request, principal: Principal) -> list[Any]:
    return _users(request).users()


@routes.get("/api/v1/users/{name}", summary="One user", response=User)
async def get_user(request: web.Request, principal: Principal) -> dict[str, Any]:
    return _users(request).get(request.match_info["name"])


@routes.post("/api/v1/users", summary="Create a user (its password also for Samba)",
             body=UserCreate, status=201, response=User)
async def create_user(request: web.Request, principal: Principal,
                      body: UserCreate) -> dict[str, Any]:
    return await _users(request).create(body.name, _secret(body.password), body.uid,
                                        body.group, body.groups or [], body.shell,
                                        body.ssh_keys or [])


@routes.patch("/api/v1/users/{name}",
              summary="Change a user's password, group, groups, shell or SSH keys",
              body=UserUpdate, response=User)
async def update_user(request: web.Request, principal: Principal,
                      body: UserUpdate) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if "password" in changes:
        changes["password"] = _secret(body.password)
    return await _users(request).update(request.match_info["name"], changes)


@routes.delete("/api/v1/users/{name}",
                summary="Delete a user (and the home rockd made for it)", status=204)
async def delete_user(request: web.Request, principal: Principal) -> None:
    await _users(request).delete(request.match_info["name"])


@routes.get("/api/v1/groups", summary="Every group (system groups read-only)",
            response=list[Group])
async def list_groups(request: web.Request, principal: Principal) -> list[Any]:
    return _users(request).groups()


@routes.get("/api/v1/groups/{name}", summary="One group", response=Group)
async def get_group(request: web.Request, principal: Principal) -> dict[str, Any]:
    return _users(request).get_group(request.match_info["name"])


@routes.post("/api/v1/groups", summary="Create a group", body=GroupCreate, status=201,
             response=Group)
async def create_group(request: web.Request, principal: Principal,
                       body: GroupCreate) -> dict[str, Any]:
    return await _users(request).create_group(body.name, body.gid)


@routes.delete("/api/v1/groups/{name}", summary="Delete a group", status=204)
async def delete_group(request: web.Request, principal: Principal) -> None:
    await _users(request).delete_group(request.match_info["name"])
