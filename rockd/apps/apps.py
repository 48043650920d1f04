"""The installed apps: /apps/{name} and /apps-engine in the tree, what the user chose for
each, and the verbs.

What the user asked for (the definition as installed, the shares mapped to its volumes, the host
ports, the environment) is intent, kept in the store under kind "app". What runs is observed:
each app's containers as the engine reports them, rescanned on every engine event of theirs
(watchers/docker.py), never on a timer. The engine itself is shown at /apps-engine (up, down,
connecting; its version and the last error), since apps are its only users. Every write to
those two subtrees is made here: by the rescan, by the watcher's callbacks (`engine_changed`)
and by the verbs.

Install, update and uninstall are jobs (apps/jobs.py). Everything the user chose is checked
before a job starts (choices.py: an impossible install is refused with nothing made); a job that
fails half-way removes what it made. Shares are only ever bind-mounted: nothing here writes,
moves or deletes a share's data. As a ShareReferrer (rockd.storage.shares) it tells how many
apps map a share, and uninstalls them when the share is deleted with force.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from rockd.apps import choices, containers, images, operations
from rockd.apps.definitions import Catalog, ContainerSpec, Definition
from rockd.apps.engine import LABEL_APP, Engine, EngineDown, EngineError
from rockd.apps.view import app_view, ui_host
from rockd.config import Settings
from rockd.core import resources
from rockd.core.errors import Conflict, NotFound, Unprocessable
from rockd.core.jobs import Jobs
from rockd.core.rescan import Rescanner
from rockd.core.store import Store
from rockd.core.times import now
from rockd.core.tree import Subtree
from rockd.watchers.docker import DockerWatcher
from rockd.watchers.inotify import Inotify

log = logging.getLogger(__name__)

INTENT = "app"
META = "apps"
ENGINE_PATH = "/apps-engine"


class Apps:
    """/apps and /apps-engine in the tree, and install, update, uninstall, start, stop."""

    def __init__(self, tree: Subtree, store: Store, jobs: Jobs, settings: Settings,
                 inotify: Inotify, catalog: Catalog | None = None, engine: Engine | None = None):
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
        self.registry = settings.apps_registry
        self.rescans = Rescanner("apps", self.rescan)
        self.watcher = DockerWatcher(inotify, self.engine, LABEL_APP, self.rescans.request,
                                     self.engine_changed, self._connected)
        self._started = False

    # -- life --------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the intent, this rockd's instance id and the catalog."""
        self.intents = await self.store.intents(INTENT)
        meta = await self.store.intents(META)
        self.instance = (meta.get("instance") or {}).get("id") or ""
        if "registry" in meta:  # set through the API: it outlives the command line's
            self.registry = meta["registry"].get("registry")
        if not self.instance:
            self.instance = secrets.token_hex(8)
            await self.store.set_intent(META, "instance", {"id": self.instance})
        self.catalog.load()
        images.clear_uploads(self.settings.state_dir / images.UPLOADS)

    async def start(self) -> None:
        """Once the shares are seen: publish what is known, then follow the engine."""
        with self.tree.transaction():
            if not isinstance(self.tree.get("/apps"), dict):
                self.tree.set("/apps", {})
            for name in list(self.tree.get("/apps") or {}):
                if name not in self.intents:  # the journal's, from before a restart
                    self.tree.delete(("apps", name))
            for name in self.intents:
                self.tree.set(("apps", name), self._view(name, None))
            self.tree.set(ENGINE_PATH, self._engine_view(self.watcher.state))
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

    def engine_changed(self, state: dict[str, Any]) -> None:
        """The watcher's news of the engine: shown, and while it is away every app is
        rescanned (its containers then unknown)."""
        self.tree.set(ENGINE_PATH, self._engine_view(state))
        if state["state"] != "up":
            for name in self._known():
                self.rescans.request(name)

    def _engine_view(self, state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "registry": self.registry}

    def _known(self) -> set[str]:
        return set(self.intents) | set(self.busy) | set(self.tree.get("/apps") or {})

    async def _connected(self) -> None:
        """The engine (again) answers: remove what an interrupted install left, then look at
        every app afresh."""
        names = self._known()
        if self.settings.demo:
            await images.make_demo_images(self.engine, self.catalog.load().definitions.values(),
                                          self.registry)
        if await operations.remove_leftovers(
                self.engine, self.instance, lambda app: app in self.intents or app in self.busy):
            for name in names | self._known():
                self.rescans.request(name)

    async def rescan(self, name: str) -> None:
        if self._record(name) is None:
            self._unpublish(name)
            return
        found = (await operations.describe(self.engine, name, self.instance)
                 if self.engine_up else None)
        if self._record(name) is None:  # uninstalled meanwhile
            self._unpublish(name)
            return
        self.tree.set(("apps", name), self._view(name, found))

    def _unpublish(self, name: str) -> None:
        if self.tree.exists(("apps", name)):
            self.tree.delete(("apps", name))

    async def settled(self, name: str) -> None:
        self.rescans.request(name)
        await self.rescans.settle()

    def _record(self, name: str) -> dict[str, Any] | None:
        busy = self.busy.get(name)
        if busy is not None and busy.get("record") is not None:
            return busy["record"]
        return self.intents.get(name)

    def _records(self) -> dict[str, dict[str, Any]]:
        """Every app's record: installed, or being installed."""
        return {**self.intents, **{n: b["record"] for n, b in self.busy.items()
                                   if b.get("record")}}

    def _view(self, name: str, found: list[dict[str, Any]] | None) -> dict[str, Any]:
        record = self._record(name)
        assert record is not None
        return app_view(name, record, self.busy.get(name), found, self.catalog.get(name),
                        ui_host(self.settings.host), self._share)

    def _share(self, share_id: str) -> dict[str, Any] | None:
        return self.tree.get(("shares", share_id))

    # -- reading -----------------------------------------------------------------------------

    def get(self, name: str) -> dict[str, Any]:
        return self.tree.resource("apps", name)

    def installed(self) -> list[resources.App]:
        return sorted((self.tree.get("/apps") or {}).values(), key=lambda a: a["name"])

    def catalog_list(self) -> list[dict[str, Any]]:
        self._reload_catalog()
        return [d.public() for _, d in sorted(self.catalog.definitions.items())]

    def catalog_problems(self) -> list[dict[str, str]]:
        """The definition files left out of the catalog, read again now, with the reason."""
        self._reload_catalog()
        return self.catalog.problems

    def _reload_catalog(self) -> None:
        before = dict(self.catalog.definitions)
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

    def engine_state(self) -> dict[str, Any]:
        return self.tree.get(ENGINE_PATH)

    def require_engine(self) -> None:
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

    def check_choices(self, app: str, definition: Definition, volumes: dict[str, str],
                      ports: dict[str, int], env: dict[str, str],
                      held: frozenset[tuple[int, str]] = frozenset()) -> dict[str, Any]:
        """The choices made whole, checked against the shares and the ports other apps hold
        (see choices.py); nothing is changed."""
        return choices.check_choices(
            app, definition, volumes, ports, env, share=self._share,
            mount_root=self.settings.mount_root,
            taken=choices.ports_held(self._records(), exclude=app), held=held)

    # -- verbs -------------------------------------------------------------------------------

    def install(self, app: str, volumes: dict[str, str], ports: dict[str, int],
                env: dict[str, str]) -> resources.Job:
        """Check everything, then start the install job; answer the job."""
        definition = self._definition(app)
        if app in self.intents or app in self.busy:
            raise Conflict(f"{app} is already installed", code="exists")
        self.require_engine()
        chosen = self.check_choices(app, definition, volumes, ports, env)
        record = {"app": app, "definition": definition.model_dump(mode="json", by_alias=True,
                                                                  exclude_none=True),
                  **chosen, "installed": now(), "updated": None}
        return self._start_job("app_install", app, "installing", record)

    def update(self, name: str) -> resources.Job:
        """Recreate the app's containers from the catalog's definition (a new tag there is
        what is pulled), keeping the user's choices."""
        old = self._installed_record(name)
        self.require_engine()
        definition = self._definition(name)
        held = frozenset((host, key.split("/")[1]) for key, host in old["ports"].items())
        # what the new definition no longer has is dropped; what it adds takes its defaults
        # (or, a new volume or required value, refuses the update: 400 naming it)
        ports = {f"{p.container}/{p.protocol}" for _, p in definition.ports()}
        asked = {n for n, e in definition.env().items() if e.value is None}
        chosen = self.check_choices(
            name, definition,
            {k: v for k, v in old["volumes"].items() if k in definition.volumes()},
            {k: v for k, v in old["ports"].items() if k in ports},
            {k: v for k, v in old["env"].items() if k in asked}, held)
        record = {**old, "definition": definition.model_dump(mode="json", by_alias=True,
                                                            exclude_none=True),
                  **chosen, "updated": now()}
        return self._start_job("app_update", name, "updating", record)

    def uninstall(self, name: str) -> resources.Job:
        self._installed_record(name)
        self.require_engine()
        return self._start_job("app_uninstall", name, "uninstalling", None)

    def _start_job(self, kind: str, name: str, state: str,
                   record: dict[str, Any] | None) -> resources.Job:
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
        self.require_engine()
        try:
            await operations.act(self.engine, name,
                                 Definition.model_validate(record["definition"]), verb)
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

    def create_body(self, name: str, spec: ContainerSpec, record: dict[str, Any],
                    definition: Definition) -> dict[str, Any]:
        """The engine's create-container body for one container of the app."""
        body = containers.create_body(name, spec, record, definition, self.instance,
                                      lambda share_id: (self._share(share_id) or {}).get("path"))
        return {**body, "Image": f"{self.image_ref(spec.image)}:{spec.tag}"}

    def image_ref(self, image: str) -> str:
        """Where a definition's image comes from, with the registry setting applied."""
        return images.resolve(image, self.registry)

    async def set_registry(self, registry: str | None) -> None:
        """Pull images that name no registry from `registry` (None: Docker Hub), once its
        /v2/ answers as a registry; 422 where it does not, nothing changed."""
        if registry is not None:
            problem = await images.registry_problem(registry)
            if problem is not None:
                raise Unprocessable(f"{registry} does not answer as an image registry: "
                                    f"{problem}", code="registry_unreachable",
                                    detail={"field": "registry"})
        await self.store.set_intent(META, "registry", {"registry": registry})
        self.registry = registry
        self.tree.set(ENGINE_PATH, self._engine_view(self.watcher.state))

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
        await operations.remove(
            self.engine, name, self.instance,
            Definition.model_validate(record["definition"]) if record is not None else None,
            graceful)

    # -- shares in use (a ShareReferrer) -----------------------------------------------------

    refers_as = "apps"

    def _apps_of_share(self, share_id: str) -> list[str]:
        return sorted(n for n, r in self._records().items()
                      if share_id in r["volumes"].values())

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
