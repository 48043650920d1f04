"""What the user chose for an app (the shares for its volumes, host ports, the values of its
variables), checked against its definition and this box before anything is made: the choices
made whole (defaults filled in), or the error naming the field that is wrong.

Host ports are probed by binding them (`port_free`); nothing else here has an effect.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rockd.apps.definitions import Definition, check_value
from rockd.core.errors import BadRequest, Conflict, NotFound, Unprocessable

Ports = dict[tuple[int, str], str]
"""(host port, protocol) -> the app holding it."""


def invalid(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", code="invalid_field", detail={"field": field})


def port_free(port: int, protocol: str) -> bool:
    """Whether nothing on this host holds the port (bound on any address, IPv4 or IPv6)."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):  # noqa: S104
        try:
            sock = socket.socket(family, kind)
        except OSError:
            continue  # no IPv6 here
        try:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
        finally:
            sock.close()
    return True


def ports_held(records: dict[str, dict[str, Any]], exclude: str) -> Ports:
    """Host ports the apps of `records` hold (whether their containers run or not), but
    `exclude`'s."""
    return {(host, key.split("/")[1]): name for name, record in records.items()
            if name != exclude for key, host in record["ports"].items()}


def check_choices(app: str, definition: Definition, volumes: dict[str, str],
                  ports: dict[str, int], env: dict[str, str], *,
                  share: Callable[[str], dict[str, Any] | None], mount_root: Path,
                  taken: Ports, held: frozenset[tuple[int, str]] = frozenset()
                  ) -> dict[str, Any]:
    """The choices made whole, or BadRequest/NotFound/Conflict/Unprocessable naming what is
    wrong. `share(id)` answers a share as the tree shows it; `taken`: the host ports other
    apps hold; `held`: those the app's own containers hold now (an update), not probed."""
    check_volumes(app, definition, volumes, share, mount_root)
    chosen = check_ports(app, definition, ports, taken, held)
    values = check_env(app, definition, env)
    check_devices(app, definition)
    return {"volumes": dict(volumes), "ports": chosen, "env": values}


def check_volumes(app: str, definition: Definition, volumes: dict[str, str],
                  share: Callable[[str], dict[str, Any] | None], mount_root: Path) -> None:
    """Every volume mapped, to a mounted share under the mount root."""
    wanted = definition.volumes()
    for path in volumes:
        if path not in wanted:
            raise invalid(f"volumes.{path}", f"{app} has no volume {path}")
    for path, spec in wanted.items():
        if path not in volumes:
            raise invalid(f"volumes.{path}", f"choose a share for {path} ({spec.label})")
    for path, share_id in volumes.items():
        found = share(share_id)
        if found is None:
            raise NotFound(f"no share {share_id} (for {path})", code="unknown_share",
                           detail={"field": f"volumes.{path}", "share": share_id})
        if not Path(found["path"]).resolve().is_relative_to(mount_root.resolve()):
            raise Unprocessable(f"share {found['name']} is not under {mount_root}",
                                code="outside_mount_root")
        if not os.path.isdir(found["path"]):
            raise Unprocessable(f"share {found['name']} is not mounted", code="not_mounted")


def check_ports(app: str, definition: Definition, ports: dict[str, int], taken: Ports,
                held: frozenset[tuple[int, str]]) -> dict[str, int]:
    """{"PORT/PROTOCOL": host port} for every port of the definition: chosen ("80" or
    "80/tcp") or its default; each free, and not another app's."""
    known = {f"{p.container}/{p.protocol}" for _, p in definition.ports()}
    for key in ports:
        if key not in known and not any(k.split("/")[0] == key for k in known):
            raise invalid(f"ports.{key}", f"{app} has no port {key}")
    chosen: dict[str, int] = {}
    for spec, port in definition.ports():
        key = f"{port.container}/{port.protocol}"
        host = ports.get(key, ports.get(str(port.container), port.host))
        field = f"ports.{port.container}"
        if spec.network == "host" and host != port.container:
            raise invalid(field, f"container {spec.name} uses the host's network: its ports "
                          "cannot be moved")
        if (host, port.protocol) in {(h, k.split("/")[1]) for k, h in chosen.items()}:
            raise invalid(field, f"host port {host}/{port.protocol} is chosen twice")
        chosen[key] = host
        if (host, port.protocol) in taken:
            raise Conflict(f"host port {host}/{port.protocol} is used by app "
                           f"{taken[host, port.protocol]}", code="port_in_use",
                           detail={"field": field, "port": host})
        if (host, port.protocol) not in held and not port_free(host, port.protocol):
            raise Conflict(f"host port {host}/{port.protocol} is already in use",
                           code="port_in_use", detail={"field": field, "port": host})
    return chosen


def check_env(app: str, definition: Definition, env: dict[str, str]) -> dict[str, str]:
    """The values of the variables the definition asks for: chosen or their defaults, each
    passing its checks; the required ones present."""
    specs = definition.env()
    for key in env:
        if key not in specs:
            raise invalid(f"env.{key}", f"{app} has no variable {key}")
        if specs[key].value is not None:
            raise invalid(f"env.{key}", "is fixed by the definition")
    values: dict[str, str] = {}
    for name, spec in specs.items():
        if spec.value is not None:
            continue
        value = env.get(name, spec.default)
        if value is None or value == "":
            if spec.required:
                raise invalid(f"env.{name}", f"{spec.label or name} is required")
            continue
        problem = check_value(spec, value)
        if problem:
            raise invalid(f"env.{name}", f"{spec.label or name} {problem}")
        values[name] = value
    return values


def check_devices(app: str, definition: Definition) -> None:
    """Every device the app cannot do without is on this box."""
    for spec in definition.containers:
        for device in spec.devices:
            if not device.optional and not os.path.exists(device.host):
                raise Unprocessable(f"this box has no {device.host}, which {app} needs",
                                    code="missing_device")
