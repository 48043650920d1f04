"""The Docker engine's event stream: which of rockd's apps may have changed, and whether the
engine is there at all.

One long GET /events, filtered to containers that carry rockd's `rockd.app` label, tells of
every start, stop, kill, death, health change and removal as it happens; each event asks for a
rescan of the app it belongs to. The stream is opened before anything is scanned (`connected`
runs once it is open), so nothing between the two is missed.

When the engine is not there or goes away, that is reported (`engine(state)`), and the watcher
tries again after a back-off (0.5 s, doubling to 30 s). The engine's socket appearing in its
folder (inotify) cuts the wait short, so a restarted engine is seen within moments without
asking it every half second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from inotify_simple import INotify
from inotify_simple import flags as f

from rockd.apps.engine import LABEL_APP, Engine, EngineError
from rockd.core.tasks import cancel_and_wait
from rockd.core.times import now

log = logging.getLogger(__name__)

FIRST_DELAY = 0.5
MAX_DELAY = 30.0



class DockerWatcher:
    """Calls `changed(app)` for each event of an app's container, `engine(state)` when the
    engine comes or goes, and awaits `connected()` each time the stream (re)opens."""

    def __init__(self, engine: Engine, changed: Callable[[str], None],
                 state: Callable[[dict[str, Any]], None],
                 connected: Callable[[], Awaitable[None]]):
        self.engine = engine
        self.changed = changed
        self.report = state
        self.connected = connected
        self.state: dict[str, Any] = {"state": "connecting", "socket": str(engine.socket),
                                      "version": None, "api_version": None, "since": now(),
                                      "error": None, "reconnects": 0}
        self._task: asyncio.Task | None = None
        self._appeared = asyncio.Event()
        self._inotify: INotify | None = None
        self.up = asyncio.Event()

    def start(self) -> None:
        self._watch_socket()
        self._task = asyncio.create_task(self._run(), name="docker-events")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._inotify is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._inotify.fileno())
            self._inotify.close()
            self._inotify = None

    # -- the socket's folder: a new socket means the engine (re)started -------------------------

    def _watch_socket(self) -> None:
        try:
            inotify = INotify(nonblocking=True)
            inotify.add_watch(str(self.engine.socket.parent), f.CREATE | f.MOVED_TO | f.ATTRIB)
        except OSError as exc:
            log.debug("cannot watch %s (%s); only the back-off will find the engine again",
                      self.engine.socket.parent, exc)
            return
        self._inotify = inotify
        asyncio.get_running_loop().add_reader(inotify.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._inotify is not None
        for event in self._inotify.read(timeout=0):
            if event.name == self.engine.socket.name:
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
                filters = {"type": ["container"], "label": [LABEL_APP]}
                async with self.engine.events(filters) as events:
                    version = await self.engine.version()
                    if self.state["state"] == "down":
                        self.state["reconnects"] += 1
                        log.info("the Docker engine is back at %s", self.engine.socket)
                    self._set(state="up", version=version.get("Version"),
                              api_version=version.get("ApiVersion"), error=None)
                    self.up.set()
                    delay = FIRST_DELAY
                    started = time.monotonic()
                    await self.connected()
                    log.debug("engine scan took %.1f ms", (time.monotonic() - started) * 1000)
                    async for event in events:
                        self._event(event)
            except asyncio.CancelledError:
                raise
            except EngineError as exc:
                if self.state["state"] != "down":
                    log.warning("the Docker engine at %s is down: %s", self.engine.socket, exc)
                self.up.clear()
                self._set(state="down", error=str(exc))
            except Exception as exc:  # a bug must not end the watching
                log.exception("the Docker event stream failed")
                self.up.clear()
                self._set(state="down", error=f"{type(exc).__name__}: {exc}")
            await self._pause(delay)
            delay = min(delay * 2, MAX_DELAY)

    def _event(self, event: dict[str, Any]) -> None:
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        app = attributes.get(LABEL_APP)
        if app:
            log.debug("engine event %s of %s (%s)", event.get("Action"), app,
                      attributes.get("name"))
            self.changed(app)
