"""The event log's entries (GET /api/v1/events) and /events in the tree: the newest entry."""

from __future__ import annotations

from typing import Annotated, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from rockd.core.resources.fields import Time


class EventResult(TypedDict):
    """How a write request ended: its HTTP status and, when it failed, the error's code."""

    status: int
    error: NotRequired[str]


class Event(TypedDict):
    """One entry of the event log: kind `audit` for a write request (who, from where, what,
    how it ended), another kind for what the system did (disk_gone, pool_degraded...)."""

    id: Annotated[int, Field(description="grows by one or more with each entry")]
    time: Time
    kind: str
    message: Annotated[str, Field(description="what happened, in words")]
    principal: NotRequired[Annotated[str, Field(
        description="the user, or 'USER (token NAME)'; for a sign-in, the name given")]]
    address: NotRequired[Annotated[str, Field(description="the client's address")]]
    action: NotRequired[Annotated[str, Field(description="METHOD /route/{pattern}")]]
    resource: NotRequired[Annotated[str, Field(
        description="the id in the path, or the id of what was made")]]
    result: NotRequired[EventResult]


class EventPage(TypedDict):
    """A page of the log, oldest first; `next` is the `since` of the page after it."""

    items: list[Event]
    next: int


class Events(TypedDict):
    """/events: the newest entry of the log, so that the stream carries each new one."""

    latest: Event | None
