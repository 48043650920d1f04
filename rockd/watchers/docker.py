"""The Docker engine's event stream: which of rockd's apps may have changed, and whether the
engine is there at all.

One long GET /events, filtered to containers that carry rockd's `rockd.app` label, tells of
every start, stop, kill, death, health change and removal as it happens; each event asks for a
rescan of the app it belongs to. The stream is opened before anything is scanned (`connected`
runs once it is open), so nothing between the two is missed.

When the engine is not there or goes away, that is reported (`engine(state)`), and the watcher
tries again after a back-off (0.5 s, doubling to 30 s). The engine's socket appearing in its
folder (inotify, through the daemon's one reader) cuts the wait short, so a restarted engine
is seen within moments without asking it every half second.

The engine's client is given (`EventSource`, which rockd.apps.engine.Engine is); its failures
are `EngineUnavailable`, which that client's errors derive from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

from inotify_simple import Event
from inotify_simple import flags as f

from rockd.core.tasks import cancel_and_wait
from rockd.core.times import now
from rockd.watchers.inotify import Inotify, Watch

log = logging.getLogger(__name__)

FIRST_DELAY = 0.5
MAX_DELAY = 30.0


class EngineUnavailable(Exception):
    """The engine cannot be reached, refused, or closed its stream: shown as down, and tried
    again after the back-off."""


class EventSource(Protocol):
    """The engine's client, as far as the watcher uses it."""

    socket: Path

    async def version(self) -> dict[str, Any]:
        """The engine's version (its `Version` and `ApiVersion`)."""

    def events(self, filters: dict[str, list[str]]
               ) -> AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        """The event stream, entered once the engine answered; EngineUnavailable when not."""


class DockerWatcher:
    """Calls `changed(app)` for each event of a container labelled `label` (the value is the
    app), `state(engine state)` when the engine comes or goes, and awaits `connected()` each
    time the stream (re)opens."""

    def __init__(self, inotify: Inotify, engine: EventSource, label: str,
                 changed: Callable[[str], None], state: Callable[[dict[str, Any]], None],
                 connected: Callable[[], Awaitable[None]]):
        self.inotify = inotify
        self.engine = engine
        self.label = label
        self.changed = changed
        self.report = state
        self.connected = connected
        self.state: dict[str, Any] = {"state": "connecting", "socket": str(engine.socket),
                                      "version": None, "api_version": None, "since": now(),
                                      "error": None, "reconnects": 0}
        self._task: asyncio.Task | None = None
        self._appeared = asyncio.Event()
        self._socket_watch: Watch | None = None

    def start(self) -> None:
        self._watch_socket()
        self._task = asyncio.create_task(self._run(), name="docker-events")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._socket_watch is not None:
            self._socket_watch.remove()
            self._socket_watch = None

    # -- the socket's folder: a new socket means the engine (re)started -------------------------

    def _watch_socket(self) -> None:
        try:
            self._socket_watch = self.inotify.watch(
                self.engine.socket.parent, f.CREATE | f.MOVED_TO | f.ATTRIB, self._folder_changed)
        except OSError as exc:
            log.debug("cannot watch %s (%s); only the back-off will find the engine again",
                      self.engine.socket.parent, exc)

    def _folder_changed(self, events: list[Event]) -> None:
        if any(event.name == self.engine.socket.name for event in events):
            self._appeared.set()

    async def _pause(self, delay: float) -> None:
        """Wait `delay` seconds, or less if the engine's socket appears meanwhile."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._appeared.wait()
        if self._appeared.is_set():
            self._appeared.clear()
            await asyncio.sleep(0.1)  # the socket is made a moment before it is served

    # -- the stream -------------------------------------------------------------------------

    def _set(self, **fields: Any) -> None:
        changed = fields.get("state") != self.state["state"]
        self.state = {**self.state, **fields, "since": now() if changed else
                      self.state["since"]}
        self.report(dict(self.state))

    async def _run(self) -> None:
        delay = FIRST_DELAY
        while True:
            try:
                filters = {"type": ["container"], "label": [self.label]}
                async with self.engine.events(filters) as events:
                    version = await self.engine.version()
                    if self.state["state"] == "down":
                        self.state["reconnects"] += 1
                        log.info("the Docker engine is back at %s", self.engine.socket)
                    self._set(state="up", version=version.get("Version"),
                              api_version=version.get("ApiVersion"), error=None)
                    delay = FIRST_DELAY
                    started = time.monotonic()
                    await self.connected()
                    log.debug("engine scan took %.1f ms", (time.monotonic() - started) * 1000)
                    async for event in events:
                        self._event(event)
            except asyncio.CancelledError:
                raise
            except EngineUnavailable as exc:
                if self.state["state"] != "down":
                    log.warning("the Docker engine at %s is down: %s", self.engine.socket, exc)
                self._set(state="down", error=str(exc))
            except Exception as exc:  # a bug must not end the watching
                log.exception("the Docker event stream failed")
                self._set(state="down", error=f"{type(exc).__name__}: {exc}")
            await self._pause(delay)
            delay = min(delay * 2, MAX_DELAY)

    def _event(self, event: dict[str, Any]) -> None:
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        app = attributes.get(self.label)
        if app:
            log.debug("engine event %s of %s (%s)", event.get("Action"), app,
                      attributes.get("name"))
            self.changed(app)
