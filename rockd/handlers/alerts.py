"""Alerts: the list, acknowledging one, the delivery settings, and a test of each channel."""

from __future__ import annotations

import re
from typing import Any, Literal

from aiohttp import web
from pydantic import Field, field_validator, model_validator

from rockd.alerts.engine import Alerts
from rockd.core.auth import Principal
from rockd.core.models import Model
from rockd.core.resources import Alert
from rockd.handlers.routes import Routes

routes = Routes()

ALERTS = web.AppKey("alerts", Alerts)
ADDRESS = re.compile(r"[^@\s<>,]+@[^@\s<>,]+")


class Email(Model):
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = Field(default=None, max_length=256)
    password: str | None = Field(default=None, max_length=256,
                                 description="kept, never answered; left out: the one kept")
    from_: str = Field(alias="from", max_length=254)
    to: list[str] = Field(min_length=1, max_length=20)

    @field_validator("from_")
    @classmethod
    def sender(cls, value: str) -> str:
        if not ADDRESS.fullmatch(value):
            raise ValueError("must be an email address")
        return value

    @field_validator("to")
    @classmethod
    def recipients(cls, value: list[str]) -> list[str]:
        if not all(ADDRESS.fullmatch(v) for v in value):
            raise ValueError("must be email addresses")
        return value


class Webhook(Model):
    url: str = Field(max_length=2000, pattern=r"^https?://[^\s]+$")
    secret: str | None = Field(default=None, max_length=256,
                               description="signs each POST: X-Rockd-Signature: "
                               "sha256=HMAC-SHA256(secret, body) in hex; left out: the one "
                               "kept for this URL; empty: none")


class AlertSettings(Model):
    email: Email | None = None
    webhooks: list[Webhook] = Field(default_factory=list, max_length=20)
    pool_used_percent: list[int] = Field(default=[80, 95], min_length=2, max_length=2,
                                         description="[warning, critical] percent of a "
                                         "pool's (or a share's quota) use")

    @model_validator(mode="after")
    def ordered(self) -> AlertSettings:
        low, high = self.pool_used_percent
        if not 1 <= low < high <= 100:
            raise ValueError("pool_used_percent must be [warning, critical], "
                             "1 <= warning < critical <= 100")
        return self


class EmailShown(Model):
    host: str
    port: int
    security: str
    username: str | None = None
    from_: str = Field(alias="from")
    to: list[str]


class WebhookShown(Model):
    url: str
    signed: bool = Field(description="whether it has a secret (never answered)")


class SettingsShown(Model):
    email: EmailShown | None
    webhooks: list[WebhookShown]
    pool_used_percent: list[int]


class ChannelResult(Model):
    ok: bool
    error: str | None = None


class WebhookResult(ChannelResult):
    url: str


class TestResult(Model):
    email: ChannelResult
    webhooks: list[WebhookResult]


def _alerts(request: web.Request) -> Alerts:
    return request.app[ALERTS]


@routes.get("/api/v1/alerts", summary="Every alert, active and recently cleared, newest first",
            response=list[Alert])
async def list_alerts(request: web.Request, principal: Principal) -> list[Any]:
    return _alerts(request).every()


@routes.post("/api/v1/alerts/{id}/acknowledge", summary="Acknowledge an alert",
             response=Alert)
async def acknowledge(request: web.Request, principal: Principal) -> dict[str, Any]:
    return await _alerts(request).acknowledge(request.match_info["id"])


@routes.get("/api/v1/alerts/settings", summary="How alerts are delivered (no password)",
            response=SettingsShown)
async def get_settings(request: web.Request, principal: Principal) -> dict[str, Any]:
    return _alerts(request).settings()


@routes.route("PUT", "/api/v1/alerts/settings", summary="Set how alerts are delivered",
              body=AlertSettings, response=SettingsShown)
async def put_settings(request: web.Request, principal: Principal,
                       body: AlertSettings) -> dict[str, Any]:
    settings = body.model_dump(by_alias=True)
    if body.email is not None and body.email.password is None:
        del settings["email"]["password"]  # left out: the one kept
    settings["webhooks"] = [h.model_dump(exclude_unset=True) for h in body.webhooks]
    return await _alerts(request).configure(settings)


@routes.post("/api/v1/alerts/test", summary="Send a test message through each channel",
             response=TestResult)
async def test_channels(request: web.Request, principal: Principal) -> dict[str, Any]:
    return await _alerts(request).test()
