"""The state tree's resources, as the parts that own them write them: one TypedDict per kind.

These are the one definition of what the tree holds, and so of what the stream and the API
answer: the owners annotate what they write with them, the handlers declare them as their
routes' responses, and the OpenAPI document shows their JSON schemas (pydantic reads
TypedDicts). Each forbids keys it does not name, so that the document, and a test that reads a
running rockd's whole tree through `TREE`, catch a field written to the tree but not declared
here. Nothing checks them at run time. Sizes are bytes; times are RFC 3339 UTC strings.

Part of core: imports nothing of rockd outside it. Import the types from this package.
"""

from __future__ import annotations

from types import ModuleType

from pydantic import ConfigDict, TypeAdapter, with_config
from typing_extensions import TypedDict, is_typeddict

from rockd.core.resources import alerts, apps, events, host, jobs, network, sharing, storage, ups
from rockd.core.resources.alerts import Alert
from rockd.core.resources.apps import App, AppContainer, AppPort, AppsEngine, AppUi, AppVolume
from rockd.core.resources.events import Event, EventPage, EventResult, Events
from rockd.core.resources.fields import Id, Time
from rockd.core.resources.host import Metrics, PowerState, System, SystemTime, Tls, Versions
from rockd.core.resources.jobs import (
    Job,
    JobStarted,
    JobState,
    Peer,
    ReplicaRetention,
    Replication,
    ReplicationIdentity,
    ReplicationTask,
    Schedule,
    ScheduleOptions,
    SnapshotRetention,
    TargetRun,
    TaskTarget,
)
from rockd.core.resources.network import (
    Bond,
    Bridge,
    ConnectionAnswer,
    Interface,
    Network,
    NetworkConnection,
    Rollback,
    RollbackOutcome,
    Traffic,
    Vlan,
)
from rockd.core.resources.sharing import (
    Configs,
    Export,
    Exports,
    ExportWriters,
    Group,
    NfsConfig,
    NfsExport,
    NfsExportClient,
    Service,
    SftpConfig,
    SftpExport,
    SmbConfig,
    SmbExport,
    User,
)
from rockd.core.resources.storage import (
    Allocation,
    BlockGroups,
    Disk,
    DiskFilesystem,
    DiskPower,
    Partition,
    Pool,
    PoolDevice,
    PoolSsd,
    PoolUsage,
    ReplicaSource,
    Share,
    SmartAttribute,
    SmartHistory,
    SmartLastTest,
    SmartReading,
    SmartReport,
    SmartSelfTest,
    SmartSummary,
    SmartTestRunning,
    Snapshot,
    SubvolumeUsage,
)
from rockd.core.resources.ups import Ups

State = TypedDict("State", {
    "disks": dict[Id, Disk],
    "pools": dict[Id, Pool],
    "shares": dict[Id, Share],
    "snapshots": dict[Id, Snapshot],
    "jobs": dict[Id, Job],
    "schedules": dict[Id, Schedule],
    "services": dict[str, Service],
    "exports": Exports,
    "configs": Configs,
    "users": dict[str, User],
    "groups": dict[str, Group],
    "apps": dict[str, App],
    "apps-engine": AppsEngine,
    "replication": Replication,
    "system": System,
    "alerts": dict[Id, Alert],
    "events": Events,
    "ups": Ups,
    "network": Network,
})
"""The whole tree."""

EXACT = ConfigDict(extra="forbid")


def _exact(module: ModuleType) -> None:
    """Make every resource of `module` refuse (and its schema forbid) keys it does not name."""
    for value in vars(module).values():
        if is_typeddict(value) and value.__module__ == module.__name__:
            with_config(EXACT)(value)


for _module in (alerts, apps, events, host, jobs, network, sharing, storage, ups):
    _exact(_module)
with_config(EXACT)(State)

TREE: TypeAdapter[State] = TypeAdapter(State)
"""Checks a tree against these definitions (for tests: rockd does not check at run time)."""

__all__ = [
    "TREE", "Alert", "Allocation", "App", "AppContainer", "AppPort", "AppUi", "AppVolume",
    "AppsEngine", "BlockGroups", "Bond", "Bridge", "Configs", "ConnectionAnswer", "Disk",
    "DiskFilesystem", "DiskPower", "Event", "EventPage", "EventResult", "Events", "Export",
    "ExportWriters", "Exports", "Group", "Id", "Interface", "Job", "JobStarted", "JobState",
    "Metrics", "Network", "NetworkConnection", "NfsConfig", "NfsExport", "NfsExportClient",
    "Partition", "Peer", "Pool", "PoolDevice", "PoolSsd", "PoolUsage", "PowerState",
    "ReplicaRetention", "ReplicaSource", "Replication", "ReplicationIdentity", "ReplicationTask",
    "Rollback", "RollbackOutcome", "Schedule", "ScheduleOptions", "Service", "SftpConfig",
    "SftpExport", "Share", "SmartAttribute", "SmartHistory", "SmartLastTest", "SmartReading",
    "SmartReport", "SmartSelfTest", "SmartSummary", "SmartTestRunning", "SmbConfig", "SmbExport",
    "Snapshot", "SnapshotRetention", "State", "SubvolumeUsage", "System", "SystemTime",
    "TargetRun", "TaskTarget", "Time", "Tls", "Traffic", "Ups", "User", "Versions", "Vlan",
]
