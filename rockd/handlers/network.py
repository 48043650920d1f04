"""The network: interfaces and connections through NetworkManager, and confirming (or rolling
back at once) a change made under a rollback timer."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, Field

from rockd.core.auth import Principal
from rockd.core.models import Model
from rockd.core.resources.network import ConnectionAnswer, Interface, NetworkConnection, Rollback
from rockd.handlers.routes import Routes, json_response
from rockd.network.network import Network

routes = Routes()

NETWORK = web.AppKey("network", Network)
IFNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")


def _ifname(value: str) -> str:
    if not IFNAME.fullmatch(value):
        raise ValueError("must be an interface name: 1 to 15 letters, digits, '_', '.' or "
                         "'-', not starting with a symbol")
    return value


def _cidr(value: str) -> str:
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise ValueError("must be an address with its prefix, like 192.0.2.5/24") from None
    if "/" not in value:
        raise ValueError("must give the prefix, like 192.0.2.5/24")
    if iface.ip.is_multicast or iface.ip.is_unspecified or iface.ip.is_loopback:
        raise ValueError("must be a unicast address")
    return str(iface)


def _ip(value: str) -> str:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError("must be an IPv4 or IPv6 address") from None
    if ip.is_multicast or ip.is_unspecified:
        raise ValueError("must be a unicast address")
    return str(ip)


IfName = Annotated[str, Field(max_length=15), AfterValidator(_ifname)]
Cidr = Annotated[str, Field(max_length=64), AfterValidator(_cidr)]
Ip = Annotated[str, Field(max_length=45), AfterValidator(_ip)]
Mtu = Annotated[int, Field(ge=576, le=9216)]
Seconds = Annotated[int, Field(ge=10, le=600, description="the rollback timer, seconds")]


class BondIn(Model):
    mode: Literal["active-backup", "802.3ad"]
    slaves: list[IfName] = Field(min_length=1, max_length=8)


class VlanIn(Model):
    parent: IfName
    id: int = Field(ge=1, le=4094)


class BridgeIn(Model):
    ports: list[IfName] = Field(default_factory=list, max_length=8)


class Changes(Model):
    """What a PATCH changes (the rest stays)."""

    method: Literal["dhcp", "static", "disabled"] | None = None
    addresses: list[Cidr] | None = Field(default=None, max_length=16)
    gateway: Ip | None = None
    dns: list[Ip] | None = Field(default=None, max_length=8)
    mtu: Mtu | None = None
    bond: BondIn | None = None
    vlan: VlanIn | None = None
    bridge: BridgeIn | None = None
    confirm_within: Seconds | None = Field(
        default=None, description="apply under a rollback timer of this many seconds even "
        "if the change does not touch the interface the request came in on")


class ConnectionIn(Changes):
    interface: IfName
    method: Literal["dhcp", "static", "disabled"]
    kind: Literal["ethernet", "bond", "vlan", "bridge"] = "ethernet"
    name: str | None = Field(default=None, min_length=1, max_length=64,
                             pattern=r"^[^\x00-\x1f/]+$")


class Confirm(Model):
    id: str = Field(min_length=1, max_length=32, pattern=r"^[0-9]+$",
                    description="the pending change's id (/network/pending/id)")


class DeleteAnswer(Model):
    rollback: Rollback = Field(description="the pending change: kept only if confirmed")


def _network(request: web.Request) -> Network:
    return request.app[NETWORK]


def _came_on(request: web.Request) -> str | None:
    """The interface carrying the request (its local address's)."""
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    if not sock:
        return None
    return _network(request).interface_of_address(str(sock[0]))


def _intent(body: Changes) -> dict[str, Any]:
    intent = body.model_dump(exclude_unset=True, exclude={"confirm_within"})
    for key in ("bond", "vlan", "bridge"):
        if key in intent and intent[key] is None:
            del intent[key]
    return intent


@routes.get("/api/v1/network/interfaces", summary="The network interfaces",
            response=dict[str, Interface])
async def list_interfaces(request: web.Request, principal: Principal) -> Any:
    return _network(request).subtree.get("/network/interfaces") or {}


@routes.get("/api/v1/network/connections", summary="The network connections (by id, the uuid)",
            response=dict[str, NetworkConnection])
async def list_connections(request: web.Request, principal: Principal) -> Any:
    return _network(request).subtree.get("/network/connections") or {}


@routes.post("/api/v1/network/connections", summary="Add a connection and activate it "
             "(under a rollback timer if it could cut this client off)",
             body=ConnectionIn, response=ConnectionAnswer, status=201)
async def create_connection(request: web.Request, principal: Principal,
                            body: ConnectionIn) -> ConnectionAnswer:
    intent = _intent(body)
    intent.setdefault("kind", "ethernet")
    return await _network(request).create(intent, _came_on(request), body.confirm_within)


@routes.patch("/api/v1/network/connections/{id}", summary="Change a connection and apply it "
              "(under a rollback timer if it could cut this client off)",
              body=Changes, response=ConnectionAnswer)
async def update_connection(request: web.Request, principal: Principal,
                            body: Changes) -> ConnectionAnswer:
    return await _network(request).update(request.match_info["id"], _intent(body),
                                          _came_on(request), body.confirm_within)


@routes.delete("/api/v1/network/connections/{id}", summary="Delete a connection (204; 200 "
               "with the rollback when it could cut this client off)", status=204,
               also={200: DeleteAnswer})
async def delete_connection(request: web.Request, principal: Principal) -> web.Response | None:
    rollback = await _network(request).delete(request.match_info["id"], _came_on(request), None)
    if rollback is None:
        return None
    return json_response({"rollback": rollback})


@routes.post("/api/v1/network/confirm", summary="Keep the pending network change (from the "
             "new address); it is rolled back at its deadline otherwise", body=Confirm,
             status=204)
async def confirm(request: web.Request, principal: Principal, body: Confirm) -> None:
    await _network(request).confirm(body.id)


@routes.post("/api/v1/network/revert", summary="Roll the pending network change back now",
             body=Confirm, status=204)
async def revert(request: web.Request, principal: Principal, body: Confirm) -> None:
    await _network(request).revert(body.id)

