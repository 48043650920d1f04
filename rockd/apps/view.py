"""What /apps/{name} shows: an installed app's record and its containers as the engine last
described them, made into one view (state, health, ports and the UI's address, the shares of
its volumes, the values that are not secret, whether the catalog has an update).

Pure: the record, the engine's descriptions and what the view needs of the rest of the state
are given.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from rockd.apps.containers import container_name
from rockd.apps.definitions import ContainerSpec, Definition

HEALTH_ORDER = ("unhealthy", "starting", "healthy")
"""The worst first: an app's health is its least healthy container's."""


def app_view(name: str, record: dict[str, Any], busy: dict[str, Any] | None,
             found: list[dict[str, Any]] | None, latest: Definition | None, host: str,
             share: Callable[[str], dict[str, Any] | None]) -> dict[str, Any]:
    """The view of app `name` installed as `record`: `busy` is the job working on it, if any;
    `found` the engine's descriptions of its containers (None: not known, the engine being
    away); `latest` the catalog's definition; `host` what the UI's address names."""
    definition = Definition.model_validate(record["definition"])
    by_name = {c["Name"].lstrip("/"): c for c in found or []}
    containers = {spec.name: container_view(container_name(name, spec.name), spec,
                                            by_name.get(container_name(name, spec.name)),
                                            found is None)
                  for spec in definition.ordered()}
    ports, ui = _ports(definition, record, host)
    env_specs = definition.env()
    healths = [c["health"] for c in containers.values() if c["health"]]
    tags = {c.name: c.tag for c in definition.containers}
    return {
        "name": name, "title": definition.title, "description": definition.description,
        "website": definition.website,
        "state": busy["state"] if busy is not None else overall_state(
            [c["state"] for c in containers.values()], found is None),
        "health": next((h for h in HEALTH_ORDER if h in healths), None),
        "job": busy["job"] if busy else None, "containers": containers, "ports": ports,
        "volumes": _volumes(definition, record, share),
        "env": {k: v for k, v in record["env"].items()
                if k in env_specs and not env_specs[k].secret},
        "ui": ui, "tags": tags,
        "installed": record.get("installed"), "updated": record.get("updated"),
        "update_available": bool(latest is not None and
                                 {c.name: c.tag for c in latest.containers} != tags),
    }


def overall_state(states: list[str], unknown: bool) -> str:
    """An app's state from its containers' (none of its jobs running)."""
    if unknown:
        return "unknown"
    if all(s == "running" for s in states):
        return "running"
    if any(s == "missing" for s in states):
        return "broken"
    if any(s == "restarting" for s in states):
        return "restarting"
    if all(s in ("exited", "created", "dead") for s in states):
        return "stopped"
    return "partial"


def container_view(docker_name: str, spec: ContainerSpec, found: dict[str, Any] | None,
                   unknown: bool) -> dict[str, Any]:
    """One container: as the engine described it (`found`), or missing (unknown while the
    engine is away)."""
    if found is None:
        return {"name": docker_name, "id": None, "image": f"{spec.image}:{spec.tag}",
                "state": "unknown" if unknown else "missing", "health": None,
                "started": None, "finished": None, "exit_code": None, "restarts": 0}
    state = found.get("State") or {}
    running = state.get("Status") == "running"
    return {
        "name": docker_name, "id": found["Id"][:12],
        "image": (found.get("Config") or {}).get("Image"),
        "state": state.get("Status", "unknown"),
        "health": (state.get("Health") or {}).get("Status"),
        "started": state.get("StartedAt") if running else None,
        "finished": None if running else state.get("FinishedAt"),
        "exit_code": None if running else state.get("ExitCode"),
        "restarts": found.get("RestartCount", 0),
    }


def ui_host(listen_host: str) -> str:
    """The host an app's UI is reached by: the one rockd listens on, or this machine's name
    where it listens on every address."""
    if listen_host in ("0.0.0.0", "::", ""):  # noqa: S104
        return socket.gethostname()
    return f"[{listen_host}]" if ":" in listen_host else listen_host


def _ports(definition: Definition, record: dict[str, Any], host: str
           ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    ports = []
    ui = None
    for spec, port in definition.ports():
        bound = record["ports"].get(f"{port.container}/{port.protocol}", port.host)
        ports.append({"container": port.container, "host": bound, "protocol": port.protocol,
                      "label": port.label, "ui": port.ui, "container_name": spec.name})
        if port.ui:
            scheme = "https" if port.ui_https else "http"
            ui = {"scheme": scheme, "port": bound, "path": port.ui_path,
                  "url": f"{scheme}://{host}:{bound}{port.ui_path}"}
    return ports, ui


def _volumes(definition: Definition, record: dict[str, Any],
             share: Callable[[str], dict[str, Any] | None]) -> list[dict[str, Any]]:
    volumes = []
    for path, spec in definition.volumes().items():
        share_id = record["volumes"].get(path)
        found = share(share_id) if share_id else None
        volumes.append({"container": path, "label": spec.label, "share": share_id,
                        "share_name": found["name"] if found else None,
                        "read_only": spec.read_only})
    return volumes
