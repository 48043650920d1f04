"""The host: hostname, versions and the latest metrics."""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from rockd.core.resources.fields import Time


class Metrics(TypedDict):
    """One sample of the host's metrics; rates are bytes per second."""

    time: Annotated[float, Field(description="unix seconds")]
    cpu: Annotated[float, Field(description="busy fraction of all CPUs, 0..1")]
    memory_used: int
    memory_total: int
    net_rx: int
    net_tx: int
    disk_read: int
    disk_write: int


class Versions(TypedDict):
    rockd: str
    python: str
    aiohttp: str
    btrfs_progs: str | None


class Tls(TypedDict):
    """/system/tls: whether rockd serves HTTPS, and the certificate it presents."""

    enabled: bool
    source: NotRequired[Annotated[Literal["files", "uploaded", "self-signed"], Field(
        description="the --tls-cert files, one uploaded, or the one rockd made")]]
    subject: NotRequired[str]
    names: NotRequired[Annotated[list[str], Field(
        description="the DNS names and IP addresses it is for (subject alternative names)")]]
    issuer: NotRequired[str]
    not_before: NotRequired[Time]
    not_after: NotRequired[Time]
    self_signed: NotRequired[bool]
    fingerprint: NotRequired[Annotated[str, Field(description="SHA-256, hex pairs")]]
    chain_length: NotRequired[int]


class SystemTime(TypedDict):
    """/system/time: the time zone, the NTP servers rockd gave chrony, and the clock's state as
    chrony reports it (`synchronized` false and `error` set where chronyd cannot be asked)."""

    timezone: Annotated[str, Field(description="an IANA zone, e.g. Europe/Paris")]
    ntp_servers: list[str]
    synchronized: bool
    reference: NotRequired[Annotated[str | None, Field(
        description="the source the clock follows (name or address), none when unsynchronized")]]
    stratum: NotRequired[int | None]
    offset: NotRequired[Annotated[float | None, Field(
        description="seconds the clock is off the source (positive: fast)")]]
    leap: NotRequired[str | None]
    error: NotRequired[str]


class PowerState(TypedDict):
    """/system/power: a reboot or shutdown under way (pending none when there is none)."""

    pending: Literal["reboot", "shutdown"] | None
    reason: NotRequired[str | None]
    at: NotRequired[Time | None]
    error: NotRequired[str | None]


class System(TypedDict):
    """/system: the host; metrics and uptime are sampled once a second."""

    hostname: str
    kernel: str
    boot_time: Time
    started: Time
    versions: Versions
    metrics: NotRequired[Metrics]
    uptime: NotRequired[Annotated[int, Field(description="seconds")]]
    tls: NotRequired[Tls]
    time: NotRequired[SystemTime]
    power: NotRequired[PowerState]
