"""Services run by rockd itself, where systemd is not PID 1: each a child process in the
foreground, in its own session, restarted with backoff when it dies while wanted.

Whether each starts with rockd ("enabled") is the user's intent, kept in SQLite. A child's
output goes to `{state dir}/services/{name}.log`. Its state changes when rockd acts on it and
when it exits, which the child's own wait() reports: nothing polls.

No child outlives rockd unnoticed: the kernel sends each SIGTERM when rockd dies
(PR_SET_PDEATHSIG), and what escapes that (a process the child forked that stays, one that
ignores the signal, a crash between fork and exec) is found through the child's pid file
(rockd.services.pidfiles) and ended by the next rockd before it starts that service.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from rockd.config import Settings
from rockd.core.errors import Unprocessable
from rockd.core.process import dies_with
from rockd.core.store import Store
from rockd.core.tasks import cancel_and_wait
from rockd.core.times import rfc3339
from rockd.services import pidfiles
from rockd.services.units import Service, idle_state

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0
STARTUP_GRACE = 0.5  # a child that dies this soon after its start did not start
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
STEADY = 60.0  # a child that ran this long starts its backoff afresh


class Child:
    """One supervised service: its process, what is wanted of it, and its state."""

    def __init__(self, service: Service, settings: Settings, report: Callable[[], None]):
        self.service = service
        self.settings = settings
        self.report = report
        self.proc: asyncio.subprocess.Process | None = None
        self.wanted = False
        self.enabled = False
        self.state = idle_state()
        self.task: asyncio.Task | None = None
        self.log_path = settings.state_dir / "services" / f"{service.name}.log"
        self.pid_path = self.log_path.with_suffix(".pid")
        self.identity: pidfiles.Identity | None = None

    def set(self, active: str, sub: str) -> None:
        pid = self.proc.pid if self.proc and self.proc.returncode is None else None
        since = self.state["since"] if active == self.state["active"] else rfc3339(time.time())
        self.state = {"active": active, "sub": sub, "since": since, "main_pid": pid,
                      "enabled": self.enabled}
        self.report()

    async def spawn(self) -> asyncio.subprocess.Process:
        argv = self.service.argv(self.settings)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True, preexec_fn=dies_with(os.getpid()))
        self._record(argv[0])
        log.info("started %s (pid %d)", self.service.name, proc.pid)
        return proc

    def _record(self, exe: str) -> None:
        """The pid file, for the next rockd should this one be killed."""
        assert self.proc is not None
        self.identity = pidfiles.identify(self.proc.pid, exe)
        if self.identity is None:
            return  # gone already: start() sees it
        try:
            pidfiles.write(self.pid_path, self.identity)
        except OSError as exc:
            log.error("could not write %s: %s", self.pid_path, exc)

    def _forget(self) -> None:
        """The child is gone, with its session: its pid file goes too."""
        if self.identity is not None:
            with contextlib.suppress(OSError):
                pidfiles.remove(self.pid_path, self.identity)
            self.identity = None

    async def end_left_behind(self) -> None:
        """Before it is first started: end what a previous rockd left running of it."""
        await pidfiles.end_left_behind(self.pid_path, self.service.name, STOP_TIMEOUT)

    def tail(self, lines: int = 5) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def start(self) -> None:
        """Start it and see it stay up for a moment; raises with its last words if not."""
        if self.wanted and self.task is not None:
            return
        self.wanted = True
        self.set("activating", "start")
        try:
            proc = await self.spawn()
            async with asyncio.timeout(STARTUP_GRACE):
                code = await proc.wait()
        except TimeoutError:
            self.set("active", "running")
            self.task = asyncio.create_task(self._watch(), name=f"service-{self.service.name}")
            return
        except Exception:
            self.wanted = False
            self._forget()
            self.set("failed", "failed")
            raise
        self.wanted = False
        self._signal(proc, signal.SIGKILL)  # what it forked before dying goes too
        self._forget()
        self.set("failed", "failed")
        raise Unprocessable(f"{self.service.name} exited {code} at start: {self.tail()}",
                            code="service_failed")

    async def _watch(self) -> None:
        """Wait on the child; while it is wanted, start it again with growing pauses."""
        backoff = BACKOFF_FIRST
        proc = self.proc
        assert proc is not None  # started by `start`
        while True:
            started = time.monotonic()
            code = await proc.wait()
            if not self.wanted:
                return
            self._signal(proc, signal.SIGKILL)  # what it left behind goes too
            log.warning("%s exited %s; starting it again in %.0f s", self.service.name, code,
                        backoff)
            self.set("activating", "auto-restart")
            if time.monotonic() - started > STEADY:
                backoff = BACKOFF_FIRST
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
            try:
                proc = await self.spawn()
            except Exception as exc:
                log.error("%s could not be started again: %s", self.service.name, exc)
                self.wanted = False
                self._forget()
                self.set("failed", "failed")
                return
            self.set("active", "running")

    async def stop(self) -> None:
        self.wanted = False
        if self.task is not None:
            await cancel_and_wait(self.task)
            self.task = None
        proc = self.proc
        if proc is None or proc.returncode is not None:
            self._forget()
            self.set("inactive", "dead")
            return
        self.set("deactivating", "stop-sigterm")
        self._signal(proc, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT):
                await proc.wait()
        self._signal(proc, signal.SIGKILL)  # whatever did not end by itself
        await proc.wait()
        self._forget()
        self.set("inactive", "dead")

    def reload(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            os.kill(self.proc.pid, self.service.reload_signal)

    @staticmethod
    def _signal(proc: asyncio.subprocess.Process, sig: int) -> None:
        """The whole session: a daemon's own children (smbd's, sshd's) go with it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)


class SuperviseBackend:
    """The services as rockd's own children."""

    name = "rockd"

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store
        self.children: dict[str, Child] = {}
        self.changed: Callable[[str, dict[str, Any]], None] | None = None

    async def open(self, services: list[Service],
                   changed: Callable[[str, dict[str, Any]], None]) -> None:
        self.changed = changed
        intents = await self.store.intents("service")
        for service in services:
            child = Child(service, self.settings, functools.partial(self._report, service.name))
            child.enabled = bool(intents.get(service.name, {}).get("enabled"))
            child.state["enabled"] = child.enabled
            self.children[service.name] = child
        await asyncio.gather(*(child.end_left_behind() for child in self.children.values()))

    async def start_enabled(self) -> None:
        """At start-up, once the configurations are written: start what should run."""
        for child in self.children.values():
            if child.enabled and child.service.args is not None and child.service.available():
                try:
                    await child.start()
                except Exception as exc:
                    log.error("%s did not start: %s", child.service.name, exc)

    def _report(self, name: str) -> None:
        if self.changed is not None:
            self.changed(name, self.children[name].state)

    async def close(self) -> None:
        await asyncio.gather(*(child.stop() for child in self.children.values()
                               if child.proc is not None))
        self.changed = None

    def _child(self, service: Service) -> Child:
        child = self.children[service.name]
        if service.args is None:
            raise Unprocessable(f"{service.name} runs in the kernel; rockd cannot run it "
                                "itself", code="unavailable")
        return child

    async def start(self, service: Service) -> None:
        await self._child(service).start()

    async def stop(self, service: Service) -> None:
        await self.children[service.name].stop()

    async def restart(self, service: Service) -> None:
        child = self._child(service)
        await child.stop()
        await child.start()

    async def reload(self, service: Service) -> None:
        self._child(service).reload()

    async def _set_enabled(self, service: Service, enabled: bool) -> None:
        await self.store.set_intent("service", service.name, {"enabled": enabled})
        child = self.children[service.name]
        child.enabled = enabled
        child.set(child.state["active"], child.state["sub"])

    async def enable(self, service: Service) -> None:
        self._child(service)
        await self._set_enabled(service, True)

    async def disable(self, service: Service) -> None:
        await self._set_enabled(service, False)

    def state(self, service: Service) -> dict[str, Any]:
        return self.children[service.name].state

    def runs(self, service: Service) -> bool:
        return service.args is not None
