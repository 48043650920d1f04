"""Disks (with their SMART report), pools, shares and snapshots."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from rockd.core.resources.fields import Id, Time


class Partition(TypedDict):
    name: str
    size: int


class DiskFilesystem(TypedDict):
    """The filesystem signature on a disk (blkid)."""

    type: str
    uuid: str | None
    label: str | None
    device_uuid: str | None
    duplicate_of: Annotated[list[Id], Field(
        description="the other disks that hold this same filesystem (a cloned copy)")]


class SmartSummary(TypedDict):
    health: Literal["passed", "failed"] | None
    temperature: Annotated[int | None, Field(description="°C")]
    power_on_hours: int | None
    reallocated_sectors: int | None
    pending_sectors: int | None
    media_errors: int | None
    percentage_used: int | None


class Disk(TypedDict):
    """/disks/{id}: a whole disk as sysfs, udev, blkid and SMART show it."""

    id: Id
    name: str
    path: str
    size: int
    model: str | None
    serial: str | None
    wwn: str | None
    transport: str
    rotational: bool
    removable: bool
    read_only: bool
    backing_file: str | None
    partitions: list[Partition]
    managed: Annotated[bool, Field(description="in --devices: rockd may change it")]
    filesystem: DiskFilesystem | None
    pool: Id | None
    smart: SmartSummary | None


class SmartAttribute(TypedDict):
    """An ATA attribute (all keys), or an NVMe or SCSI counter (name and value)."""

    name: str | None
    value: Any
    id: NotRequired[int | None]
    worst: NotRequired[int | None]
    threshold: NotRequired[int | None]
    raw: NotRequired[int | None]
    raw_string: NotRequired[str | None]
    failing_now: NotRequired[bool]


class SmartSelfTest(TypedDict):
    type: str | None
    status: str | None
    passed: bool
    lifetime_hours: int | None
    lba: int | None
    in_progress: bool


class SmartReport(TypedDict):
    """A disk's SMART report (GET /api/v1/disks/{id}/smart), self-tests newest first."""

    health: Literal["passed", "failed"] | None
    temperature: int | None
    power_on_hours: int | None
    power_cycles: int | None
    model: str | None
    serial: str | None
    firmware: str | None
    rotation_rate: Annotated[int | None, Field(description="rpm; 0 for an SSD")]
    attributes: list[SmartAttribute]
    self_tests: list[SmartSelfTest]
    summary: SmartSummary


class PoolDevice(TypedDict):
    devid: int
    disk: Id | None
    path: str | None
    size: int
    used: int
    missing: bool
    errors: Annotated[dict[str, int] | None, Field(
        description="btrfs device stats: write_io_errs, read_io_errs, flush_io_errs, "
        "corruption_errs, generation_errs")]


class BlockGroups(TypedDict):
    """One kind of block group: logical total/used, and raw disk_total/disk_used."""

    profile: str | None
    profiles: list[str]
    total: int
    used: int
    disk_total: int
    disk_used: int


class Allocation(TypedDict):
    data: BlockGroups
    metadata: BlockGroups
    system: BlockGroups


class PoolUsage(TypedDict):
    """size, used, allocated, unallocated: raw bytes (all copies and parity), as `btrfs
    filesystem usage`. stored, free_estimate and capacity are logical: what the pages show."""

    size: int
    used: int
    free_estimate: Annotated[int, Field(
        description="logical bytes that can still be written: free space in data chunks plus "
        "what new chunks of the data profile can hold, placed as the kernel places them")]
    stored: Annotated[int, Field(description="logical bytes in use (data, metadata, system)")]
    capacity: Annotated[int, Field(description="stored + free_estimate")]
    allocated: int
    unallocated: int
    data_ratio: float
    metadata_ratio: float
    allocation: Allocation


class Pool(TypedDict):
    """/pools/{id}: a btrfs filesystem rockd manages; what it was asked for, the rest read back."""

    id: Id
    name: str
    label: str
    present: Annotated[bool, Field(description="its devices are seen")]
    mounted: bool
    mount_point: str | None
    mount_options: str | None
    compression: str | None
    quotas: bool | None
    data: str | None
    metadata: str | None
    system: str | None
    devices: list[PoolDevice]
    usage: PoolUsage | None
    missing_devices: int
    degraded: bool
    exclusive_operation: str | None


class SubvolumeUsage(TypedDict):
    referenced: int
    exclusive: int


class ReplicaSource(TypedDict):
    """Where a replica comes from: a peer's share, by the task that sends it."""

    peer: str
    share: str
    share_id: Id
    task: Id
    snapshot: str | None


class Share(TypedDict):
    """/shares/{id}: a subvolume directly under a pool's root."""

    id: Id
    pool: Id
    name: str
    path: str
    subvolume_id: int
    quota: int | None
    usage: SubvolumeUsage | None
    compression: str | None
    owner: str | None
    group: str | None
    mode: Annotated[str | None, Field(description="octal, e.g. 0755")]
    read_only: bool
    received_uuid: str | None
    created: Time | None
    replica: ReplicaSource | None


class Snapshot(TypedDict):
    """/snapshots/{id}: a subvolume under {pool}/.snapshots/{share}/."""

    id: Id
    pool: Id
    share: Id | None
    share_name: str
    name: str
    path: str
    subvolume_id: int
    created: Time | None
    read_only: bool
    usage: SubvolumeUsage | None
    visible: bool
