"""The Docker engine, through its API on a unix socket (aiodocker): the few calls rockd makes.

Every call answers plain JSON values. A socket that is not there or not answering raises
`EngineDown`; anything the engine refuses raises `EngineError` with the engine's own words.
Containers rockd makes carry labels saying whose they are (`rockd.app`, `rockd.container`,
`rockd.instance`), so that rockd finds exactly its own and never touches anyone else's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError

from rockd.watchers.docker import EngineUnavailable

log = logging.getLogger(__name__)

LABEL_APP = "rockd.app"
LABEL_CONTAINER = "rockd.container"
LABEL_INSTANCE = "rockd.instance"
CALL_TIMEOUT = 60.0


class EngineError(EngineUnavailable):
    """The engine refused: `status` is its HTTP status, the message its reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class EngineDown(EngineError):
    """The engine's socket is missing or does not answer."""

    def __init__(self, message: str):
        super().__init__(0, message)


@contextlib.asynccontextmanager
async def translated(what: str) -> AsyncIterator[None]:
    """aiodocker's and aiohttp's errors as EngineDown or EngineError."""
    try:
        yield
    except DockerError as exc:
        if exc.status == 900:
            raise EngineDown(f"the Docker engine cannot be reached: {exc.message}") from None
        raise EngineError(exc.status, f"{what}: {exc.message}".strip()) from None
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError,
            TimeoutError) as exc:
        raise EngineDown(f"the Docker engine cannot be reached ({what}): "
                         f"{exc or type(exc).__name__}") from None


class Engine:
    """One client of one engine socket; it reconnects by itself on the next call."""

    def __init__(self, socket: Path):
        self.socket = socket
        self._docker: aiodocker.Docker | None = None

    @property
    def docker(self) -> aiodocker.Docker:
        if self._docker is None:
            self._docker = aiodocker.Docker(
                url=f"unix://{self.socket}",
                timeout=aiohttp.ClientTimeout(total=None, connect=5, sock_read=None))
        return self._docker

    async def close(self) -> None:
        if self._docker is not None:
            await self._docker.close()
            self._docker = None

    async def version(self) -> dict[str, Any]:
        async with translated("version"), asyncio.timeout(10):
            return await self.docker.version()

    # -- images ------------------------------------------------------------------------------

    async def pull(self, image: str, tag: str,
                   progress: Callable[[float | None, str], None]) -> None:
        """Pull image:tag, reporting the fraction of its layers' bytes downloaded (None while
        the sizes are not yet known) and the engine's last status line."""
        layers: dict[str, tuple[int, int]] = {}
        async with translated(f"pulling {image}:{tag}"):
            async for item in self.docker.images.pull(image, tag=tag, stream=True):
                if "error" in item:
                    raise EngineError(500, f"pulling {image}:{tag}: {item['error']}")
                layer = item.get("id")
                status = item.get("status", "")
                detail = item.get("progressDetail") or {}
                if layer and status == "Downloading" and detail.get("total"):
                    layers[layer] = (detail.get("current", 0), detail["total"])
                elif layer and status in ("Download complete", "Pull complete",
                                          "Already exists") and layer in layers:
                    total = layers[layer][1]
                    layers[layer] = (total, total)
                total = sum(t for _, t in layers.values())
                fraction = sum(c for c, _ in layers.values()) / total if total else None
                progress(fraction, f"{image}:{tag}: {status}".strip())

    async def import_root(self, root: bytes, image: str, tag: str, cmd: list[str]) -> None:
        """Make image:tag from a tar of a root folder (`docker import`), running `cmd`."""
        params = {"fromSrc": "-", "repo": image, "tag": tag, "changes": f"CMD {json.dumps(cmd)}"}
        async with (translated(f"importing {image}:{tag}"), asyncio.timeout(CALL_TIMEOUT),
                    self.docker._query("images/create", "POST", params=params, data=root,
                                       headers={"Content-Type": "application/x-tar"}) as r):
            await self._stream_errors(r, f"importing {image}:{tag}")

    async def load(self, chunks: AsyncIterator[bytes]) -> list[str]:
        """Load the images of a `docker save` tar, sent as `chunks`; answers what the engine
        says it loaded ("Loaded image: name:tag")."""
        async with translated("loading an image file"), self.docker._query(
                "images/load", "POST", params={"quiet": "0"}, data=chunks,
                headers={"Content-Type": "application/x-tar"},
                timeout=aiohttp.ClientTimeout(total=None, connect=5)) as r:
            lines = await self._stream_errors(r, "loading an image file")
        return [line.strip() for line in lines if line.strip().startswith("Loaded image")]

    @staticmethod
    async def _stream_errors(response: aiohttp.ClientResponse, what: str) -> list[str]:
        """The `stream` lines of the engine's JSON progress answer; EngineError on its error."""
        said: list[str] = []
        async for line in response.content:
            with contextlib.suppress(json.JSONDecodeError):
                item = json.loads(line)
                if "error" in item:
                    raise EngineError(400, f"{what}: {item['error']}")
                said.append(item.get("stream") or item.get("status") or "")
        return said

    async def has_image(self, ref: str) -> bool:
        async with translated(f"image {ref}"):
            try:
                await self.docker.images.inspect(ref)
            except DockerError as exc:
                if exc.status == 404:
                    return False
                raise
        return True

    # -- containers --------------------------------------------------------------------------

    async def containers(self, labels: dict[str, str] | None = None,
                         label_keys: tuple[str, ...] = (LABEL_APP,)) -> list[dict[str, Any]]:
        """The summaries of every container (running or not) with these labels."""
        wanted = [*label_keys, *(f"{k}={v}" for k, v in (labels or {}).items())]
        async with translated("listing containers"), asyncio.timeout(CALL_TIMEOUT):
            found = await self.docker.containers.list(
                all=True, filters=json.dumps({"label": wanted}))
        return [c._container for c in found]

    async def inspect(self, container: str) -> dict[str, Any] | None:
        """A container's full description; None when it is gone."""
        async with translated(f"container {container}"), asyncio.timeout(CALL_TIMEOUT):
            try:
                return await self.docker.containers.container(container).show()
            except DockerError as exc:
                if exc.status == 404:
                    return None
                raise

    async def create(self, name: str, config: dict[str, Any]) -> str:
        async with translated(f"creating container {name}"), asyncio.timeout(CALL_TIMEOUT):
            made = await self.docker.containers.create(config, name=name)
        return made.id

    async def start(self, container: str) -> None:
        async with translated(f"starting {container}"), asyncio.timeout(CALL_TIMEOUT):
            try:
                await self.docker.containers.container(container).start()
            except DockerError as exc:
                if exc.status != 304:  # already running
                    raise

    async def stop(self, container: str, grace: int = 10) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds."""
        async with translated(f"stopping {container}"), asyncio.timeout(grace + 30):
            try:
                await self.docker.containers.container(container).stop(t=grace)
            except DockerError as exc:
                if exc.status not in (304, 404):  # already stopped, or gone
                    raise

    async def restart(self, container: str, grace: int = 10) -> None:
        async with translated(f"restarting {container}"), asyncio.timeout(grace + 30):
            await self.docker.containers.container(container).restart(t=grace)

    async def remove(self, container: str) -> None:
        """Remove a container, stopping it first (its bind-mounted shares are not touched:
        only anonymous volumes would go, and rockd's containers have none)."""
        async with translated(f"removing {container}"), asyncio.timeout(CALL_TIMEOUT):
            try:
                await self.docker.containers.container(container).delete(force=True)
            except DockerError as exc:
                if exc.status != 404:
                    raise

    async def rename(self, container: str, name: str) -> None:
        async with translated(f"renaming {container}"), asyncio.timeout(CALL_TIMEOUT):
            await self.docker.containers.container(container).rename(name)

    # -- networks (an app of several containers gets its own, where they find each other) ---

    async def ensure_network(self, name: str, labels: dict[str, str]) -> None:
        async with translated(f"network {name}"), asyncio.timeout(CALL_TIMEOUT):
            try:
                await self.docker.networks.get(name)
                return
            except DockerError as exc:
                if exc.status != 404:
                    raise
            await self.docker.networks.create({"Name": name, "Driver": "bridge",
                                               "CheckDuplicate": True, "Labels": labels})

    async def remove_network(self, name: str) -> None:
        async with translated(f"removing network {name}"), asyncio.timeout(CALL_TIMEOUT):
            try:
                network = await self.docker.networks.get(name)
                await network.delete()
            except DockerError as exc:
                if exc.status != 404:
                    raise

    # -- events ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def events(self, filters: dict[str, list[str]]) -> AsyncIterator[
            AsyncIterator[dict[str, Any]]]:
        """The engine's event stream: entered once the engine has answered (from then on no
        event is missed), it yields each event as it comes; EngineDown when the engine goes."""
        async with translated("events"):
            async with asyncio.timeout(10):
                cm = self.docker._query("events", params={"filters": json.dumps(filters)},
                                        timeout=aiohttp.ClientTimeout(total=None, connect=5,
                                                                      sock_read=None))
                response = await cm.__aenter__()
            try:
                yield self._lines(response)
            finally:
                response.close()
                with contextlib.suppress(Exception):
                    await cm.__aexit__(None, None, None)

    async def _lines(self, response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
        async with translated("events"):
            async for line in response.content:
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    log.debug("unreadable engine event %r", line[:200])
        raise EngineDown("the Docker engine closed its event stream")
