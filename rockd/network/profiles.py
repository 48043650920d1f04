"""NetworkManager's connection settings (a{sa{sv}}) read as rockd's connections, and a
connection rockd is asked for written as those settings.

A connection's intent is a dict: `interface`, `kind` (ethernet, bond, vlan, bridge), `method`
(dhcp: DHCPv4 and IPv6 autoconfiguration; static: the `addresses` given, IPv4 and IPv6, with
`gateway` and `dns`; disabled: no IP at all), `mtu`, and for a bond `bond` {mode, slaves}, a
VLAN `vlan` {parent, id}, a bridge `bridge` {ports}. Slaves and ports get profiles of their own
(ethernet, with `master` and `slave-type`), which the bond's or bridge's connection lists.
"""

from __future__ import annotations

import ipaddress
import uuid as uuids
from typing import Any

from dbus_fast import DBusError, Variant

from rockd.core.errors import BadRequest, Conflict
from rockd.core.resources.network import NetworkConnection

KINDS = {"802-3-ethernet": "ethernet", "bond": "bond", "vlan": "vlan", "bridge": "bridge"}
NM_TYPES = {kind: nm for nm, kind in KINDS.items()}
IPV4_METHODS = {"auto": "dhcp", "manual": "static", "disabled": "disabled"}
IPV6_OFF = ("disabled", "ignore")


def _dns4(values: list[int]) -> list[str]:
    return [str(ipaddress.IPv4Address(v.to_bytes(4, "little"))) for v in values]


def _dns6(values: list[Any]) -> list[str]:
    return [str(ipaddress.IPv6Address(bytes(v))) for v in values]


def _method(ipv4: dict[str, Any], ipv6: dict[str, Any]) -> str:
    four = ipv4.get("method", "disabled")
    six = ipv6.get("method", "ignore")
    if four == "manual" or (four == "disabled" and six == "manual"):
        return "static"
    if four == "auto" or (four == "disabled" and six in ("auto", "dhcp")):
        return "dhcp"
    if four == "disabled" and six in IPV6_OFF:
        return "disabled"
    return "other"


def master_of(settings: dict[str, Any], by_uuid: dict[str, dict[str, Any]]) -> str | None:
    """The interface name of the bond or bridge a profile is a slave or port of."""
    master = settings.get("connection", {}).get("master")
    if not master:
        return None
    other = by_uuid.get(master)
    if other is not None:
        return str(other.get("connection", {}).get("interface-name") or master)
    return str(master)


def connection_of(settings: dict[str, Any], by_uuid: dict[str, dict[str, Any]],
                  active: set[str]) -> NetworkConnection:
    """rockd's view of one profile; `by_uuid` every profile (for slaves and masters)."""
    conn = settings.get("connection", {})
    uuid = str(conn.get("uuid"))
    ifname = conn.get("interface-name") or None
    ipv4, ipv6 = settings.get("ipv4", {}), settings.get("ipv6", {})
    kind = KINDS.get(conn.get("type", ""), conn.get("type", "other"))
    addresses = [f"{a['address']}/{a['prefix']}" for a in ipv4.get("address-data", [])]
    addresses += [f"{a['address']}/{a['prefix']}" for a in ipv6.get("address-data", [])]
    gateway = ipv4.get("gateway") or ipv6.get("gateway") or None
    mtu = settings.get("802-3-ethernet", {}).get("mtu") or None

    def members(slave_type: str) -> list[str]:
        return sorted(str(s["connection"].get("interface-name"))
                      for s in by_uuid.values()
                      if s["connection"].get("slave-type") == slave_type
                      and s["connection"].get("master") in (uuid, ifname)
                      and s["connection"].get("interface-name"))

    bond = bridge = vlan = None
    if kind == "bond":
        bond = {"mode": settings.get("bond", {}).get("options", {}).get("mode", "balance-rr"),
                "slaves": members("bond")}
    elif kind == "bridge":
        bridge = {"ports": members("bridge")}
    elif kind == "vlan":
        vlan = {"parent": str(settings.get("vlan", {}).get("parent", "")),
                "id": int(settings.get("vlan", {}).get("id", 0))}
    return {
        "id": uuid, "name": str(conn.get("id", uuid)), "interface": ifname, "kind": kind,
        "method": "disabled" if conn.get("master") else _method(ipv4, ipv6),  # type: ignore[typeddict-item]
        "addresses": addresses, "gateway": gateway,
        "dns": _dns4(ipv4.get("dns", [])) + _dns6(ipv6.get("dns", [])),
        "mtu": mtu, "bond": bond, "vlan": vlan, "bridge": bridge,  # type: ignore[typeddict-item]
        "port_of": master_of(settings, by_uuid), "active": uuid in active,
    }


# -- rockd's intent as NetworkManager's settings ---------------------------------------------

def _ip_sections(intent: dict[str, Any]) -> dict[str, dict[str, Variant]]:
    method = intent["method"]
    if method == "dhcp":
        ipv4 = {"method": Variant("s", "auto")}
        ipv6 = {"method": Variant("s", "auto")}
    elif method == "disabled":
        ipv4 = {"method": Variant("s", "disabled")}
        ipv6 = {"method": Variant("s", "disabled")}
    else:
        nets = [ipaddress.ip_interface(a) for a in intent.get("addresses") or []]
        four = [n for n in nets if n.version == 4]
        six = [n for n in nets if n.version == 6]
        ipv4 = {"method": Variant("s", "manual" if four else "disabled")}
        ipv6 = {"method": Variant("s", "manual" if six else "disabled")}
        for section, found in ((ipv4, four), (ipv6, six)):
            if found:
                section["address-data"] = Variant("aa{sv}", [
                    {"address": Variant("s", str(n.ip)),
                     "prefix": Variant("u", n.network.prefixlen)} for n in found])
        gateway = intent.get("gateway")
        if gateway:
            version = ipaddress.ip_address(gateway).version
            (ipv4 if version == 4 else ipv6)["gateway"] = Variant("s", gateway)
    servers = [ipaddress.ip_address(d) for d in intent.get("dns") or []]
    if servers and method != "disabled":
        four_dns = [int.from_bytes(s.packed, "little") for s in servers if s.version == 4]
        six_dns = [s.packed for s in servers if s.version == 6]
        if four_dns:
            ipv4["dns"] = Variant("au", four_dns)
        if six_dns:
            ipv6["dns"] = Variant("aay", six_dns)
    return {"ipv4": ipv4, "ipv6": ipv6}


def settings_for(intent: dict[str, Any], uuid: str | None = None,
                 name: str | None = None) -> dict[str, dict[str, Variant]]:
    """The settings of the connection `intent` asks for (a new uuid unless given)."""
    kind = intent.get("kind") or "ethernet"
    ifname = intent["interface"]
    settings: dict[str, dict[str, Variant]] = {
        "connection": {
            "id": Variant("s", name or intent.get("name") or ifname),
            "uuid": Variant("s", uuid or str(uuids.uuid4())),
            "type": Variant("s", NM_TYPES[kind]),
            "interface-name": Variant("s", ifname),
            "autoconnect": Variant("b", True),
        },
        **_ip_sections(intent),
    }
    if intent.get("mtu"):
        settings["802-3-ethernet"] = {"mtu": Variant("u", int(intent["mtu"]))}
    if kind == "bond":
        settings["bond"] = {"options": Variant("a{ss}", {
            "mode": intent["bond"]["mode"], "miimon": "100"})}
    elif kind == "vlan":
        settings["vlan"] = {"parent": Variant("s", intent["vlan"]["parent"]),
                            "id": Variant("u", int(intent["vlan"]["id"]))}
    elif kind == "bridge":
        settings["bridge"] = {"stp": Variant("b", False)}
    return settings


def member_settings(ifname: str, master: str, slave_type: str) -> dict[str, dict[str, Variant]]:
    """A slave's (of a bond) or port's (of a bridge) own profile."""
    return {"connection": {
        "id": Variant("s", f"{master}-{slave_type}-{ifname}"),
        "uuid": Variant("s", str(uuids.uuid4())),
        "type": Variant("s", "802-3-ethernet"),
        "interface-name": Variant("s", ifname),
        "master": Variant("s", master),
        "slave-type": Variant("s", slave_type),
        "autoconnect": Variant("b", True),
    }}


def intent_of(conn: NetworkConnection) -> dict[str, Any]:
    """A connection as shown, as the intent a change starts from."""
    shown: dict[str, Any] = dict(conn)
    intent = {k: shown[k] for k in (
        "name", "interface", "kind", "method", "addresses", "gateway", "dns", "mtu")}
    for key in ("bond", "vlan", "bridge"):
        if shown[key]:
            intent[key] = dict(shown[key])
    return intent


def refused(exc: DBusError) -> BadRequest | Conflict:
    """NetworkManager's refusal as the API's error."""
    text = exc.text or exc.type
    if "InvalidProperty" in exc.type or "InvalidSetting" in exc.type \
            or "InvalidArguments" in exc.type:
        return BadRequest(f"NetworkManager refused the settings: {text}", code="invalid_field")
    return Conflict(f"NetworkManager refused: {text}", code="network_refused")


def merged(raw: dict[str, dict[str, Variant]], new: dict[str, dict[str, Variant]]
           ) -> dict[str, dict[str, Variant]]:
    """The profile's settings as they were (`raw`, with NetworkManager's variants), with the
    sections rockd sets replaced and its connection keys updated."""
    out = {name: dict(section) for name, section in raw.items()}
    out["connection"] = {**out.get("connection", {}), **new["connection"]}
    out["connection"].pop("id", None)
    out["connection"]["id"] = raw["connection"]["id"]
    for section in ("ipv4", "ipv6"):
        out[section] = new[section]
    wired = {k: v for k, v in out.get("802-3-ethernet", {}).items() if k != "mtu"}
    wired.update(new.get("802-3-ethernet", {}))
    if wired:
        out["802-3-ethernet"] = wired
    else:
        out.pop("802-3-ethernet", None)
    for section in ("bond", "vlan", "bridge"):
        if section in new:
            out[section] = {**out.get(section, {}), **new[section]}
    return out
