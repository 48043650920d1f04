"""The rules a connection asked for must keep, checked against what the tree shows before
NetworkManager is told anything (the request's own shape is checked by its model)."""

from __future__ import annotations

import ipaddress
from typing import Any

from rockd.core.errors import BadRequest, Conflict

IPV6_MIN_MTU = 1280


def _bad(field: str, message: str) -> BadRequest:
    return BadRequest(message, code="invalid_field", detail={"field": field})


def check(intent: dict[str, Any], uuid: str | None, network: dict[str, Any]) -> None:
    """Raise 400 (or 409 where another connection holds the interface) unless `intent` can
    be made; `uuid` is the connection being changed (None: a new one)."""
    interfaces = network.get("interfaces") or {}
    connections = {k: v for k, v in (network.get("connections") or {}).items() if k != uuid}
    kind = intent.get("kind") or "ethernet"
    name = intent["interface"]
    method = intent["method"]
    nets = [ipaddress.ip_interface(a) for a in intent.get("addresses") or []]
    if method == "static" and not nets:
        raise _bad("addresses", "a static connection needs at least one address")
    if method != "static" and (nets or intent.get("gateway")):
        raise _bad("addresses", f"addresses and gateway are for method static, not {method}")
    gateway = intent.get("gateway")
    if gateway:
        gw = ipaddress.ip_address(gateway)
        if not any(n.version == gw.version and gw in n.network for n in nets):
            raise _bad("gateway", f"gateway {gateway} is in none of the addresses' networks")
    for n in nets:
        if n.version == 4 and n.network.prefixlen < 32 and n.ip in (
                n.network.network_address, n.network.broadcast_address):
            raise _bad("addresses", f"{n} is its network's own or broadcast address")
    mtu = intent.get("mtu")
    if mtu and any(n.version == 6 for n in nets) and mtu < IPV6_MIN_MTU:
        raise _bad("mtu", f"IPv6 needs an MTU of at least {IPV6_MIN_MTU}")
    for other in connections.values():
        if other["interface"] == name and not other["port_of"]:
            raise Conflict(f"connection {other['name']} ({other['id']}) is already "
                           f"{name}'s", code="interface_taken",
                           detail={"id": other["id"], "interface": name})
    if kind == "ethernet":
        if name not in interfaces:
            raise _bad("interface", f"there is no interface {name}")
        if interfaces[name]["type"] in ("bond", "vlan", "bridge", "loopback"):
            raise _bad("interface", f"{name} is a {interfaces[name]['type']}, not ethernet")
    elif name in interfaces and interfaces[name]["type"] != kind:
        raise _bad("interface", f"{name} is already a {interfaces[name]['type']}")
    members = (intent.get("bond") or {}).get("slaves", []) if kind == "bond" \
        else (intent.get("bridge") or {}).get("ports", []) if kind == "bridge" else []
    if kind == "bond" and not members:
        raise _bad("bond.slaves", "a bond needs at least one slave")
    if kind in ("bond", "bridge") and not intent.get(kind):
        raise _bad(kind, f"a {kind} needs its {kind!r} settings")
    for member in members:
        if member == name or member not in interfaces:
            raise _bad(kind, f"there is no interface {member} to add to {name}")
        taken = [c for c in connections.values() if c["interface"] == member
                 and c["port_of"] != name]
        if taken:
            where = f"in {taken[0]['port_of']}" if taken[0]["port_of"] \
                else f"connection {taken[0]['name']}'s: delete that first"
            raise Conflict(f"{member} is already {where}", code="interface_taken",
                           detail={"interface": member, "id": taken[0]["id"]})
    if kind == "vlan":
        vlan = intent.get("vlan") or {}
        if not vlan:
            raise _bad("vlan", "a VLAN needs its parent and id")
        if vlan["parent"] == name or (vlan["parent"] not in interfaces and not any(
                c["interface"] == vlan["parent"] for c in connections.values())):
            raise _bad("vlan.parent", f"there is no interface {vlan['parent']}")
    for key in ("bond", "vlan", "bridge"):
        if key != kind and intent.get(key):
            raise _bad(key, f"{key!r} is for a connection of kind {key}, not {kind}")
