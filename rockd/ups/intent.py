"""What the user asks of the UPS (kept in SQLite as the intent `ups`/`config`): which UPS, a USB
one rockd runs NUT for or a network NUT server, the grace time and the low-battery rule.
The request's model is the intent's: one definition, checked again when it is read back."""

from __future__ import annotations

import contextlib
import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from rockd.core.models import Model, Name

LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
PORT_RULE = r"^(auto|/[A-Za-z0-9._/-]{1,255})$"
HEX4 = r"^[0-9A-Fa-f]{4}$"
DRIVER = r"^[a-z0-9][a-z0-9_-]{0,63}$"


def _host(value: str) -> str:
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(value)
        return value
    if not all(LABEL.fullmatch(label) for label in value.split(".")):
        raise ValueError("must be a host name or an IP address")
    return value


def _secret(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not hold control characters")
    return value


class UsbUps(Model):
    """A UPS on this machine: NUT's driver for it, and how the driver finds it (an entry of
    GET /api/v1/ups/devices)."""

    driver: str = Field(pattern=DRIVER, description="NUT's driver, e.g. usbhid-ups")
    port: str = Field(default="auto", pattern=PORT_RULE,
                      description="the driver's port: auto for USB (or a file for dummy-ups)")
    vendorid: str | None = Field(default=None, pattern=HEX4)
    productid: str | None = Field(default=None, pattern=HEX4)
    serial: str | None = Field(default=None, max_length=128, pattern=r"^[\x21-\x7e ]*$")
    bus: str | None = Field(default=None, pattern=r"^[0-9]{1,3}$")

    @field_validator("port")
    @classmethod
    def confined(cls, port: str, info: ValidationInfo) -> str:
        """auto, a device under /dev, or dummy-ups's .dev or .seq file: the driver runs as
        root, so it is never pointed at any other file."""
        parts = port.split("/")
        if port == "auto" or (".." not in parts and (
                port.startswith("/dev/") or (info.data.get("driver") == "dummy-ups"
                                             and port.endswith((".dev", ".seq"))))):
            return port
        raise ValueError("must be auto, a device under /dev, or for dummy-ups a .dev or .seq "
                         "file")


class NutServer(Model):
    """A NUT server on the network, and who rockd logs in to it as (upsmon, secondary)."""

    host: Annotated[str, Field(max_length=253), AfterValidator(_host)]
    port: int = Field(default=3493, ge=1, le=65535)
    user: Name
    password: Annotated[str | None, Field(default=None, min_length=1, max_length=128,
                                          description="kept, never answered; left out: "
                                          "the one kept for this server and user"),
                        AfterValidator(lambda v: v if v is None else _secret(v))] = None


class UpsIntent(Model):
    """PUT /api/v1/ups."""

    source: Literal["usb", "network"]
    name: Name = Field(default="ups", description="the UPS's name in NUT")
    usb: UsbUps | None = None
    server: NutServer | None = None
    grace: int = Field(default=120, ge=0, le=86400,
                       description="seconds on battery before rockd shuts the machine down")
    low_battery_shutdown: bool = Field(default=True, description="shut down at once when "
                                       "the UPS reports a low battery, grace or not")

    @model_validator(mode="after")
    def one_source(self) -> UpsIntent:
        if self.source == "usb" and (self.usb is None or self.server is not None):
            raise ValueError("a USB UPS takes `usb` (and no `server`)")
        if self.source == "network" and (self.server is None or self.usb is not None):
            raise ValueError("a network UPS takes `server` (and no `usb`)")
        return self


def shown(intent: dict[str, Any] | None) -> dict[str, Any]:
    """The intent's fields the tree shows (never the password)."""
    if not intent:
        return {"configured": False, "source": None, "name": None, "host": None, "port": None,
                "user": None, "driver": None, "grace": 120, "low_battery_shutdown": True}
    server, usb = intent.get("server") or {}, intent.get("usb") or {}
    return {"configured": True, "source": intent["source"], "name": intent["name"],
            "host": server.get("host"), "port": server.get("port"),
            "user": server.get("user"), "driver": usb.get("driver"),
            "grace": intent["grace"], "low_battery_shutdown": intent["low_battery_shutdown"]}
