"""The app job kinds: install, update and uninstall, each with progress and a way back.

- install: pull every image (progress from the engine's pull stream), create the containers
  (labelled as rockd's and the app's, with a restart policy), start them in order, and only
  then remember the app. Any failure, or a cancel, removes what was made.
- update: pull the definition's images, stop the old containers and set them aside (renamed),
  create and start the new ones with the same shares, ports and values; the old ones are then
  removed, or, on failure, put back and started again.
- uninstall: stop and remove the containers (and the app's network); its shares and their data
  are not touched.
- image load: an uploaded `docker save` file sent to the engine (progress: the bytes sent), then
  deleted; its target is the upload's name.

The job's target is the app's name, so that one app has one job at a time (`exclusive`).
app.py registers `kinds(apps)` with the supervisor; the kinds drive what `Apps` offers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from rockd.apps import images
from rockd.apps.apps import Apps
from rockd.apps.containers import container_name, labels, needs_network, network_name
from rockd.apps.definitions import Definition
from rockd.apps.engine import EngineError
from rockd.core.errors import RockdError
from rockd.core.jobs import Cancelled, Job, JobFailed, Kind

log = logging.getLogger(__name__)

PULL_SHARE = 0.8  # of the progress bar: pulling; the rest is creating and starting


class AppKind(Kind):
    """The common part: the work runs in its own task, so that cancel can end it (and its
    rollback runs) while the supervisor records the job as cancelled."""

    exclusive = True

    def __init__(self, apps: Apps):
        super().__init__()
        self.apps = apps
        self._work: dict[str, asyncio.Task] = {}

    async def run(self, job: Job) -> str:
        name = job.target
        task = asyncio.create_task(self.work(job, name), name=f"{self.name}-{name}")
        self._work[job.id] = task
        try:
            return await task
        except asyncio.CancelledError:
            if task.cancelled() and job.requested == "cancel":
                raise Cancelled from None
            raise
        except EngineError as exc:
            raise JobFailed(str(exc)) from None
        except RockdError as exc:
            raise JobFailed(exc.message) from None
        finally:
            self._work.pop(job.id, None)
            await self.apps.done(name)

    async def cancel(self, job: Job) -> None:
        task = self._work.get(job.id)
        if task is not None:
            task.cancel()

    async def work(self, job: Job, name: str) -> str:
        raise NotImplementedError

    # -- shared steps ------------------------------------------------------------------------

    async def pull(self, job: Job, definition: Definition, start: float, share: float) -> None:
        images = list(dict.fromkeys((c.image, c.tag) for c in definition.containers))
        for index, (name, tag) in enumerate(images):
            base = start + share * index / len(images)
            image = self.apps.image_ref(name)

            def progress(fraction: float | None, detail: str, base: float = base) -> None:
                done = base + share / len(images) * (fraction or 0.0)
                job.progress(round(done, 3), detail)

            if await self.apps.engine.has_image(f"{image}:{tag}"):
                job.output(f"{image}:{tag} is on this box already (not pulled)")
                continue
            job.update(detail=f"pulling {image}:{tag}")
            await self.apps.engine.pull(image, tag, progress)
            job.output(f"pulled {image}:{tag}")

    async def create_and_start(self, job: Job, name: str, definition: Definition,
                               record: dict[str, Any], made: list[str]) -> None:
        if needs_network(definition):
            await self.apps.engine.ensure_network(network_name(name),
                                                  labels(name, self.apps.instance))
        ordered = definition.ordered()
        for spec in ordered:
            docker_name = container_name(name, spec.name)
            job.update(detail=f"creating {docker_name}")
            await self.apps.engine.create(
                docker_name, self.apps.create_body(name, spec, record, definition))
            made.append(docker_name)
            job.output(f"created {docker_name} from {spec.image}:{spec.tag}")
        for index, spec in enumerate(ordered):
            docker_name = container_name(name, spec.name)
            job.update(detail=f"starting {docker_name}",
                       progress=round(PULL_SHARE + (1 - PULL_SHARE) * index / len(ordered), 3))
            await self.apps.engine.start(docker_name)
            job.output(f"started {docker_name}")

    async def undo(self, job: Job, made: list[str], name: str, network: bool) -> None:
        """Remove the containers this job made (and the network), whatever else fails."""
        for docker_name in reversed(made):
            try:
                await self.apps.engine.remove(docker_name)
                job.output(f"removed {docker_name}")
            except EngineError as exc:
                job.output(f"could not remove {docker_name}: {exc}")
        if network:
            with contextlib.suppress(EngineError):
                await self.apps.engine.remove_network(network_name(name))


class InstallKind(AppKind):
    name = "app_install"

    async def work(self, job: Job, name: str) -> str:
        record = self.apps.busy[name]["record"]
        definition = Definition.model_validate(record["definition"])
        made: list[str] = []
        try:
            await self.pull(job, definition, 0.0, PULL_SHARE)
            await self.create_and_start(job, name, definition, record, made)
            await self.apps.remember(name, record)
        except BaseException as exc:
            job.update(detail="removing what was made")
            job.output(f"install failed: {exc or type(exc).__name__}; rolling back")
            await asyncio.shield(self.undo(job, made, name, needs_network(definition)))
            raise
        return f"{name} installed"


class UpdateKind(AppKind):
    name = "app_update"

    async def work(self, job: Job, name: str) -> str:
        record = self.apps.busy[name]["record"]
        old_record = self.apps.intents[name]
        definition = Definition.model_validate(record["definition"])
        old = Definition.model_validate(old_record["definition"])
        await self.pull(job, definition, 0.0, PULL_SHARE)

        found = await self.apps.engine.containers(labels(name, self.apps.instance))
        present = {n.lstrip("/") for c in found for n in (c.get("Names") or [])[:1]}
        aside: list[tuple[str, str]] = []  # (name, name while set aside)
        made: list[str] = []
        try:
            for spec in reversed(old.ordered()):
                docker_name = container_name(name, spec.name)
                if docker_name not in present:
                    continue
                job.update(detail=f"stopping {docker_name}")
                await self.apps.engine.stop(docker_name)
                previous = f"{docker_name}-previous"
                await self.apps.engine.remove(previous)  # one left by an earlier failure
                await self.apps.engine.rename(docker_name, previous)
                aside.append((docker_name, previous))
            await self.create_and_start(job, name, definition, record, made)
        except BaseException as exc:
            job.update(detail="putting the previous containers back")
            job.output(f"update failed: {exc or type(exc).__name__}; rolling back")
            await asyncio.shield(self._restore(job, name, made, aside, old))
            raise
        for _, previous in aside:
            with contextlib.suppress(EngineError):
                await self.apps.engine.remove(previous)
        if needs_network(old) and not needs_network(definition):
            with contextlib.suppress(EngineError):
                await self.apps.engine.remove_network(network_name(name))
        await self.apps.remember(name, record)
        tags = ", ".join(f"{c.image}:{c.tag}" for c in definition.containers)
        return f"{name} updated to {tags}"

    async def _restore(self, job: Job, name: str, made: list[str],
                       aside: list[tuple[str, str]], old: Definition) -> None:
        await self.undo(job, made, name, False)
        for docker_name, previous in reversed(aside):
            try:
                await self.apps.engine.rename(previous, docker_name)
            except EngineError as exc:
                job.output(f"could not rename {previous} back: {exc}")
        for spec in old.ordered():
            docker_name = container_name(name, spec.name)
            if any(n == docker_name for n, _ in aside):
                try:
                    await self.apps.engine.start(docker_name)
                except EngineError as exc:
                    job.output(f"could not start {docker_name} again: {exc}")


class UninstallKind(AppKind):
    name = "app_uninstall"

    async def work(self, job: Job, name: str) -> str:
        job.update(detail=f"stopping and removing the containers of {name}", progress=0.1)
        await self.apps.remove_containers(name)
        job.output(f"removed the containers of {name}; its shares are untouched")
        await self.apps.forget(name)
        return f"{name} uninstalled"


class ImageLoadKind(Kind):
    """An uploaded image file into the engine; the file is deleted however the job ends."""

    name = "app_image_load"
    exclusive = False

    def __init__(self, apps: Apps):
        super().__init__()
        self.apps = apps

    async def run(self, job: Job) -> str:
        path = Path(job.params["file"])
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
            job.update(detail=f"loading an image file of {size} bytes into the engine")
            loaded = await self.apps.engine.load(images.chunks_of(
                path, lambda sent: job.progress(round(sent / size, 3), f"{sent} of {size} bytes "
                                                "sent to the engine")))
        except OSError as exc:
            raise JobFailed(f"the uploaded file is gone: {exc}") from None
        except EngineError as exc:
            raise JobFailed(str(exc)) from None
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        for line in loaded:
            job.output(line)
        names = ", ".join(line.split(":", 1)[1].strip() for line in loaded)
        return f"loaded {names}" if names else "the engine loaded no image from the file"


def kinds(apps: Apps) -> list[Kind]:
    """The app job kinds, working for `apps`."""
    return [InstallKind(apps), UpdateKind(apps), UninstallKind(apps), ImageLoadKind(apps)]
