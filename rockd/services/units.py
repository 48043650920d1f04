"""The services rockd controls, and /services/{name} in the tree.

Each `Service` says what it is: its systemd unit, and how rockd runs it itself where systemd is
not PID 1. `Services` is the one place the rest of rockd asks to start, stop or reload one; a
backend (systemd over D-Bus, or rockd's own supervised children) does it and reports every
change of state, which is set in the tree as it comes: nothing polls.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rockd.config import Settings
from rockd.core.errors import Conflict, NotFound, Unprocessable
from rockd.core.tree import Subtree

log = logging.getLogger(__name__)

SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


@dataclass(frozen=True)
class Service:
    """One managed service. `args` are its arguments after the binary when rockd runs it (in
    the foreground); None where rockd cannot run it itself (the kernel's NFS server)."""

    name: str
    unit: str
    binary: str
    args: Callable[[Settings], list[str]] | None
    reload_signal: int = signal.SIGHUP

    def path(self) -> str | None:
        return shutil.which(self.binary, path=SEARCH_PATH)

    def available(self) -> bool:
        return self.path() is not None

    def argv(self, settings: Settings) -> list[str]:
        """The command that runs it in the foreground (an absolute path: sshd needs one)."""
        path = self.path()
        if path is None or self.args is None:
            raise Unprocessable(f"{self.name} cannot be run here", code="unavailable")
        return [path, *self.args(settings)]


def _samba(settings: Settings) -> list[str]:
    return ["--foreground", "--no-process-group", "-s", str(settings.samba_dir / "smb.conf")]


def _sshd(settings: Settings) -> list[str]:
    return ["-D", "-e", "-f", str(settings.sftp_root / "sshd_config")]


def _dockerd(settings: Settings) -> list[str]:
    """On the socket rockd's apps use, with the arguments the settings add (the demo's
    private engine: its own data root, bridge and no changes to the host's firewall)."""
    return ["--host", f"unix://{settings.docker_socket}", *settings.docker_args]


CATALOGUE: tuple[Service, ...] = (
    Service("smbd", "smbd.service", "smbd", _samba),
    Service("nmbd", "nmbd.service", "nmbd", _samba),
    Service("nfs-server", "nfs-server.service", "rpc.nfsd", None),
    Service("sftp", "rockd-sftp.service", "sshd", _sshd),
    Service("docker", "docker.service", "dockerd", _dockerd),
)

UNIT_STATES = ("active", "inactive", "failed", "activating", "deactivating", "reloading")



def idle_state(enabled: bool = False) -> dict[str, Any]:
    return {"active": "inactive", "sub": "dead", "since": None, "main_pid": None,
            "enabled": enabled}


class Backend(Protocol):
    """Who really starts and stops the services: systemd, or rockd itself."""

    name: str

    async def open(self, services: list[Service],
                   changed: Callable[[str, dict[str, Any]], None]) -> None: ...
    async def close(self) -> None: ...
    async def start(self, service: Service) -> None: ...
    async def stop(self, service: Service) -> None: ...
    async def restart(self, service: Service) -> None: ...
    async def reload(self, service: Service) -> None: ...
    async def enable(self, service: Service) -> None: ...
    async def disable(self, service: Service) -> None: ...
    def state(self, service: Service) -> dict[str, Any]: ...
    def runs(self, service: Service) -> bool: ...  # whether it can run this one at all


class Services:
    """/services in the tree, and the verbs on each service."""

    def __init__(self, tree: Subtree, backend: Backend,
                 services: tuple[Service, ...] = CATALOGUE):
        self.tree = tree
        self.backend = backend
        self.services = {s.name: s for s in services}

    async def open(self) -> None:
        await self.backend.open(list(self.services.values()), self._changed)
        with self.tree.transaction():
            for service in self.services.values():
                self._changed(service.name, self.backend.state(service))

    async def start_enabled(self) -> None:
        """Where rockd runs the services, start those enabled (systemd does its own)."""
        start = getattr(self.backend, "start_enabled", None)
        if start is not None:
            await start()

    async def close(self) -> None:
        await self.backend.close()

    def _changed(self, name: str, state: dict[str, Any]) -> None:
        service = self.services[name]
        self.tree.set(("services", name), {
            "name": name, "unit": service.unit, "backend": self.backend.name,
            "available": self._available(service), **state})

    def _available(self, service: Service) -> bool:
        return service.available() and self.backend.runs(service)

    def get(self, name: str) -> Service:
        service = self.services.get(name)
        if service is None:
            raise NotFound(f"no service {name}")
        return service

    def state(self, name: str) -> dict[str, Any]:
        return self.tree.resource("services", self.get(name).name)

    def states(self) -> list[dict[str, Any]]:
        """Every service with its live state."""
        return list((self.tree.get("/services") or {}).values())

    def _usable(self, name: str) -> Service:
        service = self.get(name)
        if not service.available():
            raise Unprocessable(f"{name} is not installed on this machine", code="unavailable")
        if not self.backend.runs(service):
            raise Unprocessable(f"{name} runs in the kernel; rockd cannot run it itself",
                                code="unavailable")
        return service

    async def start(self, name: str) -> dict[str, Any]:
        await self.backend.start(self._usable(name))
        return self.state(name)

    async def stop(self, name: str) -> dict[str, Any]:
        await self.backend.stop(self.get(name))
        return self.state(name)

    async def restart(self, name: str) -> dict[str, Any]:
        await self.backend.restart(self._usable(name))
        return self.state(name)

    async def reload(self, name: str) -> dict[str, Any]:
        """Make a running service read its configuration again."""
        service = self._usable(name)
        if self.backend.state(service)["active"] != "active":
            raise Conflict(f"{name} is not running", code="not_running")
        await self.backend.reload(service)
        return self.state(name)

    async def ensure_running(self, name: str) -> dict[str, Any]:
        """Start it unless it runs (after its configuration was first written), else reload."""
        service = self._usable(name)
        if self.backend.state(service)["active"] in ("active", "reloading"):
            await self.backend.reload(service)
        else:
            await self.backend.start(service)
        return self.state(name)

    async def enable(self, name: str) -> dict[str, Any]:
        await self.backend.enable(self._usable(name))
        return self.state(name)

    async def disable(self, name: str) -> dict[str, Any]:
        await self.backend.disable(self.get(name))
        return self.state(name)
