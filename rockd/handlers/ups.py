"""The UPS: its live state (/ups), which UPS rockd follows (a USB one or a network NUT server,
the grace time), and the USB devices to choose from."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from rockd.core.auth import Principal
from rockd.core.models import Model
from rockd.core.resources import Ups as UpsState
from rockd.handlers.routes import Routes
from rockd.ups.intent import UpsIntent
from rockd.ups.monitor import Ups

routes = Routes()

UPS = web.AppKey("ups", Ups)


class UsbDevice(Model):
    id: str
    vendorid: str | None
    productid: str | None
    vendor: str | None
    product: str | None
    serial: str | None
    bus: str | None
    driver: str | None = Field(description="NUT's driver for it (None: not known as a UPS)")
    port: str
    ups: bool = Field(description="NUT knows it as a UPS")
    found_by: str = Field(description="nut-scanner, or udev (sysfs)")


class UsbDevices(Model):
    devices: list[UsbDevice]
    errors: list[str] = Field(description="what could not be looked at, in words")


def _ups(request: web.Request) -> Ups:
    return request.app[UPS]


@routes.get("/api/v1/ups", summary="The UPS: status, charge, runtime, and the shutdown "
            "planned on battery", response=UpsState)
async def get_ups(request: web.Request, principal: Principal) -> dict[str, Any]:
    return _ups(request).state()


@routes.route("PUT", "/api/v1/ups", summary="Follow a UPS: a USB one (rockd runs NUT for it) "
              "or a network NUT server; the grace time on battery", body=UpsIntent,
              response=UpsState)
async def put_ups(request: web.Request, principal: Principal,
                  body: UpsIntent) -> dict[str, Any]:
    return await _ups(request).configure(body)


@routes.delete("/api/v1/ups", summary="Follow no UPS (NUT's programs stop)", status=204)
async def delete_ups(request: web.Request, principal: Principal) -> None:
    await _ups(request).remove()


@routes.get("/api/v1/ups/devices", summary="The USB devices to choose a UPS from "
            "(nut-scanner, and udev's USB devices)", response=UsbDevices)
async def list_devices(request: web.Request, principal: Principal) -> dict[str, Any]:
    return await _ups(request).devices()
