"""The alerts engine: follows the tree's revisions, re-evaluates the rule families a revision
touched, and keeps /alerts/{id} true: an alert is raised when its condition appears, `cleared`
is set when it goes, and each change is handed to every channel's outbox.

Alerts and the delivery settings are intent (SQLite): a restart loads them, so a condition
that still holds keeps its alert and is not sent again. Time-based conditions (a replication
that goes stale, a certificate near its end) arm one timer, for the next deadline only.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rockd.alerts import delivery
from rockd.alerts.rules import FAMILIES, Condition, Facts, evaluate
from rockd.core.errors import NotFound
from rockd.core.store import Store
from rockd.core.times import iso, utcnow
from rockd.core.tree import Revision, Subtree

log = logging.getLogger(__name__)

KIND_FAMILY = {"pool_degraded": "pools", "device_errors": "pools", "pool_full": "pools",
               "smart_failing": "disks", "disk_temperature": "disks",
               "smart_test_failed": "disks", "quota_full": "shares", "job_failed": "jobs",
               "scrub_errors": "jobs", "service_failed": "services",
               "docker_down": "apps-engine", "replication_stale": "replication",
               "tls_expiring": "system", "ups_on_battery": "ups", "ups_unreachable": "ups"}
SEVERITY = {"info": 0, "warning": 1, "critical": 2}
KEEP_CLEARED = 100
"""Cleared alerts kept (the newest), for the list."""
DEFAULTS: dict[str, Any] = {"email": None, "webhooks": [], "pool_used_percent": [80, 95]}


class Alerts:
    """/alerts in the tree, the alert intent, and the delivery settings."""

    def __init__(self, tree: Subtree, store: Store, window: float,
                 clock: Callable[[], datetime] = utcnow):
        self.tree, self.store, self.window, self.clock = tree, store, window, clock
        self.config: dict[str, Any] = dict(DEFAULTS)
        self.alerts: dict[str, dict[str, Any]] = {}
        self.active: dict[tuple[str, str], str] = {}
        self.counts: dict[str, int] = {}  # each active alert's counter, as last told
        self.dirty: set[str] = set()
        self.deadlines: dict[str, list[datetime]] = {}
        self.devices: dict[str, dict[int, str]] = {}
        self.docker_seen_up = False
        self.outboxes: list[delivery.Outbox] = []
        self.saving: set[asyncio.Task[None]] = set()
        self.scheduled = False
        self.timer: asyncio.TimerHandle | None = None
        self.started = False

    # -- start and stop ---------------------------------------------------------------------

    async def load(self) -> None:
        """Read the alerts and settings kept, and show the alerts."""
        self.config = {**DEFAULTS, **(await self.store.intents("alert_settings")).get(
            "settings", {})}
        self.alerts = await self.store.intents("alert")
        self.active = {(a["kind"], a["subject"]): a["id"] for a in self.alerts.values()
                       if a["cleared"] is None}
        self.docker_seen_up = ("docker_down", "/apps-engine") in self.active
        self._outboxes()
        with self.tree.transaction():
            for stale in set(self.tree.get("/alerts") or {}) - set(self.alerts):
                self.tree.delete(("alerts", stale))
            for alert in self.alerts.values():
                self.tree.set(("alerts", alert["id"]), alert)

    def start(self) -> None:
        """Follow the tree from now on, starting with every family."""
        self.started = True
        self.tree.listen(self._on_revision)
        self._touch(set(FAMILIES))

    async def stop(self) -> None:
        self.started = False
        if self.timer is not None:
            self.timer.cancel()
        for outbox in self.outboxes:
            await outbox.close()
        await asyncio.gather(*self.saving, return_exceptions=True)

    # -- following the tree -----------------------------------------------------------------

    def _on_revision(self, revision: Revision) -> None:
        touched = set()
        for op in revision.ops:
            top = op.tokens[0] if op.tokens else ""
            if top == "system" and len(op.tokens) > 1 and op.tokens[1] != "tls":
                continue  # the metrics tick
            if top == "apps":
                touched.add("apps-engine")
            elif top in FAMILIES:
                touched.add(top)
        if touched:
            self._touch(touched)

    def _touch(self, families: set[str]) -> None:
        """Evaluate these families soon (once, however many revisions touch them first)."""
        self.dirty |= families
        if not self.scheduled and self.started:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self._evaluate)

    def _evaluate(self) -> None:
        self.scheduled = False
        if not self.started:
            return
        root = self.tree.get() or {}
        self._remember(root)
        now = self.clock()
        low, high = self.config["pool_used_percent"]
        facts = Facts(now, (float(low), float(high)), self.devices, self.docker_seen_up)
        families, self.dirty = self.dirty, set()
        with self.tree.transaction():
            for family in families:
                facts.deadlines = []
                self._apply(family, evaluate(family, root, facts), now)
                self.deadlines[family] = facts.deadlines
            self._prune()
        self._arm()

    def _remember(self, root: dict[str, Any]) -> None:
        """What the rules need of the past: each pool's present devices, the engine up."""
        for pool_id, pool in (root.get("pools") or {}).items():
            if not pool.get("missing_devices"):
                self.devices[pool_id] = {}  # whole: what it has now is all it has
            known = self.devices.setdefault(pool_id, {})
            for device in pool.get("devices") or []:
                if device.get("path") and not device.get("missing"):
                    known[device["devid"]] = device["path"]
        if (root.get("apps-engine") or {}).get("state") == "up" or root.get("apps"):
            self.docker_seen_up = True  # installed apps: the engine is meant to run

    def _apply(self, family: str, conditions: list[Condition], now: datetime) -> None:
        holding = {c.key: c for c in conditions}
        for key in [k for k in self.active if KIND_FAMILY.get(k[0]) == family]:
            if key not in holding:
                alert = {**self.alerts[self.active.pop(key)], "cleared": iso(now)}
                self.counts.pop(alert["id"], None)
                self._save(alert, "cleared")
        for key, condition in holding.items():
            alert_id = self.active.get(key)
            if alert_id is None:
                alert_id = uuid.uuid4().hex[:12]
                self.active[key] = alert_id
                self.counts[alert_id] = condition.count
                self._save({"id": alert_id, "kind": condition.kind,
                            "severity": condition.severity, "subject": condition.subject,
                            "message": condition.message, "first_seen": iso(now),
                            "cleared": None, "acknowledged": False}, "raised")
                continue
            old = self.alerts[alert_id]
            if (old["severity"], old["message"]) != (condition.severity, condition.message):
                worse = SEVERITY[condition.severity] > SEVERITY[old["severity"]]
                rose = condition.count > self.counts.setdefault(alert_id, condition.count)
                self.counts[alert_id] = condition.count
                change = "escalated" if worse else "rising" if rose else None
                acknowledged = old["acknowledged"] and change is None  # worse: look again
                self._save({**old, "severity": condition.severity, "acknowledged": acknowledged,
                            "message": condition.message}, change)

    def _save(self, alert: dict[str, Any], change: str | None) -> None:
        """Show, keep and (for a change worth telling) send one alert."""
        self.alerts[alert["id"]] = alert
        self.tree.set(("alerts", alert["id"]), alert)
        self._keep(self.store.set_intent("alert", alert["id"], alert))
        if change is not None:
            log.info("alert %s %s: %s", change, alert["kind"], alert["message"])
            for outbox in self.outboxes:
                outbox.offer({"change": change, "alert": dict(alert)})

    def _prune(self) -> None:
        cleared = sorted((a for a in self.alerts.values() if a["cleared"]),
                         key=lambda a: a["cleared"], reverse=True)
        for alert in cleared[KEEP_CLEARED:]:
            del self.alerts[alert["id"]]
            self.tree.delete(("alerts", alert["id"]))
            self._keep(self.store.delete_intent("alert", alert["id"]))

    def _keep(self, write: Any) -> None:
        task = asyncio.get_running_loop().create_task(write)
        self.saving.add(task)
        task.add_done_callback(self.saving.discard)

    def _arm(self) -> None:
        """One timer, for the earliest time a condition will start to hold."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        due = [(when, family) for family, whens in self.deadlines.items() for when in whens]
        if not due:
            return
        when = min(due)[0]
        families = {family for at, family in due if at == when}
        delay = max(0.0, (when - self.clock()).total_seconds()) + 0.5
        self.timer = asyncio.get_running_loop().call_later(delay, self._touch, families)

    # -- requests -----------------------------------------------------------------------------

    def every(self) -> list[dict[str, Any]]:
        return sorted(self.alerts.values(), key=lambda a: a["first_seen"], reverse=True)

    def get(self, alert_id: str) -> dict[str, Any]:
        if alert_id not in self.alerts:
            raise NotFound(f"no alert {alert_id}", detail={"alert": alert_id})
        return self.alerts[alert_id]

    async def acknowledge(self, alert_id: str) -> dict[str, Any]:
        alert = {**self.get(alert_id), "acknowledged": True}
        self._save(alert, None)
        await asyncio.gather(*self.saving)
        return alert

    def settings(self) -> dict[str, Any]:
        """The delivery settings without their secrets: no password, and only whether each
        webhook is signed."""
        email = self.config.get("email")
        shown = {k: v for k, v in email.items() if k != "password"} if email else None
        hooks = [{"url": h["url"], "signed": bool(h.get("secret"))}
                 for h in self.config.get("webhooks") or []]
        return {**self.config, "email": shown, "webhooks": hooks}

    async def configure(self, new: dict[str, Any]) -> dict[str, Any]:
        """Replace the settings. A secret left out is kept: an email's password (for the same
        server and user), a webhook's secret (for the same URL); an empty one is none."""
        old, email = self.config.get("email") or {}, new.get("email")
        if email and "password" not in email and old.get("password") and \
                (old["host"], old.get("username")) == (email["host"], email.get("username")):
            email = {**email, "password": old["password"]}
        secrets = {h["url"]: h["secret"] for h in self.config.get("webhooks") or []
                   if h.get("secret")}
        hooks = [{"url": h["url"], "secret": h["secret"] if "secret" in h
                  else secrets.get(h["url"])} for h in new.get("webhooks") or []]
        self.config = {**DEFAULTS, **new, "email": email,
                       "webhooks": [{k: v for k, v in h.items() if v} for h in hooks]}
        await self.store.set_intent("alert_settings", "settings", self.config)
        for unused in self._outboxes():
            await unused.close()
        self._touch({"pools", "shares"})  # the thresholds may have changed
        return self.settings()

    def _outboxes(self) -> list[delivery.Outbox]:
        """Make the channels' outboxes; one whose channel is set as it was is kept (with
        what it sent and holds). Answers those no longer used."""
        old = {o.name: o for o in self.outboxes}
        wanted: list[tuple[str, Any, delivery.Send]] = []
        if self.config.get("email"):
            email = self.config["email"]
            wanted.append(("email", email, delivery.email_sender(email)))
        wanted += [(f"webhook {h['url']}", h, delivery.webhook_sender(h))
                   for h in self.config.get("webhooks") or []]
        self.outboxes = []
        for name, config, send in wanted:
            kept = old.get(name)
            if kept is not None and kept.config == config:
                self.outboxes.append(old.pop(name))
            else:
                self.outboxes.append(delivery.Outbox(name, send, self.window, config))
        return list(old.values())

    async def test(self) -> dict[str, Any]:
        """Send a test message through each channel now; answer how each went."""
        alert = {"id": "test", "kind": "test", "severity": "info", "subject": "/alerts",
                 "message": "This is a test message from rockd. Alerts will arrive like this.",
                 "first_seen": iso(self.clock()), "cleared": None, "acknowledged": False}
        changes = [{"change": "test", "alert": alert}]
        email = self.config.get("email")
        jobs = [self._try(delivery.email_sender(email)(changes)) if email else _none()]
        hooks = self.config.get("webhooks") or []
        jobs += [self._try(delivery.webhook_sender(h, backoff=())(changes)) for h in hooks]
        results = await asyncio.gather(*jobs)
        return {"email": results[0],
                "webhooks": [{"url": h["url"], **r} for h, r in zip(hooks, results[1:],
                                                                    strict=True)]}

    @staticmethod
    async def _try(sending: Any) -> dict[str, Any]:
        try:
            await sending
        except delivery.DeliveryError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True}


async def _none() -> dict[str, Any]:
    return {"ok": False, "error": "no email server is set"}
