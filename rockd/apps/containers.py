"""An app's containers as the Docker engine knows them: their names, the app's network, and
the body of the engine's create-container call for each (labels, restart policy, log limits,
the shares bind-mounted, the host ports, devices, health check).

Pure: what it needs of the state (a share's path) is given as a function.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rockd.apps.definitions import ContainerSpec, Definition
from rockd.apps.engine import LABEL_APP, LABEL_CONTAINER, LABEL_INSTANCE
from rockd.core.errors import Unprocessable

RESTART_POLICY = {"Name": "unless-stopped"}
LOG_CONFIG = {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
SECOND = 1_000_000_000  # the engine counts durations in nanoseconds


def container_name(app: str, container: str) -> str:
    return f"rockd-{app}-{container}"


def network_name(app: str) -> str:
    return f"rockd-{app}"


def needs_network(definition: Definition) -> bool:
    """Whether the app's containers find each other on a network of its own (more than one
    on the bridge)."""
    return sum(c.network == "bridge" for c in definition.containers) > 1


def labels(app: str, instance: str) -> dict[str, str]:
    """What marks the engine's objects as this rockd's and this app's."""
    return {LABEL_APP: app, LABEL_INSTANCE: instance}


def create_body(app: str, spec: ContainerSpec, record: dict[str, Any], definition: Definition,
                instance: str, share_path: Callable[[str], str | None]) -> dict[str, Any]:
    """The engine's create-container body for container `spec` of the app installed as
    `record`; `share_path(id)` answers where a share is (None: it is gone, 422)."""
    network, endpoints = _network(app, spec, definition)
    host_config: dict[str, Any] = {
        "RestartPolicy": RESTART_POLICY, "LogConfig": LOG_CONFIG,
        "Mounts": _mounts(spec, record, share_path), "PortBindings": _bindings(spec, record),
        "Devices": [{"PathOnHost": d.host, "PathInContainer": d.container or d.host,
                     "CgroupPermissions": "rwm"}
                    for d in spec.devices if os.path.exists(d.host)],
        "Init": spec.init, "NetworkMode": network,
    }
    config: dict[str, Any] = {
        "Image": f"{spec.image}:{spec.tag}", "Env": _env(spec, record),
        "ExposedPorts": {f"{p.container}/{p.protocol}": {} for p in spec.ports},
        "Labels": {**labels(app, instance), LABEL_CONTAINER: spec.name},
        "HostConfig": host_config,
    }
    if endpoints:
        config["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    for key, value in (("Cmd", spec.command), ("Entrypoint", spec.entrypoint),
                       ("User", spec.user)):
        if value is not None:
            config[key] = value
    if spec.health is not None:
        config["Healthcheck"] = {
            "Test": spec.health.test, "Interval": int(spec.health.interval * SECOND),
            "Timeout": int(spec.health.timeout * SECOND), "Retries": spec.health.retries,
            "StartPeriod": int(spec.health.start_period * SECOND)}
    return config


def _env(spec: ContainerSpec, record: dict[str, Any]) -> list[str]:
    """NAME=value for each variable with a value: fixed by the definition, or chosen."""
    env = []
    for e in spec.env:
        value = e.value if e.value is not None else record["env"].get(e.name)
        if value is not None:
            env.append(f"{e.name}={value}")
    return env


def _mounts(spec: ContainerSpec, record: dict[str, Any],
            share_path: Callable[[str], str | None]) -> list[dict[str, Any]]:
    mounts = []
    for volume in spec.volumes:
        path = share_path(record["volumes"][volume.container])
        if path is None:
            raise Unprocessable(f"the share for {volume.container} is gone",
                                code="unknown_share")
        mounts.append({"Type": "bind", "Source": path, "Target": volume.container,
                       "ReadOnly": volume.read_only})
    return mounts


def _bindings(spec: ContainerSpec, record: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """Host ports, for a container on the bridge (one on the host's network uses its own)."""
    if spec.network != "bridge":
        return {}
    return {f"{p.container}/{p.protocol}": [
        {"HostIp": "", "HostPort": str(record["ports"][f"{p.container}/{p.protocol}"])}]
        for p in spec.ports}


def _network(app: str, spec: ContainerSpec, definition: Definition
             ) -> tuple[str, dict[str, Any]]:
    """The container's network mode, and its endpoint (its name as an alias) on the app's
    own network where it has one."""
    if spec.network == "bridge" and needs_network(definition):
        network = network_name(app)
        return network, {network: {"Aliases": [spec.name]}}
    return spec.network, {}
