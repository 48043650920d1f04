"""/ups: the one UPS rockd follows through NUT, and what it does when the power fails.

For a USB UPS rockd writes NUT's configuration and runs the driver, upsd and upsmon as its
children; for a network NUT server, upsmon alone (as a secondary). upsmon watches the UPS and
runs rockd's hook on each change (ONBATT, ONLINE, LOWBATT, COMMBAD, ...); the hook's line,
seen through inotify, makes rockd read the UPS's variables (`LIST VAR`) and write /ups. NUT
offers no push of its own, so besides that the variables are read every TICK seconds, only
while someone watches /ups or the UPS is on battery (charge and runtime then change).

On battery: /ups shows since when, and when the grace time ends (`shutdown_at`); the alert
rule raises its alert from that. When the grace ends on battery (or at once at a low battery,
if asked, or when a network server forces it), rockd shuts the machine down through
`Shutdown`. Power back before then cancels it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from inotify_simple import Event
from inotify_simple import flags as f

from rockd.config import Settings
from rockd.core.bus import Bus
from rockd.core.errors import BadRequest
from rockd.core.models import validate
from rockd.core.store import Store
from rockd.core.tasks import cancel_and_wait
from rockd.core.times import iso, parse_iso, utcnow
from rockd.core.tree import Subtree
from rockd.ups import devices, nutconf
from rockd.ups.children import Child, Children
from rockd.ups.hook import EVENTS, Reader
from rockd.ups.intent import UpsIntent, shown
from rockd.ups.nut import NutError, check_login, number, variables, whole, words
from rockd.watchers.inotify import Inotify, Watch

log = logging.getLogger(__name__)

TICK = 2.0
SETTLE, SETTLE_STEP = 15.0, 0.5
"""After NUT's programs start, the first read is tried this long (upsd waits for its driver)."""
PIDPATH = Path("/run/nut")
"""Where NUT (as Debian builds it) keeps upsmon's pid file."""
COMM_EVENTS = {"COMMBAD": "upsmon lost contact with the UPS",
               "NOCOMM": "upsmon cannot reach the UPS"}


class Shutdown(Protocol):
    """Shuts the machine down cleanly (the host's power, wired in app.py)."""

    async def shutdown(self, reason: str) -> None: ...


class Ups:
    """Owner of /ups: the intent, NUT's programs, the reads, the grace timer."""

    def __init__(self, tree: Subtree, store: Store, settings: Settings, inotify: Inotify,
                 bus: Bus, shutdown: Shutdown | None = None):
        self.tree, self.store, self.settings = tree, store, settings
        self.inotify, self.bus, self.shutdown = inotify, bus, shutdown
        self.folder: Path = settings.nut_dir or settings.state_dir / "nut"
        self.intent: dict[str, Any] | None = None
        self.reader = Reader(self.folder / EVENTS)
        self.children = Children()
        self.watch: Watch | None = None
        self.lock = asyncio.Lock()
        self.live: dict[str, Any] = {}
        self.since: datetime | None = None  # on battery since (to the microsecond)
        self.shutting: str | None = None
        self.grace_timer: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.ticker: asyncio.Task[None] | None = None
        self.settling: asyncio.Task[None] | None = None
        self.reading: asyncio.Task[None] | None = None
        self.read_again = False
        self.on_battery = asyncio.Event()

    # -- start and stop ---------------------------------------------------------------------

    async def load(self) -> None:
        kept = (await self.store.intents("ups")).get("config")
        if kept:
            try:
                self.intent = validate(UpsIntent, kept).model_dump()
            except BadRequest as exc:
                log.error("the UPS intent kept is not valid (%s): ignored", exc.message)
        before = self.tree.get("/ups") or {}
        self.since = parse_iso(before.get("on_battery_since")) if self.intent else None
        self._clear_live()
        self._publish()

    async def start(self) -> None:
        if self.intent is not None:
            await self._run()

    async def stop(self) -> None:
        await self._halt()
        for task in list(self.tasks):
            await cancel_and_wait(task)

    async def _halt(self) -> None:
        """NUT's programs and every timer end (the configuration stays)."""
        if self.grace_timer is not None:
            self.grace_timer.cancel()
            self.grace_timer = None
        for task in (self.settling, self.ticker, self.reading):
            await cancel_and_wait(task)
        self.settling = self.ticker = self.reading = None
        if self.watch is not None:
            self.watch.remove()
            self.watch = None
        await self.children.stop()

    async def _run(self) -> None:
        intent = self.intent
        assert intent is not None
        if intent["source"] == "network" and not intent["server"]["password"]:
            self.live["last_error"] = ("no password is kept for the NUT server (a settings "
                                       "backup without secrets): set it again")
            self._publish()
            return
        nutconf.write(self.folder, intent, self.settings.nut_listen)
        self.reader.skip()
        self.watch = self.inotify.watch(self.folder, f.CLOSE_WRITE | f.MOVED_TO | f.ONLYDIR,
                                        self._notified)
        programs = self._programs(intent)
        await self.children.start(programs[:-1])  # a USB UPS's driver and upsd
        self.ticker = asyncio.create_task(self._tick(), name="ups-tick")
        self.settling = asyncio.create_task(self._settle(programs[-1]), name="ups-settle")

    def _programs(self, intent: dict[str, Any]) -> list[Child]:
        env, nut = nutconf.environment(self.folder), self.settings.nut_bin
        logs = self.folder / "state"

        def child(name: str, argv: list[str], bind: tuple[Path, Path] | None = None) -> Child:
            return Child(name, argv, env, logs / f"{name}.log", self._exited, bind)

        # upsmon keeps its pid file in NUT's /run/nut whatever it is told, and will not run
        # beside another upsmon's: it is given its own (the state folder) in its own namespace
        made = [child("upsmon", [str(nut / "upsmon"), "-u", "root", "-F"],  # last
                      (logs, PIDPATH) if PIDPATH.is_dir() else None)]
        if intent["source"] == "usb":
            made[:0] = [child("driver", [str(nut / intent["usb"]["driver"]), "-a",
                                         intent["name"], "-u", "root", "-F"]),
                        child("upsd", [str(nut / "upsd"), "-u", "root", "-F"])]
        return made

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _settle(self, upsmon: Child) -> None:
        """The first read, retried while NUT comes up (quietly: upsd waits for its driver),
        then upsmon, which would otherwise start by telling of a UPS it cannot reach."""
        for attempt in range(int(SETTLE / SETTLE_STEP), -1, -1):
            if await self._read(quiet=attempt > 0):
                break
            await asyncio.sleep(SETTLE_STEP)
        await self.children.add(upsmon)

    # -- the user's requests ----------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        value: dict[str, Any] = self.tree.get("/ups")
        return value

    async def configure(self, body: UpsIntent) -> dict[str, Any]:
        async with self.lock:
            intent = body.model_dump()
            await self._check(intent)
            await self.store.set_intent("ups", "config", intent)
            await self._halt()
            self.intent, self.since, self.shutting = intent, None, None
            self._clear_live()
            self._publish()
            await self._run()
            return self.state()

    async def remove(self) -> None:
        async with self.lock:
            await self._halt()
            await self.store.delete_intent("ups", "config")
            nutconf.remove(self.folder)
            self.intent, self.since, self.shutting = None, None, None
            self._clear_live()
            self._publish()

    async def _check(self, intent: dict[str, Any]) -> None:
        """400 for what NUT could not use (nothing is changed before this passes)."""
        if intent["source"] == "usb":
            wrong = _usb_problem(intent["usb"], self.settings.nut_bin)
            if wrong is not None:
                raise BadRequest(wrong[1], code="invalid_field", detail={"field": wrong[0]})
            return
        server = intent["server"]
        if server["password"] is None:
            kept = (self.intent or {}).get("server") or {}
            if (kept.get("host"), kept.get("port"), kept.get("user")) != (
                    server["host"], server["port"], server["user"]):
                raise BadRequest("a password is required for a new server or user",
                                 code="invalid_field", detail={"field": "server.password"})
            server["password"] = kept["password"]
        try:
            await check_login(server["host"], server["port"], intent["name"], server["user"],
                              server["password"])
        except NutError as exc:
            if exc.code == "unreachable":
                return  # kept all the same: the server may be down for now
            field = "name" if exc.code == "UNKNOWN-UPS" else "server.password"
            raise BadRequest(f"{server['host']}:{server['port']}: {exc}",
                             code="invalid_field", detail={"field": field}) from None

    async def devices(self) -> dict[str, Any]:
        return await devices.scan()

    # -- what NUT tells ---------------------------------------------------------------------

    def _notified(self, events: list[Event]) -> None:
        if not any(e.name == EVENTS for e in events):
            return
        for line in self.reader.read():
            kind = str(line.get("type") or "")
            log.info("upsmon: %s %s", kind, line.get("message", ""))
            self.live["last_event"] = kind or None
            if kind in COMM_EVENTS:
                self.live["last_error"] = COMM_EVENTS[kind]
            self._publish()
        self.refresh()

    def _exited(self, name: str, words: str) -> None:
        self.live["last_error"] = words
        self._publish()

    def refresh(self) -> None:
        """Read the UPS's variables soon (once, however often asked meanwhile)."""
        if self.intent is None:
            return
        if self.reading is not None and not self.reading.done():
            self.read_again = True
            return
        self.reading = asyncio.create_task(self._reads(), name="ups-read")

    async def _reads(self) -> None:
        self.read_again = True
        while self.read_again:
            self.read_again = False
            await self._read()

    async def _tick(self) -> None:
        """Every TICK seconds while /ups is watched or the UPS is on battery."""
        while True:
            if not (self.on_battery.is_set() or self.bus.watching("/ups")):
                self.bus.subscribed.clear()
                waits = [asyncio.ensure_future(self.bus.subscribed.wait()),
                         asyncio.ensure_future(self.on_battery.wait())]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waits:
                        waiter.cancel()
                continue
            await asyncio.sleep(TICK)
            self.refresh()

    async def _read(self, quiet: bool = False) -> bool:
        intent = self.intent
        if intent is None:
            return False
        host, port = nutconf.server_of(intent, self.settings.nut_listen)
        try:
            found = await variables(host, port, intent["name"])
        except NutError as exc:
            if self.intent is intent and not quiet:
                self.live["last_error"] = str(exc)
                self._publish()
            return False
        if self.intent is not intent:
            return False
        if found.get("ups.status", "WAIT") == "WAIT":  # upsd has no data from the driver yet
            if not quiet:
                self.live["last_error"] = "upsd is waiting for the UPS's driver"
                self._publish()
            return False
        self._apply(found)
        return True

    def _apply(self, found: dict[str, str]) -> None:
        status = found.get("ups.status", "").split()
        model = found.get("ups.model") or found.get("device.model")
        maker = found.get("ups.mfr") or found.get("device.mfr")
        self.live.update({
            "status": status, "status_text": words(status) or "unknown",
            "on_battery": "OB" in status, "low_battery": "LB" in status,
            "charge": number(found.get("battery.charge")),
            "runtime": whole(found.get("battery.runtime")),
            "model": " ".join(p for p in (maker, model) if p) or None, "last_error": None})
        self._policy(status)
        self._publish()

    # -- the power failure ------------------------------------------------------------------

    def _policy(self, status: list[str]) -> None:
        intent = self.intent
        assert intent is not None
        if "OB" not in status:
            if self.since is not None:
                log.warning("UPS %s: power is back", intent["name"])
            self.since = None
            self.on_battery.clear()
            if self.grace_timer is not None:
                self.grace_timer.cancel()
                self.grace_timer = None
            return
        self.on_battery.set()
        if self.since is None:
            self.since = utcnow()
            log.warning("UPS %s is on battery: shutdown in %d s unless power returns",
                        intent["name"], intent["grace"])
        if "LB" in status and intent["low_battery_shutdown"]:
            self._begin_shutdown(f"the UPS {intent['name']} reports a low battery")
        elif "FSD" in status and intent["source"] == "network":
            self._begin_shutdown(f"the NUT server {intent['server']['host']} forced a shutdown")
        elif self.grace_timer is None and not self.shutting:
            left = (self._shutdown_at() - utcnow()).total_seconds()
            self.grace_timer = asyncio.get_running_loop().call_later(
                max(left, 0.0), lambda: self._spawn(self._grace_over()))

    def _shutdown_at(self) -> datetime:
        assert self.intent is not None and self.since is not None
        return self.since + timedelta(seconds=self.intent["grace"])

    async def _grace_over(self) -> None:
        self.grace_timer = None
        await self._read()  # still on battery?
        if self.intent is not None and self.since is not None:
            self._begin_shutdown(f"the UPS {self.intent['name']} was on battery for "
                                 f"{self.intent['grace']} s")

    def _begin_shutdown(self, reason: str) -> None:
        if self.shutting:
            return
        self.shutting = reason
        log.critical("shutting down: %s", reason)
        self._publish()
        self._spawn(self._shut_down(reason))

    async def _shut_down(self, reason: str) -> None:
        if self.shutdown is None:
            self.live["last_error"] = "rockd has no way to shut this machine down"
            self._publish()
            return
        try:
            await self.shutdown.shutdown(reason)
        except Exception as exc:
            log.exception("the shutdown failed")
            self.live["last_error"] = f"the shutdown failed: {exc}"
            self._publish()

    # -- /ups ------------------------------------------------------------------------------

    def _clear_live(self) -> None:
        self.live = {"status": [], "status_text": "unknown", "on_battery": False,
                     "low_battery": False, "charge": None, "runtime": None, "model": None,
                     "last_event": None, "last_error": None}

    def _publish(self) -> None:
        value = {**shown(self.intent), **self.live}
        if self.intent is not None and self.intent["source"] == "usb":
            value["host"], value["port"] = nutconf.split_listen(self.settings.nut_listen)
        if self.intent is None:
            value["status_text"] = "no UPS configured"
        value["on_battery_since"] = iso(self.since)
        value["shutdown_at"] = iso(self._shutdown_at()) if self.since and self.intent else None
        value["shutting_down"] = self.shutting
        self.tree.set("/ups", value)


def _usb_problem(usb: dict[str, Any], nut_bin: Path) -> tuple[str, str] | None:
    """The field NUT could not use, and why."""
    if not (nut_bin / usb["driver"]).is_file():
        return "usb.driver", f"NUT has no driver {usb['driver']} (in {nut_bin})"
    if usb["port"] != "auto" and not Path(usb["port"]).exists():
        return "usb.port", f"{usb['port']} does not exist"
    return None
