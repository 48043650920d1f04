"""The UPS: /ups, what NUT says of the one UPS rockd follows, and the shutdown it plans."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from rockd.core.resources.fields import Time


class Ups(TypedDict):
    """/ups: the UPS rockd follows through NUT (the password of a network server is never
    shown)."""

    configured: bool
    source: Annotated[Literal["usb", "network"] | None, Field(
        description="a USB UPS rockd runs NUT's driver and upsd for, or a network NUT server")]
    name: Annotated[str | None, Field(description="the UPS's name in NUT")]
    host: Annotated[str | None, Field(description="the NUT server (127.0.0.1 for USB)")]
    port: int | None
    user: Annotated[str | None, Field(description="who rockd logs in to the server as")]
    driver: Annotated[str | None, Field(description="NUT's driver (USB)")]
    grace: Annotated[int, Field(description="seconds on battery before rockd shuts down")]
    low_battery_shutdown: Annotated[bool, Field(
        description="shut down at once when the UPS reports a low battery")]
    status: Annotated[list[str], Field(
        description="NUT's ups.status words: OL, OB, LB, CHRG, DISCHRG, FSD, ...")]
    status_text: Annotated[str, Field(
        description="the status in words: online, on battery, low battery, ...")]
    on_battery: bool
    low_battery: bool
    charge: Annotated[float | None, Field(description="battery.charge, percent")]
    runtime: Annotated[int | None, Field(description="battery.runtime, seconds")]
    model: str | None
    on_battery_since: Time | None
    shutdown_at: Annotated[Time | None, Field(
        description="when rockd shuts the machine down unless power returns first")]
    shutting_down: Annotated[str | None, Field(description="why, once the shutdown started")]
    last_event: Annotated[str | None, Field(
        description="upsmon's last notification: ONBATT, ONLINE, LOWBATT, COMMBAD, ...")]
    last_error: str | None
