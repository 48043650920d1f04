"""The network: interfaces and connections as NetworkManager reports them, and a change that
waits for confirmation before its rollback."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from rockd.core.resources.fields import Time


class Traffic(TypedDict):
    rx_bytes: int
    tx_bytes: int


class Interface(TypedDict):
    """/network/interfaces/{name}: a network device."""

    name: str
    type: Annotated[str, Field(description="ethernet, bond, vlan, bridge, loopback, ...")]
    state: Annotated[str, Field(description="NetworkManager's device state: unmanaged, "
                                "unavailable, disconnected, activating, activated, ...")]
    link: Annotated[Literal["up", "down", "no-carrier"], Field(
        description="administratively down; up without carrier; up with carrier")]
    speed: Annotated[int | None, Field(description="Mb/s; null when not known")]
    mac: str | None
    mtu: int | None
    addresses: Annotated[list[str], Field(description="address/prefix, IPv4 then IPv6")]
    gateway: str | None
    dns: list[str]
    connection: Annotated[str | None, Field(description="the active connection's id")]
    managed: bool
    traffic: Annotated[Traffic | None, Field(
        description="bytes counted since the device appeared, refreshed while watched")]


class Bond(TypedDict):
    mode: Literal["active-backup", "802.3ad"] | str
    slaves: list[str]


class Vlan(TypedDict):
    parent: str
    id: int


class Bridge(TypedDict):
    ports: list[str]


class NetworkConnection(TypedDict):
    """/network/connections/{id}: a NetworkManager connection profile (id: its uuid)."""

    id: str
    name: str
    interface: str | None
    kind: Annotated[str, Field(description="ethernet, bond, vlan, bridge, or another of "
                               "NetworkManager's types")]
    method: Annotated[Literal["dhcp", "static", "disabled", "other"], Field(
        description="other: a method rockd does not set (link-local, shared)")]
    addresses: list[str]
    gateway: str | None
    dns: list[str]
    mtu: int | None
    bond: Bond | None
    vlan: Vlan | None
    bridge: Bridge | None
    port_of: Annotated[str | None, Field(
        description="the bond or bridge interface this is a slave or port of")]
    active: bool


class Rollback(TypedDict):
    """A change applied under a checkpoint: reverted at `deadline` unless confirmed."""

    id: str
    deadline: Time
    seconds: int
    connection: str | None
    interface: str | None


class RollbackOutcome(TypedDict):
    id: str
    outcome: Literal["confirmed", "rolled_back"]
    at: Time


class Network(TypedDict):
    """/network."""

    running: Annotated[bool, Field(description="NetworkManager is on the bus and was read")]
    version: str | None
    interfaces: dict[str, Interface]
    connections: dict[str, NetworkConnection]
    pending: Rollback | None
    last_change: RollbackOutcome | None


class ConnectionAnswer(NetworkConnection, total=False):
    """A connection as a change answers it, with its rollback when it has one."""

    rollback: Rollback
