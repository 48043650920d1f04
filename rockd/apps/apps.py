"""The installed apps: /apps/{name} in the tree, what the user chose for each, and the verbs.

What the user asked for (the definition as installed, the shares mapped to its volumes, the host
ports, the environment) is intent, kept in the store under kind "app". What runs is observed:
each app's containers as the engine reports them, rescanned on every engine event of theirs
(watchers/docker.py), never on a timer. The engine itself is shown at /apps-engine (up, down,
connecting; its version and the last error), since apps are its only users.

Install, update and uninstall are jobs (apps/jobs.py). Everything the user chose is checked
before a job starts (an impossible install is refused with nothing made); a job that fails
half-way removes what it made. Shares are only ever bind-mounted: nothing here writes, moves or
deletes a share's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import socket
from pathlib import Path
from typing import Any

from rockd.apps.definitions import Catalog, ContainerSpec, Definition, check_value
from rockd.apps.engine import (
    LABEL_APP,
    LABEL_CONTAINER,
    LABEL_INSTANCE,
    Engine,
    EngineDown,
    EngineError,
)
from rockd.config import Settings
from rockd.core.errors import BadRequest, Conflict, NotFound, Unprocessable
from rockd.core.rescan import Rescanner
from rockd.core.store import Store
from rockd.core.times import now
from rockd.core.tree import Tree
from rockd.jobs.supervisor import Jobs
from rockd.watchers.docker import DockerWatcher

log = logging.getLogger(__name__)

INTENT = "app"
META = "apps"
ENGINE_PATH = "/apps-engine"
RESTART_POLICY = {"Name": "unless-stopped"}
LOG_CONFIG = {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
STOP_SECONDS = 10
HEALTH_ORDER = ("unhealthy", "starting", "healthy")



def container_name(app: str, container: str) -> str:
    return f"rockd-{app}-{container}"


def network_name(app: str) -> str:
    return f"rockd-{app}"


def needs_network(definition: Definition) -> bool:
    return sum(c.network == "bridge" for c in definition.containers) > 1


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


class Apps:
    """/apps and /apps-engine in the tree, and install, update, uninstall, start, stop."""

    def __init__(self, tree: Tree, store: Store, jobs: Jobs, settings: Settings,
                 catalog: Catalog | None = None, engine: Engine | None = None):
        self.tree = tree
        self.store = store
        self.jobs = jobs
        self.settings = settings
        self.catalog = catalog or Catalog(settings.apps_catalog)
        self.engine = engine or Engine(settings.docker_socket)
        self.intents: dict[str, dict[str, Any]] = {}
        # apps a job is working on: name -> {"state": installing|updating|uninstalling,
        # "job": id, "record": what is being installed (until it is intent)}
        self.busy: dict[str, dict[str, Any]] = {}
        self.instance = ""
        self.shares: Any = None
        self.rescans = Rescanner("apps", self.rescan)
        self.watcher = DockerWatcher(self.engine, self.rescans.request, self._engine_state,
                                     self._connected)
        self._started = False

    # -- life --------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the intent and the catalog; register the job kinds."""
        from rockd.apps.jobs import InstallKind, UninstallKind, UpdateKind

        self.intents = await self.store.intents(INTENT)
        meta = await self.store.intents(META)
        self.instance = (meta.get("instance") or {}).get("id") or ""
        if not self.instance:
            self.instance = secrets.token_hex(8)
            await self.store.set_intent(META, "instance", {"id": self.instance})
        self.catalog.load()
        for kind in (InstallKind(self), UpdateKind(self), UninstallKind(self)):
            self.jobs.register(kind)

    async def start(self, ctx: Any) -> None:
        """Once the shares are seen: publish what is known, then follow the engine."""
        self.shares = ctx.shares
        ctx.shares.refer(self)
        with self.tree.transaction():
            if not isinstance(self.tree.get("/apps"), dict):
                self.tree.set("/apps", {})
            for name in list(self.tree.get("/apps") or {}):
                if name not in self.intents:  # the journal's, from before a restart
                    self.tree.delete(("apps", name))
            for name in self.intents:
                self.tree.set(("apps", name), self._view(name, None))
            self.tree.set(ENGINE_PATH, self.watcher.state)
        self.rescans.start()
        self.watcher.start()
        self._started = True

    async def stop(self) -> None:
        if self._started:
            await self.watcher.stop()
            await self.rescans.stop()
        await self.engine.close()

    # -- observing ---------------------------------------------------------------------------

    @property
    def engine_up(self) -> bool:
        return self.watcher.state["state"] == "up"

    def _engine_state(self, state: dict[str, Any]) -> None:
        self.tree.set(ENGINE_PATH, state)
        if state["state"] != "up":
            for name in self._known():
                self.rescans.request(name)

    def _known(self) -> set[str]:
        return set(self.intents) | set(self.busy) | set(self.tree.get("/apps") or {})

    async def _connected(self) -> None:
        """The engine (again) answers: remove what an interrupted install left, then look at
        every app afresh."""
        try:
            ours = await self.engine.containers({LABEL_INSTANCE: self.instance})
        except EngineError as exc:
            log.warning("cannot list the engine's containers: %s", exc)
            return
        names = self._known()
        for summary in ours:
            app = (summary.get("Labels") or {}).get(LABEL_APP, "")
            if app in self.intents or app in self.busy:
                continue
            log.warning("removing container %s of app %s, which is not installed (left by an "
                        "interrupted install)", (summary.get("Names") or ["?"])[0], app)
            with contextlib.suppress(EngineError):
                await self.engine.remove(summary["Id"])
            with contextlib.suppress(EngineError):
                await self.engine.remove_network(network_name(app))
        for name in names:
            self.rescans.request(name)

    async def rescan(self, name: str) -> None:
        record = self._record(name)
        if record is None:
            if self.tree.exists(("apps", name)):
                self.tree.delete(("apps", name))
            return
        found: list[dict[str, Any]] | None = None
        if self.engine_up:
            try:
                summaries = await self.engine.containers(
                    {LABEL_APP: name, LABEL_INSTANCE: self.instance})
                found = [d for d in [await self.engine.inspect(s["Id"]) for s in summaries]
                         if d is not None]
            except EngineDown:
                found = None  # the watcher sees the same and reports it
            except EngineError as exc:
                log.warning("cannot inspect app %s: %s", name, exc)
                found = None
        if self._record(name) is None:  # uninstalled meanwhile
            if self.tree.exists(("apps", name)):
                self.tree.delete(("apps", name))
            return
        self.tree.set(("apps", name), self._view(name, found))

    async def settled(self, name: str) -> None:
        self.rescans.request(name)
        await self.rescans.settle()

    def _record(self, name: str) -> dict[str, Any] | None:
        busy = self.busy.get(name)
        if busy is not None and busy.get("record") is not None:
            return busy["record"]
        return self.intents.get(name)

    def _view(self, name: str, found: list[dict[str, Any]] | None) -> dict[str, Any]:
        record = self._record(name)
        assert record is not None
        definition = Definition.model_validate(record["definition"])
        by_name = {c["Name"].lstrip("/"): c for c in found or []}
        containers: dict[str, dict[str, Any]] = {}
        for spec in definition.ordered():
            docker_name = container_name(name, spec.name)
            containers[spec.name] = self._container_view(
                docker_name, spec, by_name.get(docker_name), found is None)
        ports = []
        ui = None
        for spec, port in definition.ports():
            host = record["ports"].get(f"{port.container}/{port.protocol}", port.host)
            ports.append({"container": port.container, "host": host, "protocol": port.protocol,
                          "label": port.label, "ui": port.ui, "container_name": spec.name})
            if port.ui:
                scheme = "https" if port.ui_https else "http"
                ui = {"scheme": scheme, "port": host, "path": port.ui_path,
                      "url": f"{scheme}://{self._host()}:{host}{port.ui_path}"}
        volumes = []
        for path, spec_v in definition.volumes().items():
            share_id = record["volumes"].get(path)
            share = self.tree.get(("shares", share_id)) if share_id else None
            volumes.append({"container": path, "label": spec_v.label, "share": share_id,
                            "share_name": share["name"] if share else None,
                            "read_only": spec_v.read_only})
        env_specs = definition.env()
        env = {k: v for k, v in record["env"].items()
               if k in env_specs and not env_specs[k].secret}
        busy = self.busy.get(name)
        states = [c["state"] for c in containers.values()]
        if busy is not None:
            state = busy["state"]
        elif found is None:
            state = "unknown"
        elif all(s == "running" for s in states):
            state = "running"
        elif any(s == "missing" for s in states):
            state = "broken"
        elif any(s == "restarting" for s in states):
            state = "restarting"
        elif all(s in ("exited", "created", "dead") for s in states):
            state = "stopped"
        else:
            state = "partial"
        healths = [c["health"] for c in containers.values() if c["health"]]
        health = next((h for h in HEALTH_ORDER if h in healths), None)
        latest = self.catalog.get(name)
        tags = {c.name: c.tag for c in definition.containers}
        return {
            "name": name, "title": definition.title, "description": definition.description,
            "website": definition.website, "state": state, "health": health,
            "job": busy["job"] if busy else None, "containers": containers, "ports": ports,
            "volumes": volumes, "env": env, "ui": ui, "tags": tags,
            "installed": record.get("installed"), "updated": record.get("updated"),
            "update_available": bool(latest is not None and
                                     {c.name: c.tag for c in latest.containers} != tags),
        }

    @staticmethod
    def _container_view(docker_name: str, spec: ContainerSpec, found: dict[str, Any] | None,
                        unknown: bool) -> dict[str, Any]:
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

    def _host(self) -> str:
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104
            return socket.gethostname()
        return f"[{host}]" if ":" in host else host

    # -- reading -----------------------------------------------------------------------------

    def get(self, name: str) -> dict[str, Any]:
        return self.tree.resource("apps", name)

    def installed(self) -> list[dict[str, Any]]:
        return sorted((self.tree.get("/apps") or {}).values(), key=lambda a: a["name"])

    def catalog_list(self) -> list[dict[str, Any]]:
        self._reload_catalog()
        return [d.public() for _, d in sorted(self.catalog.definitions.items())]

    def _reload_catalog(self) -> None:
        before = {n: d for n, d in self.catalog.definitions.items()}
        self.catalog.load()
        if before != self.catalog.definitions:
            for name in self.intents:
                self.rescans.request(name)  # whether an update is available may have changed

    def _definition(self, app: str) -> Definition:
        self._reload_catalog()
        definition = self.catalog.get(app)
        if definition is not None:
            return definition
        problem = self.catalog.problem_of(app)
        if problem is not None:
            raise Unprocessable(f"the definition of {app} is not valid: {problem}",
                                code="invalid_definition", detail={"reason": problem})
        raise NotFound(f"no app {app} in the catalog", code="unknown_app")

    def _require_engine(self) -> None:
        if not self.engine_up:
            raise Unprocessable("the Docker engine is not running "
                                f"({self.watcher.state.get('error') or 'not connected yet'})",
                                code="engine_down")

    def _installed_record(self, name: str) -> dict[str, Any]:
        record = self.intents.get(name)
        if record is None:
            raise NotFound(f"no app {name} is installed")
        busy = self.busy.get(name)
        if busy is not None:
            raise Conflict(f"{name} is {busy['state']} (job {busy['job']})", code="busy",
                           detail={"job": busy["job"]})
        return record

    # -- the user's choices ------------------------------------------------------------------

    def check_choices(self, app: str, definition: Definition, volumes: dict[str, str],
                      ports: dict[str, int], env: dict[str, str],
                      held: frozenset[tuple[int, str]] = frozenset()) -> dict[str, Any]:
        """The choices made whole (defaults filled in) or BadRequest/NotFound/Conflict/
        Unprocessable naming what is wrong. Nothing is changed. `held`: host ports the app's
        own containers hold now (an update), which are not probed."""
        wanted = definition.volumes()
        for path in volumes:
            if path not in wanted:
                raise invalid(f"volumes.{path}", f"{app} has no volume {path}")
        for path, spec in wanted.items():
            if path not in volumes:
                raise invalid(f"volumes.{path}", f"choose a share for {path} ({spec.label})")
        for path, share_id in volumes.items():
            share = self.tree.get(("shares", share_id))
            if share is None:
                raise NotFound(f"no share {share_id} (for {path})", code="unknown_share",
                               detail={"field": f"volumes.{path}", "share": share_id})
            if not Path(share["path"]).resolve().is_relative_to(
                    self.settings.mount_root.resolve()):
                raise Unprocessable(f"share {share['name']} is not under "
                                    f"{self.settings.mount_root}", code="outside_mount_root")
            if not os.path.isdir(share["path"]):
                raise Unprocessable(f"share {share['name']} is not mounted", code="not_mounted")

        chosen: dict[str, int] = {}
        known = {f"{p.container}/{p.protocol}" for _, p in definition.ports()}
        for key in ports:
            if key not in known and not any(k.split("/")[0] == key for k in known):
                raise invalid(f"ports.{key}", f"{app} has no port {key}")
        taken = self._ports_in_use(exclude=app)
        for spec, port in definition.ports():
            key = f"{port.container}/{port.protocol}"
            host = ports.get(key, ports.get(str(port.container), port.host))
            if spec.network == "host" and host != port.container:
                raise invalid(f"ports.{port.container}", f"container {spec.name} uses the "
                              "host's network: its ports cannot be moved")
            if (host, port.protocol) in {(h, k.split("/")[1]) for k, h in chosen.items()}:
                raise invalid(f"ports.{port.container}",
                              f"host port {host}/{port.protocol} is chosen twice")
            chosen[key] = host
            if (host, port.protocol) in taken:
                raise Conflict(f"host port {host}/{port.protocol} is used by app "
                               f"{taken[host, port.protocol]}", code="port_in_use",
                               detail={"field": f"ports.{port.container}", "port": host})
            if (host, port.protocol) not in held and not port_free(host, port.protocol):
                raise Conflict(f"host port {host}/{port.protocol} is already in use",
                               code="port_in_use",
                               detail={"field": f"ports.{port.container}", "port": host})

        specs = definition.env()
        values: dict[str, str] = {}
        for key in env:
            if key not in specs:
                raise invalid(f"env.{key}", f"{app} has no variable {key}")
            if specs[key].value is not None:
                raise invalid(f"env.{key}", "is fixed by the definition")
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

        for spec in definition.containers:
            for device in spec.devices:
                if not device.optional and not os.path.exists(device.host):
                    raise Unprocessable(f"this box has no {device.host}, which {app} needs",
                                        code="missing_device")
        return {"volumes": dict(volumes), "ports": chosen, "env": values}

    def _ports_in_use(self, exclude: str) -> dict[tuple[int, str], str]:
        """Host ports other installed apps hold (whether their containers run or not)."""
        taken: dict[tuple[int, str], str] = {}
        records = {**self.intents, **{n: b["record"] for n, b in self.busy.items()
                                      if b.get("record")}}
        for name, record in records.items():
            if name == exclude:
                continue
            for key, host in record["ports"].items():
                taken[host, key.split("/")[1]] = name
        return taken

    # -- verbs -------------------------------------------------------------------------------

    def install(self, app: str, volumes: dict[str, str], ports: dict[str, int],
                env: dict[str, str]) -> dict[str, Any]:
        """Check everything, then start the install job; answer the job."""
        definition = self._definition(app)
        if app in self.intents or app in self.busy:
            raise Conflict(f"{app} is already installed", code="exists")
        self._require_engine()
        choices = self.check_choices(app, definition, volumes, ports, env)
        record = {"app": app, "definition": definition.model_dump(mode="json", by_alias=True,
                                                                  exclude_none=True),
                  **choices, "installed": now(), "updated": None}
        return self._start_job("app_install", app, "installing", record)

    def update(self, name: str) -> dict[str, Any]:
        """Recreate the app's containers from the catalog's definition (a new tag there is
        what is pulled), keeping the user's choices."""
        old = self._installed_record(name)
        self._require_engine()
        definition = self._definition(name)
        held = frozenset((host, key.split("/")[1]) for key, host in old["ports"].items())
        # what the new definition no longer has is dropped; what it adds takes its defaults
        # (or, a new volume or required value, refuses the update: 400 naming it)
        ports = {f"{p.container}/{p.protocol}" for _, p in definition.ports()}
        asked = {n for n, e in definition.env().items() if e.value is None}
        choices = self.check_choices(
            name, definition,
            {k: v for k, v in old["volumes"].items() if k in definition.volumes()},
            {k: v for k, v in old["ports"].items() if k in ports},
            {k: v for k, v in old["env"].items() if k in asked}, held)
        record = {**old, "definition": definition.model_dump(mode="json", by_alias=True,
                                                            exclude_none=True),
                  **choices, "updated": now()}
        return self._start_job("app_update", name, "updating", record)

    def uninstall(self, name: str) -> dict[str, Any]:
        self._installed_record(name)
        self._require_engine()
        return self._start_job("app_uninstall", name, "uninstalling", None)

    def _start_job(self, kind: str, name: str, state: str,
                   record: dict[str, Any] | None) -> dict[str, Any]:
        self.busy[name] = {"state": state, "job": None, "record": record}
        try:
            job = self.jobs.start(kind, name, {"app": name})
        except Exception:
            self.busy.pop(name, None)
            raise
        self.busy[name]["job"] = job["id"]
        shown = self.tree.get(("apps", name))
        if shown is None:  # an install: nothing of it exists yet
            self.tree.set(("apps", name), self._view(name, []))
        else:  # the containers as last seen, until the job's first steps are rescanned
            self.tree.set(("apps", name), {**shown, "state": state, "job": job["id"]})
        return job

    async def done(self, name: str) -> None:
        """A job on the app ended (whatever its outcome): show what is there now, before the
        job itself is shown ended."""
        self.busy.pop(name, None)
        try:
            async with asyncio.timeout(10):
                await self.settled(name)
        except TimeoutError:
            self.rescans.request(name)

    async def act(self, name: str, verb: str) -> dict[str, Any]:
        """start, stop or restart every container of the app, in order (stop: in reverse)."""
        record = self._installed_record(name)
        self._require_engine()
        definition = Definition.model_validate(record["definition"])
        order = definition.ordered()
        if verb == "stop":
            order = list(reversed(order))
        try:
            for spec in order:
                docker_name = container_name(name, spec.name)
                if verb == "start":
                    await self.engine.start(docker_name)
                elif verb == "stop":
                    await self.engine.stop(docker_name, STOP_SECONDS)
                else:
                    await self.engine.restart(docker_name, STOP_SECONDS)
        except EngineDown as exc:
            raise Unprocessable(str(exc), code="engine_down") from None
        except EngineError as exc:
            if exc.status == 404:
                raise Conflict(f"a container of {name} is missing; update the app to recreate "
                               "it", code="broken") from None
            raise Unprocessable(str(exc), code="engine_refused") from None
        finally:
            await self.settled(name)
        return self.get(name)

    # -- what the jobs do (apps/jobs.py drives these) ----------------------------------------

    def config(self, name: str, spec: ContainerSpec, record: dict[str, Any],
               definition: Definition) -> dict[str, Any]:
        """The engine's create-container body for one container of the app."""
        env = []
        for e in spec.env:
            value = e.value if e.value is not None else record["env"].get(e.name)
            if value is not None:
                env.append(f"{e.name}={value}")
        mounts = []
        for volume in spec.volumes:
            share = self.tree.get(("shares", record["volumes"][volume.container]))
            if share is None:
                raise Unprocessable(f"the share for {volume.container} is gone",
                                    code="unknown_share")
            mounts.append({"Type": "bind", "Source": share["path"], "Target": volume.container,
                           "ReadOnly": volume.read_only})
        exposed: dict[str, dict] = {}
        bindings: dict[str, list[dict[str, str]]] = {}
        for port in spec.ports:
            key = f"{port.container}/{port.protocol}"
            exposed[key] = {}
            if spec.network == "bridge":
                bindings[key] = [{"HostIp": "", "HostPort": str(record["ports"][key])}]
        devices = [{"PathOnHost": d.host, "PathInContainer": d.container or d.host,
                    "CgroupPermissions": "rwm"}
                   for d in spec.devices if os.path.exists(d.host)]
        network = spec.network
        endpoints: dict[str, Any] = {}
        if spec.network == "bridge" and needs_network(definition):
            network = network_name(name)
            endpoints = {network: {"Aliases": [spec.name]}}
        host_config: dict[str, Any] = {
            "RestartPolicy": RESTART_POLICY, "LogConfig": LOG_CONFIG, "Mounts": mounts,
            "PortBindings": bindings, "Devices": devices, "Init": spec.init,
            "NetworkMode": network,
        }
        config: dict[str, Any] = {
            "Image": f"{spec.image}:{spec.tag}", "Env": env, "ExposedPorts": exposed,
            "Labels": {LABEL_APP: name, LABEL_CONTAINER: spec.name,
                       LABEL_INSTANCE: self.instance},
            "HostConfig": host_config,
        }
        if endpoints:
            config["NetworkingConfig"] = {"EndpointsConfig": endpoints}
        if spec.command is not None:
            config["Cmd"] = spec.command
        if spec.entrypoint is not None:
            config["Entrypoint"] = spec.entrypoint
        if spec.user is not None:
            config["User"] = spec.user
        if spec.health is not None:
            second = 1_000_000_000
            config["Healthcheck"] = {
                "Test": spec.health.test, "Interval": int(spec.health.interval * second),
                "Timeout": int(spec.health.timeout * second), "Retries": spec.health.retries,
                "StartPeriod": int(spec.health.start_period * second)}
        return config

    async def remember(self, name: str, record: dict[str, Any]) -> None:
        await self.store.set_intent(INTENT, name, record)
        self.intents[name] = record

    async def forget(self, name: str) -> None:
        await self.store.delete_intent(INTENT, name)
        self.intents.pop(name, None)

    async def remove_containers(self, name: str, graceful: bool = True) -> None:
        """Stop (in reverse start order) and remove every container of the app, and its
        network. The shares mapped into them are not touched."""
        record = self._record(name)
        ordered: list[str] = []
        if record is not None:
            definition = Definition.model_validate(record["definition"])
            ordered = [container_name(name, c.name) for c in reversed(definition.ordered())]
        found = await self.engine.containers({LABEL_APP: name, LABEL_INSTANCE: self.instance})
        names = [n.lstrip("/") for c in found for n in (c.get("Names") or [])[:1]]
        for docker_name in [n for n in ordered if n in names] + [n for n in names
                                                                   if n not in ordered]:
            if graceful:
                await self.engine.stop(docker_name, STOP_SECONDS)
            await self.engine.remove(docker_name)
        await self.engine.remove_network(network_name(name))

    # -- shares in use -----------------------------------------------------------------------

    def _apps_of_share(self, share_id: str) -> list[str]:
        records = {**self.intents, **{n: b["record"] for n, b in self.busy.items()
                                      if b.get("record")}}
        return sorted(n for n, r in records.items() if share_id in r["volumes"].values())

    refers_as = "apps"  # as a ShareReferrer (rockd.storage.shares)

    def count_of_share(self, share_id: str) -> int:
        return len(self._apps_of_share(share_id))

    async def remove_of_share(self, share_id: str) -> None:
        """A share deleted with force: the apps mapping it are uninstalled first (their
        containers removed), so that nothing holds the subvolume."""
        for name in self._apps_of_share(share_id):
            log.info("uninstalling app %s: its share %s is being deleted", name, share_id)
            with contextlib.suppress(EngineError):
                await self.remove_containers(name)
            await self.forget(name)
            self.busy.pop(name, None)
            await self.settled(name)

