"""Jobs, schedules, and replication's peers and tasks."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from rockd.core.resources.fields import Id, Time

# -- jobs and schedules ---------------------------------------------------------------------

JobState = Literal["queued", "running", "paused", "succeeded", "failed", "cancelled"]


class Job(TypedDict):
    """/jobs/{id}: long work (scrub, balance, device remove, app install...) and how it goes."""

    id: Id
    kind: str
    target: Id
    state: JobState
    progress: Annotated[float | None, Field(description="0.0-1.0, or none where unknown")]
    detail: str
    started: Time | None
    ended: Time | None
    error: str | None
    log: Annotated[list[str], Field(description="the last lines of its output")]
    params: Annotated[dict[str, Any], Field(description="what the job's kind was given")]
    result: NotRequired[dict[str, Any]]
    bytes: NotRequired[int]


class JobStarted(TypedDict):
    """The answer (202) of a request that starts long work."""

    job: Job


class SnapshotRetention(TypedDict):
    """What a snapshot schedule keeps: the first per hour, day, week and month, and the
    newest `last` (btrbk's preserve_min "latest N")."""

    hourly: int
    daily: int
    weekly: int
    monthly: int
    last: NotRequired[Annotated[int, Field(description="the newest N scheduled snapshots")]]
    min_age: str


class ScheduleOptions(TypedDict, total=False):
    """What a schedule's kind takes beside its target: a smart_test's `type`, the `shares`
    of a dedup's pool (left out: all of it)."""

    type: Literal["short", "long", "conveyance"]
    shares: list[Id]


class Schedule(TypedDict):
    id: Id
    kind: Literal["snapshot", "scrub", "balance", "config_backup", "trim", "dedup",
                  "smart_test"]
    target: Id
    cron: str
    retention: SnapshotRetention | None
    enabled: bool
    created: Time
    last_run: Time | None
    next_run: Time | None
    options: NotRequired[ScheduleOptions]


class ReplicationIdentity(TypedDict):
    public_key: str
    listen: str
    addresses: Annotated[list[str], Field(description="host:port where a peer can reach "
                                                      "this box (its name, its interfaces)")]
    listening: NotRequired[bool]


class Peer(TypedDict):
    name: str
    address: str
    public_key: str
    created: Time
    online: Annotated[bool, Field(description="whether its connection is up now")]
    last_seen: Annotated[Time | None, Field(description="when it last answered, or was lost")]
    last_error: Annotated[str | None, Field(description="why it is offline, in words")]


class ReplicaRetention(TypedDict):
    source: SnapshotRetention | None
    target: SnapshotRetention | None


class TargetRun(TypedDict):
    """How the last run to one target went."""

    at: Time
    snapshot: str
    state: Literal["succeeded", "failed", "cancelled"]
    error: NotRequired[str]
    bytes: NotRequired[int]
    incremental: NotRequired[bool]
    parent: NotRequired[Id | None]


class TaskTarget(TypedDict):
    peer: str
    pool: str
    name: NotRequired[Annotated[str, Field(description="the replica's; none: the share's")]]
    last: TargetRun | None


class ReplicationTask(TypedDict):
    id: Id
    share: Id
    share_name: str
    targets: Annotated[dict[str, TaskTarget], Field(description="by peer/pool")]
    cron: str | None
    retention: ReplicaRetention | None
    keep_last: Annotated[int, Field(description="the source keeps the task's newest N "
                                                "snapshots that reached a target")]
    enabled: bool
    created: Time
    last_run: Time | None
    next_run: Time | None
    running: Annotated[Id | None, Field(description="the job of the run under way")]


class Replication(TypedDict):
    identity: ReplicationIdentity
    peers: dict[str, Peer]
    tasks: dict[Id, ReplicationTask]
