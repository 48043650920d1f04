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


SmartTestType = Literal["short", "long", "conveyance"]


class SmartTestRunning(TypedDict):
    """The self-test a drive runs now, as smartctl reports it."""

    type: SmartTestType | None
    remaining_percent: Annotated[int | None, Field(description="None where the drive does "
                                                   "not say (SCSI)")]
    status: str | None


class SmartSelfTest(TypedDict):
    type: str | None
    status: str | None
    passed: bool
    lifetime_hours: int | None
    lba: int | None
    in_progress: bool


class SmartLastTest(SmartSelfTest):
    """The newest self-test in the drive's log that ended."""

    kind: SmartTestType | None


class SmartSummary(TypedDict):
    health: Literal["passed", "failed"] | None
    temperature: Annotated[int | None, Field(description="°C")]
    power_on_hours: int | None
    reallocated_sectors: int | None
    pending_sectors: int | None
    offline_uncorrectable: NotRequired[int | None]
    media_errors: int | None
    percentage_used: int | None
    protocol: NotRequired[Annotated[str | None, Field(description="ATA, NVMe or SCSI")]]
    tests: NotRequired[Annotated[list[SmartTestType], Field(
        description="the self-tests the drive offers")]]
    self_test: NotRequired[SmartTestRunning | None]
    last_test: NotRequired[SmartLastTest | None]


class DiskPower(TypedDict):
    """A rotational disk's spin-down and APM as asked for (hdparm -S, -B), and whether that is
    what the disk was last set to: `applied` false with `error` is drift."""

    spindown: Annotated[int | None, Field(description="minutes idle before it spins down")]
    apm: Annotated[int | None, Field(description="APM level 1..255 (255: off)")]
    applied: bool
    error: NotRequired[str | None]


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
    power: NotRequired[DiskPower]


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


class SmartReading(TypedDict):
    """One reading of a disk's key SMART attributes (GET /api/v1/disks/{id}/smart/history)."""

    time: Annotated[float, Field(description="unix seconds")]
    health: Literal["passed", "failed"] | None
    temperature: int | None
    power_on_hours: int | None
    reallocated_sectors: int | None
    pending_sectors: int | None
    offline_uncorrectable: int | None
    media_errors: int | None
    percentage_used: int | None


class SmartHistory(TypedDict):
    """A disk's SMART readings (oldest first) and the newest self-test log rockd read."""

    disk: Id
    readings: list[SmartReading]
    self_tests: Annotated[list[SmartSelfTest], Field(description="newest first")]
    self_tests_read: Annotated[float | None, Field(description="unix seconds")]


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
    rotational: NotRequired[Annotated[bool | None, Field(
        description="sysfs queue/rotational; none when the device is missing")]]
    discard: NotRequired[Annotated[bool | None, Field(
        description="it takes discard (TRIM): sysfs queue/discard_max_bytes is not 0")]]


class PoolSsd(TypedDict):
    """What a pool's present devices are and the mount options rockd recommends for them."""

    rotational: Annotated[bool | None, Field(description="a present device is rotational")]
    discard: Annotated[bool | None, Field(description="every present device takes discard")]
    recommended_options: Annotated[list[str], Field(
        description="ssd (no device rotational), discard=async (every device takes discard)")]
    in_force: Annotated[list[str] | None, Field(
        description="the recommended options the mount shows now; none while unmounted")]
    mount_options: Annotated[str, Field(
        description="the pool's own mount options with the recommended ones: the value of "
        "mount_options (PATCH) that applies them")]


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
    ssd: NotRequired[PoolSsd]


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
