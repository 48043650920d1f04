"""Alerts: what rockd found wrong, and the settings of how it tells the owner."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from rockd.core.resources.fields import Id, Time


class Alert(TypedDict):
    """/alerts/{id}: a condition rockd found, from when it was first seen until it cleared."""

    id: Id
    kind: Annotated[str, Field(description="pool_degraded, device_errors, scrub_errors, "
                               "smart_failing, disk_temperature, smart_test_failed, pool_full, "
                               "quota_full, job_failed, "
                               "replication_stale, service_failed, docker_down, tls_expiring")]
    severity: Literal["info", "warning", "critical"]
    subject: Annotated[str, Field(description="the tree path of the resource it is about")]
    message: Annotated[str, Field(description="what is wrong and what to do")]
    first_seen: Time
    cleared: Time | None
    acknowledged: bool
