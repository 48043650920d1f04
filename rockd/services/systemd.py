"""The systemd backend: services are systemd units, controlled over D-Bus.

Every verb is one call of org.freedesktop.systemd1.Manager, and start, stop, restart and
reload then wait for their job's JobRemoved (`SystemdJobs`), as `systemctl` does, so that a
unit that fails to start is an error of the request. systemd sends a unit's PropertiesChanged
before its job's JobRemoved, so when a verb returns, `state()` already shows its outcome. The
state itself comes from rockd.watchers.systemd, which follows systemd's signals: nothing polls.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from dbus_fast import DBusError

from rockd.core.errors import NotFound, RockdError, Unprocessable
from rockd.core.times import rfc3339
from rockd.services.units import Service
from rockd.watchers.dbus import Unavailable
from rockd.watchers.systemd import SystemdWatcher

log = logging.getLogger(__name__)

JOB_TIMEOUT = 120.0  # systemd's own start timeout is 90 s by default
JOBS_REMEMBERED = 256
NOT_FOUND = frozenset({
    "org.freedesktop.systemd1.NoSuchUnit",
    "org.freedesktop.DBus.Error.FileNotFound",
})
# which timestamp says since when a unit is in its current state (as `systemctl status`)
SINCE = {
    "active": "ActiveEnterTimestamp", "reloading": "ActiveEnterTimestamp",
    "refreshing": "ActiveEnterTimestamp",
    "inactive": "InactiveEnterTimestamp", "failed": "InactiveEnterTimestamp",
    "deactivating": "ActiveExitTimestamp", "activating": "InactiveExitTimestamp",
}


def systemd_is_pid1() -> bool:
    """Whether this machine was booted with systemd (sd_booted()'s test)."""
    return os.path.isdir("/run/systemd/system")


def unit_state(props: dict[str, Any]) -> dict[str, Any]:
    """A unit's properties as /services/{name} shows them."""
    active = props.get("ActiveState") or "unknown"
    since = props.get(SINCE.get(active, "ActiveEnterTimestamp")) or 0
    return {
        "active": active,
        "sub": props.get("SubState") or "unknown",
        "since": rfc3339(since / 1e6) if since else None,
        "main_pid": props.get("MainPID") or None,
        "enabled": props.get("UnitFileState") == "enabled",
    }


def _error(exc: DBusError | Unavailable, unit: str) -> RockdError:
    if isinstance(exc, Unavailable):
        return Unprocessable(f"systemd cannot be reached: {exc}", code="systemd_unavailable",
                             detail={"unit": unit})
    detail = {"unit": unit, "dbus_error": exc.type}
    if exc.type in NOT_FOUND:
        return NotFound(exc.text, detail=detail)
    return Unprocessable(exc.text, detail=detail)


class SystemdJobs:
    """The systemd jobs waited for (the watcher's JobEvents): each job's result as JobRemoved
    says it, kept a while for a job that ends before its call's reply is seen."""

    def __init__(self) -> None:
        self._done: OrderedDict[str, str] = OrderedDict()  # job path -> result
        self._waiters: dict[str, asyncio.Future[str]] = {}

    async def wait(self, job: str) -> str:
        """The result of a job ("done", "failed", "canceled", "timeout", "dependency", ...);
        raises Unavailable if systemd or the bus goes away first."""
        if job in self._done:
            return self._done.pop(job)
        future = asyncio.get_running_loop().create_future()
        self._waiters[job] = future
        try:
            return await future
        finally:
            self._waiters.pop(job, None)

    def job_removed(self, job: str, result: str) -> None:
        future = self._waiters.pop(job, None)
        if future is not None:
            if not future.done():
                future.set_result(result)
            return
        self._done[job] = result  # its StartUnit's reply may not have been seen yet
        while len(self._done) > JOBS_REMEMBERED:
            self._done.popitem(last=False)

    def lost(self, why: str) -> None:
        waiters, self._waiters = self._waiters, {}
        for future in waiters.values():
            if not future.done():
                future.set_exception(Unavailable(why))


class SystemdBackend:
    """Services as systemd units, on the system bus or on the bus at `address`."""

    name = "systemd"

    def __init__(self, address: str | None = None, *, retry: tuple[float, float] = (0.5, 15.0),
                 job_timeout: float = JOB_TIMEOUT):
        self.address = address
        self.retry = retry
        self.job_timeout = job_timeout
        self.watcher: SystemdWatcher | None = None
        self.jobs = SystemdJobs()
        self._services: dict[str, list[Service]] = {}  # unit -> services
        self._reported: dict[str, dict[str, Any]] = {}  # service name -> last state told
        self._changed: Callable[[str, dict[str, Any]], None] = lambda name, state: None

    async def open(self, services: list[Service],
                   changed: Callable[[str, dict[str, Any]], None]) -> None:
        self._changed = changed
        self._services = {}
        for service in services:
            self._services.setdefault(service.unit, []).append(service)
        self.watcher = SystemdWatcher(self._services, self._unit_changed, self.address,
                                      retry=self.retry, jobs=self.jobs)
        await self.watcher.start()

    async def close(self) -> None:
        if self.watcher is not None:
            await self.watcher.stop()
            self.watcher = None

    def state(self, s: Service) -> dict[str, Any]:
        props = self.watcher.props.get(s.unit, {}) if self.watcher is not None else {}
        return unit_state(props)

    def runs(self, s: Service) -> bool:
        return True  # whatever has a unit

    def _unit_changed(self, unit: str) -> None:
        for service in self._services.get(unit, ()):
            state = self.state(service)
            if self._reported.get(service.name) != state:
                self._reported[service.name] = state
                self._changed(service.name, state)

    # -- verbs ------------------------------------------------------------------------------

    async def _call(self, unit: str, member: str, signature: str = "",
                    body: list | None = None) -> list[Any]:
        if self.watcher is None:
            raise Unprocessable("the systemd backend is not open", code="systemd_unavailable")
        try:
            return await self.watcher.call(member, signature, body)
        except (DBusError, Unavailable) as exc:
            raise _error(exc, unit) from exc

    async def _job(self, verb: str, member: str, s: Service) -> None:
        """Queue a job for the unit ("replace" as systemctl does) and wait for its end."""
        (job,) = await self._call(s.unit, member, "ss", [s.unit, "replace"])
        assert self.watcher is not None
        try:
            async with asyncio.timeout(self.job_timeout):
                result = await self.jobs.wait(job)
        except Unavailable as exc:
            raise _error(exc, s.unit) from exc
        except TimeoutError:
            raise Unprocessable(f"{s.unit}: {verb} did not finish in {self.job_timeout:.0f}s",
                                code="job_timeout", detail={"unit": s.unit, "job": job}) \
                from None
        log.info("systemd: %s %s: %s", verb, s.unit, result)
        self.watcher.flush()  # the unit's signals came before the job's end: tell them now
        if result not in ("done", "skipped"):
            raise Unprocessable(f"{s.unit}: {verb} {result}; see `journalctl -u {s.unit}`",
                                code=f"job_{result}",
                                detail={"unit": s.unit, "job": job, "result": result,
                                        **self.state(s)})

    async def start(self, s: Service) -> None:
        await self._job("start", "StartUnit", s)

    async def stop(self, s: Service) -> None:
        await self._job("stop", "StopUnit", s)

    async def restart(self, s: Service) -> None:
        await self._job("restart", "RestartUnit", s)

    async def reload(self, s: Service) -> None:
        await self._job("reload", "ReloadUnit", s)

    async def enable(self, s: Service) -> None:
        await self._call(s.unit, "EnableUnitFiles", "asbb", [[s.unit], False, True])
        await self._reloaded(s)

    async def disable(self, s: Service) -> None:
        await self._call(s.unit, "DisableUnitFiles", "asb", [[s.unit], False])
        await self._reloaded(s)

    async def _reloaded(self, s: Service) -> None:
        """daemon-reload after a change of unit files, then read the unit's enablement (which
        systemd announces only as UnitFilesChanged, without the unit)."""
        await self._call(s.unit, "Reload")
        assert self.watcher is not None
        try:
            await self.watcher.refresh_file_state(s.unit)
        except (DBusError, Unavailable) as exc:
            raise _error(exc, s.unit) from exc
        self.watcher.flush()
