"""Reboot and shutdown: /system/power.

A request names the hostname (`confirm`, typed by the user) and is refused while a job runs
that cannot go on after a restart, unless forced: a kind that can pause (and resume) is
paused first (btrfs resumes a paused balance at the next mount; a scrub resumes), one that
cannot (a device removal, an app install) would be cut off. Then /system/power says what is
pending, the event log says why, the tree is committed, and the final command (an argv from
the settings: systemctl reboot / poweroff) runs; systemd stops rockd cleanly on its way down.

`shutdown(reason)` is the same shutdown without the confirmation and never refused (the UPS
calls it when the battery runs low).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Literal, Protocol

from rockd.config import Settings
from rockd.core.errors import BadRequest, Conflict, RockdError
from rockd.core.jobs import Jobs, Kind
from rockd.core.process import CommandError, run
from rockd.core.resources.host import PowerState
from rockd.core.times import now
from rockd.core.tree import Subtree

log = logging.getLogger(__name__)

PATH = ("system", "power")
PAUSE_WAIT = 15.0
"""How long the jobs being paused have to say they are."""
COMMAND_TIMEOUT = 60.0
Action = Literal["reboot", "shutdown"]


class PowerLog(Protocol):
    """Where a reboot or shutdown is written down (the event log)."""

    async def append(self, kind: str, message: str, **fields: Any) -> Any:
        """Add an entry and answer once it is committed."""


def pausable(kind: Kind | None) -> bool:
    """Whether a kind's jobs can be paused and go on later (it overrides pause and resume)."""
    return kind is not None and type(kind).pause is not Kind.pause \
        and type(kind).resume_run is not Kind.resume_run


class Power:
    """Reboots and shuts the host down; owns /system/power."""

    def __init__(self, settings: Settings, subtree: Subtree, jobs: Jobs,
                 hostname: Any, events: PowerLog | None = None):
        self.settings = settings
        self.subtree = subtree
        self.jobs = jobs
        self.hostname = hostname  # a callable answering the current hostname
        self.events = events
        self._task: asyncio.Task[None] | None = None

    def publish(self, state: PowerState) -> None:
        self.subtree.set(PATH, state)

    def start(self) -> None:
        """At start nothing is pending (a pending one from before a reboot is over)."""
        self.publish({"pending": None})

    def running_jobs(self) -> list[dict[str, Any]]:
        return [job for job in (self.subtree.get("/jobs") or {}).values()
                if job["state"] == "running"]

    def blocking(self) -> list[dict[str, Any]]:
        """Running jobs that would be cut off: their kind cannot pause."""
        return [job for job in self.running_jobs()
                if not pausable(self.jobs.kinds.get(job["kind"]))]

    def request(self, action: Action, confirm: str, force: bool = False,
                reason: str | None = None) -> PowerState:
        """A reboot or shutdown asked for through the API: checked, then under way."""
        hostname = self.hostname()
        if confirm != hostname:
            raise BadRequest(f"confirm must repeat the hostname ({hostname})",
                             code="not_confirmed", detail={"field": "confirm"})
        self._check_idle()
        blocking = self.blocking()
        if blocking and not force:
            names = ", ".join(f"{j['kind']} of {j['target']}" for j in blocking)
            raise Conflict(f"a job that cannot resume is running ({names}); wait for it, "
                           "cancel it, or force", code="jobs_running",
                           detail={"jobs": [j["id"] for j in blocking]})
        return self._begin(action, reason or f"{action} requested")

    async def shutdown(self, reason: str) -> None:
        """Shut down now (no confirmation, never refused); answers once the final command
        has run (or failed: then /system/power says why)."""
        if (self.subtree.get(PATH) or {}).get("pending") is not None:
            if self._task is not None:  # one under way already: its end is ours
                await asyncio.shield(self._task)
            return
        self._begin("shutdown", reason)
        assert self._task is not None
        await asyncio.shield(self._task)

    def _check_idle(self) -> None:
        """Refuse a second request once one is under way (and after its command ran: the
        host is going down)."""
        pending = (self.subtree.get(PATH) or {}).get("pending")
        if pending is not None:
            raise Conflict(f"a {pending} is under way", code="pending")

    def _begin(self, action: Action, reason: str) -> PowerState:
        state: PowerState = {"pending": action, "reason": reason, "at": now(), "error": None}
        self.publish(state)
        self._task = asyncio.create_task(self._go(action, reason), name=f"power-{action}")
        return state

    async def _go(self, action: Action, reason: str) -> None:
        argv = self.settings.reboot_command if action == "reboot" \
            else self.settings.poweroff_command
        try:
            log.warning("%s: %s", action, reason)
            if self.events is not None:
                with contextlib.suppress(Exception):
                    await self.events.append("system", f"The host is going to {action}: "
                                              f"{reason}", action=action)
            await self._pause_jobs()
            if self.jobs.durable is not None:  # the tree as it is now, kept before the end
                await self.jobs.durable(self.subtree.tree.rev)
            await run(list(argv), timeout=COMMAND_TIMEOUT)
        except (CommandError, RockdError, OSError) as exc:
            log.error("%s failed: %s", action, exc)
            self.publish({"pending": None, "reason": reason, "at": now(),
                          "error": f"{action} failed: {exc}"})

    async def _pause_jobs(self) -> None:
        """Pause each running job that can be; wait (a while) until they say they are."""
        paused = []
        for job in self.running_jobs():
            if pausable(self.jobs.kinds.get(job["kind"])):
                try:
                    await self.jobs.pause(job["id"])
                    paused.append(job["id"])
                except RockdError as exc:
                    log.warning("could not pause job %s: %s", job["id"], exc)
        deadline = time.monotonic() + PAUSE_WAIT
        while paused and time.monotonic() < deadline:
            states = [self.subtree.get(("jobs", i, "state")) for i in paused]
            if all(s != "running" for s in states):
                break
            await asyncio.sleep(0.1)  # the jobs write their state as they stop; a bounded wait
        if paused:
            log.info("paused jobs %s before the %s", ", ".join(paused), "power-off")
