"""The backup document, version 1: `{"format": "rockd-config", "version": 1, ...}`, each
section a list of one kind of intent. Ids that are the box's own (share and pool UUIDs) are kept
only to tie records together (an export to its share); a restore maps them to the new box's.

A document of another format or version is refused (400) before anything changes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from rockd.core.models import Model, Name

FORMAT = "rockd-config"
VERSION = 1
MANY = 10_000  # at most this many records in one section
Kind = Annotated[str, StringConstraints(pattern=r"[a-z][a-z0-9_]{0,63}")]
Port = Annotated[int, Field(ge=1, le=65535)]


class GroupRecord(Model):
    name: Name
    gid: int


class UserRecord(Model):
    name: Name
    uid: int
    group: Name | None = Field(default=None, description="the primary group; null: the user's own")
    groups: list[Name] = Field(default_factory=list, max_length=256)
    shell: str = Field(max_length=256)
    ssh_keys: list[str] = Field(default_factory=list, max_length=256)
    password_hash: str | None = Field(default=None, max_length=512, pattern=r"^[^:\s]+$",
                                      description="the shadow hash (only with secrets)")
    nt_hash: str | None = Field(default=None, pattern=r"^[0-9A-F]{32}$",
                                description="Samba's NT hash (only with secrets)")


class PoolRecord(Model):
    """A pool is never made by a restore: it is matched by name (or UUID) to one present."""

    name: Name
    uuid: str = Field(max_length=64)
    compression: str | None = Field(default=None, max_length=16)
    mount_options: str = Field(default="", max_length=1024)


class ShareRecord(Model):
    id: str = Field(max_length=64)
    pool: Name = Field(description="the pool's name")
    name: Name
    quota: int | None = None
    compression: str | None = Field(default=None, max_length=16)
    owner: Name | None = None
    group: Name | None = None
    mode: str | None = Field(default=None, max_length=5)


class ExportRecord(Model):
    kind: Kind
    fields: dict[str, Any] = Field(description="the kind's create fields; share: a share id")


class ScheduleRecord(Model):
    kind: Kind
    target: str = Field(max_length=64, description="a share id, a pool UUID or a disk id")
    cron: str = Field(max_length=128)
    retention: dict[str, Any] | None = None
    enabled: bool = True
    options: dict[str, Any] | None = Field(
        default=None, description="a smart_test's test type, a dedup's shares (ids, mapped "
        "like the target)")


class ServiceRecord(Model):
    name: str = Field(max_length=64)
    enabled: bool


class PeerRecord(Model):
    name: Name
    address: str = Field(max_length=300)
    public_key: str = Field(max_length=40)


class TargetRecord(Model):
    peer: Name
    pool: Name
    name: Name | None = None


class TaskRecord(Model):
    share: str = Field(max_length=64)
    targets: list[TargetRecord] = Field(min_length=1, max_length=16)
    cron: str | None = Field(default=None, max_length=128)
    retention: dict[Literal["source", "target"], dict[str, Any] | None] | None = None
    keep_last: int = Field(default=3, ge=1, le=1000)
    enabled: bool = True


class KeyPair(Model):
    public: str = Field(max_length=40)
    secret: str = Field(max_length=40)


class Replication(Model):
    peers: list[PeerRecord] = Field(default_factory=list, max_length=MANY)
    tasks: list[TaskRecord] = Field(default_factory=list, max_length=MANY)
    key_pair: KeyPair | None = Field(default=None, description="only with secrets")


class AppRecord(Model):
    name: Name
    volumes: dict[str, str] = Field(default_factory=dict, max_length=50,
                                    description="path -> share id")
    ports: dict[str, Port] = Field(default_factory=dict, max_length=50)
    env: dict[str, Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default_factory=dict, max_length=100, description="secret values only with secrets")


class Document(Model):
    """Every intent of one box (see the module docstring)."""

    format: Literal["rockd-config"]
    version: Literal[1]
    created: str = Field(max_length=64)
    host: str = Field(default="", max_length=255)
    secrets: bool = False
    groups: list[GroupRecord] = Field(default_factory=list, max_length=MANY)
    users: list[UserRecord] = Field(default_factory=list, max_length=MANY)
    pools: list[PoolRecord] = Field(default_factory=list, max_length=MANY)
    shares: list[ShareRecord] = Field(default_factory=list, max_length=MANY)
    exports: list[ExportRecord] = Field(default_factory=list, max_length=MANY)
    schedules: list[ScheduleRecord] = Field(default_factory=list, max_length=MANY)
    services: list[ServiceRecord] = Field(default_factory=list, max_length=256)
    replication: Replication = Field(default_factory=Replication)
    apps: list[AppRecord] = Field(default_factory=list, max_length=MANY)
    other: dict[Kind, dict[str, dict[str, Any]]] = Field(
        default_factory=dict, description="intent of kinds this version names no section for "
        "(kind -> key -> value), restored as it is")


class Skipped(Model):
    item: str
    reason: str


class Outcome(Model):
    """A restore's answer: every item of the document, applied or skipped with the reason."""

    applied: list[str]
    skipped: list[Skipped]
