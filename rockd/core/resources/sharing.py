"""Services, exports with their configuration files, users and groups."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from rockd.core.resources.fields import Id, Time


class Service(TypedDict):
    name: str
    unit: str
    backend: Literal["systemd", "rockd"]
    available: bool
    active: str
    sub: str
    since: Time | None
    main_pid: int | None
    enabled: bool


class Export(TypedDict):
    """What every export has: its share, resolved while that share is there."""

    id: Id
    share: Id
    share_name: str | None
    path: str | None
    active: bool


class ExportWriters(TypedDict):
    """Who of an export's users can really make files in its share's root folder, by the
    folder's owner, group, mode and POSIX ACL (and the export's own read-only)."""

    users: Annotated[list[str], Field(description="can write")]
    denied: Annotated[list[str], Field(
        description="may sign in to the export but cannot write to the share")]


class SmbExport(Export):
    kind: Literal["smb"]
    name: str
    comment: str
    browseable: bool
    read_only: bool
    guest_ok: bool
    valid_users: list[str]
    valid_groups: list[str]
    previous_versions: bool
    writable_by: ExportWriters


class NfsExportClient(TypedDict):
    host: str
    rw: bool
    sync: bool
    root_squash: bool


class NfsExport(Export):
    kind: Literal["nfs"]
    clients: list[NfsExportClient]


class SftpExport(Export):
    kind: Literal["sftp"]
    users: list[str]
    writable_by: ExportWriters


class Exports(TypedDict):
    smb: dict[Id, SmbExport]
    nfs: dict[Id, NfsExport]
    sftp: dict[Id, SftpExport]


class SmbConfig(TypedDict):
    path: str
    managed: bool
    drift: Annotated[bool, Field(description="edited by hand since rockd wrote it")]


class NfsConfig(TypedDict):
    path: str
    drift: bool
    applied: bool
    reason: str | None


class SftpConfig(TypedDict):
    path: str
    drift: bool
    users: list[str]
    warnings: list[str]


class Configs(TypedDict):
    smb: SmbConfig
    nfs: NfsConfig
    sftp: SftpConfig


class User(TypedDict):
    name: str
    uid: int
    gid: int
    group: str | None
    groups: list[str]
    shell: str
    home: str
    system: Annotated[bool, Field(description="uid below 1000: shown, never changed")]
    samba: bool
    ssh_keys: int


class Group(TypedDict):
    name: str
    gid: int
    members: list[str]
    system: bool
