"""What NetworkManager knows, as the tree's `/network/interfaces` and `/network/connections`."""

from __future__ import annotations

import ipaddress
from typing import Any

from rockd.core.resources.network import Interface, NetworkConnection
from rockd.network.nm import NetworkManager
from rockd.network.profiles import connection_of

# NetworkManager's NMDeviceType and NMDeviceState, in words
TYPES = {1: "ethernet", 2: "wifi", 10: "bond", 11: "vlan", 13: "bridge", 14: "generic",
         15: "team", 16: "tun", 17: "ip-tunnel", 18: "macvlan", 19: "vxlan", 20: "ethernet",
         22: "dummy", 29: "wireguard", 32: "loopback"}
STATES = {0: "unknown", 10: "unmanaged", 20: "unavailable", 30: "disconnected", 40: "activating",
          50: "activating", 60: "activating", 70: "activating", 80: "activating",
          90: "activating", 100: "activated", 110: "deactivating", 120: "failed"}
FLAG_UP, FLAG_LOWER_UP, FLAG_CARRIER = 0x1, 0x2, 0x10000
ACTIVATED = 2  # NMActiveConnectionState


def _addresses(config: dict[str, Any]) -> list[str]:
    return [f"{a['address']}/{a['prefix']}" for a in config.get("AddressData", [])
            if "address" in a and "prefix" in a]


def _dns(four: dict[str, Any], six: dict[str, Any]) -> list[str]:
    found = [str(d["address"]) for d in four.get("NameserverData", []) if "address" in d]
    found += [str(ipaddress.IPv6Address(bytes(d))) for d in six.get("Nameservers", [])]
    return found


def _link(flags: int) -> str:
    if not flags & FLAG_UP:
        return "down"
    return "up" if flags & (FLAG_CARRIER | FLAG_LOWER_UP) else "no-carrier"


def interfaces(nm: NetworkManager) -> dict[str, Interface]:
    """Every device NetworkManager reports, by interface name."""
    found: dict[str, Interface] = {}
    shown = {s.get("connection", {}).get("uuid") for p, s in nm.profiles.items()
             if p not in nm.external}
    for props in nm.devices.values():
        name = props.get("Interface")
        if not name:
            continue
        four = nm.ip.get(props.get("Ip4Config", "/"), {})
        six = nm.ip.get(props.get("Ip6Config", "/"), {})
        active = nm.active.get(props.get("ActiveConnection", "/"), {})
        speed = props.get("Speed") or None
        traffic = None
        if "RxBytes" in props and props.get("RefreshRateMs"):
            traffic = {"rx_bytes": int(props["RxBytes"]), "tx_bytes": int(props["TxBytes"])}
        found[name] = {
            "name": name,
            "type": TYPES.get(props.get("DeviceType", 0), "other"),
            "state": STATES.get(props.get("State", 0), "unknown"),
            "link": _link(int(props.get("InterfaceFlags", 0))),  # type: ignore[typeddict-item]
            "speed": int(speed) if speed else None,
            "mac": props.get("HwAddress") or None,
            "mtu": props.get("Mtu") or None,
            "addresses": _addresses(four) + _addresses(six),
            "gateway": four.get("Gateway") or six.get("Gateway") or None,
            "dns": _dns(four, six),
            "connection": active.get("Uuid") if active.get("Uuid") in shown else None,
            "managed": bool(props.get("Managed", False)),
            "traffic": traffic,  # type: ignore[typeddict-item]
        }
    return found


def connections(nm: NetworkManager) -> dict[str, NetworkConnection]:
    """Every connection profile, by uuid (not those NetworkManager made itself of a device's
    configuration it found, like the loopback's)."""
    by_uuid = {s["connection"]["uuid"]: s for path, s in nm.profiles.items()
               if "uuid" in s.get("connection", {}) and path not in nm.external}
    active = {str(a.get("Uuid")) for a in nm.active.values() if a.get("State") == ACTIVATED}
    return {uuid: connection_of(s, by_uuid, active) for uuid, s in by_uuid.items()}


def profile_path(nm: NetworkManager, uuid: str) -> str | None:
    """The D-Bus object of the profile with this uuid."""
    for path, settings in nm.profiles.items():
        if settings.get("connection", {}).get("uuid") == uuid:
            return path
    return None


def device_path(nm: NetworkManager, name: str) -> str | None:
    for path, props in nm.devices.items():
        if props.get("Interface") == name:
            return path
    return None
